"""How a rejected import reports: one message per row and field, raised all together."""

from collections.abc import Iterable


class ImportRejected(Exception):
    """The file has problems and nothing was written; `errors` names each row and field."""

    def __init__(self, errors: Iterable[str]):
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} problem(s) in the file; nothing was imported.")


class FieldError(ValueError):
    """One value is unusable; the message says why, the caller says where."""


class Problems:
    def __init__(self):
        self.errors: list[str] = []

    def add(self, at: str, message: str) -> None:
        self.errors.append(f"{at}: {message}")

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportRejected(self.errors)

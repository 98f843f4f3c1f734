"""The file as parsed, whatever its format: typed records that name where they came from."""

import datetime
from dataclasses import dataclass, field
from typing import Any

from directory.importer.problems import Problems


@dataclass(frozen=True)
class Place:
    """Where a record is, to name it in messages: users[3] (JSON) or line 7 (CSV)."""

    label: str
    csv: bool = False

    def of(self, name: str) -> str:
        return f"{self.label}, {name}" if self.csv else f"{self.label}.{name}"


@dataclass(frozen=True)
class Ref:
    """An external id the file refers to, and where it does."""

    ext: str
    at: str


@dataclass
class Grant:
    """An assignment in the file: a user or a group, and the app role value or role kind."""

    place: Place
    principal_type: str
    ref: Ref
    detail: str


@dataclass
class SignIn:
    place: Place
    ref: Ref
    at: datetime.datetime


@dataclass
class AppRoleSpec:
    place: Place
    value: str
    values: dict[str, Any]


@dataclass
class ObjectSpec:
    """A user, group or application row, matched by external id; checks fill existing and final."""

    place: Place
    external_id: str
    # Only the fields the file gives (a field it leaves out keeps its value).
    values: dict[str, Any]
    existing: dict | None = None
    final: dict = field(default_factory=dict)


@dataclass
class UserSpec(ObjectSpec):
    """A user row; its values["manager"] is a Ref (or None to clear it)."""


@dataclass
class GroupSpec(ObjectSpec):
    owners: list[Ref] = field(default_factory=list)
    members: list[Ref] = field(default_factory=list)
    member_groups: list[Ref] = field(default_factory=list)


@dataclass
class AppSpec(ObjectSpec):
    owners: list[Ref] = field(default_factory=list)
    app_roles: list[AppRoleSpec] = field(default_factory=list)
    assignments: list[Grant] = field(default_factory=list)
    sign_ins: list[SignIn] = field(default_factory=list)


@dataclass
class RoleSpec:
    """A directory role, named by (field, value) pairs: name, template_id, or CSV's role."""

    place: Place
    keys: list[tuple[str, str]]
    assignments: list[Grant] = field(default_factory=list)


@dataclass
class Document:
    users: list[UserSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)
    applications: list[AppSpec] = field(default_factory=list)
    roles: list[RoleSpec] = field(default_factory=list)
    problems: Problems = field(default_factory=Problems)

"""Convert one raw value (JSON scalar or CSV cell) into a field's value, or say what is wrong."""

import datetime
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from directory.importer.problems import FieldError, Problems
from directory.importer.records import Place, Ref
from directory.models import (
    Application,
    ApplicationSignIn,
    AppRole,
    Group,
    GroupKind,
    GroupSource,
    MembershipType,
    RoleAssignmentKind,
    User,
    UserType,
)
from directory.models.users import validate_time_zone

TRUE_WORDS = {"true", "yes", "1", "y", "t"}
FALSE_WORDS = {"false", "no", "0", "n", "f"}
UPN_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+$")
# Plain ASCII addresses: a subset of what Django's EmailValidator accepts, checked without its
# per-call overhead (a fifth of a 100,000-user parse); anything else goes to the validator.
PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def scalar(raw):
    """None, a bool, or stripped text; numbers become text (external ids are often numbers)."""
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return str(raw)
    if not isinstance(raw, str):
        raise FieldError("expected a single value, not a list or an object")
    if "\x00" in raw:
        raise FieldError("contains a NUL character")
    return raw.strip()


def is_blank(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def text(value):
    if isinstance(value, bool):
        raise FieldError(f"expected text, not {str(value).lower()}")
    return value


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.lower()
    if lowered in TRUE_WORDS or lowered in FALSE_WORDS:
        return lowered in TRUE_WORDS
    raise FieldError(f"expected true or false, not {value!r}")


def _choice(choices: type[models.TextChoices], what: str) -> Callable[[Any], str]:
    by_lower = {value.lower(): value for value in choices.values}

    def parse(value) -> str:
        found = by_lower.get(text(value).lower())
        if found is None:
            expected = " or ".join(choices.values)
            raise FieldError(f"unknown {what} {value!r} (expected {expected})")
        return found

    return parse


def _email(value) -> str:
    if not PLAIN_EMAIL.fullmatch(text(value)):
        try:
            validate_email(value)
        except ValidationError:
            raise FieldError(f"malformed email address {value!r}") from None
    return User.objects.normalize_email(value)


def _upn(value) -> str:
    if not UPN_SHAPE.match(text(value)):
        raise FieldError(f"malformed user principal name {value!r} (expected name@domain)")
    return value


def _time_zone(value) -> str:
    try:
        validate_time_zone(text(value))
    except ValidationError:
        raise FieldError(
            f"unknown time zone {value!r} (expected an IANA name such as Europe/Paris)"
        ) from None
    return value


def _moment(value) -> datetime.datetime:
    try:
        moment = parse_datetime(text(value))
    except ValueError:
        moment = None
    if moment is None:
        raise FieldError(f"bad date {value!r} (expected ISO 8601, e.g. 2025-03-01T09:30:00Z)")
    # A time without an offset is UTC, as in Entra's exports.
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=datetime.UTC)


def slug(value) -> str:
    try:
        validate_slug(text(value))
    except ValidationError:
        raise FieldError(f"{value!r} is not a slug (letters, digits, - and _ only)") from None
    return value


def _column(model: type[models.Model], name: str, parse=text) -> Callable[[Any], Any]:
    """A converter for one model field: blank means the field's default."""
    model_field = model._meta.get_field(name)
    # None of the imported fields has a callable default, so one value serves every row.
    default, max_length = model_field.get_default(), model_field.max_length

    def convert(raw):
        value = scalar(raw)
        if value is None or value == "":
            return default
        value = parse(value)
        if max_length and isinstance(value, str) and len(value) > max_length:
            raise FieldError(f"is longer than {max_length} characters")
        return value

    return convert


USER_FIELDS = {
    "user_principal_name": _column(User, "user_principal_name", _upn),
    "display_name": _column(User, "display_name"),
    "email": _column(User, "email", _email),
    "user_type": _column(User, "user_type", _choice(UserType, "user type")),
    "is_active": _column(User, "is_active", _boolean),
    "guest_invitation_accepted": _column(User, "guest_invitation_accepted", _boolean),
    "department": _column(User, "department"),
    "job_title": _column(User, "job_title"),
    "time_zone": _column(User, "time_zone", _time_zone),
    "last_sign_in_at": _column(User, "last_sign_in_at", _moment),
}
GROUP_FIELDS = {
    "name": _column(Group, "name"),
    "description": _column(Group, "description"),
    "kind": _column(Group, "kind", _choice(GroupKind, "group kind")),
    "membership_type": _column(
        Group, "membership_type", _choice(MembershipType, "membership type")
    ),
    "source": _column(Group, "source", _choice(GroupSource, "group source")),
    "is_role_assignable": _column(Group, "is_role_assignable", _boolean),
}
APPLICATION_FIELDS = {
    "name": _column(Application, "name"),
    "description": _column(Application, "description"),
    "assignment_required": _column(Application, "assignment_required", _boolean),
}
APP_ROLE_FIELDS = {
    "display_name": _column(AppRole, "display_name"),
    "description": _column(AppRole, "description"),
}
parse_assignment_kind = _choice(RoleAssignmentKind, "assignment kind")
parse_sign_in_at = _column(ApplicationSignIn, "last_sign_in_at", _moment)

USER_COLUMNS = list(USER_FIELDS)
GROUP_COLUMNS = list(GROUP_FIELDS)
APPLICATION_COLUMNS = list(APPLICATION_FIELDS)


def external_id(raw) -> str:
    value = text(scalar(raw))
    if not value:
        raise FieldError("is required")
    if len(value) > 200:
        raise FieldError("is longer than 200 characters")
    return value


def parse_ref(raw, at: str, problems: Problems) -> Ref | None:
    try:
        return Ref(external_id(raw), at)
    except FieldError as exc:
        problems.add(at, str(exc))
        return None


def parse_fields(raw: dict, table: dict, place: Place, problems: Problems) -> dict[str, Any]:
    values = {}
    for name, convert in table.items():
        if name in raw:
            try:
                values[name] = convert(raw[name])
            except FieldError as exc:
                problems.add(place.of(name), str(exc))
    return values


def require(raw: dict, names: Iterable[str], place: Place, problems: Problems) -> None:
    for name in names:
        if is_blank(raw.get(name)):
            problems.add(place.of(name), "is required")

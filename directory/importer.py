"""Import the directory from a source system's export (JSON or CSV): parse, validate, apply.

`import_file()` reads the file (format: docs/import.md), checks every row against the rest of the
file and the database, and only when nothing is wrong writes, in one transaction: users, groups and
applications are upserted by external id; the owners, members, nested groups and assignments of
each group, application and directory role the file lists become exactly the file's. Writes are
set-based: COPY (PostgreSQL) or multi-row INSERTs for new rows, one UPDATE per changed field set
joined to a staged temporary table, DELETE by id; so a file of 100,000 users takes seconds.
"""

import base64
import csv
import datetime
import functools
import hashlib
import io
import json
import re
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from directory import audit, services
from directory.models import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
    AppRole,
    AppRoleAssignment,
    DirectoryRole,
    GrantRevocation,
    Group,
    GroupKind,
    GroupMembership,
    GroupOwner,
    GroupSource,
    MembershipType,
    NestedGroup,
    PrincipalType,
    ResourceType,
    RevocationResult,
    RoleAssignment,
    RoleAssignmentKind,
    User,
    UserType,
)
from directory.models.applications import DEFAULT_APP_ROLE
from directory.models.users import validate_time_zone

FORMATS = ("json", "csv")
DEFAULT_APP_ROLE_NAME = "Default Access"
# Removal audit events list at most this many principals (the count is always exact).
AUDIT_LIST_CAP = 100
# Ids per `IN (...)` when reading back: under SQLite's parameter limit, small enough for any plan.
IN_CHUNK = 500
TRUE_WORDS = {"true", "yes", "1", "y", "t"}
FALSE_WORDS = {"false", "no", "0", "n", "f"}
UPN_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+$")
# Plain ASCII addresses: a subset of what Django's EmailValidator accepts, checked without its
# per-call overhead (a fifth of a 100,000-user parse); anything else goes to the validator.
PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


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


@dataclass(frozen=True)
class Place:
    """Where a record is, to name it in messages: users[3] (JSON) or line 7 (CSV)."""

    label: str
    csv: bool = False

    def of(self, name: str) -> str:
        return f"{self.label}, {name}" if self.csv else f"{self.label}.{name}"


# --- The file, whatever its format ---------------------------------------------------------------


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
class UserSpec:
    place: Place
    external_id: str
    # Only the fields the file gives (a field it leaves out keeps its value); "manager" is a Ref.
    values: dict[str, Any]
    existing: dict | None = None
    final: dict = field(default_factory=dict)


@dataclass
class GroupSpec:
    place: Place
    external_id: str
    values: dict[str, Any]
    owners: list[Ref] = field(default_factory=list)
    members: list[Ref] = field(default_factory=list)
    member_groups: list[Ref] = field(default_factory=list)
    existing: dict | None = None
    final: dict = field(default_factory=dict)


@dataclass
class AppSpec:
    place: Place
    external_id: str
    values: dict[str, Any]
    owners: list[Ref] = field(default_factory=list)
    app_roles: list[AppRoleSpec] = field(default_factory=list)
    assignments: list[Grant] = field(default_factory=list)
    sign_ins: list[SignIn] = field(default_factory=list)
    existing: dict | None = None
    final: dict = field(default_factory=dict)


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


# --- Values --------------------------------------------------------------------------------------


def _scalar(raw):
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


def _is_blank(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _text(value):
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
        found = by_lower.get(_text(value).lower())
        if found is None:
            expected = " or ".join(choices.values)
            raise FieldError(f"unknown {what} {value!r} (expected {expected})")
        return found

    return parse


def _email(value) -> str:
    if not PLAIN_EMAIL.fullmatch(_text(value)):
        try:
            validate_email(value)
        except ValidationError:
            raise FieldError(f"malformed email address {value!r}") from None
    return User.objects.normalize_email(value)


def _upn(value) -> str:
    if not UPN_SHAPE.match(_text(value)):
        raise FieldError(f"malformed user principal name {value!r} (expected name@domain)")
    return value


def _time_zone(value) -> str:
    try:
        validate_time_zone(_text(value))
    except ValidationError:
        raise FieldError(
            f"unknown time zone {value!r} (expected an IANA name such as Europe/Paris)"
        ) from None
    return value


def _moment(value) -> datetime.datetime:
    try:
        moment = parse_datetime(_text(value))
    except ValueError:
        moment = None
    if moment is None:
        raise FieldError(f"bad date {value!r} (expected ISO 8601, e.g. 2025-03-01T09:30:00Z)")
    # A time without an offset is UTC, as in Entra's exports.
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=datetime.UTC)


def _slug(value) -> str:
    try:
        validate_slug(_text(value))
    except ValidationError:
        raise FieldError(f"{value!r} is not a slug (letters, digits, - and _ only)") from None
    return value


def _column(model: type[models.Model], name: str, parse=_text) -> Callable[[Any], Any]:
    """A converter for one model field: blank means the field's default."""
    model_field = model._meta.get_field(name)
    # None of the imported fields has a callable default, so one value serves every row.
    default, max_length = model_field.get_default(), model_field.max_length

    def convert(raw):
        value = _scalar(raw)
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
_parse_assignment_kind = _choice(RoleAssignmentKind, "assignment kind")


def _defaults(model: type[models.Model], names: Iterable[str]) -> dict[str, Any]:
    return {name: model._meta.get_field(name).get_default() for name in names}


def _external_id(raw) -> str:
    value = _text(_scalar(raw))
    if not value:
        raise FieldError("is required")
    if len(value) > 200:
        raise FieldError("is longer than 200 characters")
    return value


def _ref(raw, at: str, problems: Problems) -> Ref | None:
    try:
        return Ref(_external_id(raw), at)
    except FieldError as exc:
        problems.add(at, str(exc))
        return None


def _convert(raw: dict, table: dict, place: Place, problems: Problems) -> dict[str, Any]:
    values = {}
    for name, convert in table.items():
        if name in raw:
            try:
                values[name] = convert(raw[name])
            except FieldError as exc:
                problems.add(place.of(name), str(exc))
    return values


def _require(raw: dict, names: Iterable[str], place: Place, problems: Problems) -> None:
    for name in names:
        if _is_blank(raw.get(name)):
            problems.add(place.of(name), "is required")


# --- Records (shared by both formats: `raw` is a JSON object or a CSV row's cells) -------------


def _user_spec(raw: dict, place: Place, problems: Problems) -> UserSpec | None:
    ext = _ref(raw.get("external_id"), place.of("external_id"), problems)
    _require(raw, ["user_principal_name"], place, problems)
    values = _convert(raw, USER_FIELDS, place, problems)
    if "manager" in raw:
        manager = raw["manager"]
        blank = _is_blank(manager)
        values["manager"] = None if blank else _ref(manager, place.of("manager"), problems)
    return UserSpec(place, ext.ext, values) if ext else None


def _group_spec(raw: dict, place: Place, problems: Problems) -> GroupSpec | None:
    ext = _ref(raw.get("external_id"), place.of("external_id"), problems)
    _require(raw, ["name"], place, problems)
    values = _convert(raw, GROUP_FIELDS, place, problems)
    return GroupSpec(place, ext.ext, values) if ext else None


def _app_spec(raw: dict, place: Place, problems: Problems) -> AppSpec | None:
    ext = _ref(raw.get("external_id"), place.of("external_id"), problems)
    _require(raw, ["name"], place, problems)
    values = _convert(raw, APPLICATION_FIELDS, place, problems)
    return AppSpec(place, ext.ext, values) if ext else None


def _app_role_spec(raw: dict, place: Place, problems: Problems) -> AppRoleSpec | None:
    try:
        value = _slug(_external_id(raw.get("value")))
    except FieldError as exc:
        problems.add(place.of("value"), str(exc))
        return None
    return AppRoleSpec(place, value, _convert(raw, APP_ROLE_FIELDS, place, problems))


def _grant(raw: dict, place: Place, problems: Problems, detail: str, parse, default: str):
    """An assignment: exactly one of user and group, plus its detail (app role or kind)."""
    given = [name for name in ("user", "group") if not _is_blank(raw.get(name))]
    if len(given) != 1:
        problems.add(place.label, "give exactly one of user and group")
        return None
    ref = _ref(raw[given[0]], place.of(given[0]), problems)
    try:
        value = _scalar(raw.get(detail))
        value = parse(value) if value else default
    except FieldError as exc:
        problems.add(place.of(detail), str(exc))
        return None
    return Grant(place, given[0], ref, value) if ref else None


def _app_grant(raw: dict, place: Place, problems: Problems) -> Grant | None:
    return _grant(raw, place, problems, "role", _slug, DEFAULT_APP_ROLE)


def _role_grant(raw: dict, place: Place, problems: Problems) -> Grant | None:
    return _grant(raw, place, problems, "kind", _parse_assignment_kind, RoleAssignmentKind.ACTIVE)


def _sign_in(raw: dict, place: Place, problems: Problems) -> SignIn | None:
    ref = _ref(raw.get("user"), place.of("user"), problems)
    _require(raw, ["last_sign_in_at"], place, problems)
    try:
        moment = _column(ApplicationSignIn, "last_sign_in_at", _moment)(raw.get("last_sign_in_at"))
    except FieldError as exc:
        problems.add(place.of("last_sign_in_at"), str(exc))
        return None
    return SignIn(place, ref, moment) if ref and moment else None


def _append(items: list, item) -> None:
    if item is not None:
        items.append(item)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected([f"byte {exc.start}: the file is not UTF-8 text"]) from None


# --- JSON ----------------------------------------------------------------------------------------

JSON_SECTIONS = ("users", "groups", "applications", "roles")
JSON_KEYS = {
    "users": {"external_id", "manager", *USER_FIELDS},
    "groups": {"external_id", *GROUP_FIELDS, "owners", "members", "member_groups"},
    "applications": {
        "external_id",
        *APPLICATION_FIELDS,
        "owners",
        "app_roles",
        "assignments",
        "sign_ins",
    },
    "roles": {"name", "template_id", "assignments"},
    "app_roles": {"value", *APP_ROLE_FIELDS},
    "app_assignments": {"user", "group", "role"},
    "sign_ins": {"user", "last_sign_in_at"},
    "role_assignments": {"user", "group", "kind"},
}


def read_json(data: bytes) -> Document:
    """Parse a JSON export into a Document; field problems are collected, not raised."""
    try:
        tree = json.loads(_decode(data))
    except json.JSONDecodeError as exc:
        message = f"line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg})"
        raise ImportRejected([message]) from None
    if not isinstance(tree, dict):
        raise ImportRejected(["the file must hold one JSON object with the lists " + _sections()])
    doc = Document()
    for key in tree:
        if key not in JSON_SECTIONS:
            doc.problems.add(repr(key), f"unknown section (expected {_sections()})")
    for place, raw in _json_objects(tree, "users", Place("users"), doc.problems):
        _append(doc.users, _user_spec(raw, place, doc.problems))
    for place, raw in _json_objects(tree, "groups", Place("groups"), doc.problems):
        _append(doc.groups, _json_group(raw, place, doc.problems))
    for place, raw in _json_objects(tree, "applications", Place("applications"), doc.problems):
        _append(doc.applications, _json_application(raw, place, doc.problems))
    for place, raw in _json_objects(tree, "roles", Place("roles"), doc.problems):
        _append(doc.roles, _json_role(raw, place, doc.problems))
    return doc


def _sections() -> str:
    return ", ".join(JSON_SECTIONS)


def _json_list(parent: dict, key: str, at: str, problems: Problems) -> Iterator[tuple[str, Any]]:
    items = parent.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        problems.add(at, "expected a list")
        return
    for index, item in enumerate(items):
        yield f"{at}[{index}]", item


def _json_objects(parent: dict, key: str, place: Place, problems: Problems, keys: str = ""):
    """Yield (place, object) for each item of parent[key], reporting non-objects and strays."""
    at = place.label if place.label == key else place.of(key)
    allowed = JSON_KEYS[keys or key]
    for item_at, item in _json_list(parent, key, at, problems):
        if not isinstance(item, dict):
            problems.add(item_at, "expected an object")
            continue
        item_place = Place(item_at)
        for stray in sorted(item.keys() - allowed):
            expected = ", ".join(sorted(allowed))
            name = stray if stray.isidentifier() else repr(stray)
            problems.add(item_place.of(name), f"unknown field (expected one of: {expected})")
        yield item_place, item


def _json_refs(raw: dict, key: str, place: Place, problems: Problems) -> list[Ref]:
    refs = (_ref(item, at, problems) for at, item in _json_list(raw, key, place.of(key), problems))
    return [ref for ref in refs if ref]


def _json_group(raw: dict, place: Place, problems: Problems) -> GroupSpec | None:
    spec = _group_spec(raw, place, problems)
    if spec:
        spec.owners = _json_refs(raw, "owners", place, problems)
        spec.members = _json_refs(raw, "members", place, problems)
        spec.member_groups = _json_refs(raw, "member_groups", place, problems)
    return spec


def _json_application(raw: dict, place: Place, problems: Problems) -> AppSpec | None:
    spec = _app_spec(raw, place, problems)
    if spec is None:
        return None
    spec.owners = _json_refs(raw, "owners", place, problems)
    for item_place, item in _json_objects(raw, "app_roles", place, problems):
        _append(spec.app_roles, _app_role_spec(item, item_place, problems))
    for item_place, item in _json_objects(raw, "assignments", place, problems, "app_assignments"):
        _append(spec.assignments, _app_grant(item, item_place, problems))
    for item_place, item in _json_objects(raw, "sign_ins", place, problems):
        _append(spec.sign_ins, _sign_in(item, item_place, problems))
    return spec


def _json_role(raw: dict, place: Place, problems: Problems) -> RoleSpec | None:
    keys = []
    for name in ("name", "template_id"):
        if not _is_blank(raw.get(name)):
            try:
                keys.append((name, _text(_scalar(raw[name]))))
            except FieldError as exc:
                problems.add(place.of(name), str(exc))
    if not keys:
        problems.add(place.label, "give the role's name or template_id")
        return None
    spec = RoleSpec(place, keys)
    for item_place, item in _json_objects(raw, "assignments", place, problems, "role_assignments"):
        _append(spec.assignments, _role_grant(item, item_place, problems))
    return spec


# --- CSV -----------------------------------------------------------------------------------------

CSV_RECORDS = {
    "user": ("external_id", *USER_FIELDS, "manager"),
    "group": ("external_id", *GROUP_FIELDS),
    "group_owner": ("group", "user"),
    "group_member": ("group", "user"),
    "group_member_group": ("group", "member_group"),
    "application": ("external_id", *APPLICATION_FIELDS),
    "app_owner": ("application", "user"),
    "app_role": ("application", "value", *APP_ROLE_FIELDS),
    "app_assignment": ("application", "user", "group", "role"),
    "app_sign_in": ("application", "user", "last_sign_in_at"),
    "role": ("role",),
    "role_assignment": ("role", "user", "group", "kind"),
}
CSV_COLUMNS = {"record", *(column for columns in CSV_RECORDS.values() for column in columns)}
# Record -> (column naming the group or application the row belongs to, the list it adds to).
CSV_LINKS = {
    "group_owner": ("group", "owners"),
    "group_member": ("group", "members"),
    "group_member_group": ("group", "member_groups"),
    "app_owner": ("application", "owners"),
    "app_role": ("application", "app_roles"),
    "app_assignment": ("application", "assignments"),
    "app_sign_in": ("application", "sign_ins"),
}
CSV_LINK_ITEMS = {
    "owners": lambda raw, place, problems: _ref(raw.get("user"), place.of("user"), problems),
    "members": lambda raw, place, problems: _ref(raw.get("user"), place.of("user"), problems),
    "member_groups": lambda raw, place, problems: _ref(
        raw.get("member_group"), place.of("member_group"), problems
    ),
    "app_roles": lambda raw, place, problems: _app_role_spec(raw, place, problems),
    "assignments": lambda raw, place, problems: _app_grant(raw, place, problems),
    "sign_ins": lambda raw, place, problems: _sign_in(raw, place, problems),
}


def read_csv(data: bytes) -> Document:
    """Parse a CSV export (one `record` column naming each row's type) into a Document."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    header = _csv_header(reader)
    doc, links, roles = Document(), [], {}
    for place, row in _csv_rows(reader, header, doc.problems):
        record = row["record"].strip()
        columns = CSV_RECORDS.get(record)
        if columns is None:
            expected = ", ".join(CSV_RECORDS)
            doc.problems.add(place.of("record"), f"unknown record type {record!r} ({expected})")
            continue
        for column in header:
            if column not in columns and column != "record" and row[column].strip():
                doc.problems.add(place.of(column), f"does not apply to {record} rows")
        raw = {column: row[column] for column in columns if column in row}
        _csv_record(doc, record, raw, place, links, roles)
    _csv_links(doc, links)
    doc.roles = list(roles.values())
    return doc


def _csv_header(reader) -> list[str]:
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise ImportRejected(["line 1: the file is empty (expected a header row)"]) from None
    except csv.Error as exc:
        raise ImportRejected([f"line 1: unreadable CSV ({exc})"]) from None
    problems = Problems()
    for column in header:
        if "\x00" in column:
            problems.add("line 1", "contains a NUL character")
        elif column not in CSV_COLUMNS:
            problems.add(f"line 1, {column}", "unknown column (see docs/import.md)")
        elif header.count(column) > 1:
            problems.add(f"line 1, {column}", "the column appears twice")
    if "record" not in header:
        problems.add("line 1", "the header has no record column")
    problems.raise_if_any()
    return header


def _csv_rows(reader, header: list[str], problems: Problems) -> Iterator[tuple[Place, dict]]:
    end = reader.line_num
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(f"line {start}", f"unreadable CSV ({exc})")
            return
        end = reader.line_num
        place = Place(f"line {start}", csv=True)
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            problems.add(place.label, f"has {len(cells)} fields, the header has {len(header)}")
            continue
        row = dict(zip(header, cells, strict=True))
        nul = [column for column, cell in row.items() if "\x00" in cell]
        for column in nul:
            problems.add(place.of(column), "contains a NUL character")
        if not nul:
            yield place, row


def _csv_record(doc: Document, record: str, raw: dict, place: Place, links: list, roles: dict):
    if record == "user":
        _append(doc.users, _user_spec(raw, place, doc.problems))
    elif record == "group":
        _append(doc.groups, _group_spec(raw, place, doc.problems))
    elif record == "application":
        _append(doc.applications, _app_spec(raw, place, doc.problems))
    elif record in ("role", "role_assignment"):
        _csv_role(raw, place, doc.problems, roles, record == "role_assignment")
    else:
        links.append((record, raw, place))


def _csv_role(raw: dict, place: Place, problems: Problems, roles: dict, with_grant: bool):
    try:
        key = _external_id(raw.get("role"))
    except FieldError as exc:
        problems.add(place.of("role"), str(exc))
        return
    spec = roles.setdefault(key.lower(), RoleSpec(place, [("role", key)]))
    if with_grant:
        _append(spec.assignments, _role_grant(raw, place, problems))


def _csv_links(doc: Document, links: list) -> None:
    """Attach owner, member and assignment rows to the group or application rows they name."""
    owners = {
        "group": {spec.external_id: spec for spec in reversed(doc.groups)},
        "application": {spec.external_id: spec for spec in reversed(doc.applications)},
    }
    for record, raw, place in links:
        column, attr = CSV_LINKS[record]
        ref = _ref(raw.get(column), place.of(column), doc.problems)
        if ref is None:
            continue
        spec = owners[column].get(ref.ext)
        if spec is None:
            doc.problems.add(
                ref.at,
                f"{column} {ref.ext!r} has no {column} row in this file (an import replaces "
                f"the members of the {column}s it lists, so list the {column} too)",
            )
            continue
        _append(getattr(spec, attr), CSV_LINK_ITEMS[attr](raw, place, doc.problems))


# --- Writing helpers -----------------------------------------------------------------------------


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_in(queryset, column: str, ids: Iterable[int], *fields: str) -> Iterator[tuple]:
    for chunk in _chunks(sorted(ids), IN_CHUNK):
        yield from queryset.filter(**{f"{column}__in": chunk}).values_list(*fields)


def _ids(model: type[models.Model]) -> dict[str, int]:
    return dict(model.objects.exclude(external_id="").values_list("external_id", "id"))


def _delete_ids(model: type[models.Model], ids: Iterable[int]) -> None:
    for chunk in _chunks(sorted(ids), IN_CHUNK):
        model.objects.filter(id__in=chunk).delete()


# Values of these field types go to the driver as they are; others through get_db_prep_save.
PLAIN_TYPES = {
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "PositiveBigIntegerField",
    "SlugField",
    "TextField",
}


def _adapters(fields: list) -> list[Callable | None]:
    return [
        None
        if f.get_internal_type() in PLAIN_TYPES
        else functools.partial(f.get_db_prep_save, connection=connection)
        for f in fields
    ]


def _write_rows(cursor, table: str, columns: list[str], rows: Iterable[list]) -> None:
    """Append rows to a table: COPY on PostgreSQL (five times a multi-row INSERT), else INSERTs."""
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    width = len(columns)
    row_sql = "(" + ", ".join(["%s"] * width) + ")"
    for chunk in _chunks(rows, max(1, connection.features.max_query_params // width)):
        params = [value for row in chunk for value in row]
        cursor.execute(
            f"INSERT INTO {table} ({names}) VALUES {', '.join([row_sql] * len(chunk))}", params
        )


def _insert(model: type[models.Model], rows: list[dict]) -> None:
    """INSERT rows given as {attname: value}; the other columns take the model's defaults."""
    if not rows:
        return
    with_pk = "id" in rows[0]
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    per_row = [f for f in fields if f.has_default() and callable(f.default)]  # uuid4, now
    static = {f.attname: f.get_default() for f in fields if f not in per_row}
    adapters = _adapters(fields)

    def values(row: dict) -> list:
        full = {**static, **row}
        for f in per_row:
            if f.attname not in full:
                full[f.attname] = f.default()
        return [
            adapt(full[f.attname]) if adapt else full[f.attname]
            for f, adapt in zip(fields, adapters, strict=True)
        ]

    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        _write_rows(cursor, table, [f.column for f in fields], map(values, rows))


def _bulk_set(model: type[models.Model], names: list[str], rows: list[tuple]) -> None:
    """Set fields on many rows from (id, *values) tuples: one UPDATE, however many rows."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    adapters = _adapters(fields)
    staged = (
        [pk, *(a(v) if a else v for a, v in zip(adapters, values, strict=True))]
        for pk, *values in rows
    )
    qn = connection.ops.quote_name
    table, temp = qn(model._meta.db_table), qn(f"import_{model._meta.db_table}")
    columns = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
    assignments = ", ".join(f"{qn(f.column)} = {temp}.{qn(f.column)}" for f in fields)
    with connection.cursor() as cursor:
        # SQLite has UPDATE ... FROM since 3.33; both databases join the staged rows by id.
        cursor.execute(f"CREATE TEMPORARY TABLE {temp} (id bigint PRIMARY KEY, {columns})")
        _write_rows(cursor, temp, ["id", *(f.column for f in fields)], staged)
        cursor.execute(f"UPDATE {table} SET {assignments} FROM {temp} WHERE {table}.id = {temp}.id")
        cursor.execute(f"DROP TABLE {temp}")


def _changes(specs: Iterable, columns: list[str]) -> dict[tuple[str, ...], list]:
    """Group the existing rows whose values change by which fields change."""
    by_fields = defaultdict(list)
    for spec in specs:
        if spec.existing:
            changed = tuple(n for n in columns if spec.final[n] != spec.existing[n])
            if changed:
                by_fields[changed].append(spec)
    return by_fields


def _update(model: type[models.Model], changes: dict[tuple[str, ...], list]) -> None:
    """One UPDATE per changed field set (a sync mostly changes the same one or two fields)."""
    for names, specs in changes.items():
        rows = [(s.existing["id"], *(s.final[n] for n in names)) for s in specs]
        _bulk_set(model, list(names), rows)


def _unusable_passwords(count: int) -> list[str]:
    """What make_password(None) stores, "!" and 40 random characters, for many users at once."""
    block = secrets.token_bytes(30 * count)
    return [
        "!" + base64.urlsafe_b64encode(block[i : i + 30]).decode() for i in range(0, 30 * count, 30)
    ]


def _allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Take ids from the table's sequence (PostgreSQL), so new rows can point at each other."""
    if connection.vendor != "postgresql" or not count:
        return []
    sql = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.db_table, count])
        return [row[0] for row in cursor.fetchall()]


def _lock_imports() -> None:
    # One import at a time; nesting edits wait too, since the cycle check reads the whole graph.
    # SQLite transactions already hold the single write lock from BEGIN IMMEDIATE.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x696D706F7274])
    services.nesting_lock()


# --- Counts and result ---------------------------------------------------------------------------

COUNTS = (
    ("users", "users", ("created", "updated", "restored", "tombstoned")),
    ("groups", "groups", ("created", "updated")),
    ("group_owners", "group owners", ("added", "removed")),
    ("group_members", "group members", ("added", "removed")),
    ("nested_groups", "nested groups", ("added", "removed")),
    ("applications", "applications", ("created", "updated")),
    ("app_roles", "app roles", ("created", "updated")),
    ("application_owners", "application owners", ("added", "removed")),
    ("app_role_assignments", "app role assignments", ("added", "removed")),
    ("application_sign_ins", "application sign-ins", ("created", "updated")),
    ("role_assignments", "directory role assignments", ("added", "removed")),
    ("revoked_grants", "revoked grants brought back", ("restored",)),
)


@dataclass
class ImportResult:
    source: str
    counts: dict[str, dict[str, int]]
    dry_run: bool = False

    def report_lines(self) -> list[str]:
        lines = []
        for key, label, verbs in COUNTS:
            done = ", ".join(f"{self.counts[key][verb]} {verb}" for verb in verbs)
            lines.append(f"{label}: {done}")
        if self.counts["revoked_grants"]["restored"]:
            lines.append(
                "Some grants a review had removed came back from the source system: see the "
                "directory.revoked_grant_restored events in the audit log."
            )
        if self.dry_run:
            lines.append("Dry run: nothing was written.")
        return lines


# --- The import ----------------------------------------------------------------------------------


def import_file(path, *, fmt: str | None = None, prune=False, dry_run=False) -> ImportResult:
    """Read, validate and apply one export file; raise ImportRejected when any row is bad."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ImportRejected([f"{path.name}: cannot tell the format; use --format json or csv"])
    data = path.read_bytes()
    doc = read_json(data) if fmt == "json" else read_csv(data)
    digest = hashlib.sha256(data).hexdigest()
    return import_document(doc, source=path.name, sha256=digest, prune=prune, dry_run=dry_run)


def import_document(doc: Document, *, source: str, sha256="", prune=False, dry_run=False):
    """Validate a parsed Document against the database and apply it, in one transaction."""
    with transaction.atomic():
        _lock_imports()
        run = _Import(doc, actor=f"import:{source}", prune=prune)
        run.validate()
        run.apply()
        details = {"file": source, "sha256": sha256, "prune": prune, "counts": run.counts}
        audit.record(run.actor, "directory.import", None, details)
        if dry_run:
            transaction.set_rollback(True)
    return ImportResult(source, run.counts, dry_run)


USER_COLUMNS = list(USER_FIELDS)
GROUP_COLUMNS = list(GROUP_FIELDS)
APPLICATION_COLUMNS = list(APPLICATION_FIELDS)


class _Import:
    """One import: the database as read under the lock, the checks, then the writes."""

    def __init__(self, doc: Document, *, actor: str, prune: bool):
        self.doc, self.actor, self.prune = doc, actor, prune
        self.problems = doc.problems
        self.counts = {key: dict.fromkeys(verbs, 0) for key, _, verbs in COUNTS}
        self.new_grants: set[tuple[str, int, str, int]] = set()
        # (kind, id) -> (uuid, label) of what audit events name, as it is after the import.
        self.refs: dict[tuple[str, int], tuple[str, str]] = {}
        self._load()

    # --- Reading the database ------------------------------------------------------------------

    def _load(self) -> None:
        users = User.objects.values(
            "id", "uuid", "external_id", "deleted_at", "manager_id", *USER_COLUMNS
        )
        self.users = {row["id"]: row for row in users}
        self.user_by_ext = {
            row["external_id"]: row for row in self.users.values() if row["external_id"]
        }
        self.user_by_upn = {row["user_principal_name"].lower(): row for row in self.users.values()}
        self.user_by_email = {
            row["email"].lower(): row for row in self.users.values() if row["email"]
        }
        groups = Group.objects.values("id", "uuid", "external_id", *GROUP_COLUMNS)
        self.groups = {row["id"]: row for row in groups}
        self.group_by_ext = {
            row["external_id"]: row for row in self.groups.values() if row["external_id"]
        }
        self.nestings = {
            (parent, child): pk
            for pk, parent, child in NestedGroup.objects.values_list("id", "parent_id", "child_id")
        }
        apps = Application.objects.exclude(external_id="").values(
            "id", "uuid", "external_id", *APPLICATION_COLUMNS
        )
        self.app_by_ext = {row["external_id"]: row for row in apps}
        self.roles = list(DirectoryRole.objects.values("id", "uuid", "name", "template_id"))

    # --- Checks --------------------------------------------------------------------------------

    def validate(self) -> None:
        self._validate_users()
        self._validate_groups()
        self._validate_applications()
        self._validate_roles()
        self._check_lost_role_assignability()
        if self.prune and not self.doc.users:
            self.problems.add("--prune", "the file lists no users, so every user would be deleted")
        self.problems.raise_if_any()

    def _unique(self, specs: list, section: str) -> dict[str, Any]:
        """Index specs by external id, reporting every repeat."""
        index = {}
        for spec in specs:
            first = index.setdefault(spec.external_id, spec)
            if first is not spec:
                self.problems.add(
                    spec.place.of("external_id"),
                    f"duplicate {section} external id {spec.external_id!r} "
                    f"(also at {first.place.label})",
                )
        return index

    def _validate_users(self) -> None:
        self.file_users = self._unique(self.doc.users, "user")
        defaults = _defaults(User, USER_COLUMNS)
        for spec in self.file_users.values():
            spec.existing = self.user_by_ext.get(spec.external_id)
            base = dict(defaults)
            if spec.existing:
                base = {name: spec.existing[name] for name in USER_COLUMNS}
                # A deleted user the file lists is restored first, which enables the account.
                base["is_active"] = base["is_active"] or spec.existing["deleted_at"] is not None
            spec.final = {**base, **{k: v for k, v in spec.values.items() if k != "manager"}}
            if not spec.final["display_name"]:
                spec.final["display_name"] = spec.final["user_principal_name"].split("@")[0]
        for column, db_index in (
            ("user_principal_name", self.user_by_upn),
            ("email", self.user_by_email),
        ):
            self._check_unique_values(column, db_index)
        for spec in self.file_users.values():
            manager = spec.values.get("manager")
            if manager and manager.ext == spec.external_id:
                self.problems.add(manager.at, "a user cannot be their own manager")
            elif manager:
                self._check_user_ref(manager)

    def _check_unique_values(self, column: str, db_index: dict) -> None:
        """UPNs and emails: unique inside the file, and not held by a user the file leaves alone."""
        seen = {}
        for spec in self.file_users.values():
            key = spec.final[column].lower()
            if not key:
                continue
            first = seen.setdefault(key, spec)
            if first is not spec:
                self.problems.add(
                    spec.place.of(column),
                    f"duplicate {column} {spec.final[column]!r} (also at {first.place.label})",
                )
                continue
            holder = db_index.get(key)
            if (
                holder is None
                or holder is spec.existing
                or holder["external_id"] in self.file_users
            ):
                # A holder listed in the file gives the value up (else `seen` reported it).
                continue
            self.problems.add(
                spec.place.of(column),
                f"{spec.final[column]!r} belongs to another user, {_describe_user(holder)}",
            )

    def _check_user_ref(self, ref: Ref) -> bool:
        if ref.ext in self.file_users:
            return True
        row = self.user_by_ext.get(ref.ext)
        if row is None:
            self.problems.add(ref.at, f"unknown user external id {ref.ext!r}")
        elif row["deleted_at"] is not None:
            self.problems.add(
                ref.at, f"user {ref.ext!r} is deleted (list them in the file to restore them)"
            )
        elif self.prune:
            self.problems.add(
                ref.at, f"user {ref.ext!r} is not in the file, so --prune would delete them"
            )
        else:
            return True
        return False

    def _check_group_ref(self, ref: Ref) -> bool:
        if ref.ext in self.file_groups or ref.ext in self.group_by_ext:
            return True
        self.problems.add(ref.at, f"unknown group external id {ref.ext!r}")
        return False

    def _final_group(self, ext: str) -> dict:
        spec = self.file_groups.get(ext)
        return spec.final if spec else self.group_by_ext[ext]

    def _validate_groups(self) -> None:
        self.file_groups = self._unique(self.doc.groups, "group")
        defaults = _defaults(Group, GROUP_COLUMNS)
        for spec in self.file_groups.values():
            spec.existing = self.group_by_ext.get(spec.external_id)
            base = (
                {name: spec.existing[name] for name in GROUP_COLUMNS} if spec.existing else defaults
            )
            spec.final = {**base, **spec.values}
            if (
                spec.final["is_role_assignable"]
                and spec.final["membership_type"] == MembershipType.DYNAMIC
            ):
                self.problems.add(
                    spec.place.of("is_role_assignable"),
                    "a role-assignable group cannot have dynamic membership",
                )
        for spec in self.file_groups.values():
            for ref in spec.owners + spec.members:
                self._check_user_ref(ref)
            for ref in spec.member_groups:
                self._check_member_group(spec, ref)
        self._check_cycles()

    def _check_member_group(self, spec: GroupSpec, ref: Ref) -> None:
        if ref.ext == spec.external_id:
            self.problems.add(ref.at, "a group cannot be nested into itself")
        elif self._check_group_ref(ref) and spec.final["is_role_assignable"]:
            self.problems.add(
                ref.at,
                f"cannot nest a group into {spec.final['name']!r}: it is role-assignable, and "
                "role-assignable groups cannot contain groups",
            )

    def _group_key(self, group_id: int) -> str:
        return self.groups[group_id]["external_id"] or f"#{group_id}"

    def _check_cycles(self) -> None:
        """Refuse any cycle in the graph as it will be: the file's edges plus the rest's."""
        graph: dict[str, list[tuple[str, Ref | None]]] = defaultdict(list)
        for parent, child in self.nestings:
            if self._group_key(parent) not in self.file_groups:
                graph[self._group_key(parent)].append((self._group_key(child), None))
        for spec in self.file_groups.values():
            for ref in spec.member_groups:
                if ref.ext != spec.external_id:
                    graph[spec.external_id].append((ref.ext, ref))
        reported = set()
        for cycle, refs in _cycles(graph):
            if frozenset(cycle) in reported:
                continue
            reported.add(frozenset(cycle))
            at = next((ref.at for ref in reversed(refs) if ref), self.doc.groups[0].place.label)
            path = " > ".join(self._group_name(key) for key in cycle)
            self.problems.add(at, f"this nesting makes a cycle: {path}")

    def _group_name(self, key: str) -> str:
        if key.startswith("#"):
            return repr(self.groups[int(key[1:])]["name"])
        spec = self.file_groups.get(key)
        row = spec.final if spec else self.group_by_ext.get(key)
        return repr(row["name"]) if row else repr(key)

    def _validate_applications(self) -> None:
        self.file_apps = self._unique(self.doc.applications, "application")
        defaults = _defaults(Application, APPLICATION_COLUMNS)
        for spec in self.file_apps.values():
            spec.existing = self.app_by_ext.get(spec.external_id)
            base = {n: spec.existing[n] for n in APPLICATION_COLUMNS} if spec.existing else defaults
            spec.final = {**base, **spec.values}
        self.app_roles_now = defaultdict(dict)
        app_ids = [spec.existing["id"] for spec in self.file_apps.values() if spec.existing]
        fields = ("id", "application_id", "value", "display_name", "description")
        for row in _rows_in(AppRole.objects, "application_id", app_ids, *fields):
            self.app_roles_now[row[1]][row[2]] = dict(zip(fields, row, strict=True))
        for spec in self.file_apps.values():
            self._validate_application(spec)

    def _validate_application(self, spec: AppSpec) -> None:
        for ref in spec.owners:
            self._check_user_ref(ref)
        known = {DEFAULT_APP_ROLE}
        if spec.existing:
            known |= set(self.app_roles_now[spec.existing["id"]])
        listed = {}
        for role in spec.app_roles:
            first = listed.setdefault(role.value, role)
            if first is not role:
                self.problems.add(
                    role.place.of("value"),
                    f"duplicate app role {role.value!r} (also at {first.place.label})",
                )
        known |= set(listed)
        for grant in spec.assignments:
            self._check_principal(grant)
            if grant.detail not in known:
                self.problems.add(
                    grant.place.of("role"),
                    f"unknown app role {grant.detail!r} of {spec.final['name']!r} "
                    f"(its roles: {', '.join(sorted(known))})",
                )
        for sign_in in spec.sign_ins:
            self._check_user_ref(sign_in.ref)

    def _check_principal(self, grant: Grant) -> bool:
        if grant.principal_type == PrincipalType.USER:
            return self._check_user_ref(grant.ref)
        return self._check_group_ref(grant.ref)

    def _validate_roles(self) -> None:
        self.file_roles: dict[int, tuple[dict, list[Grant]]] = {}
        for spec in self.doc.roles:
            role = self._resolve_role(spec)
            if role is None:
                continue
            self.file_roles.setdefault(role["id"], (role, []))[1].extend(spec.assignments)
            for grant in spec.assignments:
                if not self._check_principal(grant) or grant.principal_type != PrincipalType.GROUP:
                    continue
                group = self._final_group(grant.ref.ext)
                if not group["is_role_assignable"]:
                    self.problems.add(
                        grant.ref.at,
                        f"group {group['name']!r} is not role-assignable, so it cannot hold "
                        f"a directory role",
                    )

    def _resolve_role(self, spec: RoleSpec) -> dict | None:
        found = []
        for name, value in spec.keys:
            lowered = value.lower()
            columns = ("template_id", "name") if name == "role" else (name,)
            match = next((r for c in columns for r in self.roles if r[c].lower() == lowered), None)
            if match is None:
                self.problems.add(spec.place.of(name), f"unknown directory role {value!r}")
                return None
            found.append(match)
        if any(role is not found[0] for role in found):
            self.problems.add(spec.place.label, "name and template_id are different roles")
            return None
        return found[0]

    def _check_lost_role_assignability(self) -> None:
        """A group that stops being role-assignable must not keep a role the file leaves alone."""
        losing = {
            spec.existing["id"]: spec
            for spec in self.file_groups.values()
            if spec.existing
            and spec.existing["is_role_assignable"]
            and not spec.final["is_role_assignable"]
        }
        held = _rows_in(
            RoleAssignment.objects, "group_id", losing, "group_id", "role_id", "role__name"
        )
        for group_id, role_id, role_name in held:
            if role_id not in self.file_roles:
                self.problems.add(
                    losing[group_id].place.of("is_role_assignable"),
                    f"the group holds the directory role {role_name!r}: list that role in the "
                    "file without this group, or keep the group role-assignable",
                )

    # --- Writes --------------------------------------------------------------------------------

    def apply(self) -> None:
        self._apply_users()
        if self.prune:
            self._prune()
        self._apply_groups()
        self._apply_applications()
        self._apply_app_roles()
        self._sync_group_links()
        self._sync_application_links()
        self._sync_role_assignments()
        self._sync_sign_ins()
        self._flag_restored_grants()

    def _apply_users(self) -> None:
        specs = list(self.file_users.values())
        self._restore([spec for spec in specs if spec.existing and spec.existing["deleted_at"]])
        changes = _changes(specs, USER_COLUMNS)
        self._free_unique_values([spec for batch in changes.values() for spec in batch])
        _update(User, changes)
        new = [spec for spec in specs if not spec.existing]
        ids = _allocate_ids(User, len(new))
        self.user_ids = {ext: row["id"] for ext, row in self.user_by_ext.items()}
        self.user_ids.update(zip((spec.external_id for spec in new), ids, strict=False))
        passwords = _unusable_passwords(len(new))
        _insert(User, [self._new_user(spec, pw) for spec, pw in zip(new, passwords, strict=True)])
        if not ids:
            self.user_ids = _ids(User)
        updated = {spec.external_id for batch in changes.values() for spec in batch}
        updated |= self._apply_managers(specs, managers_inserted=bool(ids))
        self.counts["users"].update(created=len(new), updated=len(updated))

    def _new_user(self, spec: UserSpec, password: str) -> dict:
        row = {"external_id": spec.external_id, "password": password, **spec.final}
        if spec.external_id in self.user_ids:
            # Ids allocated up front: the row can name its manager, even a new one.
            manager = spec.values.get("manager")
            row["id"] = self.user_ids[spec.external_id]
            row["manager_id"] = self.user_ids[manager.ext] if manager else None
        return row

    def _restore(self, specs: list[UserSpec]) -> None:
        by_id = {spec.existing["id"]: spec for spec in specs}
        for chunk in _chunks(sorted(by_id), IN_CHUNK):
            for user in User.objects.filter(id__in=chunk).order_by("id"):
                services.user_restore(self.actor, user)
                by_id[user.pk].existing.update(deleted_at=None, is_active=True)
        self.counts["users"]["restored"] = len(by_id)

    def _free_unique_values(self, changed: list[UserSpec]) -> None:
        """Move aside UPNs and emails that another user in this import takes (a swap or chain).

        The unique indexes are checked row by row, so without this the UPDATE could fail halfway.
        """
        for column, placeholder in (
            ("user_principal_name", lambda pk: f"import-{pk}-{uuid.uuid4().hex}@invalid"),
            ("email", lambda pk: ""),
        ):
            wanted = {
                spec.final[column].lower(): spec
                for spec in changed
                if spec.final[column]
                and spec.final[column].lower() != spec.existing[column].lower()
            }
            holders = [
                spec.existing["id"]
                for spec in changed
                if spec.existing[column]
                and wanted.get(spec.existing[column].lower(), spec) is not spec
            ]
            _bulk_set(User, [column], [(pk, placeholder(pk)) for pk in holders])

    def _apply_managers(self, specs: list[UserSpec], *, managers_inserted: bool) -> set[str]:
        rows, updated = [], set()
        for spec in specs:
            if "manager" not in spec.values or (managers_inserted and not spec.existing):
                continue
            ref = spec.values["manager"]
            target = self.user_ids[ref.ext] if ref else None
            if target != (spec.existing["manager_id"] if spec.existing else None):
                rows.append((self.user_ids[spec.external_id], target))
                if spec.existing:
                    updated.add(spec.external_id)
        _bulk_set(User, ["manager"], rows)
        return updated

    def _prune(self) -> None:
        doomed = [
            row["id"]
            for ext, row in self.user_by_ext.items()
            if ext not in self.file_users and row["deleted_at"] is None
        ]
        for chunk in _chunks(doomed, IN_CHUNK):
            for user in User.objects.filter(id__in=chunk).order_by("id"):
                services.user_tombstone(self.actor, user)
        self.counts["users"]["tombstoned"] = len(doomed)

    def _upsert(self, model, specs: list, columns: list[str], count_key: str) -> dict[str, int]:
        """Update changed rows and create new ones; return every external id -> id."""
        changes = _changes(specs, columns)
        _update(model, changes)
        new = [{"external_id": s.external_id, **s.final} for s in specs if not s.existing]
        _insert(model, new)
        updated = sum(len(batch) for batch in changes.values())
        self.counts[count_key].update(created=len(new), updated=updated)
        return _ids(model)

    def _apply_groups(self) -> None:
        specs = list(self.file_groups.values())
        self.group_ids = self._upsert(Group, specs, GROUP_COLUMNS, "groups")

    def _apply_applications(self) -> None:
        specs = list(self.file_apps.values())
        self.app_ids = self._upsert(Application, specs, APPLICATION_COLUMNS, "applications")

    def _apply_app_roles(self) -> None:
        created, changed = [], []
        for spec in self.file_apps.values():
            app_id = self.app_ids[spec.external_id]
            now = self.app_roles_now[app_id]
            wanted = {role.value: role.values for role in spec.app_roles}
            wanted.setdefault(DEFAULT_APP_ROLE, {})
            for value, values in wanted.items():
                row = now.get(value)
                fallback = DEFAULT_APP_ROLE_NAME if value == DEFAULT_APP_ROLE else value
                base = row or {"display_name": fallback, "description": ""}
                final = {**{k: base[k] for k in APP_ROLE_FIELDS}, **values}
                final["display_name"] = final["display_name"] or fallback
                if row is None:
                    created.append({"application_id": app_id, "value": value, **final})
                elif any(final[k] != row[k] for k in APP_ROLE_FIELDS):
                    changed.append((row["id"], *(final[k] for k in APP_ROLE_FIELDS)))
        _insert(AppRole, created)
        _bulk_set(AppRole, list(APP_ROLE_FIELDS), changed)
        self.counts["app_roles"].update(created=len(created), updated=len(changed))
        app_ids = [self.app_ids[ext] for ext in self.file_apps]
        fields = ("id", "application_id", "value")
        rows = _rows_in(AppRole.objects, "application_id", app_ids, *fields)
        self.app_role_ids = {(app_id, value): pk for pk, app_id, value in rows}
        self.app_role_of = {pk: key for key, pk in self.app_role_ids.items()}

    # --- Owners, members and assignments -------------------------------------------------------

    def _sync(
        self, key: str, model, now: dict[tuple, int], wanted: set[tuple], build
    ) -> tuple[set, set]:
        """Make a link table hold exactly `wanted` for the resources read into `now`."""
        added, removed = wanted - now.keys(), now.keys() - wanted
        _insert(model, [build(k) for k in sorted(added)])
        _delete_ids(model, (now[k] for k in removed))
        self.counts[key].update(added=len(added), removed=len(removed))
        return added, removed

    def _existing_ids(self, specs: dict, kind: str) -> list[int]:
        ids = self.group_ids if kind == "group" else self.app_ids
        return [ids[ext] for ext, spec in specs.items() if spec.existing]

    def _sync_group_links(self) -> None:
        groups = {self.group_ids[ext]: spec for ext, spec in self.file_groups.items()}
        existing = self._existing_ids(self.file_groups, "group")
        for key, model, attr, action in (
            ("group_owners", GroupOwner, "owners", "group.owners_removed_by_import"),
            ("group_members", GroupMembership, "members", "group.members_removed_by_import"),
        ):
            rows = _rows_in(model.objects, "group_id", existing, "id", "group_id", "user_id")
            now = {(group, user): pk for pk, group, user in rows}
            wanted = {
                (g, self.user_ids[r.ext]) for g, s in groups.items() for r in getattr(s, attr)
            }
            added, removed = self._sync(key, model, now, wanted, _pair("group_id", "user_id"))
            self._audit_removals(action, removed, lambda k: ("group", k[0]), self._user_label)
            if model is GroupMembership:
                self.new_grants |= {
                    (ResourceType.GROUP, g, PrincipalType.USER, u) for g, u in added
                }
        now = {k: pk for k, pk in self.nestings.items() if k[0] in groups}
        wanted = {(g, self.group_ids[r.ext]) for g, s in groups.items() for r in s.member_groups}
        build = _pair("parent_id", "child_id")
        added, removed = self._sync("nested_groups", NestedGroup, now, wanted, build)
        action = "group.member_groups_removed_by_import"
        self._audit_removals(
            action, removed, lambda k: ("group", k[0]), lambda k: self._label("group", k[1])
        )
        self.new_grants |= {(ResourceType.GROUP, p, PrincipalType.GROUP, c) for p, c in added}

    def _principal_id(self, grant: Grant) -> int:
        ids = self.user_ids if grant.principal_type == PrincipalType.USER else self.group_ids
        return ids[grant.ref.ext]

    def _sync_application_links(self) -> None:
        apps = {self.app_ids[ext]: spec for ext, spec in self.file_apps.items()}
        existing = self._existing_ids(self.file_apps, "application")
        rows = _rows_in(
            ApplicationOwner.objects, "application_id", existing, "id", "application_id", "user_id"
        )
        now = {(app, user): pk for pk, app, user in rows}
        wanted = {(a, self.user_ids[r.ext]) for a, s in apps.items() for r in s.owners}
        build = _pair("application_id", "user_id")
        _, removed = self._sync("application_owners", ApplicationOwner, now, wanted, build)
        action = "application.owners_removed_by_import"
        self._audit_removals(action, removed, lambda k: ("application", k[0]), self._user_label)
        fields = ("id", "app_role_id", "user_id", "group_id")
        rows = _rows_in(AppRoleAssignment.objects, "app_role__application_id", existing, *fields)
        now = {_grant_key(role, user, group): pk for pk, role, user, group in rows}
        wanted = {
            (self.app_role_ids[(a, g.detail)], g.principal_type, self._principal_id(g))
            for a, s in apps.items()
            for g in s.assignments
        }
        added, removed = self._sync(
            "app_role_assignments", AppRoleAssignment, now, wanted, _build_app_assignment
        )
        action = "application.assignments_removed_by_import"
        self._audit_removals(
            action,
            removed,
            lambda k: ("application", self.app_role_of[k[0]][0]),
            self._app_grant_label,
        )
        before = {(self.app_role_of[k[0]][0], k[1], k[2]) for k in now}
        for role_id, principal_type, principal_id in added:
            pair = (self.app_role_of[role_id][0], principal_type, principal_id)
            if pair not in before:
                self.new_grants.add((ResourceType.APPLICATION, *pair))

    def _sync_role_assignments(self) -> None:
        fields = ("id", "role_id", "kind", "user_id", "group_id")
        rows = _rows_in(RoleAssignment.objects, "role_id", self.file_roles, *fields)
        now = {
            (role, kind, *_grant_key(None, user, group)[1:]): pk
            for pk, role, kind, user, group in rows
        }
        wanted = {
            (role_id, g.detail, g.principal_type, self._principal_id(g))
            for role_id, (_, grants) in self.file_roles.items()
            for g in grants
        }
        added, removed = self._sync(
            "role_assignments", RoleAssignment, now, wanted, _build_role_assignment
        )
        action = "role.assignments_removed_by_import"
        self._audit_removals(
            action, removed, lambda k: ("directoryrole", k[0]), self._role_grant_label
        )
        before = {(k[0], k[2], k[3]) for k in now}
        for role_id, _, principal_type, principal_id in added:
            if (role_id, principal_type, principal_id) not in before:
                self.new_grants.add(
                    (ResourceType.DIRECTORY_ROLE, role_id, principal_type, principal_id)
                )

    def _sync_sign_ins(self) -> None:
        existing = self._existing_ids(self.file_apps, "application")
        fields = ("id", "application_id", "user_id", "last_sign_in_at")
        rows = _rows_in(ApplicationSignIn.objects, "application_id", existing, *fields)
        now = {(app, user): (pk, at) for pk, app, user, at in rows}
        wanted: dict[tuple[int, int], datetime.datetime] = {}
        for ext, spec in self.file_apps.items():
            for sign_in in spec.sign_ins:
                key = (self.app_ids[ext], self.user_ids[sign_in.ref.ext])
                # Several rows for one user: the last sign-in is the latest of them.
                wanted[key] = max(wanted.get(key, sign_in.at), sign_in.at)
        created = [
            {"application_id": app, "user_id": user, "last_sign_in_at": at}
            for (app, user), at in sorted(wanted.items())
            if (app, user) not in now
        ]
        _insert(ApplicationSignIn, created)
        changed = [(now[k][0], at) for k, at in wanted.items() if k in now and now[k][1] != at]
        _bulk_set(ApplicationSignIn, ["last_sign_in_at"], changed)
        self.counts["application_sign_ins"].update(created=len(created), updated=len(changed))

    # --- Audit ---------------------------------------------------------------------------------

    def _label(self, kind: str, pk: int) -> str:
        return self._ref(kind, pk)[1]

    def _ref(self, kind: str, pk: int) -> tuple[str, str]:
        """(uuid, label) of a user, group, application or directory role, as it is now."""
        key = (kind, pk)
        if key not in self.refs:
            self.refs[key] = self._read_ref(kind, pk)
        return self.refs[key]

    def _read_ref(self, kind: str, pk: int) -> tuple[str, str]:
        snapshot, files, label = {
            "user": (self.users, self.file_users, "user_principal_name"),
            "group": (self.groups, self.file_groups, "name"),
        }.get(kind, ({}, {}, "name"))
        row = snapshot.get(pk)
        if row is None:
            model = {"user": User, "group": Group, "application": Application}.get(kind)
            uuid_, name = (model or DirectoryRole).objects.values_list("uuid", label).get(pk=pk)
            return str(uuid_), name
        spec = files.get(row["external_id"]) if row["external_id"] else None
        return str(row["uuid"]), (spec.final if spec else row)[label]

    def _object(self, kind: str, pk: int) -> tuple[str, str, str]:
        uuid_, label = self._ref(kind, pk)
        return kind, uuid_, label[:300]

    def _user_label(self, key: tuple) -> str:
        return self._label("user", key[1])

    def _principal_label(self, principal_type: str, pk: int) -> str:
        if principal_type == PrincipalType.USER:
            return self._label("user", pk)
        return f"group {self._label('group', pk)}"

    def _app_grant_label(self, key: tuple) -> str:
        role_value = self.app_role_of[key[0]][1]
        return f"{self._principal_label(key[1], key[2])} as {role_value}"

    def _role_grant_label(self, key: tuple) -> str:
        return f"{self._principal_label(key[2], key[3])} ({key[1]})"

    def _audit_removals(self, action: str, removed: set, resource_of, label_of) -> None:
        """One event per resource listing who lost what (capped; the count is exact)."""
        by_resource = defaultdict(list)
        for key in removed:
            by_resource[resource_of(key)].append(label_of(key))
        for (kind, pk), labels in sorted(by_resource.items()):
            labels.sort()
            details = {
                "file": self.actor.removeprefix("import:"),
                "count": len(labels),
                "removed": labels[:AUDIT_LIST_CAP],
                "truncated": len(labels) > AUDIT_LIST_CAP,
            }
            audit.record(self.actor, action, self._object(kind, pk), details)

    def _flag_restored_grants(self) -> None:
        """Grants a review revoked that the file brings back: re-created, and flagged."""
        hits = defaultdict(list)
        by_type = defaultdict(set)
        for resource_type, resource_id, _, _ in self.new_grants:
            by_type[resource_type].add(resource_id)
        fields = ("id", "resource_id", "principal_type", "principal_id", "batch", "requested_at")
        for resource_type, ids in by_type.items():
            live = GrantRevocation.objects.filter(
                result=RevocationResult.REMOVED,
                restored_at__isnull=True,
                resource_type=resource_type,
            )
            for row in _rows_in(live, "resource_id", ids, *fields):
                key = (resource_type, row[1], row[2], row[3])
                if key in self.new_grants:
                    hits[key].append(row)
        now = timezone.now()
        for chunk in _chunks(sorted(row[0] for rows in hits.values() for row in rows), IN_CHUNK):
            GrantRevocation.objects.filter(id__in=chunk).update(restored_at=now)
        for key in sorted(hits):
            self._audit_restored(key, hits[key])
        self.counts["revoked_grants"]["restored"] = len(hits)

    def _audit_restored(self, key: tuple, rows: list[tuple]) -> None:
        resource_type, resource_id, principal_type, principal_id = key
        kind = RESOURCE_KINDS[resource_type]
        latest = max(rows, key=lambda row: (row[5], row[0]))
        principal_uuid, principal_label = self._ref(principal_type, principal_id)
        details = {
            "file": self.actor.removeprefix("import:"),
            "resource_type": resource_type,
            "resource": self._ref(kind, resource_id)[0],
            "resource_name": self._label(kind, resource_id),
            "principal_type": principal_type,
            "principal": principal_uuid,
            "principal_label": principal_label,
            "batch": str(latest[4]),
            "revoked_at": latest[5],
            "revocations": len(rows),
        }
        audit.record(
            self.actor, "directory.revoked_grant_restored", self._object(kind, resource_id), details
        )


RESOURCE_KINDS = {
    ResourceType.GROUP: "group",
    ResourceType.APPLICATION: "application",
    ResourceType.DIRECTORY_ROLE: "directoryrole",
}


def _grant_key(role_id, user_id, group_id) -> tuple:
    if user_id is not None:
        return role_id, PrincipalType.USER.value, user_id
    return role_id, PrincipalType.GROUP.value, group_id


def _pair(first: str, second: str) -> Callable[[tuple], dict]:
    return lambda key: {first: key[0], second: key[1]}


def _build_app_assignment(key: tuple) -> dict:
    role_id, principal_type, principal_id = key
    principal = "user_id" if principal_type == PrincipalType.USER else "group_id"
    return {"app_role_id": role_id, principal: principal_id}


def _build_role_assignment(key: tuple) -> dict:
    role_id, kind, principal_type, principal_id = key
    principal = "user_id" if principal_type == PrincipalType.USER else "group_id"
    return {"role_id": role_id, "kind": kind, principal: principal_id}


def _describe_user(row: dict) -> str:
    ext = f"external id {row['external_id']!r}" if row["external_id"] else "no external id"
    deleted = ", deleted" if row["deleted_at"] else ""
    return f"{row['user_principal_name']} ({ext}{deleted})"


def _cycles(graph: dict[str, list[tuple[str, Any]]]) -> Iterator[tuple[list[str], list]]:
    """Yield (path from a node back to itself, the refs of its edges) for each back edge."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in list(graph):
        if start in state:
            continue
        path, refs, stack = [start], [None], [iter(graph.get(start, ()))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                refs.pop()
                stack.pop()
                continue
            child, ref = step
            if state.get(child) == 1:
                at = path.index(child)
                yield path[at:] + [child], refs[at + 1 :] + [ref]
            elif child not in state:
                state[child] = 1
                path.append(child)
                refs.append(ref)
                stack.append(iter(graph.get(child, ())))

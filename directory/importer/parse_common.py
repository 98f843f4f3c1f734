"""Records both formats share: `raw` is a JSON object or a CSV row's cells."""

from directory.importer.problems import FieldError, ImportRejected, Problems
from directory.importer.records import (
    AppRoleSpec,
    AppSpec,
    Grant,
    GroupSpec,
    Place,
    SignIn,
    UserSpec,
)
from directory.importer.values import (
    APP_ROLE_FIELDS,
    APPLICATION_FIELDS,
    GROUP_FIELDS,
    USER_FIELDS,
    external_id,
    is_blank,
    parse_assignment_kind,
    parse_fields,
    parse_ref,
    parse_sign_in_at,
    require,
    scalar,
    slug,
)
from directory.models import RoleAssignmentKind
from directory.models.applications import DEFAULT_APP_ROLE


def user_spec(raw: dict, place: Place, problems: Problems) -> UserSpec | None:
    ext = parse_ref(raw.get("external_id"), place.of("external_id"), problems)
    require(raw, ["user_principal_name"], place, problems)
    values = parse_fields(raw, USER_FIELDS, place, problems)
    if "manager" in raw:
        manager = raw["manager"]
        blank = is_blank(manager)
        values["manager"] = None if blank else parse_ref(manager, place.of("manager"), problems)
    return UserSpec(place, ext.ext, values) if ext else None


def group_spec(raw: dict, place: Place, problems: Problems) -> GroupSpec | None:
    ext = parse_ref(raw.get("external_id"), place.of("external_id"), problems)
    require(raw, ["name"], place, problems)
    values = parse_fields(raw, GROUP_FIELDS, place, problems)
    return GroupSpec(place, ext.ext, values) if ext else None


def app_spec(raw: dict, place: Place, problems: Problems) -> AppSpec | None:
    ext = parse_ref(raw.get("external_id"), place.of("external_id"), problems)
    require(raw, ["name"], place, problems)
    values = parse_fields(raw, APPLICATION_FIELDS, place, problems)
    return AppSpec(place, ext.ext, values) if ext else None


def app_role_spec(raw: dict, place: Place, problems: Problems) -> AppRoleSpec | None:
    try:
        value = slug(external_id(raw.get("value")))
    except FieldError as exc:
        problems.add(place.of("value"), str(exc))
        return None
    return AppRoleSpec(place, value, parse_fields(raw, APP_ROLE_FIELDS, place, problems))


def _grant(raw: dict, place: Place, problems: Problems, detail: str, parse, default: str):
    """An assignment: exactly one of user and group, plus its detail (app role or kind)."""
    given = [name for name in ("user", "group") if not is_blank(raw.get(name))]
    if len(given) != 1:
        problems.add(place.label, "give exactly one of user and group")
        return None
    ref = parse_ref(raw[given[0]], place.of(given[0]), problems)
    try:
        value = scalar(raw.get(detail))
        value = parse(value) if value else default
    except FieldError as exc:
        problems.add(place.of(detail), str(exc))
        return None
    return Grant(place, given[0], ref, value) if ref else None


def app_grant(raw: dict, place: Place, problems: Problems) -> Grant | None:
    return _grant(raw, place, problems, "role", slug, DEFAULT_APP_ROLE)


def role_grant(raw: dict, place: Place, problems: Problems) -> Grant | None:
    return _grant(raw, place, problems, "kind", parse_assignment_kind, RoleAssignmentKind.ACTIVE)


def sign_in(raw: dict, place: Place, problems: Problems) -> SignIn | None:
    ref = parse_ref(raw.get("user"), place.of("user"), problems)
    require(raw, ["last_sign_in_at"], place, problems)
    try:
        moment = parse_sign_in_at(raw.get("last_sign_in_at"))
    except FieldError as exc:
        problems.add(place.of("last_sign_in_at"), str(exc))
        return None
    return SignIn(place, ref, moment) if ref and moment else None


def append_parsed(items: list, item) -> None:
    if item is not None:
        items.append(item)


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejected([f"byte {exc.start}: the file is not UTF-8 text"]) from None

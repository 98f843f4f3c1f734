"""Parse a JSON export: one object with the lists users, groups, applications and roles."""

import json
from collections.abc import Iterator
from typing import Any

from directory.importer.parse_common import (
    app_grant,
    app_role_spec,
    app_spec,
    append_parsed,
    decode,
    group_spec,
    role_grant,
    sign_in,
    user_spec,
)
from directory.importer.problems import FieldError, ImportRejected, Problems
from directory.importer.records import AppSpec, Document, GroupSpec, Place, Ref, RoleSpec
from directory.importer.values import (
    APP_ROLE_FIELDS,
    APPLICATION_FIELDS,
    GROUP_FIELDS,
    USER_FIELDS,
    is_blank,
    parse_ref,
    scalar,
    text,
)

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
        tree = json.loads(decode(data))
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
        append_parsed(doc.users, user_spec(raw, place, doc.problems))
    for place, raw in _json_objects(tree, "groups", Place("groups"), doc.problems):
        append_parsed(doc.groups, _json_group(raw, place, doc.problems))
    for place, raw in _json_objects(tree, "applications", Place("applications"), doc.problems):
        append_parsed(doc.applications, _json_application(raw, place, doc.problems))
    for place, raw in _json_objects(tree, "roles", Place("roles"), doc.problems):
        append_parsed(doc.roles, _json_role(raw, place, doc.problems))
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
    items = _json_list(raw, key, place.of(key), problems)
    refs = (parse_ref(item, at, problems) for at, item in items)
    return [ref for ref in refs if ref]


def _json_group(raw: dict, place: Place, problems: Problems) -> GroupSpec | None:
    spec = group_spec(raw, place, problems)
    if spec:
        spec.owners = _json_refs(raw, "owners", place, problems)
        spec.members = _json_refs(raw, "members", place, problems)
        spec.member_groups = _json_refs(raw, "member_groups", place, problems)
    return spec


def _json_application(raw: dict, place: Place, problems: Problems) -> AppSpec | None:
    spec = app_spec(raw, place, problems)
    if spec is None:
        return None
    spec.owners = _json_refs(raw, "owners", place, problems)
    for item_place, item in _json_objects(raw, "app_roles", place, problems):
        append_parsed(spec.app_roles, app_role_spec(item, item_place, problems))
    for item_place, item in _json_objects(raw, "assignments", place, problems, "app_assignments"):
        append_parsed(spec.assignments, app_grant(item, item_place, problems))
    for item_place, item in _json_objects(raw, "sign_ins", place, problems):
        append_parsed(spec.sign_ins, sign_in(item, item_place, problems))
    return spec


def _json_role(raw: dict, place: Place, problems: Problems) -> RoleSpec | None:
    keys = []
    for name in ("name", "template_id"):
        if not is_blank(raw.get(name)):
            try:
                keys.append((name, text(scalar(raw[name]))))
            except FieldError as exc:
                problems.add(place.of(name), str(exc))
    if not keys:
        problems.add(place.label, "give the role's name or template_id")
        return None
    spec = RoleSpec(place, keys)
    for item_place, item in _json_objects(raw, "assignments", place, problems, "role_assignments"):
        append_parsed(spec.assignments, role_grant(item, item_place, problems))
    return spec

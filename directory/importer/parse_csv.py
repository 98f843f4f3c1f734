"""Parse a CSV export: one row per record, its type in the `record` column."""

import csv
import io
from collections.abc import Iterator

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
from directory.importer.records import Document, Place, RoleSpec
from directory.importer.values import (
    APP_ROLE_FIELDS,
    APPLICATION_FIELDS,
    GROUP_FIELDS,
    USER_FIELDS,
    external_id,
    parse_ref,
)

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


def _ref_in(column: str):
    return lambda raw, place, problems: parse_ref(raw.get(column), place.of(column), problems)


# The list a link row adds to -> what parses one item of it.
CSV_LINK_ITEMS = {
    "owners": _ref_in("user"),
    "members": _ref_in("user"),
    "member_groups": _ref_in("member_group"),
    "app_roles": app_role_spec,
    "assignments": app_grant,
    "sign_ins": sign_in,
}


def read_csv(data: bytes) -> Document:
    """Parse a CSV export (one `record` column naming each row's type) into a Document."""
    reader = csv.reader(io.StringIO(decode(data), newline=""))
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
        append_parsed(doc.users, user_spec(raw, place, doc.problems))
    elif record == "group":
        append_parsed(doc.groups, group_spec(raw, place, doc.problems))
    elif record == "application":
        append_parsed(doc.applications, app_spec(raw, place, doc.problems))
    elif record in ("role", "role_assignment"):
        _csv_role(raw, place, doc.problems, roles, record == "role_assignment")
    else:
        links.append((record, raw, place))


def _csv_role(raw: dict, place: Place, problems: Problems, roles: dict, with_grant: bool):
    try:
        key = external_id(raw.get("role"))
    except FieldError as exc:
        problems.add(place.of("role"), str(exc))
        return
    spec = roles.setdefault(key.lower(), RoleSpec(place, [("role", key)]))
    if with_grant:
        append_parsed(spec.assignments, role_grant(raw, place, problems))


def _csv_links(doc: Document, links: list) -> None:
    """Attach owner, member and assignment rows to the group or application rows they name."""
    owners = {
        "group": {spec.external_id: spec for spec in reversed(doc.groups)},
        "application": {spec.external_id: spec for spec in reversed(doc.applications)},
    }
    for record, raw, place in links:
        column, attr = CSV_LINKS[record]
        ref = parse_ref(raw.get(column), place.of(column), doc.problems)
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
        append_parsed(getattr(spec, attr), CSV_LINK_ITEMS[attr](raw, place, doc.problems))

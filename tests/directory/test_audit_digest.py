"""The audit digest's fast row encoding is byte for byte the canonical JSON of each row."""

import datetime as dt
import hashlib
import uuid
import zoneinfo

import pytest

from directory import access, audit
from directory.models import Group, User
from tests.factories import GroupFactory, UserFactory, add_members

pytestmark = pytest.mark.django_db


def reference_digest(source_name, operation) -> tuple[int, str]:
    """DESIGN.md's definition, row by row: sha256 over canonical_json(row) + "\\n"."""
    digest, count = hashlib.sha256(), 0
    for row in audit._sources[source_name].rows(operation):
        digest.update(audit.canonical_json(row).encode() + b"\n")
        count += 1
    return count, digest.hexdigest() if count else ""


def test_revocation_batches_digest_as_their_canonical_rows():
    group = GroupFactory()
    people = UserFactory.create_batch(7)
    add_members(group, *people[:5])
    batch = uuid.uuid4()
    requests = [(i, "group", group.pk, "user", u.pk) for i, u in enumerate(people)]
    access.revocation_requests_add(batch, requests)
    access.revoke_grants(batch)
    assert audit.detail_digest(access.REVOCATION_SOURCE, batch) == reference_digest(
        access.REVOCATION_SOURCE, batch
    )


def test_every_kind_of_value_digests_as_canonical_json(monkeypatch):
    monkeypatch.setattr(audit, "_sources", dict(audit._sources))
    audit.register_detail_source(
        "test.users",
        User,
        operation_field="department",
        fields=("uuid", "display_name", "is_active", "last_sign_in_at", "manager_id", "email"),
    )
    boss = UserFactory(department="Ops", display_name='Zoë "Boss" \\ Ünal', last_sign_in_at=None)
    UserFactory(department="Ops", display_name="Åsa\ttab\n", manager=boss, is_active=False)
    assert audit.detail_digest("test.users", "Ops") == reference_digest("test.users", "Ops")
    assert audit.detail_digest("test.users", "nobody") == (0, "")


def test_instants_and_uuids_shared_by_rows_digest_as_their_canonical_json(monkeypatch):
    # Equal datetimes in different zones hash alike once cached, which canonical_json agrees with.
    monkeypatch.setattr(audit, "_sources", dict(audit._sources))
    audit.register_detail_source(
        "test.users", User, operation_field="department", fields=("uuid", "last_sign_in_at")
    )
    paris = dt.datetime(2026, 12, 1, 9, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    UserFactory.create_batch(3, department="Ops", last_sign_in_at=paris)
    UserFactory(department="Ops", last_sign_in_at=paris.astimezone(dt.UTC))
    assert audit.detail_digest("test.users", "Ops") == reference_digest("test.users", "Ops")


def test_rows_spread_over_several_chunks_digest_as_their_canonical_rows(monkeypatch):
    monkeypatch.setattr(audit, "DIGEST_CHUNK", 2)
    group = GroupFactory()
    people = UserFactory.create_batch(5)
    add_members(group, *people[:3])
    batch = uuid.uuid4()
    access.revocation_requests_add(
        batch, [(i, "group", group.pk, "user", u.pk) for i, u in enumerate(people)]
    )
    access.revoke_grants(batch)
    assert audit.detail_digest(access.REVOCATION_SOURCE, batch) == reference_digest(
        access.REVOCATION_SOURCE, batch
    )


def test_integer_and_text_rows_are_written_by_the_database_as_canonical_json(monkeypatch):
    # Every character JSON escapes (and some it must not) goes through json_quote / to_json.
    monkeypatch.setattr(audit, "_sources", dict(audit._sources))
    fields = ("display_name", "job_title", "manager_id", "department")
    audit.register_detail_source("test.users", User, operation_field="department", fields=fields)
    assert audit._canonical_line_sql(User, sorted(("id", *fields))) is not None
    boss = UserFactory(department="Ops", display_name='Zoë "Boss" \\ Ünal', job_title="")
    UserFactory(
        department="Ops",
        display_name="controls \x01\x08\x0c\n\r\t\x1f end",
        job_title="del \x7f, line sep \u2028, emoji \U0001f600, slash /",
        manager=boss,
    )
    assert audit.detail_digest("test.users", "Ops") == reference_digest("test.users", "Ops")


def test_a_source_with_an_instant_or_a_lookup_path_is_encoded_in_python():
    assert audit._canonical_line_sql(User, ["id", "last_sign_in_at"]) is None
    assert audit._canonical_line_sql(User, ["id", "manager__email"]) is None
    assert audit._canonical_line_sql(Group, ["id", "owners"]) is None  # many-to-many
    assert audit._canonical_line_sql(User, ["id", "direct_reports"]) is None  # reverse relation

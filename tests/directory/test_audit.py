import threading
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from directory import access, append_only, audit
from directory.models import AuditEvent, GrantRevocation, ResourceType
from tests.factories import GroupFactory, UserFactory, add_members


def tamper(sql, params=()):
    """Change the log behind the triggers' back, as someone with database access could."""
    append_only.drop_triggers()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        append_only.create_triggers()


@pytest.mark.django_db
class TestChain:
    def test_events_chain_each_hash_to_the_previous_one(self, admin_user):
        first = audit.record(admin_user, "test.first", admin_user, {"n": 1})
        second = audit.record("system-job", "test.second")

        assert (first.seq, second.seq) == (1, 2)
        assert first.prev_hash == audit.GENESIS_HASH
        assert second.prev_hash == first.hash
        assert second.actor_type == "system" and second.actor_label == "system-job"
        assert first.actor_id == str(admin_user.uuid)
        assert audit.chain_head() == (2, second.hash)

    def test_an_intact_chain_verifies(self, admin_user):
        for n in range(5):
            audit.record(admin_user, "test.event", None, {"n": n, "when": admin_user.created_at})
        result = audit.verify_chain()
        assert result.ok and result.count == 5 and result.head_seq == 5

    def test_details_are_stored_in_their_canonical_form(self, admin_user):
        event = audit.record(admin_user, "test.event", None, {"id": uuid.UUID(int=7), "b": [2, 1]})
        event.refresh_from_db()
        assert event.details == {"id": str(uuid.UUID(int=7)), "b": [2, 1]}
        assert audit.verify_chain().ok

    def test_a_changed_row_is_found_at_its_seq(self, admin_user):
        for n in range(3):
            audit.record(admin_user, "test.event", None, {"n": n})
        tamper(f"UPDATE {AuditEvent._meta.db_table} SET action = 'test.innocent' WHERE seq = 2")

        result = audit.verify_chain()

        assert not result.ok and result.broken_seq == 2
        assert "changed" in result.reason

    def test_a_deleted_row_is_found(self, admin_user):
        for n in range(3):
            audit.record(admin_user, "test.event", None, {"n": n})
        tamper(f"DELETE FROM {AuditEvent._meta.db_table} WHERE seq = 2")
        result = audit.verify_chain()
        assert not result.ok and result.broken_seq == 3 and "missing" in result.reason

    def test_a_changed_detail_row_breaks_the_digest(self):
        group, user = GroupFactory(), UserFactory()
        add_members(group, user)
        batch = uuid.uuid4()
        access.revocation_requests_add(batch, [(1, ResourceType.GROUP, group.id, "user", user.id)])
        access.revoke_grants(batch, "apply")
        assert audit.verify_chain().ok

        GrantRevocation.objects.filter(batch=batch).update(result="alreadyGone")

        result = audit.verify_chain()
        assert not result.ok and "digest" in result.reason


@pytest.mark.django_db
class TestAppendOnly:
    def test_the_database_refuses_to_update_an_event(self, admin_user):
        audit.record(admin_user, "test.event")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEvent.objects.update(action="test.rewritten")

    def test_the_database_refuses_to_delete_an_event(self, admin_user):
        audit.record(admin_user, "test.event")
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"DELETE FROM {AuditEvent._meta.db_table}")
        assert AuditEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_flush_outside_tests_cannot_wipe_the_audit_log(settings):
    settings.AUDIT_LOG_FLUSHABLE = False  # restored before the test's own flush runs
    audit.record("someone", "test.event")

    with pytest.raises(CommandError, match="couldn't be flushed") as error:
        call_command("flush", interactive=False, verbosity=0)

    assert "append-only" in str(error.value.__cause__)
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
class TestVerifyCommand:
    def test_prints_ok_with_the_head(self, admin_user, capsys):
        event = audit.record(admin_user, "test.event")
        call_command("verify_audit")
        assert capsys.readouterr().out.strip() == f"ok: 1 events, head 1 {event.hash}"

    def test_fails_with_the_first_broken_seq(self, admin_user):
        audit.record(admin_user, "test.event")
        audit.record(admin_user, "test.event")
        tamper(f"UPDATE {AuditEvent._meta.db_table} SET actor_label = 'someone' WHERE seq = 1")
        with pytest.raises(CommandError, match="broken at seq 1") as error:
            call_command("verify_audit")
        assert error.value.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    writers, per_writer, errors = 4, 15, []

    def write(n):
        try:
            for i in range(per_writer):
                with transaction.atomic():
                    audit.record(f"writer-{n}", "test.concurrent", None, {"i": i})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    result = audit.verify_chain()
    assert result.ok and result.count == writers * per_writer

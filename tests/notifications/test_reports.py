import pytest
import time_machine

from accessreviews.tasks import tick
from directory import audit
from directory.models import BuiltinRole, RoleAssignmentKind
from notifications.models import Message, MessageKind
from notifications.reports import publish_audit_head
from tests.factories import GroupFactory, UserFactory, add_members, assign_role

pytestmark = pytest.mark.django_db


def test_the_audit_head_goes_to_admins_and_readers_once_a_day(admin_user, reader, outsider):
    eligible = UserFactory()
    assign_role(BuiltinRole.GLOBAL_READER, user=eligible, kind=RoleAssignmentKind.ELIGIBLE)
    via_group, tier0 = UserFactory(), GroupFactory(is_role_assignable=True)
    add_members(tier0, via_group)
    assign_role(BuiltinRole.SECURITY_READER, group=tier0)
    event = audit.record(admin_user, "test.event")

    with time_machine.travel("2026-11-27 00:00:30+00:00", tick=False):
        assert publish_audit_head() == 3
        assert publish_audit_head() == 0
    with time_machine.travel("2026-11-28 00:00:30+00:00", tick=False):
        assert publish_audit_head() == 3

    first = Message.objects.filter(kind=MessageKind.AUDIT_HEAD).order_by("id").first()
    assert first.context["seq"] == event.seq and first.context["hash"] == event.hash
    recipients = set(Message.objects.values_list("recipient_id", flat=True))
    assert recipients == {admin_user.id, reader.id, via_group.id}


def test_the_tick_twice_changes_nothing_the_second_time(admin_user, django_assert_num_queries):
    with time_machine.travel("2026-11-27 09:00:00+00:00", tick=False):
        tick()
        before = list(Message.objects.values_list("id", "email_status", "attempts"))
    # heartbeat UPDATE; audit head EXISTS; due definitions SELECT (none); instances waiting
    # to start SELECT (none); due stages SELECT and due instances SELECT (none); open stages
    # for reminders SELECT (none); auto-apply and Applying instances SELECTs (none); guest
    # deletions EXISTS (none); delivery: SAVEPOINT, give-up UPDATE, due SELECT (nothing
    # due), RELEASE; verifications due SELECT (none)
    later = time_machine.travel("2026-11-27 09:00:30+00:00", tick=False)
    with later, django_assert_num_queries(15):
        tick()
    assert list(Message.objects.values_list("id", "email_status", "attempts")) == before

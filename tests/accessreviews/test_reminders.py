"""Reminders: at the snapshot's points, to pending reviewers only, once per point; remind now."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accessreviews.choices import Decision
from accessreviews.models import ReviewerAssignment, ReviewStage
from accessreviews.services import operations as ops
from accessreviews.services.reminders import (
    Point,
    reminder_points,
    reminder_send_now,
    reminders_due,
)
from accessreviews.tasks import tick
from directory.models import AuditEvent
from notifications.models import EmailStatus, Message
from notifications.rendering import render_message
from tests.accessreviews.running import (
    END,
    MEMBERS,
    NOW,
    STAGE1_END,
    START,
    decide,
    make_people,
    opens_panel,
    person,
    stage_of,
    start,
    state,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
MIDPOINT = dt.datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # half of 1 Dec 08:00 -> 8 Dec 08:00
D3 = dt.datetime(2026, 12, 5, 8, 0, tzinfo=UTC)  # 3 days before stage 1 ends (09:00 Paris)
D1 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def people(db):
    return make_people()


def reminders():
    return Message.objects.filter(kind="reminder").order_by("pk")


def at(end) -> str:
    """The suffix a point's name carries: the end it is counted from."""
    return f"@{int(end.timestamp())}"


def points_sent() -> list[str]:
    return [m.dedupe_key.split(":")[2] for m in reminders()]


def run_tick(now):
    with time_machine.travel(now, tick=False):
        tick(now=now)


def test_one_reminder_at_the_midpoint_by_default_and_only_once(admin_user, people, client):
    instance = start(admin_user, people)
    oscar = people["oscar"]

    run_tick(MIDPOINT - dt.timedelta(minutes=1))
    assert not reminders().exists()
    run_tick(MIDPOINT)
    run_tick(MIDPOINT + dt.timedelta(minutes=1))

    (message,) = reminders()
    stage1 = stage_of(instance, 1)
    assert message.recipient_id == oscar.pk
    assert message.dedupe_key == f"reminder:{stage1.pk}:mid{at(STAGE1_END)}:{oscar.pk}"
    context = message.context
    assert (context["pending_count"], context["item_count"]) == (4, 4)
    assert (context["stage"], context["stage_count"]) == (1, 2)
    assert context["due_at"] == "2026-12-08T08:00:00Z"
    assert context["link"] == reverse("accessreviews:review-open", args=[instance.uuid])
    assert opens_panel(client, message)
    assert ReviewerAssignment.objects.get(stage=stage1).contacted_at == MIDPOINT
    before = state()
    run_tick(MIDPOINT + dt.timedelta(hours=2))
    assert state() == before


def test_no_reminder_for_a_reviewer_with_nothing_pending(admin_user, people):
    instance = start(admin_user, people)
    decide(people["oscar"], stage_of(instance, 1), Decision.APPROVE, instance, people, *MEMBERS)

    run_tick(MIDPOINT)

    assert not reminders().exists()
    assert ReviewerAssignment.objects.get(stage=stage_of(instance, 1)).contacted_at is None


def test_reminders_at_days_before_each_stages_end_once_per_point(admin_user, people):
    instance = start(admin_user, people, reminder_days_before_end=[1, 3])
    stage1 = stage_of(instance, 1)

    for now in (D3 - dt.timedelta(minutes=1), D3, D3 + dt.timedelta(hours=1)):
        run_tick(now)
    assert points_sent() == [f"d3{at(STAGE1_END)}"]
    for now in (D1, D1 + dt.timedelta(hours=1)):
        run_tick(now)
    assert points_sent() == [f"d3{at(STAGE1_END)}", f"d1{at(STAGE1_END)}"]
    assert {m.dedupe_key.split(":")[1] for m in reminders()} == {str(stage1.pk)}

    # Stage 2 has its own points (relative to its own end) and its own reviewer.
    run_tick(STAGE1_END)
    run_tick(END - dt.timedelta(days=3))
    last = reminders().last()
    assert last.recipient_id == people["sam"].pk
    assert last.dedupe_key == f"reminder:{stage_of(instance, 2).pk}:d3{at(END)}:{people['sam'].pk}"


def test_after_downtime_only_the_latest_point_is_sent(admin_user, people):
    start(admin_user, people, reminder_days_before_end=[1, 3])

    run_tick(D1 + dt.timedelta(hours=3))
    run_tick(D1 + dt.timedelta(hours=4))

    assert points_sent() == [f"d1{at(STAGE1_END)}"]


def test_a_point_before_the_stage_starts_is_never_sent(admin_user, people):
    assert reminder_points(
        {
            "settings": {
                "reminders_enabled": True,
                "mail_notifications_enabled": True,
                "reminder_days_before_end": [10, 3],
            },
            "schedule": {"time_zone": "Europe/Paris"},
        },
        START,
        STAGE1_END,
    ) == [Point("d3", D3)]


@pytest.mark.parametrize(
    "changes",
    [{"reminders_enabled": False}, {"mail_notifications_enabled": False}],
)
def test_no_reminders_when_they_or_email_are_off(admin_user, people, changes):
    start(admin_user, people, **changes)

    for now in (MIDPOINT, D3, D1):
        run_tick(now)

    assert not reminders().exists()


def test_extend_moves_the_reminder_points(admin_user, people):
    instance = start(admin_user, people, stages=1, reminder_days_before_end=[3])  # ends 8 Dec
    week = dt.timedelta(days=7)
    ops.instance_extend(admin_user, instance, STAGE1_END + week, NOW)

    run_tick(D3)
    assert not reminders().exists()
    run_tick(D3 + week)
    assert reminders().count() == 1


def test_after_an_extension_the_points_of_the_new_end_are_sent_once(admin_user, people):
    instance = start(admin_user, people, stages=1, reminder_days_before_end=[3])
    week = dt.timedelta(days=7)
    run_tick(D3)
    assert reminders().count() == 1

    ops.instance_extend(admin_user, instance, STAGE1_END + week, D3)
    run_tick(D3 + dt.timedelta(hours=1))  # the old end's point is not sent again
    assert reminders().count() == 1
    run_tick(D3 + week)
    before = state()
    run_tick(D3 + week + dt.timedelta(minutes=1))

    assert state() == before
    assert points_sent() == [f"d3{at(STAGE1_END)}", f"d3{at(STAGE1_END + week)}"]
    assert ReviewerAssignment.objects.get(stage=stage_of(instance, 1)).contacted_at == D3 + week


def test_remind_now_has_its_own_key_each_time(admin_user, people):
    instance = start(admin_user, people)
    stage1 = stage_of(instance, 1)
    run_tick(MIDPOINT)

    with time_machine.travel(MIDPOINT + dt.timedelta(hours=1), tick=False):
        assert reminder_send_now(admin_user, stage1) == 1
        assert reminder_send_now(admin_user, stage1) == 1

    keys = [m.dedupe_key for m in reminders()]
    assert len(keys) == len(set(keys)) == 3
    assert all(k.startswith(f"reminder:{stage1.pk}:now-") for k in keys[1:])
    assert AuditEvent.objects.filter(action="stage.reminded").count() == 2
    assert ReviewerAssignment.objects.get(stage=stage1).contacted_at == MIDPOINT + dt.timedelta(
        hours=1
    )
    # The scheduled point already went: the tick adds nothing.
    run_tick(MIDPOINT + dt.timedelta(hours=2))
    assert reminders().count() == 3


@pytest.mark.parametrize(
    "mail, status", [(True, EmailStatus.PENDING), (False, EmailStatus.SKIPPED)]
)
def test_remind_now_emails_only_when_the_reviews_email_is_on(admin_user, people, mail, status):
    instance = start(admin_user, people, mail_notifications_enabled=mail)

    with time_machine.travel(NOW, tick=False):
        assert reminder_send_now(admin_user, stage_of(instance, 1)) == 1

    assert reminders().get().email_status == status


def test_remind_now_refuses_when_nobody_is_pending_or_the_caller_may_not(
    admin_user, reader, people
):
    instance = start(admin_user, people)
    stage1 = stage_of(instance, 1)

    with pytest.raises(PermissionDenied):
        reminder_send_now(reader, stage1)
    decide(people["oscar"], stage1, Decision.APPROVE, instance, people, *MEMBERS)
    with pytest.raises(ValidationError, match="No reviewer"):
        reminder_send_now(admin_user, stage1)

    assert not reminders().exists()
    assert AuditEvent.objects.filter(action="authz.denied.instance_remind").count() == 1


def test_the_reminder_renders_and_the_tick_emails_it(admin_user, people, mailoutbox):
    start(admin_user, people)

    run_tick(MIDPOINT)

    message = reminders().get()
    assert message.email_status == EmailStatus.SENT
    rendered = render_message(message.kind, message.context, people["oscar"])
    assert rendered.subject == "Reminder: review access to Falcon by 8 Dec (4 of 4 left)"
    assert "You still have 4 of 4 people to review" in rendered.text
    # Delivered with the start's message, as one digest to oscar.
    (email,) = [m for m in mailoutbox if m.to == [people["oscar"].email]]
    assert "Reminder: review access to Falcon" in email.body


@pytest.mark.parametrize("size", [3, 30])
def test_the_reminder_step_runs_a_fixed_number_of_queries(
    admin_user, size, django_assert_num_queries
):
    people = make_people()
    reviewers = [person(f"reviewer {n}") for n in range(size)]
    instance = start(admin_user, people, stages=1)
    stage = stage_of(instance, 1)
    ReviewerAssignment.objects.bulk_create(
        ReviewerAssignment(stage=stage, reviewer=r, total=1, pending=1) for r in reviewers
    )
    midpoint = MIDPOINT
    # The open stages with their instance; per due stage: savepoint, the point's claim UPDATE,
    # messages INSERT ... SELECT, contacted_at UPDATE, release.
    with time_machine.travel(midpoint, tick=False), django_assert_num_queries(6):
        assert reminders_due(midpoint) == size + 1
    # The point went: only the open stages are read.
    with time_machine.travel(midpoint, tick=False), django_assert_num_queries(1):
        assert reminders_due(midpoint) == 0
    assert ReviewStage.objects.get(pk=stage.pk).reminded_point == f"mid{at(STAGE1_END)}"


def test_a_point_claimed_by_another_tick_is_not_sent_again(admin_user, people):
    instance = start(admin_user, people)
    ReviewStage.objects.filter(pk=stage_of(instance, 1).pk).update(
        reminded_point=f"mid{at(STAGE1_END)}"
    )

    run_tick(MIDPOINT)

    assert not reminders().exists()

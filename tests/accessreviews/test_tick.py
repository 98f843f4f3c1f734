"""The tick's reliability: twice in sequence, twice at once, a crash mid-start, a dead broker,
and a constant query count over many series with nothing due."""

import datetime as dt
import logging
import threading

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from accessreviews import nudge
from accessreviews.celery import app
from accessreviews.choices import Decision, ReviewerType
from accessreviews.drafts import StageDraft
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    FailedStep,
    InstanceStatus,
    ItemReviewer,
    ItemStageHistory,
    ReviewDefinition,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
    SchedulerHeartbeat,
)
from accessreviews.services import start
from accessreviews.services.decisions import decision_record
from accessreviews.services.definitions import definition_create
from accessreviews.tasks import tick
from directory import audit
from directory.models import AuditEvent, GrantRevocation
from notifications.models import Message
from tests.accessreviews.factories import group_review_draft
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

UTC = dt.UTC
CREATED = dt.datetime(2025, 1, 1, tzinfo=UTC)
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # Paris 09:00
NOW = START + dt.timedelta(hours=1)
STAGE1_END = dt.datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
END = dt.datetime(2026, 12, 15, 8, 0, tzinfo=UTC)
NEXT = dt.datetime(2027, 1, 1, 8, 0, tzinfo=UTC)  # the second occurrence
# The simulated clock: the start, the stage end, the instance end, the next occurrence.
CLOCK = (NOW, STAGE1_END, END + dt.timedelta(minutes=1), NEXT + dt.timedelta(minutes=2))


def person(name, **fields):
    fields.setdefault("created_at", CREATED)
    fields.setdefault("last_sign_in_at", START - dt.timedelta(days=2))
    return UserFactory(display_name=name, **fields)


def two_stage_review(admin):
    """Falcon's four members, reviewed by its owner Oscar, then by Sam; Rita told at the end."""
    people = {name: person(name.title()) for name in ("alice", "bob", "carol", "dave", "oscar")}
    people |= {name: person(name.title()) for name in ("sam", "rita")}
    group = GroupFactory(name="Falcon")
    add_members(group, *(people[k] for k in ("alice", "bob", "carol", "dave")))
    add_owners(group, people["oscar"])
    stages = [
        StageDraft(duration_days=7),
        StageDraft(
            duration_days=7,
            reviewer_type=ReviewerType.SELECTED,
            reviewer_user_ids=[people["sam"].pk],
        ),
    ]
    draft = group_review_draft([group], stages=stages, additional_recipient_ids=[people["rita"].pk])
    definition = definition_create(admin, draft, now=BEFORE)
    return definition, people


def fingerprint() -> dict:
    """Every runtime row, with the columns a tick may change (the heartbeat aside)."""
    return {
        "definitions": list(
            ReviewDefinition.objects.order_by("pk").values_list(
                "pk", "status", "next_occurrence_index", "next_occurrence_at"
            )
        ),
        "instances": list(
            ReviewInstance.objects.order_by("pk").values_list(
                "pk", "status", "current_stage", "attempts", "completed_at"
            )
        ),
        "stages": list(ReviewStage.objects.order_by("pk").values_list("pk", "status")),
        "items": list(
            DecisionItem.objects.order_by("pk").values_list(
                "pk", "stage_ordinal", "stage_decision", "decision", "decision_source", "version"
            )
        ),
        "stage_history": list(ItemStageHistory.objects.order_by("pk").values_list("pk")),
        "assignments": list(
            ReviewerAssignment.objects.order_by("pk").values_list("pk", "total", "pending")
        ),
        "links": list(ItemReviewer.objects.order_by("pk").values_list("pk")),
        "decisions": list(DecisionHistory.objects.order_by("pk").values_list("pk")),
        "audit": list(AuditEvent.objects.order_by("seq").values_list("seq", "action")),
        "messages": list(
            Message.objects.order_by("pk").values_list("pk", "dedupe_key", "email_status")
        ),
        "revocations": list(GrantRevocation.objects.order_by("pk").values_list("pk", "result")),
    }


def tick_at(moment):
    with time_machine.travel(moment, tick=False):
        tick(now=moment)


def decide_some(people):
    """Oscar approves Alice and denies Bob in stage 1."""
    stage = ReviewStage.objects.get(ordinal=1, status="InProgress")
    items = dict(DecisionItem.objects.values_list("principal_id", "pk"))
    decision_record(people["oscar"], stage, Decision.APPROVE, items=[items[people["alice"].pk]])
    decision_record(people["oscar"], stage, Decision.DENY, items=[items[people["bob"].pk]])


# --- Twice in sequence ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_second_tick_at_every_point_of_a_review_changes_nothing(admin_user):
    definition, people = two_stage_review(admin_user)
    for moment in CLOCK:
        tick_at(moment)
        once = fingerprint()
        tick_at(moment)
        assert fingerprint() == once, f"the second tick at {moment} changed something"
        if moment == NOW:
            decide_some(people)
    first, second = ReviewInstance.objects.order_by("occurrence_index")
    assert first.status == InstanceStatus.COMPLETED
    assert second.status == InstanceStatus.IN_PROGRESS
    assert ItemStageHistory.objects.filter(item__instance=first).count() == 8
    assert Message.objects.filter(kind="review_started").count() == 2
    assert Message.objects.filter(kind="stage_started").count() == 1
    assert Message.objects.filter(kind="review_completed").count() == 2
    assert AuditEvent.objects.filter(action="instance.started").count() == 2
    assert SchedulerHeartbeat.last().ticks == 2 * len(CLOCK)
    assert audit.verify_chain().ok


# --- Twice at once -------------------------------------------------------------------------------


def tick_in_two_threads(moment) -> list:
    errors = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait(timeout=30)
            tick(now=moment)
        except Exception as error:  # noqa: BLE001 - reported by the caller
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    with time_machine.travel(moment, tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_never_duplicate_anything(admin_user):
    definition, people = two_stage_review(admin_user)
    for moment in CLOCK:
        assert tick_in_two_threads(moment) == []
        if moment == NOW:
            assert ReviewInstance.objects.count() == 1
            assert DecisionItem.objects.count() == 4
            assert ItemReviewer.objects.count() == 4
            assert ReviewerAssignment.objects.count() == 1
            decide_some(people)
    assert ReviewInstance.objects.count() == 2
    first = ReviewInstance.objects.get(occurrence_index=0)
    assert first.status == InstanceStatus.COMPLETED
    assert ReviewStage.objects.filter(instance=first).count() == 2
    assert ItemStageHistory.objects.filter(item__instance=first).count() == 8
    assert ItemReviewer.objects.filter(item__instance=first).count() == 8  # Oscar's 4, Sam's 4
    assert DecisionItem.objects.count() == 8
    for kind, count in (("review_started", 2), ("stage_started", 1), ("review_completed", 2)):
        assert Message.objects.filter(kind=kind).count() == count, kind
    for action, count in (("instance.started", 2), ("stage.closed", 2)):
        assert AuditEvent.objects.filter(action=action).count() == count, action
    assert AuditEvent.objects.filter(action="instance.completed").count() == 1
    assert audit.verify_chain().ok


# --- A crash mid-start ---------------------------------------------------------------------------


def crash(*args, **kwargs):
    raise RuntimeError("connection lost mid-start")


@pytest.mark.django_db
def test_a_crash_mid_start_leaves_nothing_and_the_next_tick_completes_it(admin_user, monkeypatch):
    two_stage_review(admin_user)
    monkeypatch.setattr(start, "_create_messages", crash)  # after items, links, assignments
    tick_at(NOW)
    instance = ReviewInstance.objects.get()
    assert (instance.status, instance.attempts) == (InstanceStatus.NOT_STARTED, 1)
    assert instance.last_error == "RuntimeError: connection lost mid-start"
    for model in (ReviewStage, DecisionItem, ItemReviewer, ReviewerAssignment, Message):
        assert not model.objects.filter(**_of_instance(model, instance)).exists(), model
    assert not AuditEvent.objects.filter(action__startswith="instance.").exists()

    monkeypatch.undo()
    tick_at(NOW + dt.timedelta(minutes=1))
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.IN_PROGRESS
    assert DecisionItem.objects.filter(instance=instance).count() == 4
    assert ItemReviewer.objects.count() == 4
    assert Message.objects.filter(kind="review_started").count() == 1
    assert AuditEvent.objects.filter(action="instance.started").count() == 1


def _of_instance(model, instance) -> dict:
    if model is Message:
        return {"kind": "review_started"}
    if model in (ReviewStage, DecisionItem):
        return {"instance": instance}
    if model is ItemReviewer:
        return {"item__instance": instance}
    return {"stage__instance": instance}


@pytest.mark.django_db
def test_three_failed_starts_leave_a_failed_instance_the_tick_no_longer_tries(
    admin_user, monkeypatch
):
    two_stage_review(admin_user)
    monkeypatch.setattr(start, "_create_messages", crash)
    for minute in range(5):
        tick_at(NOW + dt.timedelta(minutes=minute))
    instance = ReviewInstance.objects.get()
    assert (instance.status, instance.failed_step, instance.attempts) == (
        InstanceStatus.FAILED,
        FailedStep.START,
        3,
    )
    assert instance.last_error == "RuntimeError: connection lost mid-start"
    (event,) = AuditEvent.objects.filter(action="instance.failed")
    assert event.details == {
        "step": "start",
        "attempts": 3,
        "error": "RuntimeError: connection lost mid-start",
    }
    assert not DecisionItem.objects.exists()


@pytest.mark.django_db
def test_a_crash_while_claiming_the_occurrence_leaves_the_series_due(admin_user, monkeypatch):
    definition, _ = two_stage_review(admin_user)
    monkeypatch.setattr(start, "_resource_names", crash)
    tick_at(NOW)
    definition.refresh_from_db()
    assert (definition.next_occurrence_index, definition.next_occurrence_at) == (0, START)
    assert not ReviewInstance.objects.exists()
    monkeypatch.undo()
    tick_at(NOW + dt.timedelta(minutes=1))
    assert ReviewInstance.objects.get().status == InstanceStatus.IN_PROGRESS


# --- A dead broker -------------------------------------------------------------------------------


@pytest.fixture
def dead_broker(settings, monkeypatch, caplog):
    """Nudges on, the broker a closed port; each nudge is held until the test lets it go, so
    a request that waited on it would never answer. Returns the release and the outcomes."""
    settings.NOTIFICATIONS_NUDGE = True
    closed_port = "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CELERY_BROKER_URL", closed_port)  # Celery prefers it to its conf
    monkeypatch.setattr(app.conf, "broker_url", closed_port)
    monkeypatch.setattr(app, "_pool", None)  # pools were built for the real broker
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    release, finished = threading.Event(), threading.Event()
    real = nudge._nudge

    def held():
        assert release.wait(timeout=30)
        real()
        finished.set()

    monkeypatch.setattr(nudge, "_nudge", held)
    caplog.set_level(logging.INFO, logger="accessreviews.nudge")
    yield release, finished
    release.set()
    app._pool = app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True)
def test_a_dead_broker_never_holds_up_start_now_or_retry(
    admin_user, signed_in, dead_broker, monkeypatch, caplog
):
    release, finished = dead_broker
    definition, _ = two_stage_review(admin_user)
    with time_machine.travel(NOW, tick=False):
        tick(now=NOW)
    ReviewInstance.objects.update(status=InstanceStatus.COMPLETED)
    later = dt.datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    with time_machine.travel(later, tick=False):
        client = signed_in(admin_user)
        start_now = reverse("accessreviews:definition-start-now", args=[definition.uuid])
        response = client.post(start_now)
    assert response.status_code == 302  # answered while the nudge is still held
    waiting = ReviewInstance.objects.get(occurrence_index=1)
    assert waiting.status == InstanceStatus.NOT_STARTED
    # Let the nudge meet the closed port (outside the frozen clock: the client's timeouts
    # count real time); it gives up quietly.
    release.set()
    assert finished.wait(timeout=60)
    assert "tick nudge not sent" in caplog.text

    ReviewInstance.objects.filter(pk=waiting.pk).update(
        status=InstanceStatus.FAILED, failed_step=FailedStep.START, attempts=3
    )
    release.clear(), finished.clear()
    with time_machine.travel(later, tick=False):
        response = client.post(reverse("accessreviews:instance-retry", args=[waiting.uuid]))
    assert response.status_code == 302
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (InstanceStatus.NOT_STARTED, 0)
    release.set()
    assert finished.wait(timeout=60)
    tick_at(later)  # the broker is back (or beat ticks): the work gets done
    waiting.refresh_from_db()
    assert waiting.status == InstanceStatus.IN_PROGRESS


# --- Many series, nothing due --------------------------------------------------------------------


def many_definitions(creator, count: int) -> None:
    far = dt.datetime(2030, 1, 1, tzinfo=UTC)
    ReviewDefinition.objects.bulk_create(
        [
            ReviewDefinition(
                name=f"Series {n}",
                created_by=creator,
                scope_type="groupMembers",
                time_zone="Europe/Paris",
                start_date=dt.date(2030, 1, 1),
                next_occurrence_at=far,
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("count", [10, 10_000])
def test_the_tick_runs_a_fixed_number_of_queries_when_nothing_is_due(
    admin_user, django_assert_num_queries, count
):
    many_definitions(admin_user, count)
    tick_at(NOW)  # the heartbeat's row and the day's audit head exist from now on
    moment = NOW + dt.timedelta(minutes=1)
    # The same count for 10 and 10,000 series: 1 the heartbeat UPDATE, 2 the day's audit head
    # (EXISTS), 3 due series (index on status, next occurrence), 4 instances waiting to
    # start, 5 due stages, 6 due instances, 7 open stages for reminders, 8 instances to
    # auto-apply, 9 instances Applying, 10 guest deletions due (EXISTS), delivery's 11
    # savepoint, 12 stale leases given up, 13 due messages, 14 release, and 15 applied
    # instances due to be verified again.
    with time_machine.travel(moment, tick=False), django_assert_num_queries(15):
        tick(now=moment)
    assert ReviewDefinition.objects.count() == count

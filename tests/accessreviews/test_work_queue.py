"""The work queue (its sections, for every persona), Retry, and the series' Start now button."""

import datetime as dt
import uuid

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from accessreviews.models import (
    DecisionItem,
    FailedStep,
    InstanceStatus,
    ReviewDefinition,
    ReviewInstance,
    SchedulerHeartbeat,
    VerificationStatus,
)
from accessreviews.services import start
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from directory.models import AuditEvent, GrantRevocation, RevocationResult
from tests.accessreviews.factories import group_review_draft
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

pytestmark = pytest.mark.django_db

UTC = dt.UTC
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # Paris 09:00
NOW = START + dt.timedelta(hours=1)
QUEUE = reverse("accessreviews:work-queue")


def retry_url(instance):
    return reverse("accessreviews:instance-retry", args=[instance.uuid])


def start_now_url(definition):
    return reverse("accessreviews:definition-start-now", args=[definition.uuid])


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def review_of(admin, group, name="Falcon monthly", **changes):
    return definition_create(admin, group_review_draft([group], name=name, **changes), now=BEFORE)


def fail_start(monkeypatch, times=3):
    """Tick until the start has failed `times` times (the message step raises)."""

    def boom(*args, **kwargs):
        raise RuntimeError("mail relay refused the batch")

    monkeypatch.setattr(start, "_create_messages", boom)
    for _ in range(times):
        instances_start_due(NOW)
    monkeypatch.undo()


@pytest.fixture
def unreviewable(admin_user, owned_group):
    """A running review of the owner's group whose only owner is disabled: no reviewer."""
    add_members(owned_group, UserFactory(), UserFactory())
    gone = UserFactory(display_name="Gone Owner", is_active=False)
    add_owners(owned_group, gone)
    review_of(admin_user, owned_group)
    return ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])


@pytest.fixture
def failed(admin_user, owned_group, monkeypatch):
    """A review of the owner's group that failed three times to start."""
    add_members(owned_group, UserFactory())
    add_owners(owned_group, UserFactory())
    review_of(admin_user, owned_group, name="Falcon failing")
    fail_start(monkeypatch)
    return ReviewInstance.objects.get(status=InstanceStatus.FAILED)


@pytest.fixture
def other_failed(admin_user, monkeypatch):
    """A failed review of a group the owner does not own."""
    finance = GroupFactory(name="Finance")
    add_members(finance, UserFactory())
    add_owners(finance, UserFactory())
    review_of(admin_user, finance, name="Finance quarterly")
    fail_start(monkeypatch)
    return ReviewInstance.objects.get(status=InstanceStatus.FAILED, resource_id=finance.pk)


def regrant(group, user, *, at):
    return GrantRevocation.objects.create(
        batch=uuid.uuid4(),
        ref=user.pk,
        resource_type="group",
        resource_id=group.pk,
        principal_type="user",
        principal_id=user.pk,
        result=RevocationResult.REMOVED,
        restored_at=at,
    )


# --- The page ------------------------------------------------------------------------------------


def test_admin_sees_every_section(signed_in, admin_user, unreviewable, failed, owned_group):
    ReviewInstance.objects.filter(pk=unreviewable.pk).update(needs_confirmation=True)
    back = UserFactory(display_name="Barry Back")
    regrant(owned_group, back, at=NOW)
    with time_machine.travel(NOW, tick=False):
        SchedulerHeartbeat.beat()
    with time_machine.travel(NOW + dt.timedelta(minutes=3), tick=False):
        response = signed_in(admin_user).get(QUEUE)
    assert response.status_code == 200
    q = response.context["q"]
    (row,) = q.unreviewable
    assert (row["instance_id"], row["stage_ordinal"], row["count"]) == (unreviewable.pk, 1, 2)
    assert [i.pk for i in q.failed] == [failed.pk]
    assert [i.pk for i in q.confirmations] == [unreviewable.pk]
    assert [(g.user_name, g.resource_group) for g in q.regranted] == [
        ("Barry Back", owned_group.name)
    ]
    page = response.content.decode()
    assert "Last tick 3 minutes ago" in page
    assert "Scheduler stale" not in page
    assert "mail relay refused the batch" in page
    assert retry_url(failed) in page
    assert "Barry Back" in page


def test_items_with_a_reviewer_are_not_listed(signed_in, admin_user, owned_group):
    add_members(owned_group, UserFactory())
    add_owners(owned_group, UserFactory())
    review_of(admin_user, owned_group)
    instances_start_due(NOW)
    response = signed_in(admin_user).get(QUEUE)
    assert response.context["q"].unreviewable == []
    assert "Nothing needs you" in response.content.decode()


def test_a_silent_scheduler_is_flagged_stale(signed_in, admin_user):
    with time_machine.travel(NOW, tick=False):
        SchedulerHeartbeat.beat()
    with time_machine.travel(NOW + dt.timedelta(minutes=6), tick=False):
        page = signed_in(admin_user).get(QUEUE).content.decode()
    assert "Scheduler stale" in page
    assert "has not ticked for 6 minutes" in page


def test_no_tick_ever_is_flagged(signed_in, admin_user):
    page = signed_in(admin_user).get(QUEUE).content.decode()
    assert "No tick yet" in page


def test_reader_sees_the_queue_without_retry(signed_in, reader, failed):
    response = signed_in(reader).get(QUEUE)
    assert response.status_code == 200
    assert [i.pk for i in response.context["q"].failed] == [failed.pk]
    assert retry_url(failed) not in response.content.decode()


def test_group_owner_sees_only_reviews_of_their_groups(
    signed_in, group_owner, failed, other_failed, owned_group
):
    regrant(owned_group, UserFactory(display_name="Mine"), at=NOW)
    regrant(GroupFactory(), UserFactory(display_name="Not mine"), at=NOW)
    response = signed_in(group_owner).get(QUEUE)
    q = response.context["q"]
    assert [i.pk for i in q.failed] == [failed.pk]
    assert q.manageable == {failed.definition_id}
    assert [g.user_name for g in q.regranted] == ["Mine"]
    assert retry_url(failed) in response.content.decode()


def test_outsider_and_reviewer_get_404(signed_in, outsider, reviewer, failed):
    assert signed_in(outsider).get(QUEUE).status_code == 404
    assert signed_in(reviewer).get(QUEUE).status_code == 404


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(QUEUE)
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_queue_refuses_post(signed_in, admin_user):
    assert signed_in(admin_user).post(QUEUE).status_code == 405


def test_the_navigation_links_the_queue_for_those_who_may_see_it(signed_in, admin_user, outsider):
    assert QUEUE in signed_in(admin_user).get(reverse("home")).content.decode()
    assert QUEUE not in signed_in(outsider).get(reverse("home")).content.decode()


@pytest.mark.parametrize("rows", [1, 4])
def test_the_queue_runs_a_fixed_number_of_queries(
    signed_in, admin_user, monkeypatch, django_assert_num_queries, rows
):
    for n in range(rows):
        group = GroupFactory(name=f"G{n}")
        add_members(group, UserFactory(), UserFactory())
        add_owners(group, UserFactory(is_active=False))
        review_of(admin_user, group, name=f"R{n}")
        regrant(group, UserFactory(), at=NOW)
    instances_start_due(NOW)
    for n in range(rows):
        failing = GroupFactory(name=f"F{n}")
        add_members(failing, UserFactory())
        add_owners(failing, UserFactory())
        review_of(admin_user, failing, name=f"F{n}")
    fail_start(monkeypatch)
    ReviewInstance.objects.filter(status=InstanceStatus.IN_PROGRESS).update(needs_confirmation=True)
    DecisionItem.objects.filter(instance__status=InstanceStatus.IN_PROGRESS).update(
        verification_status=VerificationStatus.MISMATCH, verification="still there"
    )
    SchedulerHeartbeat.beat()
    client = signed_in(admin_user)
    # 1 session, 2 signed-in user, 3 their active roles, 4 items with no reviewer link per
    # instance, 5 failed instances with their series, 6 their series' groups (prefetch),
    # 7 instances waiting for confirmation, 8 re-granted grants with their names, 9 applied
    # items verification found still in place, 10 the heartbeat, 11 unread messages for the
    # nav's inbox badge.
    with django_assert_num_queries(11):
        response = client.get(QUEUE)
    q = response.context["q"]
    assert (len(q.unreviewable), len(q.failed), len(q.regranted)) == (rows, rows, rows)


# --- Retry ---------------------------------------------------------------------------------------


def test_admin_retries_a_failed_start_and_the_next_tick_starts_it(signed_in, admin_user, failed):
    assert (failed.attempts, failed.failed_step) == (3, FailedStep.START)
    with time_machine.travel(NOW, tick=False):
        response = signed_in(admin_user).post(retry_url(failed))
    assert response.status_code == 302 and response["Location"] == QUEUE
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.failed_step) == (
        InstanceStatus.NOT_STARTED,
        0,
        FailedStep.NONE,
    )
    event = AuditEvent.objects.get(action="instance.retried")
    assert event.details["error"] == "RuntimeError: mail relay refused the batch"
    assert instances_start_due(NOW).instances == 1
    failed.refresh_from_db()
    assert failed.status == InstanceStatus.IN_PROGRESS


def test_a_failed_apply_goes_back_to_applying(signed_in, admin_user, failed):
    ReviewInstance.objects.filter(pk=failed.pk).update(failed_step=FailedStep.APPLY)
    signed_in(admin_user).post(retry_url(failed))
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (InstanceStatus.APPLYING, 0)


def test_only_a_failed_instance_can_be_retried(signed_in, admin_user, unreviewable):
    response = signed_in(admin_user).post(retry_url(unreviewable), follow=True)
    assert "Only a review that failed" in texts(response)[0]
    unreviewable.refresh_from_db()
    assert unreviewable.status == InstanceStatus.IN_PROGRESS
    assert not AuditEvent.objects.filter(action="instance.retried").exists()


def test_a_closed_window_is_not_retried(signed_in, admin_user, failed):
    with time_machine.travel(failed.end_at + dt.timedelta(minutes=1), tick=False):
        response = signed_in(admin_user).post(retry_url(failed), follow=True)
    assert "window has closed" in texts(response)[0]
    failed.refresh_from_db()
    assert failed.status == InstanceStatus.FAILED


def test_reader_gets_403_on_retry_and_it_is_audited(signed_in, reader, failed):
    assert signed_in(reader).post(retry_url(failed)).status_code == 403
    failed.refresh_from_db()
    assert failed.status == InstanceStatus.FAILED
    assert AuditEvent.objects.filter(action="authz.denied.instance_manage").count() == 1


def test_outsider_and_other_owner_get_404_on_retry(signed_in, outsider, group_owner, other_failed):
    assert signed_in(outsider).post(retry_url(other_failed)).status_code == 404
    assert signed_in(group_owner).post(retry_url(other_failed)).status_code == 404


def test_group_owner_retries_the_review_of_their_group(signed_in, group_owner, failed):
    with time_machine.travel(NOW, tick=False):
        signed_in(group_owner).post(retry_url(failed))
    failed.refresh_from_db()
    assert failed.status == InstanceStatus.NOT_STARTED


def test_retry_refuses_get(signed_in, admin_user, failed):
    assert signed_in(admin_user).get(retry_url(failed)).status_code == 405


def test_anonymous_is_sent_to_sign_in_from_retry(client, failed):
    response = client.post(retry_url(failed))
    assert response.status_code == 302 and "/login" in response["Location"]


# --- Start now -----------------------------------------------------------------------------------


@pytest.fixture
def next_month(admin_user, owned_group):
    """A monthly review of the owner's group whose first occurrence has run and ended."""
    add_members(owned_group, UserFactory(), UserFactory())
    add_owners(owned_group, UserFactory())
    definition = review_of(admin_user, owned_group)
    instances_start_due(NOW)
    ReviewInstance.objects.update(status=InstanceStatus.COMPLETED)
    return definition


LATER = dt.datetime(2026, 12, 20, 14, 30, tzinfo=UTC)  # Paris 15:30; next is Jan 1 08:00 UTC


def test_admin_starts_the_next_occurrence_now_and_the_tick_initialises_it(
    signed_in, admin_user, next_month, owned_group
):
    with time_machine.travel(LATER, tick=False):
        client = signed_in(admin_user)
        assert (
            start_now_url(next_month)
            in client.get(
                reverse("accessreviews:definition-detail", args=[next_month.uuid])
            ).content.decode()
        )
        response = client.post(start_now_url(next_month))
    assert response.status_code == 302
    instance = ReviewInstance.objects.get(definition=next_month, occurrence_index=1)
    assert instance.status == InstanceStatus.NOT_STARTED  # the request only wrote the row
    assert instance.occurrence_start == dt.datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
    assert instance.start_at == LATER
    # Same duration (14 days), at the same Paris wall time.
    assert instance.end_at == dt.datetime(2027, 1, 3, 14, 30, tzinfo=UTC)
    next_month.refresh_from_db()
    assert next_month.next_occurrence_index == 2
    assert next_month.next_occurrence_at == dt.datetime(2027, 2, 1, 8, 0, tzinfo=UTC)
    event = AuditEvent.objects.get(action="definition.started_now")
    assert event.details["instances"] == 1
    assert event.details["scheduled_start"] == "2027-01-01T08:00:00Z"

    assert instances_start_due(LATER).instance_ids == [instance.pk]
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.IN_PROGRESS
    (stage,) = instance.stages.all()
    assert (stage.start_at, stage.end_at) == (instance.start_at, instance.end_at)


def test_start_now_is_refused_while_a_review_runs(signed_in, admin_user, next_month):
    ReviewInstance.objects.update(status=InstanceStatus.IN_PROGRESS)
    client = signed_in(admin_user)
    page = client.get(reverse("accessreviews:definition-detail", args=[next_month.uuid]))
    assert start_now_url(next_month) not in page.content.decode()
    response = client.post(start_now_url(next_month), follow=True)
    assert "is running" in texts(response)[0]
    assert ReviewInstance.objects.count() == 1


def test_start_now_is_refused_for_a_paused_series(signed_in, admin_user, next_month):
    ReviewDefinition.objects.filter(pk=next_month.pk).update(status="Paused")
    response = signed_in(admin_user).post(start_now_url(next_month), follow=True)
    assert "Only an active series" in texts(response)[0]
    assert ReviewInstance.objects.count() == 1


def test_reader_gets_403_on_start_now(signed_in, reader, next_month):
    assert signed_in(reader).post(start_now_url(next_month)).status_code == 403
    assert ReviewInstance.objects.count() == 1


def test_outsider_gets_404_on_start_now(signed_in, outsider, next_month):
    assert signed_in(outsider).post(start_now_url(next_month)).status_code == 404


def test_start_now_refuses_get(signed_in, admin_user, next_month):
    assert signed_in(admin_user).get(start_now_url(next_month)).status_code == 405


def test_anonymous_is_sent_to_sign_in_from_start_now(client, next_month):
    response = client.post(start_now_url(next_month))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_home_says_when_the_scheduler_is_stale(signed_in, admin_user):
    with time_machine.travel(NOW, tick=False):
        SchedulerHeartbeat.beat()
    with time_machine.travel(NOW + dt.timedelta(minutes=7), tick=False):
        page = signed_in(admin_user).get(reverse("home")).content.decode()
    assert "Stale" in page and "Last tick 7" in page
    assert QUEUE in page


def test_removals_verification_found_still_in_place_are_listed_for_readers_only(
    signed_in, admin_user, reader, outsider
):
    group = GroupFactory(name="Falcon")
    add_members(group, UserFactory(display_name="Sam Stays"))
    add_owners(group, UserFactory())
    review_of(admin_user, group)
    instances_start_due(NOW)
    DecisionItem.objects.update(
        verification_status=VerificationStatus.MISMATCH,
        verification="re-granted by import on 2 Dec 2026",
    )
    page = signed_in(reader).get(QUEUE).content.decode()
    assert "Removals not in effect" in page
    assert "Sam Stays" in page and "re-granted by import on 2 Dec 2026" in page
    assert signed_in(outsider).get(QUEUE).status_code == 404

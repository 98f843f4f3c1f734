"""The instance page and its operations, for every persona, and its pinned query count."""

import datetime as dt

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accessreviews import selectors, selectors_panel
from accessreviews.choices import Decision
from accessreviews.models import ItemReviewer, ReviewerAssignment, ReviewInstance
from accessreviews.models.instances import InstanceStatus, StageStatus
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from directory.models import AuditEvent, TenantSettings
from notifications.models import Message
from tests.accessreviews.factories import group_review_draft
from tests.accessreviews.running import (
    BEFORE,
    END,
    NOW,
    counters,
    decide,
    decide_stage1,
    item_of,
    make_people,
    person,
    recount,
    stage_of,
    start,
)
from tests.factories import GroupFactory, add_members, add_owners

pytestmark = pytest.mark.django_db

OPERATIONS = (
    "instance-stop",
    "instance-extend",
    "instance-stage-stop",
    "instance-stage-reset",
    "instance-reassign",
    "instance-reresolve",
    "instance-remind",
)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def people(db):
    return make_people()


@pytest.fixture
def running(admin_user, people):
    return start(admin_user, people)


def page(instance):
    return reverse("accessreviews:instance-detail", args=[instance.uuid])


def url(name, instance):
    return reverse(f"accessreviews:{name}", args=[instance.uuid])


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def status_of(instance):
    return ReviewInstance.objects.get(pk=instance.pk).status


# --- Who sees what -------------------------------------------------------------------------------


def test_admin_sees_progress_reviewers_and_the_operations(signed_in, admin_user, people, running):
    decide_stage1(running, people)

    response = signed_in(admin_user).get(page(running))

    assert response.status_code == 200
    p = response.context["p"]
    stage1, stage2 = p.stages
    assert (stage1.decided, stage1.total) == (3, 4)
    assert stage1.counts == {"Approve": 1, "Deny": 1, "DontKnow": 1, "NotReviewed": 1}
    assert stage2.counts == {}
    assert [(a.reviewer_id, a.total, a.pending) for a in p.reviewers] == [
        (people["oscar"].pk, 4, 1)
    ]
    body = response.content.decode()
    assert "Stage 1 of 2" in body and "3</strong> of 4 decided" in body
    assert "Tue 1 Dec 2026, 08:00" in body and "(UTC)" in body  # the admin has no zone: UTC
    for name in OPERATIONS:
        assert url(name, running) in body
    assert 'id="apply-card"' in body


def test_a_reader_sees_the_page_without_controls(signed_in, reader, running):
    response = signed_in(reader).get(page(running))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Read only" in body
    for name in OPERATIONS:
        assert url(name, running) not in body


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_readers_post_is_403_and_audited(signed_in, reader, running, name):
    response = signed_in(reader).post(url(name, running), {"stage": "1"})

    assert response.status_code == 403
    assert status_of(running) == InstanceStatus.IN_PROGRESS
    assert AuditEvent.objects.filter(action="authz.denied.instance_manage").count() == 1


def test_a_group_owner_who_manages_the_series_sees_the_controls(signed_in, people, running):
    TenantSettings.objects.update_or_create(
        pk=1, defaults={"group_owners_can_manage_reviews": True}
    )

    response = signed_in(people["oscar"]).get(page(running))

    assert response.status_code == 200
    assert url("instance-stop", running) in response.content.decode()


def test_the_group_owner_persona_manages_a_review_of_their_group(
    signed_in, admin_user, people, group_owner, owned_group, reviewer, other_reviewer
):
    instance = start(admin_user, people, group=owned_group)
    client = signed_in(group_owner)

    assert url("instance-extend", instance) in client.get(page(instance)).content.decode()
    assert client.post(url("instance-stop", instance)).status_code == 302
    assert status_of(instance) == InstanceStatus.COMPLETED
    for persona in (reviewer, other_reviewer):  # a member reviewed, and a stranger
        assert signed_in(persona).get(page(instance)).status_code == 404


def test_an_owner_of_one_group_of_a_series_sees_only_that_groups_review(
    signed_in, admin_user, people
):
    TenantSettings.objects.update_or_create(
        pk=1, defaults={"group_owners_can_manage_reviews": True}
    )
    falcon, hawk = GroupFactory(name="Falcon"), GroupFactory(name="Hawk")
    add_members(falcon, people["alice"])
    add_members(hawk, people["bob"])
    add_owners(falcon, people["oscar"])
    add_owners(hawk, people["olga"])
    definition = definition_create(admin_user, group_review_draft([falcon, hawk]), now=BEFORE)
    instances_start_due(NOW)
    mine = ReviewInstance.objects.get(resource_id=falcon.pk)
    theirs = ReviewInstance.objects.get(resource_id=hawk.pk)
    series = reverse("accessreviews:definition-detail", args=[definition.uuid])
    client = signed_in(people["oscar"])

    assert client.get(page(mine)).status_code == 200
    assert client.get(page(theirs)).status_code == 404
    assert client.post(url("instance-stop", theirs)).status_code == 404
    body = client.get(series).content.decode()
    assert page(mine) in body and page(theirs) not in body
    admin_body = signed_in(admin_user).get(series).content.decode()
    assert page(mine) in admin_body and page(theirs) in admin_body
    assert status_of(theirs) == InstanceStatus.IN_PROGRESS


@pytest.mark.parametrize("who", ["outsider", "reviewer"])
def test_others_get_404(signed_in, outsider, people, running, who):
    user = outsider if who == "outsider" else people["oscar"]  # oscar reviews, manages nothing

    assert signed_in(user).get(page(running)).status_code == 404
    assert signed_in(user).post(url("instance-stop", running)).status_code == 404
    assert status_of(running) == InstanceStatus.IN_PROGRESS


def test_anonymous_is_sent_to_sign_in(client, running):
    for target in (page(running), url("instance-stop", running)):
        response = client.get(target) if target == page(running) else client.post(target)
        assert response.status_code == 302 and "/login" in response["Location"]


def test_wrong_methods_are_405(signed_in, admin_user, running):
    client = signed_in(admin_user)

    assert client.post(page(running)).status_code == 405
    for name in OPERATIONS:
        assert client.get(url(name, running)).status_code == 405
    assert status_of(running) == InstanceStatus.IN_PROGRESS


def test_an_unknown_instance_is_404(signed_in, admin_user, running):
    target = reverse("accessreviews:instance-detail", args=["00000000-0000-0000-0000-000000000000"])

    assert signed_in(admin_user).get(target).status_code == 404


# --- The operations through the page -------------------------------------------------------------


def test_stop_through_the_page(signed_in, admin_user, running):
    response = signed_in(admin_user).post(url("instance-stop", running))

    assert response.status_code == 302 and response["Location"] == page(running)
    assert status_of(running) == InstanceStatus.COMPLETED
    assert "Review stopped" in texts(response)[0]
    again = signed_in(admin_user).post(url("instance-stop", running))
    assert "Only a running review can be stopped." in texts(again)


def test_stop_stage_and_a_stale_form_for_it(signed_in, admin_user, running):
    client = signed_in(admin_user)

    response = client.post(url("instance-stage-stop", running), {"stage": "1"})

    assert "Stage 1 stopped; stage 2 has started." in texts(response)
    assert stage_of(running, 1).status == StageStatus.COMPLETED
    stale = client.post(url("instance-stage-reset", running), {"stage": "1"})
    assert stale.status_code == 302 and "no longer open" in texts(stale)[-1]
    for bad in ("", "x", "9", "0", "²", "-1", "99999999999999999999"):
        refused = client.post(url("instance-stage-stop", running), {"stage": bad})
        assert refused.status_code == 302 and "reload" in texts(refused)[-1]
    assert stage_of(running, 2).status == StageStatus.IN_PROGRESS


def test_reset_through_the_page(signed_in, admin_user, people, running):
    stage1 = decide_stage1(running, people)

    response = signed_in(admin_user).post(url("instance-stage-reset", running), {"stage": "1"})

    assert "Reset 3 decisions of stage 1." in texts(response)
    assert item_of(running, people, "alice").decision == Decision.NOT_REVIEWED
    assert counters(stage1) == recount(stage1)


def test_extend_takes_a_wall_time_in_the_viewers_zone(signed_in, admin_user, running):
    admin_user.time_zone = "America/New_York"
    admin_user.save()

    response = signed_in(admin_user).post(
        url("instance-extend", running), {"new_end_date": "2026-12-22", "new_end_time": "03:00"}
    )

    assert response.status_code == 302
    assert ReviewInstance.objects.get(pk=running.pk).end_at == dt.datetime(
        2026, 12, 22, 8, 0, tzinfo=dt.UTC
    )
    assert "Tue 22 Dec 2026, 03:00 (America/New_York)" in texts(response)[0]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"new_end_date": "", "new_end_time": "09:00"}, "This field is required."),
        ({"new_end_date": "2026-02-30", "new_end_time": "09:00"}, "Enter a valid date."),
        ({"new_end_date": "2026-12-10", "new_end_time": "09:00"}, "after the current end"),
        ({"new_end_date": "2029-12-10", "new_end_time": "09:00"}, "At most a year"),
    ],
)
def test_a_bad_extension_is_a_form_error_on_the_date(signed_in, admin_user, running, data, message):
    response = signed_in(admin_user).post(url("instance-extend", running), data)

    assert response.status_code == 200
    form = response.context["extend_form"]
    assert any(message in error for error in form.errors["new_end_date"])
    assert message in response.content.decode()
    assert ReviewInstance.objects.get(pk=running.pk).end_at == END


def test_reassign_through_the_page(signed_in, admin_user, people, running):
    oscar, olga = people["oscar"], people["olga"]

    response = signed_in(admin_user).post(
        url("instance-reassign", running),
        {
            "stage": "1",
            "from_reviewer": oscar.pk,
            "to_reviewer": olga.email.upper(),
            "reason": "On leave",
        },
    )

    assert response.status_code == 302
    assert "Reassigned 4 items to Olga." in texts(response)
    stage1 = stage_of(running, 1)
    assert set(ItemReviewer.objects.filter(stage=stage1).values_list("reviewer_id", flat=True)) == {
        olga.pk
    }
    assert counters(stage1) == recount(stage1) == {olga.pk: (4, 4)}
    assert AuditEvent.objects.get(action="stage.items_reassigned").details["reason"] == "On leave"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"reason": ""}, "reason"),
        ({"to_reviewer": "nobody@contoso.example"}, "to_reviewer"),
        ({"to_reviewer": "OSCAR"}, "to_reviewer"),
        ({"from_reviewer": "999999"}, "from_reviewer"),
        ({"from_reviewer": "abc"}, "from_reviewer"),
    ],
)
def test_bad_reassign_input_is_a_form_error_naming_the_field(
    signed_in, admin_user, people, running, change, field
):
    data = {
        "stage": "1",
        "from_reviewer": people["oscar"].pk,
        "to_reviewer": people["olga"].email,
        "reason": "On leave",
    }
    if change.get("to_reviewer") == "OSCAR":
        change = {"to_reviewer": people["oscar"].user_principal_name}
    data.update(change)

    response = signed_in(admin_user).post(url("instance-reassign", running), data)

    assert response.status_code == 200
    assert field in response.context["reassign_form"].errors
    assert not ItemReviewer.objects.filter(reason="reassigned").exists()


def test_a_manager_cannot_reassign_items_to_themselves(signed_in, admin_user, people, running):
    data = {"stage": "1", "from_reviewer": people["oscar"].pk, "reason": "I will do it"}
    data["to_reviewer"] = admin_user.user_principal_name

    response = signed_in(admin_user).post(url("instance-reassign", running), data)

    assert response.status_code == 200
    (error,) = response.context["reassign_form"].errors["to_reviewer"]
    assert "cannot reassign its items to yourself" in error
    assert not ItemReviewer.objects.filter(reason="reassigned").exists()
    assert counters(stage_of(running, 1)) == {people["oscar"].pk: (4, 4)}
    refusal = AuditEvent.objects.get(action="authz.denied.instance_reassign_to_self")
    assert refusal.details == {"stage": 1, "from": people["oscar"].user_principal_name}


def test_a_reassign_from_a_stale_page_acts_on_no_other_stage(
    signed_in, admin_user, people, running
):
    client = signed_in(admin_user)
    client.post(url("instance-stage-stop", running), {"stage": "1"})
    data = {"from_reviewer": people["sam"].pk, "to_reviewer": people["olga"].email}

    # The page was shown while stage 1 was open; stage 2 (sam's) has opened since.
    stale = client.post(url("instance-reassign", running), {**data, "stage": "1", "reason": "x"})
    unnamed = client.post(url("instance-reassign", running), {**data, "reason": "x"})

    assert stale.status_code == 302 and "no longer open" in texts(stale)[-1]
    assert unnamed.status_code == 302 and "reload" in texts(unnamed)[-1]
    assert not ItemReviewer.objects.filter(reason="reassigned").exists()
    assert counters(stage_of(running, 2)) == {people["sam"].pk: (4, 4)}


@pytest.mark.parametrize(
    "zone, day, time",
    [("America/New_York", "9999-12-31", "23:00"), ("Europe/Paris", "0001-01-01", "00:00")],
)
def test_an_extension_beyond_the_calendar_is_a_form_error(
    signed_in, admin_user, running, zone, day, time
):
    admin_user.time_zone = zone
    admin_user.save()

    response = signed_in(admin_user).post(
        url("instance-extend", running), {"new_end_date": day, "new_end_time": time}
    )

    assert response.status_code == 200
    assert response.context["extend_form"].errors["new_end_date"]
    assert ReviewInstance.objects.get(pk=running.pk).end_at == END


def test_reresolve_and_remind_through_the_page(signed_in, admin_user, people, running):
    client = signed_in(admin_user)

    reresolved = client.post(url("instance-reresolve", running), {"stage": "1"})
    reminded = client.post(url("instance-remind", running), {"stage": "1"})

    assert "Reviewers are up to date: nothing changed." in texts(reresolved)
    assert "Reminder sent to 1 reviewer with decisions left." in texts(reminded)
    assert Message.objects.filter(kind="reminder", recipient=people["oscar"]).count() == 1
    decide(people["oscar"], stage_of(running, 1), Decision.APPROVE, running, people, "alice")
    page_after = client.get(page(running))
    assert "Reminded" in page_after.content.decode()


def test_a_finished_review_offers_no_operations(signed_in, admin_user, running):
    client = signed_in(admin_user)
    client.post(url("instance-stop", running))

    body = client.get(page(running)).content.decode()

    assert url("instance-extend", running) not in body
    assert "Results" in body and "Skipped" in body


# --- Query count ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 30])
def test_the_page_runs_a_fixed_number_of_queries(
    signed_in, admin_user, people, running, django_assert_num_queries, count
):
    stage1 = stage_of(running, 1)
    ReviewerAssignment.objects.bulk_create(
        ReviewerAssignment(stage=stage1, reviewer=person(f"r{n}"), total=2, pending=1)
        for n in range(count)
    )
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities), 4 the instance joined
    # to its (visible) definition, 5 the definition's groups (may_manage), 6 stages, 7 items
    # grouped by stage and decision, 8 stage history grouped, 9 assignments with reviewers,
    # 10 unread messages for the nav's inbox badge.
    with django_assert_num_queries(10):
        response = client.get(page(running))

    assert len(response.context["p"].reviewers) == count + 1


# --- The series page links here; the Django admin -----------------------------------------------


def test_the_series_page_lists_its_reviews_with_links(signed_in, admin_user, running):
    target = reverse("accessreviews:definition-detail", args=[running.definition.uuid])

    body = signed_in(admin_user).get(target).content.decode()

    assert body.count(page(running)) == 2  # the current review, and the history
    assert "Review history" in body


CHANGELIST = reverse("admin:accessreviews_reviewinstance_changelist")


def test_the_admin_lists_instances_read_only(signed_in, admin_user, reader, running):
    response = signed_in(admin_user).get(CHANGELIST)

    assert response.status_code == 200 and "Falcon" in response.content.decode()
    change = reverse("admin:accessreviews_reviewinstance_change", args=[running.pk])
    detail = signed_in(admin_user).get(change).content.decode()
    assert page(running) in detail and 'name="_save"' not in detail
    assert signed_in(reader).get(CHANGELIST).status_code == 403


def test_the_admin_actions_call_the_services(signed_in, admin_user, people, running):
    client = signed_in(admin_user)

    def act(action, **extra):
        data = {"action": action, "_selected_action": [running.pk], **extra}
        return client.post(CHANGELIST, data)

    act("remind_selected")
    assert Message.objects.filter(kind="reminder", recipient=people["oscar"]).count() == 1
    assert AuditEvent.objects.filter(action="stage.reminded").count() == 1
    asked = act("stop_selected")  # an intermediate page first, as delete_selected
    assert asked.status_code == 200 and status_of(running) == InstanceStatus.IN_PROGRESS
    body = asked.content.decode()
    assert "Stop 1 review now?" in body and 'name="post" value="yes"' in body
    assert f'name="_selected_action" value="{running.pk}"' in body
    act("stop_selected", post="yes")
    assert status_of(running) == InstanceStatus.COMPLETED
    refused = act("stop_selected", post="yes")
    assert "Only a running review can be stopped." in " ".join(texts(refused))


def test_reassign_finds_the_new_reviewer_by_name_or_lists_the_matches(
    signed_in, admin_user, people, running
):
    client = signed_in(admin_user)
    data = {"stage": "1", "from_reviewer": people["oscar"].pk, "reason": "On leave"}
    person("olga second")

    several = client.post(url("instance-reassign", running), {**data, "to_reviewer": "olga"})

    (error,) = several.context["reassign_form"].errors["to_reviewer"]
    assert error.startswith("Several people match: Olga (") and "Olga Second (" in error
    found = client.post(url("instance-reassign", running), {**data, "to_reviewer": "fion"})
    assert found.status_code == 302
    assert counters(stage_of(running, 1)) == {people["fiona"].pk: (4, 4)}


def test_operations_need_the_csrf_token(admin_user, running):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user, backend="directory.backends.DirectoryBackend")

    assert client.post(url("instance-stop", running)).status_code == 403
    assert status_of(running) == InstanceStatus.IN_PROGRESS


def test_a_completed_run_links_to_its_apply_preview_and_a_failed_one_offers_retry(
    signed_in, admin_user, reader, running
):
    ReviewInstance.objects.filter(pk=running.pk).update(status=InstanceStatus.COMPLETED)
    apply_url = url("instance-apply", running)
    body = signed_in(admin_user).get(page(running)).content.decode()
    assert apply_url in body and "Preview and apply" in body
    ReviewInstance.objects.filter(pk=running.pk).update(
        status=InstanceStatus.FAILED, failed_step="apply", last_error="RuntimeError: boom"
    )
    body = signed_in(admin_user).get(page(running)).content.decode()
    assert url("instance-retry", running) in body and "RuntimeError: boom" in body
    body = signed_in(reader).get(page(running)).content.decode()
    assert url("instance-retry", running) not in body  # readers get no buttons


@pytest.mark.parametrize(
    "decided, total, percent", [(199, 200, 99), (2, 3, 66), (200, 200, 100), (0, 5, 0)]
)
def test_stage_progress_floors_like_the_panels(decided, total, percent):
    counts = {Decision.APPROVE: decided, Decision.NOT_REVIEWED: total - decided}
    stage_progress = selectors.StageProgress(stage=None, counts=counts)

    assert stage_progress.percent == percent
    assert selectors_panel.Progress(total, total - decided).percent == percent

"""The reviews list, the series page, and pause / resume / end / delete, for every persona."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accessreviews.choices import ReviewerType, ScopeType, SeriesStatus
from accessreviews.drafts import StageDraft
from accessreviews.models import ReviewDefinition
from accessreviews.schedule import EndRule, Recurrence
from accessreviews.services import definitions as svc
from directory.models import AuditEvent, BuiltinRole
from tests.accessreviews.factories import group_review_draft
from tests.factories import (
    ApplicationFactory,
    GroupFactory,
    UserFactory,
    assign_role,
    builtin_role,
)

pytestmark = pytest.mark.django_db

LIST = reverse("accessreviews:definition-list")


def detail(definition):
    return reverse("accessreviews:definition-detail", args=[definition.uuid])


def action(name, definition):
    return reverse(f"accessreviews:definition-{name}", args=[definition.uuid])


def status_of(definition):
    return ReviewDefinition.objects.get(pk=definition.pk).status


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def denied_events(what):
    return AuditEvent.objects.filter(action=f"authz.denied.{what}").count()


@pytest.fixture
def falcon_review(admin_user, owned_group):
    """A monthly review of the group the group owner owns, created by the admin."""
    return svc.definition_create(
        admin_user, group_review_draft([owned_group], name="Falcon monthly")
    )


@pytest.fixture
def other_review(admin_user):
    """A review of a group the group owner does not own."""
    draft = group_review_draft([GroupFactory(name="Finance")], name="Finance quarterly")
    return svc.definition_create(admin_user, draft)


@pytest.fixture
def shared_review(admin_user, owned_group):
    """A review of the owner's group and another: visible to the owner, not theirs to manage."""
    draft = group_review_draft([owned_group, GroupFactory(name="Sales")], name="Shared")
    return svc.definition_create(admin_user, draft)


# --- The list ------------------------------------------------------------------------------------


def test_admin_sees_every_review_newest_first_with_what_and_who(
    signed_in, admin_user, falcon_review, other_review
):
    response = signed_in(admin_user).get(LIST)

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row.definition for row in rows] == [other_review, falcon_review]
    assert rows[1].what == "Project Falcon"
    assert rows[1].reviewers == "Group owners"
    assert rows[1].recurrence == "Monthly"
    body = response.content.decode()
    assert "New review" in body and reverse("accessreviews:definition-create") in body


def test_the_list_says_how_many_groups_and_stages(signed_in, admin_user, owned_group):
    draft = group_review_draft(
        [owned_group, GroupFactory(), GroupFactory()],
        stages=[StageDraft(duration_days=7), StageDraft(ReviewerType.MANAGERS, 7)],
    )
    svc.definition_create(admin_user, draft)

    (row,) = signed_in(admin_user).get(LIST).context["rows"]

    assert row.what == "3 groups"
    assert row.reviewers == "Group owners, +1 stage"


def test_next_occurrence_is_shown_in_the_viewers_time_zone(signed_in, admin_user, falcon_review):
    admin_user.time_zone = "America/New_York"
    admin_user.save()

    body = signed_in(admin_user).get(LIST).content.decode()

    # 1 Dec 2026 09:00 in Paris is 08:00 UTC, 03:00 in New York.
    assert "Tue 1 Dec 2026, 03:00" in body
    assert "Times are shown in America/New_York" in body


def test_reader_sees_every_review_but_no_new_review_button(
    signed_in, reader, falcon_review, other_review
):
    response = signed_in(reader).get(LIST)

    assert response.status_code == 200
    assert len(response.context["rows"]) == 2
    assert "New review" not in response.content.decode()


def test_group_owner_sees_only_reviews_of_groups_they_own(
    signed_in, group_owner, falcon_review, other_review, shared_review
):
    response = signed_in(group_owner).get(LIST)

    assert {row.definition for row in response.context["rows"]} == {falcon_review, shared_review}
    # The shared review still names both of its groups, not only the owner's.
    shared = next(r for r in response.context["rows"] if r.definition == shared_review)
    assert shared.what == "2 groups"


def test_outsider_gets_403_on_the_list_and_it_is_audited(signed_in, outsider, falcon_review):
    response = signed_in(outsider).get(LIST)

    assert response.status_code == 403
    assert denied_events("definitions") == 1


def test_anonymous_is_sent_to_sign_in_from_the_list(client):
    response = client.get(LIST)

    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_list_refuses_post(signed_in, admin_user):
    assert signed_in(admin_user).post(LIST).status_code == 405


def test_the_list_filters_by_status_resource_type_and_creator(
    signed_in, admin_user, falcon_review, other_review
):
    maker = UserFactory(
        display_name="Petra Privileged", user_principal_name="petra@contoso.example"
    )
    assign_role(BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR, user=maker)
    role_draft = group_review_draft(
        [],
        name="Admins",
        scope_type=ScopeType.ROLE_ASSIGNEES,
        role_ids=[builtin_role(BuiltinRole.SECURITY_READER).pk],
        stages=[StageDraft(ReviewerType.SELF, 7)],
        recurrence=Recurrence.ONE_TIME,
    )
    role_review = svc.definition_create(maker, role_draft)
    svc.definition_pause(admin_user, other_review)
    client = signed_in(admin_user)

    def shown(**params):
        return [row.definition for row in client.get(LIST, params).context["rows"]]

    assert shown(status="Paused") == [other_review]
    assert shown(type=ScopeType.ROLE_ASSIGNEES) == [role_review]
    assert shown(creator="petra@") == [role_review]
    assert shown(creator="alice admin") == [other_review, falcon_review]
    assert shown(status="bogus") == [role_review, other_review, falcon_review]


def test_the_list_is_paginated_by_25(signed_in, admin_user, owned_group):
    for number in range(26):
        svc.definition_create(admin_user, group_review_draft([owned_group], name=f"R{number}"))
    client = signed_in(admin_user)

    assert len(client.get(LIST).context["rows"]) == 25
    assert [r.definition.name for r in client.get(LIST, {"page": 2}).context["rows"]] == ["R0"]


@pytest.mark.parametrize("count", [3, 30])
def test_the_list_runs_a_fixed_number_of_queries(
    signed_in, admin_user, django_assert_num_queries, count
):
    for number in range(count):
        groups = [GroupFactory(), GroupFactory()]
        svc.definition_create(admin_user, group_review_draft(groups, name=f"R{number}"))
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities), 4 COUNT for the
    # paginator, 5 the page of definitions joined to their creators, 6-9 prefetch of groups,
    # applications, roles and stages, 10 unread messages for the nav's inbox badge.
    with django_assert_num_queries(10):
        response = client.get(LIST)

    assert response.status_code == 200


@pytest.mark.parametrize("count", [3, 30])
def test_the_group_owners_list_runs_a_fixed_number_of_queries(
    signed_in, admin_user, group_owner, owned_group, django_assert_num_queries, count
):
    for number in range(count):
        groups = [owned_group, GroupFactory()]
        svc.definition_create(admin_user, group_review_draft(groups, name=f"R{number}"))
    client = signed_in(group_owner)

    # 1 session, 2 signed-in user, 3 their active roles, 4 the tenant's group-owner switch,
    # 5 whether they own a group (capabilities), 6 COUNT of the definitions of groups they
    # own, 7 that page of definitions with their creators, 8-11 prefetch of groups,
    # applications, roles and stages, 12 unread messages for the nav's inbox badge.
    with django_assert_num_queries(12):
        response = client.get(LIST)

    assert len(response.context["rows"]) == min(count, 25)


# --- The series page -----------------------------------------------------------------------------


def test_admin_sees_the_settings_in_words_and_the_next_occurrences(
    signed_in, admin_user, falcon_review
):
    response = signed_in(admin_user).get(detail(falcon_review))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Every month from Tue 1 Dec 2026 at 09:00 (Europe/Paris), for 14 days" in body
    assert "Members of 1 group: Project Falcon" in body
    assert len(response.context["p"].upcoming) == 12
    assert "until Tue 15 Dec 2026, 09:00" in body  # the first end, in Paris time
    assert "Current review" in body and "Review history" in body
    for name in ("edit", "pause", "end", "delete"):
        assert action(name, falcon_review) in body
    assert action("resume", falcon_review) not in body


def test_a_paused_series_offers_resume_not_pause(signed_in, admin_user, falcon_review):
    svc.definition_pause(admin_user, falcon_review)

    body = signed_in(admin_user).get(detail(falcon_review)).content.decode()

    assert action("resume", falcon_review) in body
    assert action("pause", falcon_review) not in body


def test_an_ended_series_offers_no_changes_and_no_occurrences(signed_in, admin_user, falcon_review):
    falcon_review.next_occurrence_index = 1
    falcon_review.save()
    svc.definition_end(admin_user, falcon_review)

    response = signed_in(admin_user).get(detail(falcon_review))

    body = response.content.decode()
    assert response.context["p"].upcoming == []
    for name in ("edit", "pause", "resume", "end", "delete"):
        assert action(name, falcon_review) not in body


def test_a_started_series_offers_end_but_not_delete(signed_in, admin_user, falcon_review):
    falcon_review.next_occurrence_index = 1
    falcon_review.save()

    body = signed_in(admin_user).get(detail(falcon_review)).content.decode()

    assert action("end", falcon_review) in body
    assert action("delete", falcon_review) not in body


def test_occurrences_are_also_shown_in_the_viewers_zone(signed_in, admin_user, falcon_review):
    admin_user.time_zone = "Asia/Tokyo"
    admin_user.save()

    body = signed_in(admin_user).get(detail(falcon_review)).content.decode()

    # 09:00 in Paris on 1 Dec is 17:00 in Tokyo.
    assert "Yours: Tue 1 Dec, 17:00" in body


def test_reader_sees_the_series_page_without_buttons(signed_in, reader, falcon_review):
    response = signed_in(reader).get(detail(falcon_review))

    assert response.status_code == 200
    body = response.content.decode()
    for name in ("edit", "pause", "end", "delete"):
        assert action(name, falcon_review) not in body


def test_group_owner_manages_the_review_of_their_group(signed_in, group_owner, falcon_review):
    response = signed_in(group_owner).get(detail(falcon_review))

    assert response.status_code == 200 and response.context["p"].can_manage


def test_group_owner_reads_but_cannot_manage_a_review_reaching_beyond_their_groups(
    signed_in, group_owner, shared_review
):
    response = signed_in(group_owner).get(detail(shared_review))

    assert response.status_code == 200 and not response.context["p"].can_manage


def test_group_owner_gets_404_for_a_review_of_someone_elses_group(
    signed_in, group_owner, other_review
):
    assert signed_in(group_owner).get(detail(other_review)).status_code == 404


def test_outsider_gets_404_on_a_series_page(signed_in, outsider, falcon_review):
    assert signed_in(outsider).get(detail(falcon_review)).status_code == 404


def test_an_unknown_series_is_404(signed_in, admin_user):
    url = reverse("accessreviews:definition-detail", args=["6f1c8a52-0000-4000-8000-000000000000"])

    assert signed_in(admin_user).get(url).status_code == 404


def test_anonymous_is_sent_to_sign_in_from_a_series_page(client, falcon_review):
    response = client.get(detail(falcon_review))

    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_series_page_refuses_post(signed_in, admin_user, falcon_review):
    assert signed_in(admin_user).post(detail(falcon_review)).status_code == 405


@pytest.mark.parametrize("stages", [1, 3])
def test_the_series_page_runs_a_fixed_number_of_queries(
    signed_in, admin_user, django_assert_num_queries, stages
):
    reviewers = [UserFactory() for _ in range(stages)]
    draft = group_review_draft(
        [GroupFactory() for _ in range(stages)],
        stages=[
            StageDraft(ReviewerType.SELECTED, 7, reviewer_user_ids=[u.pk for u in reviewers])
            for _ in range(stages)
        ],
    )
    definition = svc.definition_create(admin_user, draft)
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles, 4 the definition (visible, joined to
    # its creator), 5-9 prefetch of groups, excluded groups, applications, roles, additional
    # recipients, 10 stages, 11-14 each stage relation (reviewer users and groups, fallback
    # users and groups), 15 the series' instances (past reviews), 16 unread messages for the
    # nav's inbox badge.
    with django_assert_num_queries(16):
        response = client.get(detail(definition))

    assert response.status_code == 200


def test_an_application_review_and_a_one_time_role_review_render(signed_in, admin_user):
    app = ApplicationFactory(name="Salesforce", assignment_required=True)
    app_review = svc.definition_create(
        admin_user,
        group_review_draft(
            [],
            scope_type=ScopeType.APPLICATION_ASSIGNEES,
            application_ids=[app.pk],
            recurrence=Recurrence.QUARTERLY,
            end_rule=EndRule.AFTER,
            occurrence_count=4,
            stages=[StageDraft(ReviewerType.APPLICATION_OWNERS, 21)],
        ),
    )
    role_review = svc.definition_create(
        admin_user,
        group_review_draft(
            [],
            scope_type=ScopeType.ROLE_ASSIGNEES,
            role_ids=[builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR).pk],
            recurrence=Recurrence.ONE_TIME,
            stages=[StageDraft(ReviewerType.MANAGERS, 10)],
        ),
    )
    client = signed_in(admin_user)

    app_page = client.get(detail(app_review))
    role_page = client.get(detail(role_review))

    assert "Users assigned to 1 application: Salesforce" in app_page.content.decode()
    assert len(app_page.context["p"].upcoming) == 4
    assert "Once, on Tue 1 Dec 2026" in role_page.content.decode()
    assert len(role_page.context["p"].upcoming) == 1
    rows = client.get(LIST).context["rows"]
    assert [r.what for r in rows] == ["Global Administrator", "Salesforce"]


# --- Pause, resume, end, delete ------------------------------------------------------------------


def test_admin_pauses_and_resumes_a_series(signed_in, admin_user, falcon_review):
    client = signed_in(admin_user)

    response = client.post(action("pause", falcon_review))

    assert response.status_code == 302 and response["Location"] == detail(falcon_review)
    assert status_of(falcon_review) == SeriesStatus.PAUSED
    assert "Series paused" in texts(response)[0]

    client.post(action("resume", falcon_review))

    assert status_of(falcon_review) == SeriesStatus.ACTIVE


def test_admin_ends_a_series(signed_in, admin_user, falcon_review):
    response = signed_in(admin_user).post(action("end", falcon_review))

    assert status_of(falcon_review) == SeriesStatus.ENDED
    assert ReviewDefinition.objects.get(pk=falcon_review.pk).next_occurrence_at is None
    assert "Series ended" in texts(response)[0]


def test_admin_deletes_a_series_that_never_started(signed_in, admin_user, falcon_review):
    response = signed_in(admin_user).post(action("delete", falcon_review))

    assert response.status_code == 302 and response["Location"] == LIST
    assert not ReviewDefinition.objects.filter(pk=falcon_review.pk).exists()
    assert AuditEvent.objects.filter(action="definition.deleted").count() == 1


def test_a_started_series_cannot_be_deleted_and_the_page_says_why(
    signed_in, admin_user, falcon_review
):
    falcon_review.next_occurrence_index = 1
    falcon_review.save()

    response = signed_in(admin_user).post(action("delete", falcon_review), follow=True)

    assert ReviewDefinition.objects.filter(pk=falcon_review.pk).exists()
    assert response.redirect_chain[-1][0] == detail(falcon_review)
    assert "it is evidence and cannot be deleted" in response.content.decode()


def test_an_invalid_transition_is_a_message_not_an_error(signed_in, admin_user, falcon_review):
    response = signed_in(admin_user).post(action("resume", falcon_review))

    assert response.status_code == 302
    assert texts(response) == ["Only a paused series can be resumed."]
    assert status_of(falcon_review) == SeriesStatus.ACTIVE


def test_group_owner_pauses_the_review_of_their_group(signed_in, group_owner, falcon_review):
    signed_in(group_owner).post(action("pause", falcon_review))

    assert status_of(falcon_review) == SeriesStatus.PAUSED


@pytest.mark.parametrize("name", ["pause", "end", "delete"])
def test_reader_gets_403_on_every_change_and_it_is_audited(signed_in, reader, falcon_review, name):
    response = signed_in(reader).post(action(name, falcon_review))

    assert response.status_code == 403
    assert status_of(falcon_review) == SeriesStatus.ACTIVE
    assert denied_events("definition_manage") == 1


def test_group_owner_gets_403_on_a_review_reaching_beyond_their_groups(
    signed_in, group_owner, shared_review
):
    response = signed_in(group_owner).post(action("end", shared_review))

    assert response.status_code == 403
    assert status_of(shared_review) == SeriesStatus.ACTIVE


@pytest.mark.parametrize("name", ["pause", "resume", "end", "delete"])
def test_outsider_gets_404_on_every_change(signed_in, outsider, falcon_review, name):
    response = signed_in(outsider).post(action(name, falcon_review))

    assert response.status_code == 404
    assert status_of(falcon_review) == SeriesStatus.ACTIVE


@pytest.mark.parametrize("name", ["pause", "resume", "end", "delete"])
def test_changes_refuse_get(signed_in, admin_user, falcon_review, name):
    assert signed_in(admin_user).get(action(name, falcon_review)).status_code == 405


def test_anonymous_is_sent_to_sign_in_from_a_change(client, falcon_review):
    response = client.post(action("pause", falcon_review))

    assert response.status_code == 302 and "/login" in response["Location"]
    assert status_of(falcon_review) == SeriesStatus.ACTIVE


def test_group_owners_get_no_reviews_list_while_the_tenant_switch_is_off(signed_in, group_owner):
    from directory.models import AuditEvent, TenantSettings

    TenantSettings.objects.filter(pk=1).update(group_owners_can_manage_reviews=False)
    response = signed_in(group_owner).get("/reviews/")
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="authz.denied.definitions").exists()

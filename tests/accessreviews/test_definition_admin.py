"""Review definitions in the Django admin: read-only, with pause / resume / end through services."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accessreviews.choices import SeriesStatus
from accessreviews.models import ReviewDefinition
from accessreviews.services import definitions as svc
from directory.models import AuditEvent
from tests.accessreviews.factories import group_review_draft
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accessreviews_reviewdefinition_changelist")


@pytest.fixture
def series(admin_user, owned_group):
    return svc.definition_create(admin_user, group_review_draft([owned_group], name="Falcon"))


def statuses(*definitions):
    return [ReviewDefinition.objects.get(pk=d.pk).status for d in definitions]


def run(client, action, *definitions):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [d.pk for d in definitions]},
    )


def test_changelist_renders_for_an_admin(signed_in, admin_user, series):
    response = signed_in(admin_user).get(CHANGELIST)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Falcon" in body and "Alice Admin" in body


def test_changelist_filters_and_searches(signed_in, admin_user, series):
    other = svc.definition_create(admin_user, group_review_draft([GroupFactory()], name="Other"))
    svc.definition_pause(admin_user, other)
    client = signed_in(admin_user)

    paused = client.get(CHANGELIST, {"status__exact": "Paused"}).context["cl"].result_list
    found = client.get(CHANGELIST, {"q": "falc"}).context["cl"].result_list

    assert list(paused) == [other] and list(found) == [series]


@pytest.mark.parametrize("persona", ["reader", "group_owner", "outsider"])
def test_changelist_is_403_for_non_admins(request, signed_in, persona):
    response = signed_in(request.getfixturevalue(persona)).get(CHANGELIST)

    assert response.status_code == 403


def test_the_change_page_shows_the_settings_in_words_and_the_stages(signed_in, admin_user, series):
    url = reverse("admin:accessreviews_reviewdefinition_change", args=[series.pk])

    response = signed_in(admin_user).get(url)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Every month from Tue 1 Dec 2026 at 09:00 (Europe/Paris)" in body
    assert "Members of 1 group: Project Falcon" in body
    assert "Group owners" in body  # the stage inline


def test_definitions_cannot_be_added_changed_or_deleted_in_the_admin(signed_in, admin_user, series):
    client = signed_in(admin_user)
    change = reverse("admin:accessreviews_reviewdefinition_change", args=[series.pk])
    delete = reverse("admin:accessreviews_reviewdefinition_delete", args=[series.pk])

    assert client.get(reverse("admin:accessreviews_reviewdefinition_add")).status_code == 403
    client.post(change, {"name": "Tampered", "status": "Ended"})
    assert client.post(delete, {"post": "yes"}).status_code == 403

    series.refresh_from_db()
    assert series.name == "Falcon" and series.status == SeriesStatus.ACTIVE


def test_pause_resume_and_end_actions_call_the_services(signed_in, admin_user, series):
    client = signed_in(admin_user)

    run(client, "pause_selected", series)
    assert statuses(series) == [SeriesStatus.PAUSED]
    run(client, "resume_selected", series)
    assert statuses(series) == [SeriesStatus.ACTIVE]
    run(client, "end_selected", series)
    assert statuses(series) == [SeriesStatus.ENDED]

    actions = AuditEvent.objects.filter(action__startswith="definition.").order_by("seq")
    assert list(actions.values_list("action", flat=True)) == [
        "definition.created",
        "definition.paused",
        "definition.resumed",
        "definition.ended",
    ]


def test_an_action_reports_the_series_it_refused(signed_in, admin_user, series):
    paused = svc.definition_create(admin_user, group_review_draft([GroupFactory()], name="Zzz"))
    svc.definition_pause(admin_user, paused)

    response = run(signed_in(admin_user), "pause_selected", series, paused)

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert statuses(series, paused) == [SeriesStatus.PAUSED, SeriesStatus.PAUSED]
    assert any(text.startswith("Zzz: The series is not active") for text in texts)  # the reason
    assert "1 series paused." in texts


@pytest.mark.parametrize("rows", [3, 30])
def test_changelist_runs_a_fixed_number_of_queries(
    signed_in, admin_user, django_assert_num_queries, rows
):
    for number in range(rows):
        svc.definition_create(admin_user, group_review_draft([GroupFactory()], name=f"R{number}"))
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities), 4 COUNT for the
    # paginator (show_full_result_count=False spares a second one), 5 whether tenant settings
    # exist (the admin's app list asks each model admin whether it may add), 6 the page of
    # definitions joined to their creators.
    with django_assert_num_queries(6):
        response = client.get(CHANGELIST)

    assert response.status_code == 200

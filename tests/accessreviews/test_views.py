"""Portal-wide pages: home, the permission matrix, health and the error pages."""

import re

import pytest
from django.urls import reverse

from accessreviews.models import SchedulerHeartbeat
from directory import audit

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture(params=["admin_user", "reader"])
def directory_reader(request):
    return request.getfixturevalue(request.param)


# --- Home --------------------------------------------------------------------------------------


def test_anonymous_visitor_of_home_is_sent_to_sign_in(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=/"


def test_home_shows_directory_audit_head_and_scheduler_to_readers(signed_in, directory_reader):
    client = signed_in(directory_reader)
    seq, head = audit.chain_head()

    page = text(client.get(reverse("home")))

    assert f"Welcome, {directory_reader.display_name}" in page
    assert "Browse users" in page
    assert f"Chain head #{seq} {head[:16]}" in page
    assert "No tick recorded yet" in page


def test_home_shows_when_the_scheduler_last_ticked(signed_in, admin_user):
    SchedulerHeartbeat.beat()

    page = text(signed_in(admin_user).get(reverse("home")))

    assert "Last tick 0 minutes ago (1 in all)" in page


@pytest.mark.parametrize("persona", ["outsider", "reviewer", "group_owner"])
def test_home_hides_the_directory_and_audit_log_from_people_without_a_role(
    request, signed_in, persona
):
    response = signed_in(request.getfixturevalue(persona)).get(reverse("home"))

    page = text(response)
    assert response.status_code == 200
    assert "My access reviews" in page
    assert "Browse users" not in page
    assert "Audit log" not in page
    assert reverse("directory:user-list") not in response.content.decode()


def test_home_refuses_post_with_405(signed_in, admin_user):
    assert signed_in(admin_user).post(reverse("home")).status_code == 405


# --- Permission matrix -------------------------------------------------------------------------


def test_permission_matrix_lists_every_role_and_what_it_allows(signed_in, outsider):
    page = text(signed_in(outsider).get(reverse("permission-matrix")))

    assert "Who may do what" in page
    yes, no = "✓ yes", "– no"
    assert f"Global Administrator {yes} {yes} {yes} {yes} {yes}" in page
    assert f"Global Reader {no} {yes} {no} {no} {no} {no}" in page
    assert f"Eligible (not active) Global Administrator {no} {no} {no} {no} {no} {no}" in page
    assert "Global Reader ✓ Read all reviews, results, audit and directory" in page, "phone layout"
    assert "Anyone assigned as a reviewer sees and decides their own items" in page


def test_anonymous_visitor_of_the_permission_matrix_is_sent_to_sign_in(client):
    response = client.get(reverse("permission-matrix"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_permission_matrix_refuses_post_with_405(signed_in, outsider):
    assert signed_in(outsider).post(reverse("permission-matrix")).status_code == 405


# --- Health and error pages ----------------------------------------------------------------------


def test_health_answers_without_signing_in(client):
    SchedulerHeartbeat.beat()

    response = client.get(reverse("health"))

    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "ok"  # Redis in CI's first pass, the filesystem broker in the second
    assert body["scheduler"] == "ok"
    assert 0 <= body["last_tick_seconds_ago"] < 60


def test_health_calls_an_unreachable_broker_degraded_not_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1}
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json()["broker"] == "degraded"


def test_health_reports_a_scheduler_silent_for_over_five_minutes(client):
    import time_machine

    with time_machine.travel("2026-11-27 09:00:00+00:00", tick=False):
        SchedulerHeartbeat.beat()
    with time_machine.travel("2026-11-27 09:06:00+00:00", tick=False):
        body = client.get(reverse("health")).json()
    assert body["scheduler"] == "stale" and body["last_tick_seconds_ago"] == 360


def test_unknown_address_shows_the_404_page(signed_in, outsider):
    response = signed_in(outsider).get("/no/such/page/")

    assert response.status_code == 404
    assert "Page not found" in text(response)


def test_a_head_request_is_answered_like_a_get(signed_in, outsider):
    assert signed_in(outsider).head("/").status_code == 200

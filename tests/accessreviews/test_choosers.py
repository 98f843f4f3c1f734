"""The choosers offer only what the person may pick, as a fragment, with or without htmx."""

import pytest
from django.urls import reverse

from accessreviews import choosers
from directory.models import AuditEvent, BuiltinRole
from tests.factories import ApplicationFactory, GroupFactory, UserFactory, assign_role

pytestmark = pytest.mark.django_db


def choose(client, kind, **params):
    return client.get(reverse("accessreviews:chooser", args=[kind]), params)


def test_an_admin_finds_any_group_by_name(signed_in, admin_user, owned_group):
    GroupFactory(name="Payroll team")

    response = choose(signed_in(admin_user), "groups", q="falc")

    assert response.status_code == 200
    assert "Project Falcon" in response.content.decode()
    assert "Payroll" not in response.content.decode()


def test_a_group_owner_finds_only_the_groups_they_own(signed_in, group_owner, owned_group):
    GroupFactory(name="Project Falconry")

    page = choose(signed_in(group_owner), "groups", q="falcon").content.decode()

    assert "Project Falcon" in page and "Falconry" not in page


def test_only_applications_that_require_assignment_are_offered(signed_in, admin_user):
    ApplicationFactory(name="Payroll")
    ApplicationFactory(name="Pay slips", assignment_required=False)

    page = choose(signed_in(admin_user), "applications", q="pay").content.decode()

    assert "Payroll" in page and "Pay slips" not in page


def test_a_group_owner_is_offered_no_applications_or_roles(signed_in, group_owner):
    ApplicationFactory(name="Payroll")
    client = signed_in(group_owner)

    assert "Payroll" not in choose(client, "applications", q="pay").content.decode()
    assert "Global" not in choose(client, "roles", q="global").content.decode()


def test_roles_are_offered_to_privileged_role_administrators(signed_in):
    pra = UserFactory()
    assign_role(BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR, user=pra)

    page = choose(signed_in(pra), "roles", q="global").content.decode()

    assert "Global Administrator" in page and "Global Reader" in page


def test_users_are_found_by_name_or_upn_and_the_deleted_are_not(signed_in, admin_user):
    UserFactory(display_name="Rob Reviewer", user_principal_name="rob.r@contoso.example")
    UserFactory(display_name="Robin Gone", is_active=False)

    page = choose(signed_in(admin_user), "users", q="rob").content.decode()

    assert "Rob Reviewer" in page and "rob.r@contoso.example" in page and "Robin" not in page


def test_results_stop_at_twenty(signed_in, admin_user):
    GroupFactory.create_batch(25, name="Team")

    assert len(choosers.search("groups", admin_user, "team")) == 20
    page = choose(signed_in(admin_user), "groups", q="team").content.decode()
    assert page.count('type="checkbox"') == 20 and "Showing the first 20" in page


def test_the_htmx_search_names_its_checkboxes_after_the_field(signed_in, admin_user, owned_group):
    response = choose(
        signed_in(admin_user),
        "groups",
        name="s2-reviewer_group_ids",
        **{"q_s2-reviewer_group_ids": "falcon"},
    )

    assert f'name="s2-reviewer_group_ids" value="{owned_group.pk}"' in response.content.decode()


def test_a_strange_field_name_is_not_echoed(signed_in, admin_user, owned_group):
    page = choose(signed_in(admin_user), "groups", name='"><script>', q="falcon").content.decode()

    assert "<script>" not in page and 'name="groups"' in page


def test_an_unknown_kind_is_404(signed_in, admin_user):
    assert choose(signed_in(admin_user), "printers", q="x").status_code == 404


def test_people_who_cannot_create_reviews_get_403_and_it_is_audited(signed_in, reader):
    response = choose(signed_in(reader), "groups", q="x")

    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="authz.denied.definition_create").exists()


def test_anonymous_people_are_sent_to_sign_in(client):
    response = choose(client, "groups", q="x")

    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_chooser_answers_405_to_a_post(signed_in, admin_user):
    client = signed_in(admin_user)

    assert client.post(reverse("accessreviews:chooser", args=["groups"])).status_code == 405


def test_the_chooser_leaves_out_the_ids_already_chosen(signed_in, admin_user, owned_group):
    GroupFactory(name="Falcon Contractors")

    page = choose(
        signed_in(admin_user), "groups", q="falcon", name="group_ids", group_ids=[owned_group.pk]
    ).content.decode()

    assert "Falcon Contractors" in page and "Project Falcon" not in page

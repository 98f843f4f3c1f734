"""The apply preview / confirmation page and the revocation worklist: who may do what."""

import csv
import io
import json

import pytest
from django.urls import reverse

from accessreviews.models import ReviewInstance
from accessreviews.models.instances import InstanceStatus
from accessreviews.services.apply import applies_due, apply_request
from directory.models import AuditEvent
from tests.accessreviews.apply_fixtures import AFTER, APPROVE, DENY, completed_review
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(admin_user):
    falcon = GroupFactory(name="Falcon", external_id="G-FALCON")
    ann = UserFactory(display_name="Ann Denied", external_id="E-ANN")
    bea = UserFactory(display_name="Bea Approved")
    add_members(falcon, ann, bea)
    add_owners(falcon, UserFactory(display_name="Oscar Owner"))
    instance = completed_review(admin_user, {ann: DENY, bea: APPROVE}, groups=[falcon])
    return instance, ann


def apply_url(instance):
    return reverse("accessreviews:instance-apply", args=[instance.uuid])


def worklist_url(instance, fmt="csv"):
    return reverse("accessreviews:instance-worklist", args=[instance.uuid]) + f"?format={fmt}"


def status_of(instance):
    return ReviewInstance.objects.get(pk=instance.pk).status


def test_an_admin_sees_who_loses_what_and_confirms(signed_in, admin_user, review):
    instance, _ = review
    client = signed_in(admin_user)
    page = client.get(apply_url(instance)).content.decode()
    assert "Ann Denied" in page and "Bea Approved" not in page  # only the denied are listed
    assert "Will be removed" in page and "Apply: remove access for 1 person" in page
    response = client.post(apply_url(instance))
    assert response.status_code == 302 and response["Location"] == apply_url(instance)
    assert status_of(instance) == InstanceStatus.APPLYING  # the tick does the work
    assert AuditEvent.objects.filter(action="instance.apply_requested").count() == 1


def test_a_reader_sees_the_preview_but_cannot_confirm(signed_in, reader, review):
    instance, _ = review
    client = signed_in(reader)
    page = client.get(apply_url(instance)).content.decode()
    assert "Ann Denied" in page and "Apply: remove access" not in page
    assert client.post(apply_url(instance)).status_code == 403
    assert status_of(instance) == InstanceStatus.COMPLETED
    assert AuditEvent.objects.filter(action="authz.denied.instance_apply").count() == 1


def test_an_outsider_gets_404(signed_in, outsider, review):
    instance, _ = review
    client = signed_in(outsider)
    assert client.get(apply_url(instance)).status_code == 404
    assert client.post(apply_url(instance)).status_code == 404
    assert client.get(worklist_url(instance)).status_code == 404
    assert status_of(instance) == InstanceStatus.COMPLETED


def test_anonymous_people_are_sent_to_sign_in(client, review):
    instance, _ = review
    for response in (client.get(apply_url(instance)), client.get(worklist_url(instance))):
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_wrong_methods_get_405(signed_in, admin_user, review):
    instance, _ = review
    client = signed_in(admin_user)
    assert client.put(apply_url(instance)).status_code == 405
    assert client.post(worklist_url(instance)).status_code == 405
    assert status_of(instance) == InstanceStatus.COMPLETED


def test_confirming_twice_says_why_and_changes_nothing(signed_in, admin_user, review):
    instance, _ = review
    client = signed_in(admin_user)
    client.post(apply_url(instance))
    response = client.post(apply_url(instance), follow=True)
    assert "being applied already" in response.content.decode()
    assert AuditEvent.objects.filter(action="instance.apply_requested").count() == 1


def test_a_running_review_cannot_be_confirmed(signed_in, admin_user):
    group = GroupFactory()
    ann = UserFactory()
    add_members(group, ann)
    add_owners(group, UserFactory())
    instance = completed_review(admin_user, {ann: DENY}, groups=[group], end=False)
    response = signed_in(admin_user).post(apply_url(instance), follow=True)
    assert "Only a completed review can be applied" in response.content.decode()
    assert status_of(instance) == InstanceStatus.IN_PROGRESS


@pytest.mark.parametrize("denied", [3, 30])
def test_the_preview_is_a_fixed_number_of_queries(
    signed_in, admin_user, denied, django_assert_num_queries
):
    group = GroupFactory()
    people = UserFactory.create_batch(denied)
    add_members(group, *people)
    add_owners(group, UserFactory())
    instance = completed_review(admin_user, dict.fromkeys(people, DENY), groups=[group])
    client = signed_in(admin_user)
    # 1 session, 2 user, 3 their roles (capabilities), 4 the instance with its definition,
    # 5 the definition's groups (may_manage), 6 decision counts, 7 the group's membership type
    # and source, 8 does the group grant Global Administrator, 9 its active holders, 10 the
    # only holder's denied items, 11 outcome counts, 12 protected principals, 13 the page's
    # count, 14 the page, 15 the layout's unread inbox count.
    with django_assert_num_queries(15):
        assert client.get(apply_url(instance)).status_code == 200


def applied(admin_user, instance):
    apply_request(admin_user, instance)
    applies_due(AFTER)


def test_the_csv_worklist_says_who_lost_what_when_and_why(signed_in, admin_user, reader, review):
    instance, ann = review
    applied(admin_user, instance)
    response = signed_in(reader).get(worklist_url(instance))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["principal_id"] == str(ann.uuid)
    assert row["principal_external_id"] == "E-ANN"
    assert row["principal_upn"] == ann.user_principal_name
    assert (row["resource_type"], row["resource_name"], row["resource_external_id"]) == (
        "group",
        "Falcon",
        "G-FALCON",
    )
    assert row["applied_at"] == "2026-12-15T09:00:00Z"
    assert (row["decision"], row["apply_result"]) == ("Deny", "AppliedSuccessfully")
    assert row["verification"] == "access removed"


def test_the_json_worklist_is_the_same_rows(signed_in, admin_user, review):
    instance, ann = review
    applied(admin_user, instance)
    response = signed_in(admin_user).get(worklist_url(instance, "json"))
    rows = json.loads(b"".join(response.streaming_content))
    assert [row["principal_upn"] for row in rows] == [ann.user_principal_name]
    assert rows[0]["decided_by"] == ""  # decided directly in the test, not by a reviewer


def test_an_unknown_worklist_format_is_a_clear_400(signed_in, admin_user, review):
    instance, _ = review
    response = signed_in(admin_user).get(worklist_url(instance, "xlsx"))
    assert response.status_code == 400
    assert response.content.decode() == "format: expected csv or json."

"""Verification after apply: removed, still there, another path, re-granted by an import."""

import datetime as dt
import io
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command

from accessreviews.models.instances import InstanceStatus, VerificationStatus
from accessreviews.services.apply import applies_due, apply_request
from accessreviews.services.verify import instance_verify, verification_mismatches
from directory.models import Group, User
from tests.accessreviews.apply_fixtures import (
    AFTER,
    DENY,
    completed_review,
    item_of,
    selected_stage,
)
from tests.factories import GroupFactory, UserFactory, add_members, add_owners, nest

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "directory.json"


def verification(instance, principal) -> tuple[str, str]:
    item = item_of(instance, principal)
    return item.verification_status, item.verification


@pytest.fixture
def applied(admin_user):
    """Falcon after apply: bob removed; frank removed directly, still in the nested Contractors."""
    falcon, contractors = GroupFactory(name="Falcon"), GroupFactory(name="Contractors")
    nest(falcon, contractors)
    bob, frank, erin, owner = (UserFactory() for _ in range(4))
    add_members(falcon, bob, frank)
    add_members(contractors, frank, erin)
    add_owners(falcon, owner)
    instance = completed_review(admin_user, {bob: DENY, frank: DENY, erin: DENY}, groups=[falcon])
    apply_request(admin_user, instance)
    applies_due(AFTER)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.APPLIED
    return instance, falcon, {"bob": bob, "frank": frank, "erin": erin}


def test_apply_verifies_what_it_removed(applied):
    instance, _, p = applied
    assert verification(instance, p["bob"]) == (VerificationStatus.VERIFIED, "access removed")


def test_access_by_another_path_is_reported_not_failed(applied):
    instance, _, p = applied
    assert verification(instance, p["frank"]) == (
        VerificationStatus.STILL_HAS_ACCESS,
        "still has access via Contractors",
    )


def test_what_apply_could_not_remove_is_not_verified(applied):
    instance, _, p = applied
    assert verification(instance, p["erin"]) == (VerificationStatus.NOT_VERIFIED, "")


def test_a_removed_grant_that_is_back_is_a_mismatch_and_verifying_twice_agrees(applied):
    instance, falcon, p = applied
    add_members(falcon, p["bob"])
    first = instance_verify(instance)
    assert verification(instance, p["bob"]) == (
        VerificationStatus.MISMATCH,
        "the removed grant is still there",
    )
    assert instance_verify(instance) == first
    assert first == {VerificationStatus.MISMATCH: 1, VerificationStatus.STILL_HAS_ACCESS: 1}


def test_verification_is_a_fixed_number_of_queries(admin_user, django_assert_num_queries):
    group, owner = GroupFactory(name="Wide"), UserFactory()
    people = UserFactory.create_batch(30)
    add_members(group, *people)
    add_owners(group, owner)
    instance = completed_review(admin_user, dict.fromkeys(people, DENY), groups=[group])
    apply_request(admin_user, instance)
    applies_due(AFTER)
    add_members(group, *people[:10])
    # 1 savepoint; 2 Verified for what the directory removed; 3 UPDATE ... FROM the access
    # query; 4 re-granted wording; 5 counts; 6 release. (Block-then-delete reviews add one
    # UPDATE for the blocked guests.)
    with django_assert_num_queries(6):
        counts = instance_verify(instance)
    assert counts == {VerificationStatus.VERIFIED: 20, VerificationStatus.MISMATCH: 10}


def _import():
    call_command("import_directory", str(EXAMPLE), stdout=io.StringIO(), stderr=io.StringIO())


def test_an_import_that_brings_a_grant_back_marks_it_re_granted(
    admin_user, other_reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _import()
    sales = Group.objects.get(external_id="G-SALES")
    ines = User.objects.get(external_id="E1002")
    instance = completed_review(
        admin_user, {ines: DENY}, groups=[sales], stages=[selected_stage(other_reviewer)]
    )
    apply_request(admin_user, instance)
    applies_due(AFTER)
    assert verification(instance, ines)[0] == VerificationStatus.VERIFIED

    later = dt.datetime(2026, 12, 20, 7, 0, tzinfo=dt.UTC)
    with (
        time_machine.travel(later, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        _import()  # the source system still lists her: the import re-creates the grant

    assert verification(instance, ines) == (
        VerificationStatus.MISMATCH,
        "re-granted by import on 2026-12-20",
    )


def test_mismatches_are_listed_for_those_who_may_see_the_review(
    applied, admin_user, reader, outsider
):
    instance, falcon, p = applied
    add_members(falcon, p["bob"])
    instance_verify(instance)
    expected = [item_of(instance, p["bob"]).pk]
    assert [item.pk for item in verification_mismatches(admin_user)] == expected
    assert [item.pk for item in verification_mismatches(reader)] == expected
    assert list(verification_mismatches(outsider)) == []

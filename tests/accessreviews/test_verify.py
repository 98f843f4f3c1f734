"""Verification after apply: removed, still there, another path, re-granted by an import."""

import datetime as dt
import io
import threading
import time
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from accessreviews.models import ReviewInstance
from accessreviews.models.instances import InstanceStatus, VerificationStatus
from accessreviews.services.apply import applies_due, apply_request
from accessreviews.services.verify import (
    RETRY_AFTER,
    REVERIFY_WINDOW,
    instance_verify,
    verification_mismatches,
    verifications_due,
    verifications_request,
)
from directory.models import GrantRevocation, Group, User
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
    # query; 4 re-granted wording (only when 3 found access left); 5 counts; 6 release.
    # (Block-then-delete reviews add one UPDATE for the blocked guests.)
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

    instance.refresh_from_db()
    assert instance.reverify_due_at == later  # the import only asks
    assert verification(instance, ines)[0] == VerificationStatus.VERIFIED
    assert verifications_due(later) == 1  # the tick verifies
    assert verification(instance, ines) == (
        VerificationStatus.MISMATCH,
        "re-granted by import on 2026-12-20",
    )


def applied_review(admin_user, applied_at) -> object:
    group, person = GroupFactory(), UserFactory()
    add_members(group, person)
    add_owners(group, UserFactory())
    instance = completed_review(admin_user, {person: DENY}, groups=[group])
    apply_request(admin_user, instance)
    applies_due(AFTER)
    ReviewInstance.objects.filter(pk=instance.pk).update(applied_at=applied_at)
    return instance, group, person


def test_verifying_with_no_access_left_skips_the_re_granted_pass(
    admin_user, django_assert_num_queries
):
    instance, _, person = applied_review(admin_user, AFTER)
    # 1 savepoint; 2 Verified for what the directory removed; 3 UPDATE ... FROM the access
    # query (it finds nobody); 4 counts; 5 release.
    with django_assert_num_queries(5):
        counts = instance_verify(instance)
    assert counts == {VerificationStatus.VERIFIED: 1}


def requested() -> set[int]:
    return set(
        ReviewInstance.objects.filter(reverify_due_at__isnull=False).values_list("pk", flat=True)
    )


@pytest.mark.parametrize("count", [1, 4])
def test_an_import_asks_for_verification_in_one_statement_whatever_the_instances(
    admin_user, django_assert_num_queries, count
):
    recent = [applied_review(admin_user, AFTER)[0] for _ in range(count)]
    applied_review(admin_user, AFTER - REVERIFY_WINDOW - dt.timedelta(days=1))  # too old
    with django_assert_num_queries(1):
        assert verifications_request(AFTER) == count
    assert requested() == {instance.pk for instance in recent}


def test_an_old_instance_whose_revoked_grant_came_back_is_verified_again(admin_user):
    instance, group, person = applied_review(admin_user, AFTER - dt.timedelta(days=400))
    assert verifications_request(AFTER) == 0
    GrantRevocation.objects.filter(principal_id=person.pk).update(restored_at=AFTER)
    add_members(group, person)
    assert verifications_request(AFTER) == 1
    assert verifications_due(AFTER) == 1
    assert verification(instance, person)[0] == VerificationStatus.MISMATCH


def test_requested_verifications_run_once_however_often_the_tick_runs(admin_user):
    instance, group, person = applied_review(admin_user, AFTER)
    verifications_request(AFTER)
    add_members(group, person)
    assert verifications_due(AFTER) == 1
    assert verification(instance, person)[0] == VerificationStatus.MISMATCH
    assert verifications_due(AFTER) == 0
    assert requested() == set()


def test_a_request_made_while_verifying_is_kept_for_the_next_tick(admin_user, monkeypatch):
    from accessreviews.services import verify

    instance, _, _ = applied_review(admin_user, AFTER)
    verifications_request(AFTER)
    real = verify.verification_update

    def import_meanwhile(instance, **kwargs):
        real(instance, **kwargs)
        verifications_request(AFTER + dt.timedelta(minutes=1))

    monkeypatch.setattr(verify, "verification_update", import_meanwhile)
    assert verifications_due(AFTER) == 1
    assert requested() == {instance.pk}


def test_a_failing_verification_keeps_its_request_and_the_others_still_run(admin_user, monkeypatch):
    from accessreviews.services import verify

    broken, _, _ = applied_review(admin_user, AFTER)
    fine, group, person = applied_review(admin_user, AFTER)
    verifications_request(AFTER)
    add_members(group, person)
    real = verify.verification_update

    def fails_for_one(instance, **kwargs):
        if instance.pk == broken.pk:
            raise RuntimeError("verification broke")
        real(instance, **kwargs)

    monkeypatch.setattr(verify, "verification_update", fails_for_one)
    assert verifications_due(AFTER) == 1
    assert requested() == {broken.pk}
    assert verification(fine, person)[0] == VerificationStatus.MISMATCH
    broken.refresh_from_db()
    assert broken.reverify_due_at == AFTER + RETRY_AFTER  # not every minute
    assert verifications_due(AFTER + dt.timedelta(minutes=1)) == 0


def test_an_instance_still_applying_is_asked_for_and_verified_once_applied(admin_user):
    group, person = GroupFactory(), UserFactory()
    add_members(group, person)
    add_owners(group, UserFactory())
    instance = completed_review(admin_user, {person: DENY}, groups=[group])
    apply_request(admin_user, instance)
    assert verifications_request(AFTER) == 1  # Applying: an apply finishing may have read early
    assert verifications_due(AFTER) == 0  # it waits for Applied
    applies_due(AFTER)
    add_members(group, person)
    assert verifications_due(AFTER) == 1
    assert verification(instance, person)[0] == VerificationStatus.MISMATCH


def test_the_tick_verifies_a_bounded_number_of_instances_at_a_time(admin_user, monkeypatch):
    from accessreviews.services import verify

    first, second = (applied_review(admin_user, AFTER)[0] for _ in range(2))
    verifications_request(AFTER)
    monkeypatch.setattr(verify, "VERIFY_PER_TICK", 1)
    assert verifications_due(AFTER) == 1
    assert requested() == {second.pk}
    assert verifications_due(AFTER) == 1
    assert requested() == set()


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


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_an_import_while_the_tick_verifies_is_kept_for_another_pass(admin_user, monkeypatch):
    from accessreviews.services import verify

    instance, _, _ = applied_review(admin_user, AFTER)
    verifications_request(AFTER)
    verifying, imported = threading.Event(), []
    real = verify.verification_update

    def slow_verification(instance, **kwargs):
        real(instance, **kwargs)
        verifying.set()
        time.sleep(0.5)  # the import's UPDATE comes while this transaction holds the row

    def import_meanwhile():
        try:
            verifying.wait(5)
            imported.append(verifications_request(AFTER + dt.timedelta(minutes=1)))
        finally:
            connection.close()

    monkeypatch.setattr(verify, "verification_update", slow_verification)
    thread = threading.Thread(target=import_meanwhile)
    thread.start()
    assert verifications_due(AFTER) == 1
    thread.join()
    assert imported == [1]  # it waited for the tick's commit instead of skipping the row
    assert requested() == {instance.pk}

"""Applying decisions: results per kind of access, chunks, faults, guardrails, protection."""

import contextlib
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Count

from accessreviews.choices import DeniedGuestAction, PrincipalScope
from accessreviews.models import DecisionItem, ReviewInstance
from accessreviews.models.instances import (
    ApplyResult,
    FailedStep,
    InstanceStatus,
    VerificationStatus,
)
from accessreviews.services import apply as apply_service
from accessreviews.services.apply import (
    Outcome,
    applies_due,
    apply_chunk,
    apply_preview,
    apply_request,
    global_admin_holders,
)
from accessreviews.services.verify import instance_verify
from accessreviews.tasks import apply_instance, tick
from directory import guests, services
from directory.models import (
    AppRoleAssignment,
    AuditEvent,
    BuiltinRole,
    GrantRevocation,
    GroupMembership,
    NestedGroup,
    RoleAssignment,
    User,
)
from directory.models.groups import GroupSource, MembershipType
from notifications.models import Message, MessageKind
from tests.accessreviews.apply_fixtures import (
    AFTER,
    APPROVE,
    DENY,
    DONT_KNOW,
    END,
    application_review,
    completed_review,
    item_of,
    role_review,
)
from tests.factories import (
    AppRoleFactory,
    GroupFactory,
    GuestFactory,
    UserFactory,
    add_members,
    add_owners,
    assign_app,
    assign_role,
    builtin_role,
    nest,
)

pytestmark = pytest.mark.django_db


def members(group) -> set[int]:
    return set(GroupMembership.objects.filter(group=group).values_list("user_id", flat=True))


@pytest.fixture
def falcon(db):
    """Falcon: alice, bob, carol and dave directly; erin only through Contractors; frank both."""
    group = GroupFactory(name="Falcon")
    contractors = GroupFactory(name="Contractors")
    nest(group, contractors)
    people = {n: UserFactory(display_name=n.title()) for n in ("alice", "bob", "carol", "dave")}
    people |= {n: UserFactory(display_name=n.title()) for n in ("erin", "frank", "oscar")}
    add_members(group, *(people[n] for n in ("alice", "bob", "carol", "dave", "frank")))
    add_members(contractors, people["erin"], people["frank"])
    add_owners(group, people["oscar"])
    return group, contractors, people


def apply_now(actor, instance):
    apply_request(actor, instance)
    counts = applies_due(AFTER)
    instance.refresh_from_db()
    return counts


def test_denied_direct_members_are_removed_and_nothing_else_is_touched(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(
        admin_user,
        {p["alice"]: APPROVE, p["bob"]: DENY, p["carol"]: DONT_KNOW},
        groups=[group],
    )
    counts = apply_now(admin_user, instance)
    assert counts.applied == 1
    assert instance.status == InstanceStatus.APPLIED and instance.applied_at == AFTER
    assert members(group) == {p[n].pk for n in ("alice", "carol", "dave", "frank")}
    bob = item_of(instance, p["bob"])
    assert bob.apply_result == ApplyResult.APPLIED
    assert (bob.applied_by, bob.applied_at) == (admin_user, AFTER)
    # Approve, DontKnow and NotReviewed keep `New`: no revocation is ever asked for them.
    for name in ("alice", "carol", "dave"):
        item = item_of(instance, p[name])
        assert (item.apply_result, item.applied_at) == (ApplyResult.NEW, None)
    assert list(GrantRevocation.objects.values_list("ref", flat=True)) == [bob.pk]
    assert AuditEvent.objects.filter(action="instance.applied", object_id=str(instance.uuid))


def test_results_for_nested_and_double_paths_and_already_gone(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(
        admin_user, {p["bob"]: DENY, p["erin"]: DENY, p["frank"]: DENY}, groups=[group]
    )
    GroupMembership.objects.filter(group=group, user=p["bob"]).delete()  # gone meanwhile
    apply_now(admin_user, instance)
    assert item_of(instance, p["bob"]).apply_result == ApplyResult.NOT_FOUND
    erin = item_of(instance, p["erin"])
    assert erin.apply_result == ApplyResult.NOT_SUPPORTED
    assert erin.apply_detail == "access is through a nested group"
    # Frank's direct membership goes; his nested path stays (verification reports it).
    assert item_of(instance, p["frank"]).apply_result == ApplyResult.APPLIED
    assert p["frank"].pk not in members(group)
    assert NestedGroup.objects.filter(parent=group).count() == 1


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"membership_type": MembershipType.DYNAMIC}, "the group's membership is dynamic"),
        ({"source": GroupSource.ON_PREMISES}, "the group is synced from on-premises"),
    ],
)
def test_dynamic_and_synced_groups_are_not_supported(admin_user, changes, reason):
    group = GroupFactory(name="Unmanaged", **changes)
    ann, owner = UserFactory(), UserFactory()
    add_members(group, ann)
    add_owners(group, owner)
    instance = completed_review(admin_user, {ann: DENY}, groups=[group])
    preview = apply_preview(instance)
    assert preview.outcomes == {Outcome.NOT_SUPPORTED: 1}
    apply_now(admin_user, instance)
    item = item_of(instance, ann)
    assert (item.apply_result, item.apply_detail) == (ApplyResult.NOT_SUPPORTED, reason)
    assert members(group) == {ann.pk}


def test_application_direct_and_group_assignments(admin_user, other_reviewer):
    role = AppRoleFactory()
    staff = GroupFactory(name="Staff")
    direct, through_group = UserFactory(), UserFactory()
    add_members(staff, through_group)
    assign_app(role, user=direct)
    assign_app(role, group=staff)
    instance = application_review(
        admin_user, role.application, other_reviewer, {direct: DENY, through_group: DENY}
    )
    apply_now(admin_user, instance)
    assert item_of(instance, direct).apply_result == ApplyResult.APPLIED
    via = item_of(instance, through_group)
    assert (via.apply_result, via.apply_detail) == (
        ApplyResult.NOT_SUPPORTED,
        "access is through a group assignment",
    )
    assert list(AppRoleAssignment.objects.values_list("group_id", flat=True)) == [staff.pk]


def test_directory_role_user_and_role_assignable_group(admin_user, other_reviewer):
    role = builtin_role(BuiltinRole.USER_ADMINISTRATOR)
    tier0 = GroupFactory(name="Tier 0", is_role_assignable=True)
    holder = UserFactory()
    assign_role(BuiltinRole.USER_ADMINISTRATOR, user=holder)
    assign_role(BuiltinRole.USER_ADMINISTRATOR, group=tier0)
    instance = role_review(admin_user, role, other_reviewer, {holder: DENY, tier0: DENY})
    apply_now(admin_user, instance)
    assert item_of(instance, holder).apply_result == ApplyResult.APPLIED
    assert item_of(instance, tier0).apply_result == ApplyResult.APPLIED
    assert not RoleAssignment.objects.filter(role=role).exists()


def test_a_rerun_after_an_injected_fault_resumes_and_removes_nothing_twice(
    admin_user, falcon, settings
):
    group, _, p = falcon
    denied = [p[n] for n in ("alice", "bob", "carol", "dave", "frank")]
    instance = completed_review(admin_user, dict.fromkeys(denied, DENY), groups=[group])
    settings.APPLY_CHUNK_SIZE = 2
    settings.APPLY_FAULT_AFTER_CHUNKS = 1
    apply_request(admin_user, instance)
    counts = applies_due(AFTER)
    instance.refresh_from_db()
    assert counts.failed == 1
    assert instance.status == InstanceStatus.APPLYING and instance.attempts == 1
    assert "injected fault after 1 committed chunk" in instance.last_error
    results = DecisionItem.objects.filter(instance=instance, decision=DENY)
    assert results.filter(apply_result=ApplyResult.APPLIED).count() == 2  # one chunk committed
    settings.APPLY_FAULT_AFTER_CHUNKS = 0
    assert applies_due(AFTER).applied == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.APPLIED
    assert results.filter(apply_result=ApplyResult.APPLIED).count() == 5
    per_item = GrantRevocation.objects.values("ref").annotate(n=Count("id"))
    assert {row["n"] for row in per_item} == {1}
    assert members(group) == set()


def test_applies_due_twice_changes_nothing_the_second_time(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    apply_now(admin_user, instance)
    before = (AuditEvent.objects.count(), GrantRevocation.objects.count(), Message.objects.count())
    counts = applies_due(AFTER)
    assert (counts.started, counts.held, counts.applied, counts.failed) == (0, 0, 0, 0)
    after = (AuditEvent.objects.count(), GrantRevocation.objects.count(), Message.objects.count())
    assert after == before


def test_a_chunk_when_not_applying_or_done_does_nothing(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    assert apply_chunk(instance, AFTER) is None  # Completed: not claimed
    apply_request(admin_user, instance)
    assert apply_chunk(instance, AFTER) == 1
    assert apply_chunk(instance, AFTER) == 0


def test_the_tick_auto_applies_under_the_limit(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(
        admin_user, {p["bob"]: DENY}, groups=[group], end=False, auto_apply=True
    )
    tick(END)  # ends the instance, then auto-applies it in the same tick
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.APPLIED
    assert item_of(instance, p["bob"]).applied_by is None  # the review itself applied it
    assert p["bob"].pk not in members(group)


def test_the_guardrail_holds_an_auto_apply_until_an_admin_confirms(admin_user, falcon):
    group, _, p = falcon
    denied = [p[n] for n in ("alice", "bob", "carol", "dave", "frank")]  # 5 of 6 (erin is nested)
    instance = completed_review(
        admin_user,
        dict.fromkeys(denied, DENY),
        groups=[group],
        auto_apply=True,
        auto_apply_max_removal_percent=50,
    )
    assert applies_due(AFTER).held == 1
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED and instance.needs_confirmation
    assert members(group) == {p[n].pk for n in ("alice", "bob", "carol", "dave", "frank")}
    held = Message.objects.get(kind=MessageKind.APPLY_NEEDS_CONFIRMATION)
    assert (held.recipient, held.context["would_remove"], held.context["total"]) == (
        admin_user,
        5,
        6,
    )
    assert applies_due(AFTER).held == 0  # held once, not every tick
    apply_now(admin_user, instance)
    assert instance.status == InstanceStatus.APPLIED and not instance.needs_confirmation
    assert members(group) == set()


def test_a_protected_account_is_never_removed(admin_user, falcon, settings):
    group, _, p = falcon
    settings.PROTECTED_PRINCIPALS = [p["bob"].user_principal_name.upper()]
    instance = completed_review(admin_user, {p["bob"]: DENY, p["carol"]: DENY}, groups=[group])
    preview = apply_preview(instance)
    assert [item.principal_id for item in preview.protected] == [p["bob"].pk]
    assert preview.outcomes == {Outcome.PROTECTED: 1, Outcome.REMOVE: 1}
    apply_now(admin_user, instance)
    bob = item_of(instance, p["bob"])
    assert bob.apply_result == ApplyResult.NOT_SUPPORTED
    assert "protected account" in bob.apply_detail
    assert p["bob"].pk in members(group) and p["carol"].pk not in members(group)


def test_the_last_global_administrator_survives(admin_user, other_reviewer):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    instance = role_review(admin_user, role, other_reviewer, {admin_user: DENY})
    assert apply_preview(instance).outcomes == {Outcome.LAST_ADMIN: 1}
    apply_now(admin_user, instance)
    item = item_of(instance, admin_user)
    assert item.apply_result == ApplyResult.NOT_SUPPORTED
    assert "last active Global Administrator" in item.apply_detail
    assert RoleAssignment.objects.filter(role=role, user=admin_user).exists()


def test_one_of_two_global_administrators_is_removed(admin_user, other_reviewer):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    second = UserFactory()
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=second)
    instance = role_review(admin_user, role, other_reviewer, {second: DENY})
    apply_now(admin_user, instance)
    assert item_of(instance, second).apply_result == ApplyResult.APPLIED
    assert list(RoleAssignment.objects.filter(role=role).values_list("user", flat=True)) == [
        admin_user.pk
    ]


def test_denying_every_global_administrator_keeps_the_first(admin_user, other_reviewer):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    second = UserFactory()
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=second)
    instance = role_review(admin_user, role, other_reviewer, {admin_user: DENY, second: DENY})
    assert apply_preview(instance).outcomes == {Outcome.LAST_ADMIN: 1, Outcome.REMOVE: 1}
    apply_now(admin_user, instance)
    assert item_of(instance, admin_user).apply_detail.startswith("the last active Global")
    assert item_of(instance, second).apply_result == ApplyResult.APPLIED
    assert list(RoleAssignment.objects.filter(role=role).values_list("user", flat=True)) == [
        admin_user.pk
    ]


def test_three_failed_attempts_fail_the_instance(admin_user, falcon, monkeypatch):
    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    apply_request(admin_user, instance)

    def broken(batch, requests, actor=None, **kwargs):
        raise RuntimeError("directory unavailable")

    monkeypatch.setattr(apply_service, "revoke_grants_from", broken)
    for attempt in (1, 2):
        applies_due(AFTER)
        instance.refresh_from_db()
        assert (instance.status, instance.attempts) == (InstanceStatus.APPLYING, attempt)
    applies_due(AFTER)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.FAILED
    assert instance.failed_step == FailedStep.APPLY
    assert instance.last_error == "RuntimeError: directory unavailable"
    assert item_of(instance, p["bob"]).apply_result == ApplyResult.NEW  # rolled back
    assert GrantRevocation.objects.count() == 0
    assert AuditEvent.objects.filter(action="instance.failed").count() == 1
    assert applies_due(AFTER).failed == 0  # Failed waits for Retry


def test_apply_request_refuses_what_is_not_completed(admin_user, reader, falcon):
    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group], end=False)
    with pytest.raises(ValidationError, match="Only a completed review can be applied"):
        apply_request(admin_user, instance)
    with pytest.raises(PermissionDenied):
        apply_request(reader, instance)
    assert ReviewInstance.objects.get(pk=instance.pk).status == InstanceStatus.IN_PROGRESS


def test_apply_request_twice_says_it_is_applying_already(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    apply_request(admin_user, instance)
    with pytest.raises(ValidationError, match="being applied already"):
        apply_request(admin_user, instance)
    assert AuditEvent.objects.filter(action="instance.apply_requested").count() == 1


def test_removed_people_are_told_when_the_review_says_so(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(
        admin_user, {p["bob"]: DENY}, groups=[group], notify_removed_people=True
    )
    apply_now(admin_user, instance)
    message = Message.objects.get(kind=MessageKind.ACCESS_REMOVED)
    assert message.recipient == p["bob"]
    assert message.context["resource_name"] == "Falcon"


def test_the_confirmation_nudges_a_tick_after_commit(
    admin_user, falcon, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from accessreviews import nudge

    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    calls = []
    monkeypatch.setattr(nudge, "_nudge_in_background", lambda: calls.append(1))
    settings.NOTIFICATIONS_NUDGE = True
    with django_capture_on_commit_callbacks(execute=True):
        apply_request(admin_user, instance)
    assert calls == [1]  # the shared tick nudge (a dead broker: tests/accessreviews/test_tick)
    assert ReviewInstance.objects.get(pk=instance.pk).status == InstanceStatus.APPLYING


@pytest.mark.parametrize("size", [10, 200])
def test_a_chunk_is_a_fixed_number_of_queries(admin_user, size, django_assert_num_queries):
    group, owner = GroupFactory(name="Big"), UserFactory()
    people = UserFactory.create_batch(size)
    add_members(group, *people)
    add_owners(group, owner)
    instance = completed_review(admin_user, dict.fromkeys(people, DENY), groups=[group])
    apply_request(admin_user, instance)
    # 1 savepoint; 2 lock the instance row (with the confirming admin); 3 does the group grant
    # Global Administrator (no: no tenant-wide lock); 4 the only active Global Administrator
    # (the admin here); 5 UPDATE their item; 6 the chunk's last id and the one after it (one
    # more UPDATE when PROTECTED_PRINCIPALS is set); revoke_grants_from: 7 savepoint, 8 the
    # requests'
    # INSERT ... SELECT, classified as inserted, 9 the batch's kinds of grant, 10 nested
    # groups, 11 already gone, 12 the memberships' DELETE, 13 counts, 14 event exists?,
    # 15-17 its audit event (chain head, digest rows, INSERT; PostgreSQL also takes the
    # chain's advisory lock), 18 release; 19 the join-back UPDATE; 20 release.
    with django_assert_num_queries(20 + (connection.vendor == "postgresql")):
        assert apply_chunk(instance, AFTER, size=1000) == size
    assert members(group) == set()


def test_denied_guests_are_blocked_then_deleted_and_their_results_stay(admin_user, falcon):
    group, _, _ = falcon
    gus, gina = GuestFactory(display_name="Gus"), GuestFactory(display_name="Gina")
    add_members(group, gus, gina)
    instance = completed_review(
        admin_user,
        {gus: DENY, gina: DENY},
        groups=[group],
        principal_scope=PrincipalScope.GUESTS_ONLY,
        denied_guest_action=DeniedGuestAction.DISABLE_AND_DELETE,
    )
    assert apply_preview(instance).outcomes == {Outcome.BLOCK_GUEST: 2}
    apply_now(admin_user, instance)
    for guest in (gus, gina):
        guest.refresh_from_db()
        assert not guest.is_active and guest.deletion_scheduled_at == AFTER + guests.DELETE_AFTER
        item = item_of(instance, guest)
        assert item.apply_result == ApplyResult.APPLIED
        assert item.apply_detail.startswith("sign-in blocked; the account is deleted on 2027-01-14")
        assert item.verification_status == VerificationStatus.VERIFIED
    assert {gus.pk, gina.pk} <= members(group)  # as in Entra: grants go with the account
    assert GrantRevocation.objects.count() == 0
    guests.user_reenable(admin_user, gina)
    assert guests.users_delete_due(AFTER + guests.DELETE_AFTER) == 1
    instance_verify(instance)
    assert item_of(instance, gus).verification == "the account was deleted"
    assert item_of(instance, gina).verification_status == VerificationStatus.STILL_HAS_ACCESS
    assert gus.pk not in members(group) and gina.pk in members(group)
    assert item_of(instance, gus).principal_name == "Gus"  # the result stays visible


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_remove_each_grant_once(admin_user, settings):
    settings.APPLY_CHUNK_SIZE = 7
    group, owner = GroupFactory(name="Busy"), UserFactory()
    people = UserFactory.create_batch(40)
    add_members(group, *people)
    add_owners(group, owner)
    instance = completed_review(admin_user, dict.fromkeys(people, DENY), groups=[group])
    apply_request(admin_user, instance)
    errors = []

    def run():
        try:
            applies_due(AFTER)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if ReviewInstance.objects.get(pk=instance.pk).status == InstanceStatus.APPLYING:
        applies_due(AFTER)  # the loser skipped the locked row; the next tick finishes
    assert errors == []
    instance.refresh_from_db()
    assert (instance.status, instance.attempts) == (InstanceStatus.APPLIED, 0)
    per_item = GrantRevocation.objects.values("ref").annotate(n=Count("id"))
    assert len(per_item) == 40 and {row["n"] for row in per_item} == {1}
    assert members(group) == set()
    assert AuditEvent.objects.filter(action="instance.applied").count() == 1


def test_the_nudged_task_applies_a_confirmed_instance_and_ignores_unknown_ids(admin_user, falcon):
    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    apply_request(admin_user, instance)
    apply_instance(instance.pk)
    apply_instance(instance.pk)  # delivered twice: nothing more happens
    apply_instance(0)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.APPLIED
    assert GrantRevocation.objects.count() == 1


def tier0(*holders):
    """Role-assignable group Tier 0 holding Global Administrator, with these members."""
    group = GroupFactory(name="Tier 0", is_role_assignable=True)
    add_members(group, *holders)
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, group=group)
    return group


def test_denying_every_holder_through_a_group_too_keeps_one(admin_user, other_reviewer):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    bob = UserFactory()
    group = tier0(bob)
    assert set(global_admin_holders().values_list("pk", flat=True)) == {admin_user.pk, bob.pk}
    instance = role_review(admin_user, role, other_reviewer, {admin_user: DENY, group: DENY})
    assert apply_preview(instance).outcomes == {Outcome.LAST_ADMIN: 1, Outcome.REMOVE: 1}
    apply_now(admin_user, instance)
    assert item_of(instance, admin_user).apply_detail.startswith("the last active Global")
    assert item_of(instance, group).apply_result == ApplyResult.APPLIED
    assert list(global_admin_holders().values_list("pk", flat=True)) == [admin_user.pk]


def test_denying_the_group_of_the_only_holders_keeps_the_group(admin_user, other_reviewer):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    bob, carol = UserFactory(), UserFactory()
    group = tier0(bob, carol)
    instance = role_review(admin_user, role, other_reviewer, {group: DENY})
    RoleAssignment.objects.filter(user=admin_user).delete()
    assert apply_preview(instance).outcomes == {Outcome.LAST_ADMIN: 1}
    apply_now(admin_user, instance)
    assert item_of(instance, group).apply_result == ApplyResult.NOT_SUPPORTED
    assert set(global_admin_holders().values_list("pk", flat=True)) == {bob.pk, carol.pk}


def test_a_holder_keeping_the_role_through_the_group_lets_the_direct_one_go(
    admin_user, other_reviewer
):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    bob = UserFactory()
    tier0(bob)
    instance = role_review(admin_user, role, other_reviewer, {admin_user: DENY})
    assert apply_preview(instance).outcomes == {Outcome.REMOVE: 1}
    apply_now(admin_user, instance)
    assert list(global_admin_holders().values_list("pk", flat=True)) == [bob.pk]


def guest_review_of_admins(creator):
    """Two guests denied in a block-then-delete review of Partners, both holding Global
    Administrator (handed to them after the review was defined), the creator no longer."""
    group = GroupFactory(name="Partners")
    g1, g2 = GuestFactory(), GuestFactory()
    add_members(group, g1, g2)
    instance = completed_review(
        creator,
        {g1: DENY, g2: DENY},
        groups=[group],
        principal_scope=PrincipalScope.GUESTS_ONLY,
        denied_guest_action=DeniedGuestAction.DISABLE_AND_DELETE,
    )
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=g1)
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=g2)
    RoleAssignment.objects.filter(user=creator).delete()
    return instance, g1, g2


def test_blocking_guests_never_disables_the_last_global_administrators(admin_user):
    instance, g1, g2 = guest_review_of_admins(admin_user)
    assert apply_preview(instance).outcomes == {Outcome.LAST_ADMIN: 1, Outcome.BLOCK_GUEST: 1}
    apply_now(admin_user, instance)
    first, second = sorted([g1, g2], key=lambda g: item_of(instance, g).pk)
    assert item_of(instance, first).apply_result == ApplyResult.NOT_SUPPORTED
    assert list(global_admin_holders().values_list("pk", flat=True)) == [first.pk]
    second.refresh_from_db()
    assert not second.is_active


def test_preview_and_apply_keep_the_same_admin_across_chunks(admin_user, other_reviewer, settings):
    settings.APPLY_CHUNK_SIZE = 1
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    second = UserFactory()
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=second)
    instance = role_review(admin_user, role, other_reviewer, {admin_user: DENY, second: DENY})
    preview = apply_preview(instance)
    (kept,) = [item for item in preview.protected if item.outcome == Outcome.LAST_ADMIN]
    apply_now(admin_user, instance)
    assert DecisionItem.objects.get(pk=kept.pk).apply_result == ApplyResult.NOT_SUPPORTED
    assert list(global_admin_holders().values_list("pk", flat=True)) == [kept.principal_id]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_two_instances_applied_at_once_keep_one_global_administrator(
    admin_user, other_reviewer, monkeypatch
):
    role = builtin_role(BuiltinRole.GLOBAL_ADMINISTRATOR)
    second = UserFactory()
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=second)
    one = role_review(admin_user, role, other_reviewer, {admin_user: DENY}, name="One")
    two = role_review(admin_user, role, other_reviewer, {second: DENY}, name="Two")
    for instance in (one, two):
        apply_request(admin_user, instance)
    # Both decide, then both revoke: without the tenant-wide lock each keeps "the other" one.
    # With it the second waits at the lock, the first gives up waiting and commits.
    barrier, revoke = threading.Barrier(2, timeout=3), apply_service._revoke

    def meet_then_revoke(*args):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return revoke(*args)

    monkeypatch.setattr(apply_service, "_revoke", meet_then_revoke)
    errors = []

    def run(instance):
        try:
            assert apply_service.instance_apply(instance, AFTER) is True
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert global_admin_holders().count() == 1


def test_a_failing_verification_after_applied_is_not_an_apply_failure(
    admin_user, falcon, monkeypatch
):
    from accessreviews.services import verify

    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    apply_request(admin_user, instance)

    def broken(*args, **kwargs):
        raise RuntimeError("verification broke")

    monkeypatch.setattr(verify, "verification_update", broken)
    assert apply_service.instance_apply(instance, AFTER) is True
    instance.refresh_from_db()
    assert (instance.status, instance.attempts, instance.last_error) == (
        InstanceStatus.APPLIED,
        0,
        "",
    )
    assert p["bob"].pk not in members(group)
    assert instance.reverify_due_at == AFTER  # the tick verifies it again


def test_a_verification_failing_halfway_rolls_back_alone_and_applied_stands(
    admin_user, falcon, monkeypatch
):
    from accessreviews.services import verify

    group, _, p = falcon
    instance = completed_review(admin_user, {p["bob"]: DENY}, groups=[group])
    apply_request(admin_user, instance)

    def half_done(instance):
        DecisionItem.objects.filter(instance=instance).update(verification="half written")
        raise RuntimeError("verification broke halfway")

    monkeypatch.setattr(verify, "_mark_remaining_access", half_done)
    assert apply_service.instance_apply(instance, AFTER) is True
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.APPLIED
    bob = item_of(instance, p["bob"])
    assert (bob.apply_result, bob.verification) == (ApplyResult.APPLIED, "access removed")


def test_blocking_says_which_guests_were_deleted_or_blocked_already(admin_user, falcon):
    group, _, _ = falcon
    gus, gina, gail = (GuestFactory(display_name=n) for n in ("Gus", "Gina", "Gail"))
    add_members(group, gus, gina, gail)
    instance = completed_review(
        admin_user,
        {gus: DENY, gina: DENY, gail: DENY},
        groups=[group],
        principal_scope=PrincipalScope.GUESTS_ONLY,
        denied_guest_action=DeniedGuestAction.DISABLE_AND_DELETE,
    )
    services.user_tombstone(admin_user, gina)
    guests.users_block_sign_in(None, User.objects.filter(pk=gail.pk), END)
    apply_now(admin_user, instance)
    results = {
        g.display_name: (item_of(instance, g).apply_result, item_of(instance, g).apply_detail)
        for g in (gus, gina, gail)
    }
    assert results["Gina"] == (ApplyResult.NOT_FOUND, "the account was already deleted")
    assert results["Gail"][0] == ApplyResult.APPLIED
    assert results["Gail"][1].startswith("sign-in was blocked already")
    assert results["Gus"][1].startswith("sign-in blocked; the account is deleted on 2027-01-14")
    gail.refresh_from_db()
    assert gail.deletion_scheduled_at == END + guests.DELETE_AFTER  # the earlier date stays

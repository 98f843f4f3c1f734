"""The preflight's figures per resource, on a small directory built with factories."""

import datetime as dt

import pytest
from django.utils import timezone

from accessreviews import preflight
from accessreviews.choices import PrincipalScope, ReviewerType, ScopeType
from accessreviews.drafts import StageDraft
from directory.models import BuiltinRole, GroupKind, GroupSource, MembershipType, RoleAssignmentKind
from tests.accessreviews.factories import group_review_draft
from tests.factories import (
    ApplicationFactory,
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


@pytest.fixture
def tenant(db):
    """Falcon: owner Olivia (also a member), Ben (no manager), Gus (guest), and the nested
    Contractors with Carl. Orphans: no owner. Everyone: dynamic. Legacy: synced."""
    boss = UserFactory(display_name="Boss")
    olivia = UserFactory(display_name="Olivia Owner", manager=boss)
    ben = UserFactory(display_name="Ben NoManager")
    gus = GuestFactory(display_name="Gus Guest", manager=boss)
    carl = UserFactory(display_name="Carl Contractor", manager=boss)
    falcon = GroupFactory(name="Falcon")
    contractors = GroupFactory(name="Contractors")
    nest(falcon, contractors)
    add_members(falcon, olivia, ben, gus)
    add_members(contractors, carl)
    add_owners(falcon, olivia)
    orphans = GroupFactory(name="Orphans")
    add_members(orphans, ben)
    everyone = GroupFactory(name="Everyone", membership_type=MembershipType.DYNAMIC)
    add_members(everyone, ben, carl)
    add_owners(everyone, boss)
    legacy = GroupFactory(name="Legacy", source=GroupSource.ON_PREMISES)
    add_members(legacy, gus)
    add_owners(legacy, boss)
    return locals()


def rows_by_name(draft):
    return {row.name: row for row in preflight.preflight(draft).rows}


def test_a_group_counts_every_member_at_any_depth_and_flags_the_nested_ones(tenant):
    falcon = rows_by_name(group_review_draft([tenant["falcon"]]))["Falcon"]

    assert falcon.principals == 4
    assert falcon.indirect == 1 and falcon.apply_cannot_remove == 1
    assert falcon.owners == 1


def test_an_owner_who_is_also_a_member_would_review_themselves(tenant):
    falcon = rows_by_name(group_review_draft([tenant["falcon"]]))["Falcon"]

    assert falcon.self_reviewers == 1


def test_selected_reviewers_among_the_principals_are_counted(tenant):
    stage = StageDraft(
        reviewer_type=ReviewerType.SELECTED,
        reviewer_user_ids=[tenant["ben"].pk],
        reviewer_group_ids=[tenant["contractors"].pk],
    )
    draft = group_review_draft([tenant["falcon"]], stages=[stage])

    assert rows_by_name(draft)["Falcon"].self_reviewers == 2  # Ben, and Carl via Contractors


def test_users_without_a_manager_are_counted_when_managers_review(tenant):
    managers = group_review_draft(
        [tenant["falcon"]], stages=[StageDraft(reviewer_type=ReviewerType.MANAGERS)]
    )
    owners = group_review_draft([tenant["falcon"]])

    assert rows_by_name(managers)["Falcon"].without_manager == 1
    assert rows_by_name(owners)["Falcon"].without_manager == 0
    assert preflight.preflight(managers).managers_review


def test_a_group_without_owners_needs_an_acknowledgement_unless_a_fallback_is_set(tenant):
    draft = group_review_draft([tenant["falcon"], tenant["orphans"]])
    guarded = group_review_draft(
        [tenant["orphans"]], stages=[StageDraft(fallback_user_ids=[tenant["boss"].pk])]
    )

    figures = preflight.preflight(draft)

    assert figures.needs_acknowledgement
    assert figures.warnings == [
        "Orphans has no owner, owners review, and no fallback reviewer is set: their items "
        "will have no reviewer."
    ]
    assert not preflight.preflight(guarded).needs_acknowledgement


def test_dynamic_and_synced_groups_cannot_lose_anyone_by_apply(tenant):
    rows = rows_by_name(group_review_draft([tenant["everyone"], tenant["legacy"]]))

    assert rows["Everyone"].unmanaged_reason == "Dynamic membership"
    assert rows["Everyone"].apply_cannot_remove == 2
    assert rows["Legacy"].unmanaged_reason == "Synced from on-premises"


def test_guests_only_counts_guests(tenant):
    draft = group_review_draft([tenant["falcon"]], principal_scope=PrincipalScope.GUESTS_ONLY)

    assert rows_by_name(draft)["Falcon"].principals == 1


def test_inactive_only_counts_people_without_a_recent_sign_in_created_before_the_window(tenant):
    now = timezone.now()
    old = now - dt.timedelta(days=400)
    for name in ("olivia", "ben", "gus", "carl"):
        tenant[name].created_at = old
        tenant[name].last_sign_in_at = now - dt.timedelta(days=1)
        tenant[name].save()
    tenant["ben"].last_sign_in_at = now - dt.timedelta(days=200)
    tenant["ben"].save()
    tenant["carl"].last_sign_in_at = None
    tenant["carl"].created_at = now - dt.timedelta(days=10)  # new: not inactive yet
    tenant["carl"].save()

    draft = group_review_draft([tenant["falcon"]], inactive_days=90)

    assert rows_by_name(draft)["Falcon"].principals == 1


def test_application_assignees_through_a_group_cannot_be_removed_by_apply(tenant):
    payroll = ApplicationFactory(name="Payroll")
    role = AppRoleFactory(application=payroll)
    assign_app(role, user=tenant["ben"])
    assign_app(role, group=tenant["contractors"])
    draft = group_review_draft(
        [],
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[payroll.pk],
        stages=[StageDraft(reviewer_type=ReviewerType.APPLICATION_OWNERS)],
    )

    row = rows_by_name(draft)["Payroll"]

    assert (row.principals, row.indirect, row.owners) == (2, 1, 0)
    assert preflight.preflight(draft).needs_acknowledgement


def test_a_role_review_counts_the_chosen_assignment_kinds(tenant):
    role = builtin_role(BuiltinRole.USER_ADMINISTRATOR)
    assign_role(BuiltinRole.USER_ADMINISTRATOR, user=tenant["ben"])
    assign_role(
        BuiltinRole.USER_ADMINISTRATOR, user=tenant["carl"], kind=RoleAssignmentKind.ELIGIBLE
    )
    helpdesk = GroupFactory(name="Helpdesk", is_role_assignable=True)
    assign_role(BuiltinRole.USER_ADMINISTRATOR, group=helpdesk)

    def draft(kinds):
        return group_review_draft(
            [],
            scope_type=ScopeType.ROLE_ASSIGNEES,
            role_ids=[role.pk],
            role_assignment_scope=kinds,
            stages=[StageDraft(reviewer_type=ReviewerType.SELF)],
        )

    both = rows_by_name(draft("both"))["User Administrator"]
    assert (both.principals, both.groups) == (3, 1)
    assert rows_by_name(draft("eligible"))["User Administrator"].principals == 1


def test_all_groups_with_guests_finds_assigned_microsoft_365_groups_with_a_guest(tenant):
    teams = GroupFactory(name="Teams site", kind=GroupKind.MICROSOFT_365)
    add_members(teams, tenant["gus"], tenant["ben"])
    skipped = GroupFactory(name="Skipped", kind=GroupKind.MICROSOFT_365)
    add_members(skipped, tenant["gus"])
    dynamic = GroupFactory(
        name="Dynamic M365", kind=GroupKind.MICROSOFT_365, membership_type=MembershipType.DYNAMIC
    )
    add_members(dynamic, tenant["gus"])
    draft = group_review_draft(
        [],
        scope_type=ScopeType.ALL_GROUPS_WITH_GUESTS,
        principal_scope=PrincipalScope.GUESTS_ONLY,
        excluded_group_ids=[skipped.pk],
        stages=[StageDraft(fallback_user_ids=[tenant["boss"].pk])],
    )

    rows = rows_by_name(draft)

    assert list(rows) == ["Teams site"] and rows["Teams site"].principals == 1


def test_the_preflight_stops_at_fifty_resources_and_says_how_many(tenant):
    groups = GroupFactory.create_batch(52)

    figures = preflight.preflight(group_review_draft(groups))

    assert len(figures.rows) == 50 and figures.total == 52 and figures.capped


def test_the_calendar_shows_both_zones(tenant):
    draft = group_review_draft([tenant["falcon"]])

    rows = preflight.calendar(draft, "America/New_York")

    assert len(rows) == 12
    assert rows[0].start == "Tue 1 Dec 2026, 09:00" and rows[0].end == "Tue 15 Dec 2026, 09:00"
    assert rows[0].viewer_start == "Tue 1 Dec 2026, 03:00"

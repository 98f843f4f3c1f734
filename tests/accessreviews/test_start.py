"""Starting due occurrences: items, links, assignments, messages, audit, idempotence."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count
from django.urls import reverse

from accessreviews import schedule
from accessreviews.choices import PrincipalScope, ReviewerType, ScopeType
from accessreviews.drafts import StageDraft
from accessreviews.models import (
    DecisionItem,
    ItemReviewer,
    ReviewDefinition,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import InstanceStatus, Recommendation, StageStatus
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import (
    StartCounts,
    instance_start,
    instances_start_due,
    occurrence_create_due,
)
from accessreviews.snapshot import definition_snapshot
from accessreviews.tasks import tick
from directory.models import AuditEvent, GroupMembership, User
from directory.models.groups import GroupKind, MembershipType
from notifications.models import Message
from tests.accessreviews.factories import group_review_draft
from tests.accessreviews.running import opens_panel
from tests.factories import GroupFactory, GuestFactory, UserFactory, add_members, add_owners, nest

pytestmark = pytest.mark.django_db

UTC = dt.UTC
CREATED = dt.datetime(2025, 1, 1, tzinfo=UTC)
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)  # when the definitions are created
# Paris 2026-12-01 09:00 is 08:00 UTC: the first occurrence's start
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = START + dt.timedelta(hours=1)


def person(name, **fields):
    fields.setdefault("created_at", CREATED)
    fields.setdefault("last_sign_in_at", START - dt.timedelta(days=2))
    return UserFactory(display_name=name, **fields)


def create(actor, groups, **changes):
    return definition_create(actor, group_review_draft(groups, **changes), now=BEFORE)


@pytest.fixture
def team(db):
    """Group Falcon: Alice directly; Bob and Carol through the nested group Contractors."""
    falcon = GroupFactory(name="Falcon")
    contractors = GroupFactory(name="Contractors")
    nest(falcon, contractors)
    people = {
        "alice": person("Alice Active"),
        "bob": person("bob Stale", last_sign_in_at=dt.datetime(2026, 9, 1, tzinfo=UTC)),
        "carol": person("Carol New", created_at=START - dt.timedelta(days=5), last_sign_in_at=None),
        "owner": person("Oscar Owner"),
        "fallback": person("Fiona Fallback"),
    }
    add_members(falcon, people["alice"])
    add_members(contractors, people["bob"], people["carol"])
    add_owners(falcon, people["owner"])
    return falcon, contractors, people


def stage(**fields):
    return [StageDraft(**fields)]


def links(instance):
    return {
        (link.item.principal_id, link.reviewer_id, link.reason)
        for link in ItemReviewer.objects.filter(item__instance=instance).select_related("item")
    }


def test_a_group_review_snapshots_items_paths_and_recommendations(admin_user, team):
    falcon, contractors, people = team
    definition = create(
        admin_user, [falcon], stages=stage(fallback_user_ids=[people["fallback"].pk])
    )
    counts = instances_start_due(NOW)
    assert counts.instances == 1
    instance = ReviewInstance.objects.get(definition=definition)
    assert instance.status == InstanceStatus.IN_PROGRESS
    assert instance.current_stage == 1
    assert (instance.start_at, instance.occurrence_start) == (START, START)
    assert instance.end_at == START + dt.timedelta(days=14)
    assert instance.resource_name == "Falcon"
    snapshot = instance.settings_snapshot
    assert snapshot["scope"]["group_ids"] == [falcon.pk]
    assert snapshot["stages"][0]["fallback_user_ids"] == [people["fallback"].pk]
    assert snapshot["stages"][0]["reviewer_type"] == ReviewerType.GROUP_OWNERS
    assert snapshot["settings"]["recommendation_look_back_days"] == 30
    (only_stage,) = ReviewStage.objects.filter(instance=instance)
    assert (only_stage.status, only_stage.start_at, only_stage.end_at) == (
        StageStatus.IN_PROGRESS,
        START,
        instance.end_at,
    )
    items = {i.principal_id: i for i in DecisionItem.objects.filter(instance=instance)}
    alice, bob, carol = (people[k] for k in ("alice", "bob", "carol"))
    assert set(items) == {alice.pk, bob.pk, carol.pk}
    assert (items[alice.pk].access_path, items[alice.pk].via_group_id) == ("direct", None)
    assert (items[bob.pk].access_path, items[bob.pk].via_group_id) == ("nested", contractors.pk)
    assert items[bob.pk].via_group_name == "Contractors"
    assert items[bob.pk].principal_name == "bob Stale"
    assert items[bob.pk].sort_key == "bob stale"
    assert items[bob.pk].principal_upn == bob.user_principal_name
    assert items[bob.pk].principal_email == bob.email
    assert items[bob.pk].principal_user_type == "Member"
    assert items[alice.pk].recommendation == Recommendation.APPROVE
    assert items[bob.pk].recommendation == Recommendation.DENY
    assert items[bob.pk].last_sign_in_at == dt.datetime(2026, 9, 1, tzinfo=UTC)
    assert items[carol.pk].recommendation == Recommendation.NO_INFO
    assert len({i.uuid for i in items.values()}) == 3
    event = AuditEvent.objects.get(action="instance.started")
    assert event.details["items"] == 3
    assert event.object_id


def test_owners_review_and_counters_equal_a_recount(admin_user, team):
    falcon, _, people = team
    create(admin_user, [falcon])
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    owner = people["owner"]
    assert links(instance) == {(people[k].pk, owner.pk, "owner") for k in ("alice", "bob", "carol")}
    recount = dict(
        ItemReviewer.objects.filter(item__instance=instance)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
    )
    assignments = ReviewerAssignment.objects.filter(stage__instance=instance)
    assert {a.reviewer_id: (a.total, a.pending) for a in assignments} == {
        r: (n, n) for r, n in recount.items()
    }


def test_a_member_who_owns_the_group_never_reviews_themselves_and_falls_back(admin_user, team):
    falcon, _, people = team
    add_members(falcon, people["owner"])
    create(admin_user, [falcon], stages=stage(fallback_user_ids=[people["fallback"].pk]))
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    owner, fallback = people["owner"], people["fallback"]
    assert (owner.pk, owner.pk, "owner") not in links(instance)
    assert (owner.pk, fallback.pk, "fallback") in links(instance)
    assert (people["alice"].pk, fallback.pk, "fallback") not in links(instance)


def test_a_disabled_owner_is_replaced_by_the_fallback(admin_user, team):
    falcon, _, people = team
    User.objects.filter(pk=people["owner"].pk).update(is_active=False)
    pending_guest = GuestFactory(guest_invitation_accepted=False)
    add_owners(falcon, pending_guest)
    create(admin_user, [falcon], stages=stage(fallback_user_ids=[people["fallback"].pk]))
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    reviewers = {reviewer for _, reviewer, _ in links(instance)}
    assert reviewers == {people["fallback"].pk}
    assert {reason for *_, reason in links(instance)} == {"fallback"}


def test_managers_and_self_review(admin_user, team):
    falcon, _, people = team
    manager = person("Mona Manager")
    User.objects.filter(pk=people["alice"].pk).update(manager=manager)
    fallback = people["fallback"]
    create(
        admin_user,
        [falcon],
        stages=stage(reviewer_type=ReviewerType.MANAGERS, fallback_user_ids=[fallback.pk]),
    )
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    assert links(instance) == {
        (people["alice"].pk, manager.pk, "manager"),
        (people["bob"].pk, fallback.pk, "fallback"),
        (people["carol"].pk, fallback.pk, "fallback"),
    }

    second = GroupFactory(name="Second")
    add_members(second, people["alice"], people["bob"])
    create(admin_user, [second], stages=stage(reviewer_type=ReviewerType.SELF))
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    assert links(instance) == {
        (people["alice"].pk, people["alice"].pk, "self"),
        (people["bob"].pk, people["bob"].pk, "self"),
    }


def test_selected_reviewers_include_direct_members_of_reviewer_groups(admin_user, team):
    falcon, _, people = team
    reviewers = GroupFactory(name="Reviewers")
    rita = person("Rita Reviewer")
    add_members(reviewers, rita, people["alice"])
    create(
        admin_user,
        [falcon],
        stages=stage(
            reviewer_type=ReviewerType.SELECTED,
            reviewer_user_ids=[people["owner"].pk],
            reviewer_group_ids=[reviewers.pk],
            fallback_user_ids=[people["fallback"].pk],
        ),
    )
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    alice = people["alice"].pk
    by_item = {}
    for item, reviewer, _ in links(instance):
        by_item.setdefault(item, set()).add(reviewer)
    assert by_item[alice] == {people["owner"].pk, rita.pk}  # never herself
    assert by_item[people["bob"].pk] == {people["owner"].pk, rita.pk, alice}


def test_messages_are_created_once_per_reviewer(admin_user, team, client):
    falcon, _, people = team
    add_owners(falcon, people["fallback"])
    definition = create(admin_user, [falcon], description_for_reviewers="Check Falcon")
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    messages = Message.objects.filter(kind="review_started")
    assert sorted(m.recipient_id for m in messages) == sorted(
        [people["owner"].pk, people["fallback"].pk]
    )
    context = messages[0].context
    assert context["item_count"] == 3
    assert context["review_name"] == definition.name
    assert context["resource_name"] == "Falcon"
    assert context["due_at"] == "2026-12-15T08:00:00Z"
    # The reviewer's own stage, not the admins' instance page (a 404 for a reviewer).
    assert context["link"] == reverse("accessreviews:review-open", args=[instance.uuid])
    assert all(opens_panel(client, m) for m in messages)
    assert context["reviewer_description"] == "Check Falcon"
    assert messages[0].dedupe_key.startswith(f"review-started:{instance.pk}:1:")


def test_starting_twice_and_ticking_twice_creates_nothing_more(admin_user, team):
    falcon, _, _ = team
    definition = create(admin_user, [falcon])
    tick(now=NOW)
    tick(now=NOW)
    assert instances_start_due(NOW).instances == 0
    assert ReviewInstance.objects.count() == 1
    assert DecisionItem.objects.count() == 3
    assert Message.objects.filter(kind="review_started").count() == 1
    assert AuditEvent.objects.filter(action="instance.started").count() == 1
    definition.refresh_from_db()
    assert definition.next_occurrence_index == 1
    assert definition.next_occurrence_at == dt.datetime(2027, 1, 1, 8, 0, tzinfo=UTC)


def test_a_duplicate_start_is_refused_by_the_unique_constraint(admin_user, team):
    falcon, _, _ = team
    definition = create(admin_user, [falcon])
    instances_start_due(NOW)
    ReviewDefinition.objects.filter(pk=definition.pk).update(
        next_occurrence_index=0, next_occurrence_at=START
    )
    counts = instances_start_due(NOW)
    assert (counts.instances, counts.duplicates) == (0, 1)
    assert ReviewInstance.objects.count() == 1


@pytest.mark.parametrize("size", [3, 60])
def test_the_start_is_a_fixed_number_of_queries_whatever_the_size(
    admin_user, size, django_assert_num_queries
):
    group = GroupFactory(name="Big")
    owner = person("Owner")
    add_owners(group, owner)
    members = [person(f"Member {i}", manager=owner) for i in range(size)]
    add_members(group, *members)
    definition = create(admin_user, [group], stages=stage(fallback_user_ids=[owner.pk]))
    occurrence = schedule.occurrence(definition.schedule(), 0)
    snapshot = definition_snapshot(definition)
    connection.features.supports_json_field  # noqa: B018 - SQLite's one-off feature probe
    # The same count for 3 and 60 members (the parametrisation pins both), never a query per
    # member: savepoint, resource name, instance, stages, items, stage id, owner links,
    # fallback links, assignments, messages, status, audit (head, insert), release;
    # PostgreSQL adds the audit chain's advisory lock.
    with django_assert_num_queries(14 + (connection.vendor == "postgresql")):
        instance_start(definition, occurrence, "group", group.pk, snapshot=snapshot)
    assert DecisionItem.objects.count() == size


def test_all_groups_with_guests_finds_only_eligible_groups(admin_user):
    guest = GuestFactory(created_at=CREATED)
    member = person("Member")
    m365 = dict(kind=GroupKind.MICROSOFT_365)
    eligible = GroupFactory(name="Eligible", **m365)
    security = GroupFactory(name="Security")
    dynamic = GroupFactory(name="Dynamic", membership_type=MembershipType.DYNAMIC, **m365)
    role_assignable = GroupFactory(name="Roles", is_role_assignable=True, **m365)
    excluded = GroupFactory(name="Excluded", **m365)
    no_guests = GroupFactory(name="No guests", **m365)
    for group in (eligible, security, dynamic, role_assignable, excluded):
        add_members(group, guest, member)
    add_members(no_guests, member)
    create(
        admin_user,
        [],
        scope_type=ScopeType.ALL_GROUPS_WITH_GUESTS,
        principal_scope=PrincipalScope.GUESTS_ONLY,
        excluded_group_ids=[excluded.pk],
        stages=stage(fallback_user_ids=[admin_user.pk]),
    )
    instances_start_due(NOW)
    (instance,) = ReviewInstance.objects.all()
    assert instance.resource_id == eligible.pk
    assert list(instance.items.values_list("principal_id", flat=True)) == [guest.pk]


def test_an_empty_group_completes_at_once(admin_user):
    empty = GroupFactory(name="Empty")
    create(admin_user, [empty])
    instances_start_due(NOW)
    instance = ReviewInstance.objects.get()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.completed_at is not None
    assert not Message.objects.exists()
    assert not GroupMembership.objects.exists()


def test_missed_occurrences_are_skipped_and_audited(admin_user, team):
    falcon, _, _ = team
    definition = create(admin_user, [falcon])
    late = dt.datetime(2027, 3, 2, 9, 0, tzinfo=UTC)  # Dec, Jan, Feb closed; Mar 1 is open
    counts = instances_start_due(late)
    assert (counts.instances, counts.skipped_occurrences) == (1, 3)
    event = AuditEvent.objects.get(action="definition.occurrences_skipped")
    assert event.details == {
        "count": 3,
        "first": "2026-12-01T08:00:00Z",
        "last": "2027-02-01T08:00:00Z",
    }
    instance = ReviewInstance.objects.get()
    assert instance.occurrence_index == 3
    definition.refresh_from_db()
    assert definition.next_occurrence_index == 4


def test_inactive_days_and_guests_only_filter_items(admin_user, team):
    falcon, _, people = team
    guest = GuestFactory(created_at=CREATED, last_sign_in_at=None)
    add_members(falcon, guest)
    create(admin_user, [falcon], inactive_days=60)
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    assert set(instance.items.values_list("principal_id", flat=True)) == {
        people["bob"].pk,
        guest.pk,
    }
    create(admin_user, [falcon], principal_scope=PrincipalScope.GUESTS_ONLY)
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    assert list(instance.items.values_list("principal_id", flat=True)) == [guest.pk]


def test_an_application_review_recommends_from_sign_ins_to_that_application(admin_user):
    from directory.models import ApplicationOwner, ApplicationSignIn
    from tests.factories import AppRoleFactory, assign_app

    role = AppRoleFactory()
    app = role.application
    owner = person("App Owner")
    ApplicationOwner.objects.create(application=app, user=owner)
    # Both signed in to the tenant lately; only `user` signed in to this application.
    used, unused = person("Uses It"), person("Never Uses It")
    for someone in (used, unused):
        assign_app(role, user=someone)
    ApplicationSignIn.objects.create(
        user=used, application=app, last_sign_in_at=START - dt.timedelta(days=3)
    )
    create(
        admin_user,
        [],
        scope_type=ScopeType.APPLICATION_ASSIGNEES,
        application_ids=[app.pk],
        stages=stage(reviewer_type=ReviewerType.APPLICATION_OWNERS),
    )
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    recommendations = dict(instance.items.values_list("principal_id", "recommendation"))
    assert recommendations == {used.pk: Recommendation.APPROVE, unused.pk: Recommendation.DENY}
    assert links(instance) == {(used.pk, owner.pk, "owner"), (unused.pk, owner.pk, "owner")}


def test_nested_members_of_reviewer_and_fallback_groups_review(admin_user, team):
    falcon, _, people = team
    reviewers, deputies = GroupFactory(name="Reviewers"), GroupFactory(name="Deputies")
    fallbacks, backups = GroupFactory(name="Fallbacks"), GroupFactory(name="Backups")
    nest(reviewers, deputies)
    nest(fallbacks, backups)
    rita, dan = person("Rita Reviewer"), person("Dan Deputy")
    fay, ben = person("Fay Fallback"), person("Ben Backup")
    add_members(reviewers, rita)
    add_members(deputies, dan)
    add_members(fallbacks, fay)
    add_members(backups, ben)
    create(
        admin_user,
        [falcon],
        stages=stage(reviewer_type=ReviewerType.SELECTED, reviewer_group_ids=[reviewers.pk]),
    )
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    assert {reviewer for _, reviewer, _ in links(instance)} == {rita.pk, dan.pk}

    manager = person("Mona Manager")
    User.objects.filter(pk=people["alice"].pk).update(manager=manager)
    second = GroupFactory(name="Second")
    add_members(second, people["alice"], people["bob"])
    create(
        admin_user,
        [second],
        stages=stage(reviewer_type=ReviewerType.MANAGERS, fallback_group_ids=[fallbacks.pk]),
    )
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    assert links(instance) == {
        (people["alice"].pk, manager.pk, "manager"),
        (people["bob"].pk, fay.pk, "fallback"),
        (people["bob"].pk, ben.pk, "fallback"),
    }


def test_an_instance_whose_window_closed_before_it_started_is_failed_not_started(admin_user, team):
    from accessreviews.services.retry import instance_retry
    from accessreviews.services.start import StartCounts, instances_create_due

    falcon, _, _ = team
    create(admin_user, [falcon])
    instances_create_due(NOW, StartCounts())  # created, then the worker was down for weeks
    instance = ReviewInstance.objects.get()
    late = instance.end_at + dt.timedelta(minutes=1)
    counts = instances_start_due(late)
    assert (counts.instances, counts.failures) == (0, 1)
    instance.refresh_from_db()
    assert (instance.status, instance.failed_step) == (InstanceStatus.FAILED, "start")
    assert "window closed" in instance.last_error
    assert not DecisionItem.objects.filter(instance=instance).exists()
    (event,) = AuditEvent.objects.filter(action="instance.failed")
    assert event.details["error"] == instance.last_error
    assert instances_start_due(late).failures == 0  # twice: nothing more
    with pytest.raises(ValidationError, match="window has closed"):
        instance_retry(admin_user, instance, now=late)


def test_a_paused_series_instance_waits_and_starts_once_resumed(admin_user, team):
    from accessreviews.services.definitions import definition_pause, definition_resume
    from accessreviews.services.start import StartCounts, instances_create_due

    falcon, _, _ = team
    definition = create(admin_user, [falcon])
    instances_create_due(NOW, StartCounts())
    definition_pause(admin_user, definition)
    assert instances_start_due(NOW).instances == 0
    assert ReviewInstance.objects.get().status == InstanceStatus.NOT_STARTED
    definition_resume(admin_user, definition, now=NOW)
    assert instances_start_due(NOW).instances == 1
    assert ReviewInstance.objects.get().status == InstanceStatus.IN_PROGRESS


@pytest.mark.parametrize("size", [3, 30])
def test_the_claim_writes_every_resources_instance_in_a_fixed_number_of_queries(
    admin_user, size, django_assert_num_queries
):
    groups = GroupFactory.create_batch(size)
    definition = create(admin_user, groups)
    # The same for 3 and 30 groups: 1 savepoint, 2 the series, 3 its stages (the schedule),
    # 4 the claim (conditional UPDATE), 5-14 the snapshot (stages, their reviewer and fallback
    # users and groups, the scope's groups, excluded groups, applications, roles, additional
    # recipients), 15 the groups in scope, 16 their names, 17 the instances this occurrence
    # already has, 18 one INSERT of every instance, 19 release.
    with django_assert_num_queries(19):
        occurrence_create_due(definition.pk, NOW, StartCounts())
    instances = ReviewInstance.objects.filter(definition=definition)
    assert sorted(instances.values_list("resource_id", flat=True)) == sorted(g.pk for g in groups)
    assert set(instances.values_list("status", flat=True)) == {InstanceStatus.NOT_STARTED}


def test_an_instance_written_by_a_racing_writer_rolls_the_claim_back(admin_user, team, monkeypatch):
    from accessreviews.services import start

    falcon, _, _ = team
    definition = create(admin_user, [falcon])
    instances_start_due(NOW)
    ReviewDefinition.objects.filter(pk=definition.pk).update(
        next_occurrence_index=0, next_occurrence_at=START
    )
    monkeypatch.setattr(start, "started_resources", lambda *args: set())  # it missed the row
    counts = instances_start_due(NOW)
    assert counts.failures == 1  # the unique constraint refused the second instance
    assert ReviewInstance.objects.count() == 1
    definition.refresh_from_db()
    assert definition.next_occurrence_index == 0  # the claim rolled back with it

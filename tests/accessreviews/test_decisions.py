"""Recording decisions: one item, a set, a filter, recommendations; counters, history, audit."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Q

from accessreviews.choices import Decision
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    ItemReviewer,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import (
    DecisionSource,
    InstanceStatus,
    Recommendation,
    StageStatus,
)
from accessreviews.services.decisions import StageClosed, decision_record, recommendations_accept
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from directory import audit
from directory.models import AuditEvent
from tests.accessreviews.factories import group_review_draft
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

pytestmark = pytest.mark.django_db

UTC = dt.UTC
CREATED = dt.datetime(2025, 1, 1, tzinfo=UTC)
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = START + dt.timedelta(hours=1)
RECENT = START - dt.timedelta(days=2)


def person(name, **fields):
    fields.setdefault("created_at", CREATED)
    fields.setdefault("last_sign_in_at", RECENT)
    return UserFactory(display_name=name, **fields)


def start_review(actor, members, owners, **changes):
    group = GroupFactory(name="Falcon")
    add_members(group, *members)
    add_owners(group, *owners)
    definition_create(actor, group_review_draft([group], **changes), now=BEFORE)
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    stage = ReviewStage.objects.select_related("instance").get(instance=instance, ordinal=1)
    return stage


def items_of(stage):
    return {i.principal_id: i for i in DecisionItem.objects.filter(instance=stage.instance)}


def counters(stage):
    return {
        a.reviewer_id: (a.total, a.pending) for a in ReviewerAssignment.objects.filter(stage=stage)
    }


def recount(stage):
    links = ItemReviewer.objects.filter(stage=stage)
    totals = dict(links.values_list("reviewer_id").annotate(n=Count("id")))
    decided = dict(
        links.exclude(item__stage_decision=Decision.NOT_REVIEWED)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
    )
    return {r: (n, n - decided.get(r, 0)) for r, n in totals.items()}


@pytest.fixture
def review(admin_user):
    """Falcon: Alice (recent sign-in: Approve), Bob (stale: Deny), Carol (new: NoInfoAvailable),
    reviewed by its two owners Oscar and Olivia."""
    people = {
        "alice": person("Alice Active"),
        "bob": person("Bob Stale", last_sign_in_at=dt.datetime(2026, 9, 1, tzinfo=UTC)),
        "carol": person("Carol New", created_at=START - dt.timedelta(days=5), last_sign_in_at=None),
        "oscar": person("Oscar Owner"),
        "olivia": person("Olivia Owner"),
    }
    stage = start_review(
        admin_user,
        [people[k] for k in ("alice", "bob", "carol")],
        [people["oscar"], people["olivia"]],
    )
    return stage, people


def test_one_item(review):
    stage, people = review
    oscar = people["oscar"]
    alice = items_of(stage)[people["alice"].pk]
    assert decision_record(oscar, stage, Decision.APPROVE, items=[alice.pk]) == 1
    alice.refresh_from_db()
    assert (alice.decision, alice.stage_decision, alice.decision_source) == (
        Decision.APPROVE,
        Decision.APPROVE,
        DecisionSource.REVIEWER,
    )
    assert alice.reviewed_by_id == oscar.pk
    assert alice.reviewed_at is not None
    assert alice.version == 1
    assert counters(stage) == {oscar.pk: (3, 2), people["olivia"].pk: (3, 2)}
    # The same decision again changes nothing (no history, no event).
    events = AuditEvent.objects.count()
    assert decision_record(oscar, stage, Decision.APPROVE, items=[alice.pk]) == 0
    assert AuditEvent.objects.count() == events
    assert DecisionHistory.objects.count() == 1


def test_a_set_of_items(review):
    stage, people = review
    items = items_of(stage)
    ids = [items[people[k].pk].pk for k in ("alice", "bob")]
    assert decision_record(people["olivia"], stage, Decision.DENY, items=ids) == 2
    assert set(
        DecisionItem.objects.filter(decision=Decision.DENY).values_list("pk", flat=True)
    ) == set(ids)
    assert (
        counters(stage)
        == recount(stage)
        == {
            people["oscar"].pk: (3, 1),
            people["olivia"].pk: (3, 1),
        }
    )


def test_a_filter_is_evaluated_at_call_time(review):
    stage, people = review
    stale = Q(recommendation=Recommendation.DENY)
    carol = items_of(stage)[people["carol"].pk]
    # Carol's recommendation changes after the filter was built: the call sees the new value.
    DecisionItem.objects.filter(pk=carol.pk).update(recommendation=Recommendation.DENY)
    assert decision_record(people["oscar"], stage, Decision.DENY, item_filter=stale) == 2
    denied = set(
        DecisionItem.objects.filter(decision=Decision.DENY).values_list("principal_id", flat=True)
    )
    assert denied == {people["bob"].pk, people["carol"].pk}


def test_the_last_decision_wins_and_both_counters_move(review):
    stage, people = review
    oscar, olivia = people["oscar"], people["olivia"]
    bob = items_of(stage)[people["bob"].pk]
    decision_record(oscar, stage, Decision.APPROVE, items=[bob.pk])
    assert counters(stage) == {oscar.pk: (3, 2), olivia.pk: (3, 2)}
    decision_record(olivia, stage, Decision.DENY, items=[bob.pk], justification="left")
    bob.refresh_from_db()
    assert (bob.decision, bob.reviewed_by_id, bob.justification, bob.version) == (
        Decision.DENY,
        olivia.pk,
        "left",
        2,
    )
    assert counters(stage) == recount(stage) == {oscar.pk: (3, 2), olivia.pk: (3, 2)}
    history = list(
        DecisionHistory.objects.filter(item=bob).values_list("before", "after", "actor_id")
    )
    assert history == [
        (Decision.NOT_REVIEWED, Decision.APPROVE, oscar.pk),
        (Decision.APPROVE, Decision.DENY, olivia.pk),
    ]


def test_a_strangers_item_ids_change_nothing(review, outsider):
    stage, people = review
    ids = [i.pk for i in items_of(stage).values()]
    before = AuditEvent.objects.count()
    assert decision_record(outsider, stage, Decision.DENY, items=ids) == 0
    assert decision_record(outsider, stage, Decision.DENY, item_filter=Q()) == 0
    assert recommendations_accept(outsider, stage) == 0
    assert not DecisionItem.objects.exclude(decision=Decision.NOT_REVIEWED).exists()
    assert not DecisionHistory.objects.exists()
    assert AuditEvent.objects.count() == before
    assert counters(stage) == recount(stage)


def test_a_reviewer_never_decides_their_own_item_without_a_self_link(review):
    stage, people = review
    oscar = people["oscar"]
    alice = items_of(stage)[people["alice"].pk]
    # A link that should not exist (the start excludes it): the guard still refuses.
    DecisionItem.objects.filter(pk=alice.pk).update(principal_id=oscar.pk)
    assert decision_record(oscar, stage, Decision.APPROVE, items=[alice.pk]) == 0
    assert decision_record(people["olivia"], stage, Decision.APPROVE, items=[alice.pk]) == 1


def test_a_closed_stage_raises_and_changes_nothing(review):
    stage, people = review
    ids = [i.pk for i in items_of(stage).values()]
    ReviewStage.objects.filter(pk=stage.pk).update(status=StageStatus.COMPLETED)
    with pytest.raises(StageClosed):
        decision_record(people["oscar"], stage, Decision.APPROVE, items=ids)
    ReviewStage.objects.filter(pk=stage.pk).update(status=StageStatus.IN_PROGRESS)
    ReviewInstance.objects.filter(pk=stage.instance_id).update(status=InstanceStatus.COMPLETED)
    with pytest.raises(StageClosed):
        recommendations_accept(people["oscar"], stage)
    assert not DecisionItem.objects.exclude(decision=Decision.NOT_REVIEWED).exists()
    assert not DecisionHistory.objects.exists()
    assert not AuditEvent.objects.filter(action="decision.recorded").exists()


def test_justification_required_and_too_long(admin_user):
    members = [person("Alice"), person("Bob")]
    owner = person("Oscar")
    stage = start_review(admin_user, members, [owner], justification_required=True)
    ids = list(DecisionItem.objects.filter(instance=stage.instance).values_list("pk", flat=True))
    for decision in (Decision.APPROVE, Decision.DENY, Decision.DONT_KNOW):
        with pytest.raises(ValidationError) as error:
            decision_record(owner, stage, decision, items=ids, justification="   ")
        assert "justification" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        decision_record(owner, stage, Decision.APPROVE, items=ids, justification="x" * 1001)
    assert "justification" in error.value.message_dict
    assert not DecisionHistory.objects.exists()
    assert decision_record(owner, stage, Decision.APPROVE, items=ids, justification="x" * 1000) == 2


def test_too_long_even_when_not_required(review):
    stage, people = review
    with pytest.raises(ValidationError) as error:
        decision_record(
            people["oscar"], stage, Decision.DENY, item_filter=Q(), justification="x" * 1001
        )
    assert "justification" in error.value.message_dict
    assert decision_record(people["oscar"], stage, Decision.DENY, item_filter=Q()) == 3


def test_accepting_recommendations_leaves_no_info_alone(review):
    stage, people = review
    oscar = people["oscar"]
    items = items_of(stage)
    assert recommendations_accept(oscar, stage) == 2
    items = items_of(stage)
    alice, bob, carol = (items[people[k].pk] for k in ("alice", "bob", "carol"))
    assert (alice.decision, alice.decision_source) == (
        Decision.APPROVE,
        DecisionSource.RECOMMENDATION,
    )
    assert (bob.decision, bob.decision_source) == (Decision.DENY, DecisionSource.RECOMMENDATION)
    assert (carol.decision, carol.decision_source) == (Decision.NOT_REVIEWED, DecisionSource.NONE)
    assert counters(stage) == recount(stage)
    # Already decided items are not NotReviewed any more: a second accept changes nothing.
    decision_record(oscar, stage, Decision.APPROVE, items=[bob.pk])
    assert recommendations_accept(people["olivia"], stage) == 0
    assert items_of(stage)[people["bob"].pk].decision == Decision.APPROVE


def test_accepting_recommendations_keeps_the_reason_and_may_require_one(admin_user):
    members = [person("Alice"), person("Bob")]
    owner = person("Oscar")
    stage = start_review(admin_user, members, [owner], justification_required=True)
    with pytest.raises(ValidationError) as error:
        recommendations_accept(owner, stage, justification="  ")
    assert "justification" in error.value.message_dict
    assert not DecisionHistory.objects.exists()
    assert not DecisionItem.objects.exclude(decision=Decision.NOT_REVIEWED).exists()

    assert recommendations_accept(owner, stage, justification=" Both sign in daily ") == 2

    for item in DecisionItem.objects.filter(instance=stage.instance):
        assert (item.decision, item.decision_source, item.justification) == (
            Decision.APPROVE,
            DecisionSource.RECOMMENDATION,
            "Both sign in daily",
        )
    assert set(DecisionHistory.objects.values_list("justification", flat=True)) == {
        "Both sign in daily"
    }


def test_history_matches_and_the_audit_chain_verifies(review):
    stage, people = review
    oscar = people["oscar"]
    decision_record(oscar, stage, Decision.DENY, item_filter=Q(), justification="quarterly")
    event = AuditEvent.objects.get(action="decision.recorded")
    assert event.details["decision"] == Decision.DENY
    assert event.details["count"] == 3
    assert event.detail_source == "accessreviews.DecisionHistory"
    assert event.detail_count == 3
    rows = DecisionHistory.objects.filter(audit_operation=event.operation)
    assert {
        (
            r.item.principal_id,
            r.before,
            r.after,
            r.source,
            r.justification,
            r.actor_id,
            r.stage_ordinal,
        )
        for r in rows
    } == {
        (
            people[k].pk,
            Decision.NOT_REVIEWED,
            Decision.DENY,
            DecisionSource.REVIEWER,
            "quarterly",
            oscar.pk,
            1,
        )
        for k in ("alice", "bob", "carol")
    }
    assert audit.verify_chain().ok
    # The digest covers exactly this operation's history rows.
    assert audit.detail_digest(event.detail_source, event.operation) == (3, event.detail_digest)


def test_counters_equal_a_recount_after_a_mix(review):
    stage, people = review
    oscar, olivia = people["oscar"], people["olivia"]
    items = items_of(stage)
    alice, bob, carol = (items[people[k].pk].pk for k in ("alice", "bob", "carol"))
    decision_record(oscar, stage, Decision.APPROVE, items=[alice])
    assert counters(stage) == recount(stage)
    recommendations_accept(olivia, stage)
    assert counters(stage) == recount(stage)
    decision_record(olivia, stage, Decision.DONT_KNOW, item_filter=Q(pk=carol))
    assert counters(stage) == recount(stage)
    decision_record(oscar, stage, Decision.DENY, items=[bob, carol], justification="why")
    assert counters(stage) == recount(stage) == {oscar.pk: (3, 0), olivia.pk: (3, 0)}
    assert audit.verify_chain().ok


@pytest.mark.parametrize("size", [3, 60])
def test_a_decision_is_a_fixed_number_of_queries(admin_user, size, django_assert_num_queries):
    owners = [person("Oscar"), person("Olivia")]
    stage = start_review(admin_user, [person(f"Member {i}") for i in range(size)], owners)
    ids = list(DecisionItem.objects.filter(instance=stage.instance).values_list("pk", flat=True))
    # The same count for 3 and 60 items (both pinned), never a query per item: savepoint,
    # open stage, history INSERT ... SELECT, item UPDATE, assignments UPDATE, audit (chain
    # head, digest rows, insert), release. PostgreSQL adds the assignments' lock and the audit
    # chain's advisory lock.
    pg = connection.vendor == "postgresql"
    with django_assert_num_queries(9 + 2 * pg):
        assert decision_record(owners[0], stage, Decision.DENY, items=ids) == size
    # Nothing left to change: savepoint, open stage, INSERT ... SELECT (0 rows), release.
    with django_assert_num_queries(4):
        assert recommendations_accept(owners[1], stage) == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_keep_counters_and_history(admin_user):
    owners = [person(f"Owner {i}") for i in range(4)]
    stage = start_review(admin_user, [person(f"Member {i}") for i in range(40)], owners)
    ids = sorted(DecisionItem.objects.filter(instance=stage.instance).values_list("pk", flat=True))
    decisions = [Decision.APPROVE, Decision.DENY, Decision.DONT_KNOW, Decision.DENY]
    errors = []

    def decide(n):
        try:
            for round_ in range(3):
                chunk = ids[n * 5 : n * 5 + 25]  # overlapping windows
                decision = decisions[(n + round_) % 4]
                decision_record(
                    owners[n], stage, decision, items=chunk, justification=f"{n}{round_}"
                )
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert counters(stage) == recount(stage)
    # Every change is in the history, chained: each item's rows link before -> after, and the
    # last row is the item's current state.
    for item in DecisionItem.objects.filter(pk__in=ids):
        rows = list(DecisionHistory.objects.filter(item=item).order_by("id"))
        state = Decision.NOT_REVIEWED
        for row in rows:
            assert row.before == state
            state = row.after
        assert state == item.decision
        assert len(rows) == item.version
    assert audit.verify_chain().ok

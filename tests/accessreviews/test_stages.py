"""Closing stages and ending instances: history, move-on, next stage, auto-review, messages."""

import datetime as dt

import pytest
from django.db.models import Count
from django.urls import reverse

from accessreviews.choices import Decision, DefaultDecision, ReviewerType
from accessreviews.drafts import StageDraft
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    DefinitionStage,
    ItemReviewer,
    ItemStageHistory,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import DecisionSource, InstanceStatus, StageStatus
from accessreviews.services.decisions import (
    StageClosed,
    decision_record,
    recommendations_accept,
)
from accessreviews.services.definitions import definition_create
from accessreviews.services.stages import instance_end, stage_close, stages_and_instances_due
from accessreviews.services.start import instances_start_due
from accessreviews.tasks import tick
from directory import audit
from directory.models import AuditEvent
from notifications.models import Message
from tests.accessreviews.factories import group_review_draft
from tests.accessreviews.running import opens_panel
from tests.factories import GroupFactory, UserFactory, add_members, add_owners, nest

pytestmark = pytest.mark.django_db

UTC = dt.UTC
CREATED = dt.datetime(2025, 1, 1, tzinfo=UTC)
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = START + dt.timedelta(hours=1)
STAGE1_END = dt.datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
END = dt.datetime(2026, 12, 15, 8, 0, tzinfo=UTC)


def person(name, **fields):
    fields.setdefault("created_at", CREATED)
    fields.setdefault("last_sign_in_at", START - dt.timedelta(days=2))
    return UserFactory(display_name=name, **fields)


@pytest.fixture
def people(db):
    return {
        name: person(name.title())
        for name in ("alice", "bob", "carol", "dave", "oscar", "sam", "rita")
    }


def define(admin_user, people, move_on=None, default=DefaultDecision.DENY):
    group = GroupFactory(name="Falcon")
    add_members(group, *(people[k] for k in ("alice", "bob", "carol", "dave")))
    add_owners(group, people["oscar"])
    first = StageDraft(duration_days=7)
    if move_on is not None:
        first.decisions_that_move_on = move_on
    second = StageDraft(
        duration_days=7, reviewer_type=ReviewerType.SELECTED, reviewer_user_ids=[people["sam"].pk]
    )
    return definition_create(
        admin_user,
        group_review_draft(
            [group],
            stages=[first, second],
            default_decision=default,
            additional_recipient_ids=[people["rita"].pk],
        ),
        now=BEFORE,
    )


def start(admin_user, people, **kwargs):
    define(admin_user, people, **kwargs)
    instance = ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])
    return instance


def stage_of(instance, ordinal):
    return ReviewStage.objects.select_related("instance").get(instance=instance, ordinal=ordinal)


def items(instance):
    by_user = {}
    for item in DecisionItem.objects.filter(instance=instance):
        by_user[item.principal_id] = item
    return by_user


def decide_stage1(instance, people):
    stage = stage_of(instance, 1)
    it = items(instance)
    oscar = people["oscar"]
    decision_record(oscar, stage, Decision.APPROVE, items=[it[people["alice"].pk].pk])
    decision_record(oscar, stage, Decision.DENY, items=[it[people["bob"].pk].pk])
    decision_record(oscar, stage, Decision.DONT_KNOW, items=[it[people["carol"].pk].pk])
    return stage


def recount(stage):
    links = ItemReviewer.objects.filter(stage=stage)
    totals = dict(links.values_list("reviewer_id").annotate(n=Count("id")))
    decided = dict(
        links.exclude(item__stage_decision=Decision.NOT_REVIEWED)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
    )
    return {r: (n, n - decided.get(r, 0)) for r, n in totals.items()}


def counters(stage):
    return {
        a.reviewer_id: (a.total, a.pending) for a in ReviewerAssignment.objects.filter(stage=stage)
    }


def state():
    """Everything the operations write, to check that a second call changes nothing."""
    return (
        list(DecisionItem.objects.order_by("pk").values()),
        list(ReviewStage.objects.order_by("pk").values()),
        list(ReviewInstance.objects.order_by("pk").values("status", "current_stage")),
        ItemStageHistory.objects.count(),
        DecisionHistory.objects.count(),
        ItemReviewer.objects.count(),
        list(ReviewerAssignment.objects.order_by("pk").values()),
        Message.objects.count(),
        AuditEvent.objects.count(),
    )


def test_the_instance_and_its_stages_line_up(admin_user, people):
    instance = start(admin_user, people)
    assert instance.end_at == END
    assert stage_of(instance, 1).end_at == STAGE1_END
    assert stage_of(instance, 2).status == StageStatus.NOT_STARTED


def test_close_moves_every_item_by_default_and_opens_stage_two(admin_user, people, client):
    instance = start(admin_user, people)
    stage1 = decide_stage1(instance, people)
    result = stage_close(stage1, STAGE1_END)
    assert result.closed and result.history == 4 and result.moved == 4
    history = {
        h.item.principal_id: (h.stage_ordinal, h.decision, h.decision_source, h.reviewed_by_id)
        for h in ItemStageHistory.objects.select_related("item")
    }
    oscar = people["oscar"].pk
    assert history == {
        people["alice"].pk: (1, Decision.APPROVE, DecisionSource.REVIEWER, oscar),
        people["bob"].pk: (1, Decision.DENY, DecisionSource.REVIEWER, oscar),
        people["carol"].pk: (1, Decision.DONT_KNOW, DecisionSource.REVIEWER, oscar),
        people["dave"].pk: (1, Decision.NOT_REVIEWED, "", None),
    }
    it = items(instance)
    assert {i.stage_ordinal for i in it.values()} == {2}
    assert {i.stage_decision for i in it.values()} == {Decision.NOT_REVIEWED}
    # The last recorded decision stays.
    assert it[people["alice"].pk].decision == Decision.APPROVE
    assert it[people["dave"].pk].decision == Decision.NOT_REVIEWED

    stage1.refresh_from_db()
    stage2 = stage_of(instance, 2)
    instance.refresh_from_db()
    assert stage1.status == StageStatus.COMPLETED
    assert (stage2.status, stage2.start_at, stage2.end_at) == (
        StageStatus.IN_PROGRESS,
        STAGE1_END,
        END,
    )
    assert instance.current_stage == 2
    sam = people["sam"].pk
    assert set(ItemReviewer.objects.filter(stage=stage2).values_list("reviewer_id", "reason")) == {
        (sam, "selected")
    }
    assert ItemReviewer.objects.filter(stage=stage2).count() == 4
    assert counters(stage2) == recount(stage2) == {sam: (4, 4)}
    messages = Message.objects.filter(kind="stage_started")
    assert [m.recipient_id for m in messages] == [sam]
    context = messages[0].context
    assert (context["stage"], context["stage_count"], context["item_count"]) == (2, 2, 4)
    assert context["due_at"] == "2026-12-15T08:00:00Z"
    assert messages[0].dedupe_key == f"stage-started:{instance.pk}:2:{sam}"
    assert opens_panel(client, messages[0])
    # Stage 1 is closed: decisions there are refused; stage 2 decisions work and count.
    with pytest.raises(StageClosed):
        decision_record(people["oscar"], stage1, Decision.DENY, items=[it[people["dave"].pk].pk])
    decision_record(people["sam"], stage2, Decision.DENY, items=[it[people["alice"].pk].pk])
    assert counters(stage2) == recount(stage2) == {sam: (4, 3)}

    # Twice: nothing more.
    before = state()
    assert not stage_close(stage1, STAGE1_END).closed
    assert state() == before
    assert AuditEvent.objects.filter(action="stage.closed").count() == 1


def test_stage_two_takes_its_reviewers_from_the_snapshot_not_the_edited_series(admin_user, people):
    instance = start(admin_user, people)
    sam, rita = people["sam"], people["rita"]
    stage = DefinitionStage.objects.get(definition=instance.definition, ordinal=2)
    stage.reviewer_users.set([rita])
    stage.fallback_users.set([rita])

    stage_close(decide_stage1(instance, people), STAGE1_END)

    stage2 = stage_of(instance, 2)
    assert set(ItemReviewer.objects.filter(stage=stage2).values_list("reviewer_id", "reason")) == {
        (sam.pk, "selected")
    }
    assert counters(stage2) == recount(stage2) == {sam.pk: (4, 4)}


def test_stage_two_counts_a_named_groups_members_at_any_depth(admin_user, people):
    instance = start(admin_user, people)
    rita = people["rita"]
    outer, inner = GroupFactory(name="Approvers"), GroupFactory(name="Approvers EU")
    nest(outer, inner)
    add_members(inner, rita)
    snapshot = instance.settings_snapshot
    second = {**snapshot["stages"][1], "reviewer_user_ids": [], "reviewer_group_ids": [outer.pk]}
    ReviewInstance.objects.filter(pk=instance.pk).update(
        settings_snapshot={**snapshot, "stages": [snapshot["stages"][0], second]}
    )
    instance.refresh_from_db()

    stage_close(decide_stage1(instance, people), STAGE1_END)

    stage2 = stage_of(instance, 2)
    assert counters(stage2) == recount(stage2) == {rita.pk: (4, 4)}


def test_only_the_move_on_set_goes_on(admin_user, people):
    instance = start(admin_user, people, move_on=[Decision.APPROVE])
    stage1 = decide_stage1(instance, people)
    result = stage_close(stage1, STAGE1_END)
    assert (result.history, result.moved) == (4, 1)
    it = items(instance)
    assert {p: it[people[p].pk].stage_ordinal for p in ("alice", "bob", "carol", "dave")} == {
        "alice": 2,
        "bob": 1,
        "carol": 1,
        "dave": 1,
    }
    # The others keep their stage-1 decision.
    assert it[people["bob"].pk].stage_decision == Decision.DENY
    assert it[people["carol"].pk].stage_decision == Decision.DONT_KNOW
    stage2 = stage_of(instance, 2)
    assert list(
        ItemReviewer.objects.filter(stage=stage2).values_list("item__principal_id", flat=True)
    ) == [people["alice"].pk]
    assert counters(stage2) == recount(stage2) == {people["sam"].pk: (1, 1)}


def test_instance_end_applies_the_default_only_to_never_decided_items(admin_user, people, client):
    instance = start(admin_user, people, move_on=[Decision.APPROVE, Decision.NOT_REVIEWED])
    stage1 = decide_stage1(instance, people)
    stage_close(stage1, STAGE1_END)
    result = instance_end(instance, END)
    assert result.ended and result.defaulted == 1
    it = items(instance)
    assert {p: it[people[p].pk].decision for p in ("alice", "bob", "carol", "dave")} == {
        "alice": Decision.APPROVE,
        "bob": Decision.DENY,
        "carol": Decision.DONT_KNOW,  # a decision: never overridden
        "dave": Decision.DENY,  # the default
    }
    assert it[people["dave"].pk].decision_source == DecisionSource.DEFAULT
    history = DecisionHistory.objects.get(source=DecisionSource.DEFAULT)
    assert (history.item_id, history.before, history.after, history.stage_ordinal) == (
        it[people["dave"].pk].pk,
        Decision.NOT_REVIEWED,
        Decision.DENY,
        2,
    )
    # Stage 2 was closed and recorded (alice and dave went on).
    assert stage_of(instance, 2).status == StageStatus.COMPLETED
    assert set(
        ItemStageHistory.objects.filter(stage_ordinal=2).values_list(
            "item__principal_id", flat=True
        )
    ) == {people["alice"].pk, people["dave"].pk}
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED and instance.completed_at == END
    event = AuditEvent.objects.get(action="instance.completed")
    assert event.detail_count == 1 and event.details["defaulted"] == 1
    assert audit.verify_chain().ok
    messages = Message.objects.filter(kind="review_completed")
    assert sorted(m.recipient_id for m in messages) == sorted([admin_user.pk, people["rita"].pk])
    context = messages[0].context
    assert {k: context[k] for k in ("approved", "denied", "dont_know", "not_reviewed")} == {
        "approved": 1,
        "denied": 2,
        "dont_know": 1,
        "not_reviewed": 0,
    }
    assert context["apply_status"] == "Not applied yet"
    # The admins' message: the instance page, which they may read.
    assert context["link"] == reverse("accessreviews:instance-detail", args=[instance.uuid])
    client.force_login(admin_user, backend="directory.backends.DirectoryBackend")
    assert client.get(context["link"]).status_code == 200

    before = state()
    assert not instance_end(instance, END).ended
    assert state() == before


def test_default_none_changes_nothing(admin_user, people):
    instance = start(admin_user, people, default=DefaultDecision.NONE)
    decide_stage1(instance, people)
    assert instance_end(instance, END).defaulted == 0
    assert not DecisionHistory.objects.filter(source=DecisionSource.DEFAULT).exists()
    assert items(instance)[people["dave"].pk].decision == Decision.NOT_REVIEWED


def test_tick_twice_over_a_simulated_clock(admin_user, people):
    define(admin_user, people)
    for now in (NOW, NOW):
        tick(now=now)
    instance = ReviewInstance.objects.get()
    decide_stage1(instance, people)
    assert stages_and_instances_due(STAGE1_END - dt.timedelta(minutes=1)).stages_closed == 0
    for now in (STAGE1_END, STAGE1_END + dt.timedelta(minutes=1)):
        tick(now=now)
    instance.refresh_from_db()
    assert (instance.status, instance.current_stage) == (InstanceStatus.IN_PROGRESS, 2)
    assert ItemStageHistory.objects.count() == 4
    assert Message.objects.filter(kind="stage_started").count() == 1
    for now in (END, END + dt.timedelta(minutes=1)):
        tick(now=now)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert ItemStageHistory.objects.count() == 8
    assert DecisionHistory.objects.filter(source=DecisionSource.DEFAULT).count() == 1
    assert Message.objects.filter(kind="review_completed").count() == 2
    assert AuditEvent.objects.filter(action="stage.closed").count() == 2
    assert AuditEvent.objects.filter(action="instance.completed").count() == 1


def test_recommendation_in_the_move_on_set_and_as_the_default(admin_user, people):
    instance = start(
        admin_user, people, move_on=["Recommendation"], default=DefaultDecision.RECOMMENDATION
    )
    stage1 = stage_of(instance, 1)
    it = items(instance)
    oscar = people["oscar"]
    assert recommendations_accept(oscar, stage1, items=[it[people["alice"].pk].pk]) == 1
    decision_record(oscar, stage1, Decision.APPROVE, items=[it[people["bob"].pk].pk])
    assert stage_close(stage1, STAGE1_END).moved == 1
    assert items(instance)[people["alice"].pk].stage_ordinal == 2
    assert items(instance)[people["bob"].pk].stage_ordinal == 1
    assert instance_end(instance, END).defaulted == 2  # carol and dave: recommended Approve
    decided = {p: items(instance)[people[p].pk].decision for p in ("carol", "dave")}
    assert decided == {"carol": Decision.APPROVE, "dave": Decision.APPROVE}

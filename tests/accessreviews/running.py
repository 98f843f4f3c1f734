"""A running two-stage review of one group, and the reads that check what operations wrote.

The group Falcon has members alice, bob, carol and dave, owned by oscar; stage 1 (7 days) is
reviewed by the group's owners with fiona as fallback, stage 2 (7 days) by sam. Shared by the
operations, reminders and instance page tests.
"""

import datetime as dt

from django.db.models import Count

from accessreviews.choices import Decision, DefaultDecision, ReviewerType
from accessreviews.drafts import StageDraft
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    ItemReviewer,
    ItemStageHistory,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.services.decisions import decision_record
from accessreviews.services.definitions import definition_create
from accessreviews.services.start import instances_start_due
from directory.models import AuditEvent
from notifications.models import Message
from tests.accessreviews.factories import group_review_draft
from tests.factories import GroupFactory, UserFactory, add_members, add_owners

UTC = dt.UTC
CREATED = dt.datetime(2025, 1, 1, tzinfo=UTC)
BEFORE = dt.datetime(2026, 11, 1, tzinfo=UTC)
START = dt.datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 09:00 in Paris
NOW = START + dt.timedelta(hours=1)
STAGE1_END = dt.datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
END = dt.datetime(2026, 12, 15, 8, 0, tzinfo=UTC)
MEMBERS = ("alice", "bob", "carol", "dave")


def person(name, **fields):
    fields.setdefault("created_at", CREATED)
    fields.setdefault("last_sign_in_at", START - dt.timedelta(days=2))
    return UserFactory(display_name=name.title(), **fields)


def make_people():
    names = (*MEMBERS, "oscar", "olga", "fiona", "sam", "rita")
    return {name: person(name) for name in names}


def define(admin_user, people, *, stages=2, members=MEMBERS, group=None, **changes):
    group = group or GroupFactory(name="Falcon")
    add_members(group, *(people[k] for k in members))
    add_owners(group, people["oscar"])
    first = StageDraft(duration_days=7, fallback_user_ids=[people["fiona"].pk])
    if "move_on" in changes:
        first.decisions_that_move_on = changes.pop("move_on")
    second = StageDraft(
        duration_days=7, reviewer_type=ReviewerType.SELECTED, reviewer_user_ids=[people["sam"].pk]
    )
    changes.setdefault("default_decision", DefaultDecision.DENY)
    return definition_create(
        admin_user,
        group_review_draft(
            [group],
            stages=[first, second][:stages],
            additional_recipient_ids=[people["rita"].pk],
            **changes,
        ),
        now=BEFORE,
    )


def start(admin_user, people, **changes) -> ReviewInstance:
    define(admin_user, people, **changes)
    return ReviewInstance.objects.get(pk=instances_start_due(NOW).instance_ids[0])


def stage_of(instance, ordinal) -> ReviewStage:
    return ReviewStage.objects.select_related("instance__definition").get(
        instance=instance, ordinal=ordinal
    )


def items(instance) -> dict[int, DecisionItem]:
    return {i.principal_id: i for i in DecisionItem.objects.filter(instance=instance)}


def item_of(instance, people, name) -> DecisionItem:
    return DecisionItem.objects.get(instance=instance, principal_id=people[name].pk)


def decide(reviewer, stage, decision, instance, people, *names):
    ids = [item_of(instance, people, n).pk for n in names]
    return decision_record(reviewer, stage, decision, items=ids)


def decide_stage1(instance, people) -> ReviewStage:
    """oscar: alice Approve, bob Deny, carol DontKnow; dave stays NotReviewed."""
    stage = stage_of(instance, 1)
    oscar = people["oscar"]
    decide(oscar, stage, Decision.APPROVE, instance, people, "alice")
    decide(oscar, stage, Decision.DENY, instance, people, "bob")
    decide(oscar, stage, Decision.DONT_KNOW, instance, people, "carol")
    return stage


def recount(stage) -> dict[int, tuple[int, int]]:
    links = ItemReviewer.objects.filter(stage=stage)
    totals = dict(links.values_list("reviewer_id").annotate(n=Count("id")))
    decided = dict(
        links.exclude(item__stage_decision=Decision.NOT_REVIEWED)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
    )
    return {r: (n, n - decided.get(r, 0)) for r, n in totals.items()}


def counters(stage) -> dict[int, tuple[int, int]]:
    return {
        a.reviewer_id: (a.total, a.pending) for a in ReviewerAssignment.objects.filter(stage=stage)
    }


def links_of(stage) -> set[tuple[int, int, str]]:
    """(reviewer id, principal id, reason) of every link of the stage."""
    return set(
        ItemReviewer.objects.filter(stage=stage).values_list(
            "reviewer_id", "item__principal_id", "reason"
        )
    )


def state():
    """Everything the operations write, to check that a second call changes nothing."""
    return (
        list(DecisionItem.objects.order_by("pk").values()),
        list(ReviewStage.objects.order_by("pk").values()),
        list(ReviewInstance.objects.order_by("pk").values("status", "current_stage", "end_at")),
        ItemStageHistory.objects.count(),
        DecisionHistory.objects.count(),
        sorted(ItemReviewer.objects.values_list("stage_id", "reviewer_id", "item_id", "reason")),
        list(ReviewerAssignment.objects.order_by("pk").values()),
        Message.objects.count(),
        AuditEvent.objects.count(),
    )


def opens_panel(client, message) -> bool:
    """Whether the message's link, followed by its recipient, reaches their stage's panel."""
    client.force_login(message.recipient, backend="directory.backends.DirectoryBackend")
    response = client.get(message.context["link"], follow=True)
    client.logout()
    return response.status_code == 200 and response.resolver_match.url_name == "review-panel"

"""Closing stages and ending instances (DESIGN.md flow 5, issue 5 "Stages" and "At the end").

Each operation is claimed by a conditional UPDATE (a status transition), so two ticks, or a
task delivered twice, do it once; the loser sees 0 rows and returns. Everything after the claim
is a fixed number of set-based statements per stage / instance, whatever the number of items:

stage_close: claim the stage; INSERT ... SELECT its ItemStageHistory; UPDATE the items that move
on; open the next stage; its reviewer links (start.py's builders, restricted to the moved items)
and assignments (GROUP BY reviewer); stage_started messages (INSERT ... SELECT); one audit event.

A next stage that no item moves on to is never opened: nothing is left to review, so waiting
for its end would only delay the results (and a reviewer would be told of an empty stage). The
instance ends at once instead, through instance_end (defaults, Completed, messages), and the
later stages stay NotStarted: the page shows them as skipped. An admin's "stop stage" is the
same path, with the admin as actor.

Lock order, the same as decisions.py's: the open stage and its instance, then items and
assignments. A decision share-locks the stage and its instance in one statement before
locking items. instance_end (and the admin operations) first lock those two rows with the
same join (lock_open_stages, on PostgreSQL FOR UPDATE). stage_close locks the stage by its
claim, the UPDATE of its status, which waits for in-flight deciders' share locks; it touches
the instance row only after that (opening the next stage, or through instance_end). Either
way a decider has finished before, or waits at the stage or instance before it locks any
item, and then finds the stage closed: this cannot deadlock.

instance_end: claim InProgress -> AutoReviewing; close the open stage without opening another;
INSERT ... SELECT DecisionHistory rows (source Default) for items never decided in any stage;
UPDATE those items; Completed; review_completed messages; one audit event digesting the
DecisionHistory rows of the operation.
"""

import datetime
import uuid
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import CharField, Count, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone

from accessreviews.choices import Decision, DefaultDecision, ReviewerType
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    ItemStageHistory,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import (
    DecisionSource,
    InstanceStatus,
    Recommendation,
    ReviewerReason,
    StageStatus,
)
from accessreviews.services.named import stage_people
from accessreviews.services.start import (
    T,
    insert_assignments,
    insert_link_rows,
    iso,
    reviewer_messages_create,
)
from directory import audit
from directory.models import PrincipalType, User
from notifications.models import MessageKind
from notifications.services import messages_create_many

AUDIT_SOURCE = "accessreviews.DecisionHistory"
MOVE_ON_RECOMMENDATION = "Recommendation"

REASONS = {
    ReviewerType.GROUP_OWNERS: ReviewerReason.OWNER,
    ReviewerType.APPLICATION_OWNERS: ReviewerReason.OWNER,
    ReviewerType.MANAGERS: ReviewerReason.MANAGER,
    ReviewerType.SELECTED: ReviewerReason.SELECTED,
    ReviewerType.SELF: ReviewerReason.SELF,
}


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _db_time(instant: datetime.datetime):
    return connection.ops.adapt_datetimefield_value(instant)


def lock_open_stages(instance_id: int) -> None:
    """Lock the instance's open stage, and the instance, before anything else (PostgreSQL).

    The same join as decisions.py's share lock (stage, then its instance, in one statement),
    so both take the two rows in the same order."""
    if connection.vendor != "postgresql":
        return  # SQLite: IMMEDIATE transactions already hold the one write lock
    sql, params = (
        ReviewStage.objects.open()
        .filter(instance_id=instance_id)
        .order_by("pk")
        .values_list("pk", "instance__status")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} FOR UPDATE", params)


def _snapshot_stage(instance: ReviewInstance, ordinal: int) -> dict | None:
    for spec in instance.settings_snapshot.get("stages", []):
        if spec["ordinal"] == ordinal:
            return spec
    return None


# --- Closing a stage ---------------------------------------------------------------------------


@dataclass
class StageCloseResult:
    closed: bool = False
    history: int = 0
    moved: int = 0
    next_stage: int | None = None
    links: dict = field(default_factory=dict)
    reviewers: int = 0
    messages: int = 0
    instance_ended: bool = False  # no item moved on, so the instance ended at once


def stage_close(stage: ReviewStage, now=None, actor=None, *, open_next: bool = True):
    """Close `stage` (if still InProgress): record its decisions in ItemStageHistory and, when
    there is a next stage and `open_next`, move the items whose stage decision is in the
    move-on set to it and open it. Returns a StageCloseResult (closed=False if not claimed)."""
    now = now or timezone.now()
    result = StageCloseResult()
    with transaction.atomic():
        claimed = ReviewStage.objects.filter(pk=stage.pk, status=StageStatus.IN_PROGRESS).update(
            status=StageStatus.COMPLETED
        )
        if not claimed:
            return result  # closed already (another tick, or an admin)
        result.closed = True
        instance = ReviewInstance.objects.get(pk=stage.instance_id)
        ordinal = stage.ordinal
        with connection.cursor() as cursor:
            result.history = _insert_stage_history(cursor, instance, ordinal)
        spec = _snapshot_stage(instance, ordinal)
        next_spec = _snapshot_stage(instance, ordinal + 1)
        if open_next and next_spec is not None:
            _open_next(instance, ordinal, spec, next_spec, now, result)
        nobody_moves_on = open_next and next_spec is not None and not result.moved
        audit.record(
            actor,
            "stage.closed",
            instance,
            {
                "stage": ordinal,
                "history": result.history,
                "moved": result.moved,
                "next_stage": result.next_stage,
                "links": result.links,
                "reviewers": result.reviewers,
                "messages": result.messages,
            },
        )
        if nobody_moves_on:
            result.instance_ended = instance_end(instance, now, actor).ended
    stage.status = StageStatus.COMPLETED
    return result


def _insert_stage_history(cursor, instance: ReviewInstance, ordinal: int) -> int:
    """The stage's decision of each of its items. An item not decided in this stage records
    NotReviewed with no source or reviewer (its `decision` may still carry an earlier one)."""
    history = ItemStageHistory._meta
    columns = ", ".join(
        _q(history.get_field(name).column)
        for name in (
            "item",
            "stage_ordinal",
            "decision",
            "decision_source",
            "reviewed_by",
            "reviewed_at",
            "justification",
        )
    )
    undecided = "i.stage_decision = %s"
    sql = f"""
        INSERT INTO {_q(history.db_table)} ({columns})
        SELECT i.id, %s, i.stage_decision,
               CASE WHEN {undecided} THEN '' ELSE i.decision_source END,
               CASE WHEN {undecided} THEN NULL ELSE i.reviewed_by_id END,
               CASE WHEN {undecided} THEN NULL ELSE i.reviewed_at END,
               CASE WHEN {undecided} THEN '' ELSE i.justification END
        FROM {_q(DecisionItem._meta.db_table)} i
        WHERE i.instance_id = %s AND i.stage_ordinal = %s"""
    nr = Decision.NOT_REVIEWED
    cursor.execute(sql, [ordinal, nr, nr, nr, nr, instance.pk, ordinal])
    return cursor.rowcount


def _moving(instance: ReviewInstance, ordinal: int, move_on: list[str]):
    """This stage's items whose stage decision is in the move-on set ("Recommendation" = the
    stage decision came from an accepted recommendation)."""
    decisions = [d for d in move_on if d in Decision.values]
    condition = Q(stage_decision__in=decisions)
    if MOVE_ON_RECOMMENDATION in move_on:
        condition |= Q(decision_source=DecisionSource.RECOMMENDATION) & ~Q(
            stage_decision=Decision.NOT_REVIEWED
        )
    return DecisionItem.objects.filter(instance=instance, stage_ordinal=ordinal).filter(condition)


def _open_next(instance, ordinal, spec, next_spec, now, result: StageCloseResult) -> None:
    next_ordinal = next_spec["ordinal"]
    result.moved = _moving(instance, ordinal, spec.get("decisions_that_move_on", [])).update(
        stage_ordinal=next_ordinal, stage_decision=Decision.NOT_REVIEWED
    )
    if not result.moved:
        return  # nobody to review: stage_close ends the instance instead
    opened = ReviewStage.objects.filter(
        instance=instance, ordinal=next_ordinal, status=StageStatus.NOT_STARTED
    ).update(status=StageStatus.IN_PROGRESS, start_at=now)
    if not opened:
        return
    result.next_stage = next_ordinal
    ReviewInstance.objects.filter(pk=instance.pk).update(current_stage=next_ordinal)
    instance.current_stage = next_ordinal
    next_stage = ReviewStage.objects.get(instance=instance, ordinal=next_ordinal)
    with connection.cursor() as cursor:
        result.links = _insert_stage_links(cursor, instance, next_stage, next_spec)
        result.reviewers = insert_assignments(cursor, next_stage)
    if result.reviewers:
        result.messages = _stage_started_messages(instance, next_stage)


def _insert_stage_links(cursor, instance, stage: ReviewStage, spec: dict) -> dict:
    """start.py's link builders, restricted to the items now in this stage, with who is named
    read from the snapshot: an instance never reads its series after the start (DESIGN.md)."""
    in_stage = f"AND i.stage_ordinal = {int(stage.ordinal)}"
    reviewer_type = spec["reviewer_type"]
    reason = REASONS[reviewer_type]
    not_principal = f"AND NOT (i.principal_type = '{PrincipalType.USER}' AND i.principal_id = r.id)"
    not_own = "" if reviewer_type == ReviewerType.SELF else not_principal
    counts = {reason: 0, ReviewerReason.FALLBACK: 0}
    candidates, fallbacks = stage_people(spec, instance)
    if candidates:
        counts[reason] = insert_link_rows(
            cursor, stage, candidates, reason, f"{not_own} {in_stage}"
        )
    if fallbacks:
        fallback_sql, fallback_params = fallbacks
        fallback = (
            f"{fallback_sql} AND NOT EXISTS (SELECT 1 FROM {T['link']} l "
            "WHERE l.stage_id = %s AND l.item_id = i.id)",
            [*fallback_params, stage.pk],
        )
        counts[ReviewerReason.FALLBACK] = insert_link_rows(
            cursor, stage, fallback, ReviewerReason.FALLBACK, f"{not_principal} {in_stage}"
        )
    return counts


def _stage_started_messages(instance: ReviewInstance, stage: ReviewStage) -> int:
    assignments = ReviewerAssignment.objects.filter(stage=stage)
    total = Subquery(assignments.filter(reviewer_id=OuterRef("id")).values("total")[:1])
    return reviewer_messages_create(
        instance,
        stage,
        kind=MessageKind.STAGE_STARTED,
        recipients=User.objects.filter(pk__in=assignments.values("reviewer_id")),
        counts={"item_count": total},
        dedupe_prefix=f"stage-started:{instance.pk}:{stage.ordinal}:",
    )


# --- Ending an instance ------------------------------------------------------------------------


@dataclass
class InstanceEndResult:
    ended: bool = False
    defaulted: int = 0
    counts: dict = field(default_factory=dict)
    messages: int = 0


def instance_end(instance: ReviewInstance, now=None, actor=None) -> InstanceEndResult:
    """End a running instance: close its open stage, auto-review (the default decision on items
    never decided in any stage), Completed, completion messages. Safe twice."""
    now = now or timezone.now()
    result = InstanceEndResult()
    with transaction.atomic():
        lock_open_stages(instance.pk)
        claimed = ReviewInstance.objects.filter(
            pk=instance.pk, status=InstanceStatus.IN_PROGRESS
        ).update(status=InstanceStatus.AUTO_REVIEWING)
        if not claimed:
            return result
        result.ended = True
        instance = ReviewInstance.objects.get(pk=instance.pk)
        for stage in ReviewStage.objects.filter(instance=instance, status=StageStatus.IN_PROGRESS):
            stage_close(stage, now, actor, open_next=False)
        operation = uuid.uuid4()
        default = instance.settings_snapshot["settings"].get("default_decision")
        result.defaulted = _apply_default(instance, default, now, operation)
        ReviewInstance.objects.filter(pk=instance.pk).update(
            status=InstanceStatus.COMPLETED, completed_at=now
        )
        instance.status, instance.completed_at = InstanceStatus.COMPLETED, now
        result.counts = _decision_counts(instance)
        result.messages = _completed_messages(instance, result.counts, now)
        audit.record(
            actor,
            "instance.completed",
            instance,
            {
                "default_decision": default,
                "stopped_early": now < instance.end_at,
                "defaulted": result.defaulted,
                **result.counts,
                "messages": result.messages,
            },
            operation=operation,
            source=AUDIT_SOURCE,
        )
    return result


def _apply_default(instance, default: str | None, now, operation) -> int:
    """DecisionHistory rows (source Default) and the items' decision, for items never decided in
    any stage (decision NotReviewed; DontKnow is a decision and is never overridden)."""
    if default == DefaultDecision.APPROVE:
        after_sql, after_params, only = "%s", [Decision.APPROVE], ""
    elif default == DefaultDecision.DENY:
        after_sql, after_params, only = "%s", [Decision.DENY], ""
    elif default == DefaultDecision.RECOMMENDATION:
        # NoInfoAvailable gives no decision: those items stay NotReviewed.
        after_sql, after_params = "i.recommendation", []
        only = f" AND i.recommendation IN ('{Recommendation.APPROVE}', '{Recommendation.DENY}')"
    else:
        return 0  # None: no change
    history = DecisionHistory._meta
    sql = (
        f"{DecisionHistory.insert_sql()} "
        f"SELECT i.id, i.stage_ordinal, i.decision, {after_sql}, %s, '', NULL, %s, %s "
        f"FROM {_q(DecisionItem._meta.db_table)} i "
        f"WHERE i.instance_id = %s AND i.decision = %s{only} ORDER BY i.id"
    )
    params = [
        *after_params,
        DecisionSource.DEFAULT,
        _db_time(now),
        history.get_field("audit_operation").get_db_prep_value(operation, connection),
        instance.pk,
        Decision.NOT_REVIEWED,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        count = cursor.rowcount
        if not count:
            return 0
        item = _q(DecisionItem._meta.db_table)
        cursor.execute(
            f"""UPDATE {item} SET
                    decision = (SELECT h.{_q(history.get_field("after").column)}
                                FROM {_q(history.db_table)} h
                                WHERE h.item_id = {item}.id AND h.audit_operation = %s),
                    decision_source = %s, reviewed_at = %s, version = version + 1
                WHERE id IN (SELECT h.item_id FROM {_q(history.db_table)} h
                             WHERE h.audit_operation = %s)""",
            [
                history.get_field("audit_operation").get_db_prep_value(operation, connection),
                DecisionSource.DEFAULT,
                _db_time(now),
                history.get_field("audit_operation").get_db_prep_value(operation, connection),
            ],
        )
    return count


def _decision_counts(instance) -> dict:
    rows = dict(
        DecisionItem.objects.filter(instance=instance)
        .order_by()
        .values_list("decision")
        .annotate(n=Count("id"))
    )
    return {
        "approved": rows.get(Decision.APPROVE, 0),
        "denied": rows.get(Decision.DENY, 0),
        "dont_know": rows.get(Decision.DONT_KNOW, 0),
        "not_reviewed": rows.get(Decision.NOT_REVIEWED, 0),
    }


def _completed_messages(instance, counts: dict, now) -> int:
    settings = instance.settings_snapshot["settings"]
    recipient_ids = Q(pk__in=settings.get("additional_recipient_ids", [])) | Q(
        pk__in=ReviewInstance.objects.filter(pk=instance.pk).values("definition__created_by_id")
    )
    return messages_create_many(
        recipients=User.objects.filter(recipient_ids),
        kind=MessageKind.REVIEW_COMPLETED,
        context={
            "review_name": settings["name"],
            "resource_name": instance.resource_name,
            "ended_at": iso(now),
            **counts,
            "apply_status": "Not applied yet",
            "link": reverse("accessreviews:instance-detail", args=[instance.uuid]),
        },
        dedupe_key=Concat(
            Value(f"review-completed:{instance.pk}:"),
            Cast("id", CharField()),
            output_field=CharField(),
        ),
        email=settings["mail_notifications_enabled"],
    )


# --- The tick's part ---------------------------------------------------------------------------


@dataclass
class DueCounts:
    stages_closed: int = 0
    instances_ended: int = 0


def stages_and_instances_due(now=None) -> DueCounts:
    """Close stages whose end has come (not an instance's last: the instance end does that),
    then end instances whose end has come. Each is claimed, so safe twice and concurrently."""
    now = now or timezone.now()
    counts = DueCounts()
    later = ReviewStage.objects.filter(
        instance_id=OuterRef("instance_id"), ordinal__gt=OuterRef("ordinal")
    )
    due_stages = (
        ReviewStage.objects.filter(
            status=StageStatus.IN_PROGRESS,
            end_at__lte=now,
            instance__status=InstanceStatus.IN_PROGRESS,
            instance__end_at__gt=now,
        )
        .filter(Exists(later))
        .order_by("end_at", "pk")
    )
    for stage in list(due_stages):
        if stage_close(stage, now).closed:
            counts.stages_closed += 1
    due_instances = ReviewInstance.objects.filter(
        status=InstanceStatus.IN_PROGRESS, end_at__lte=now
    ).order_by("end_at", "pk")
    for instance in list(due_instances):
        if instance_end(instance, now).ended:
            counts.instances_ended += 1
    return counts

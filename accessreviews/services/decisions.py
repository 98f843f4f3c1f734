"""Recording decisions (DESIGN.md flow 3, issue 5 "While it runs": Decisions).

Every operation is set-based and runs a fixed number of statements in one transaction,
whatever the number of items:

1. read (and on PostgreSQL share-lock) the stage and its instance, both InProgress, else
   StageClosed;
2. INSERT ... SELECT the DecisionHistory rows of the items that change (on PostgreSQL the items
   are locked FOR UPDATE by that statement, so `before` is the committed value and a concurrent
   decider waits and then sees ours: the last committed wins);
3. UPDATE exactly the items that got a history row of this operation (joined by audit_operation);
4. (PostgreSQL) lock the co-reviewers' assignments in id order, so that
5. ONE UPDATE of their `pending` recomputed from links (total minus their decided items) sees
   every committed decision: counters always equal a recount, even under races;
6. one chained audit event whose digest covers the history rows of this operation.

Only items the actor has an ItemReviewer link to in this stage are touched; anything else in
`items` or matching `item_filter` is ignored (the views answer 404 for those separately). The
open stage is checked in the same statements (compare-and-set), not only up front.
"""

import json
import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, Func, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accessreviews.choices import Decision
from accessreviews.drafts import JUSTIFICATION_MAX
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    ItemReviewer,
    ReviewerAssignment,
    ReviewStage,
)
from accessreviews.models.instances import (
    DecisionSource,
    Recommendation,
    ReviewerReason,
)
from directory import audit
from directory.models import PrincipalType

AUDIT_ACTION = "decision.recorded"
AUDIT_SOURCE = "accessreviews.DecisionHistory"
DECIDING = (Decision.APPROVE, Decision.DENY, Decision.DONT_KNOW)


class StageClosed(Exception):
    """The stage (or its instance) is no longer InProgress: nothing was changed."""


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _open_stage(stage_id: int) -> tuple[int, int, bool]:
    """(ordinal, instance id, justification required) of the open stage, or StageClosed.

    On PostgreSQL the stage and instance rows are share-locked until commit, so a concurrent
    close (an UPDATE of their status) waits for this operation instead of racing it."""
    queryset = (
        ReviewStage.objects.open()
        .filter(pk=stage_id)
        .values_list("ordinal", "instance_id", "instance__settings_snapshot")
    )
    sql, params = queryset.query.sql_with_params()
    if connection.vendor == "postgresql":
        sql += " FOR SHARE"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise StageClosed(f"stage {stage_id} is not open")
    ordinal, instance_id, snapshot = row
    if isinstance(snapshot, str | bytes):
        snapshot = json.loads(snapshot)
    required = bool(((snapshot or {}).get("settings") or {}).get("justification_required"))
    return ordinal, instance_id, required


def _clean_justification(justification: str, required: bool) -> str:
    justification = (justification or "").strip()
    if len(justification) > JUSTIFICATION_MAX:
        raise ValidationError(
            {"justification": f"At most {JUSTIFICATION_MAX} characters."}, code="max_length"
        )
    if required and not justification:
        raise ValidationError(
            {"justification": "This review requires a justification."}, code="required"
        )
    return justification


def _targets(actor, stage_id: int, instance_id: int, items, item_filter):
    """The actor's linked items in this stage (never their own unless self-review), while the
    stage and instance are open: a queryset of ids, compiled into the statements below."""
    # IN (the actor's links), not a correlated EXISTS: SQLite would answer each item's EXISTS
    # by scanning the (stage, reviewer, ...) index prefix, quadratic in the actor's items.
    links = ItemReviewer.objects.filter(stage_id=stage_id, reviewer_id=actor.pk)
    queryset = DecisionItem.objects.filter(instance_id=instance_id).filter(
        Q(pk__in=links.values("item_id")),
        ~Q(principal_type=PrincipalType.USER, principal_id=actor.pk)
        | Q(pk__in=links.filter(reason=ReviewerReason.SELF).values("item_id")),
        Exists(ReviewStage.objects.open().filter(pk=stage_id)),
    )
    if items is not None:
        queryset = queryset.filter(pk__in=_ids(items))
    if item_filter is not None:
        queryset = queryset.filter(item_filter)
    return queryset.order_by().values("pk")


def _ids(items: Iterable) -> list[int]:
    try:
        return sorted({int(item) for item in items})
    except (TypeError, ValueError) as error:
        raise ValidationError({"items": "Item ids must be integers."}) from error


def _decide(actor, stage, *, after, items, item_filter, justification, source):
    """The shared statements. `after` is a decision string, or None for "the recommendation"."""
    if items is None and item_filter is None:
        raise TypeError("pass items or item_filter")
    operation = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        ordinal, instance_id, required = _open_stage(stage.pk)
        # Accepting a recommendation records an Approve or a Deny: the review's rule applies
        # to it as to any decision, so an auditor finds a reason on every one it requires.
        justification = _clean_justification(justification, required)
        targets = _targets(actor, stage.pk, instance_id, items, item_filter)
        target_sql, target_params = targets.query.sql_with_params()

        if after is None:  # accept recommendations: NotReviewed items with Approve/Deny
            after_sql, after_params = "i.recommendation", []
            change_sql = "i.stage_decision = %s AND i.recommendation IN (%s, %s)"
            change_params = [Decision.NOT_REVIEWED, Recommendation.APPROVE, Recommendation.DENY]
        else:
            after_sql, after_params = "%s", [after]
            change_sql = (
                "(i.decision <> %s OR i.stage_decision <> %s OR i.justification <> %s"
                " OR i.decision_source <> %s)"
            )
            change_params = [after, after, justification, source]
        history = DecisionHistory._meta
        lock = " FOR UPDATE OF i" if connection.vendor == "postgresql" else ""
        sql = (
            f"{DecisionHistory.insert_sql()} "
            f"SELECT i.id, %s, i.decision, {after_sql}, %s, %s, %s, %s, %s "
            f"FROM {_q(DecisionItem._meta.db_table)} i "
            f"WHERE i.id IN ({target_sql}) AND {change_sql} ORDER BY i.id{lock}"
        )
        params = [
            ordinal,
            *after_params,
            source,
            justification,
            actor.pk,
            connection.ops.adapt_datetimefield_value(now),
            history.get_field("audit_operation").get_db_prep_value(operation, connection),
            *target_params,
            *change_params,
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            count = cursor.rowcount
        if not count:
            return 0

        changed = DecisionHistory.objects.filter(audit_operation=operation).values("item_id")
        new = F("recommendation") if after is None else Value(after)
        DecisionItem.objects.filter(pk__in=changed).update(
            decision=new,
            stage_decision=new,
            decision_source=source,
            reviewed_by=actor,
            reviewed_at=now,
            justification=justification,
            version=F("version") + 1,
        )

        co_reviewers = ItemReviewer.objects.filter(stage_id=stage.pk, item_id__in=changed).values(
            "reviewer_id"
        )
        assignments = ReviewerAssignment.objects.filter(
            stage_id=stage.pk, reviewer_id__in=co_reviewers
        )
        if connection.vendor == "postgresql":
            # Wait for concurrent deciders sharing these reviewers, so the recount below (a new
            # statement, hence a new snapshot) includes their committed decisions.
            list(assignments.order_by("pk").select_for_update().values_list("pk", flat=True))
        decided = (
            ItemReviewer.objects.filter(
                stage_id=OuterRef("stage_id"), reviewer_id=OuterRef("reviewer_id")
            )
            .exclude(item__stage_decision=Decision.NOT_REVIEWED)
            .order_by()
            .annotate(n=Func(F("id"), function="COUNT"))
            .values("n")
        )
        assignments.update(pending=F("total") - Coalesce(Subquery(decided), 0))

        details = {"stage": ordinal, "count": count, "source": source}
        details["decision"] = after if after is not None else "Recommendation"
        audit.record(
            actor,
            AUDIT_ACTION,
            stage.instance,
            details,
            operation=operation,
            source=AUDIT_SOURCE,
        )
    return count


def decision_record(
    actor,
    stage,
    decision: str,
    *,
    items: Iterable | None = None,
    item_filter: Q | None = None,
    justification: str = "",
    source: str = DecisionSource.REVIEWER,
) -> int:
    """Record `decision` on the actor's items of `stage` given by id and/or matching
    `item_filter` (evaluated now, in the statement). Returns how many items changed."""
    if decision not in DECIDING:
        raise ValidationError({"decision": f"Not a decision: {decision!r}."})
    if source not in (DecisionSource.REVIEWER, DecisionSource.RECOMMENDATION):
        raise ValidationError({"source": f"Not a reviewer's source: {source!r}."})
    return _decide(
        actor,
        stage,
        after=decision,
        items=items,
        item_filter=item_filter,
        justification=justification,
        source=source,
    )


def recommendations_accept(
    actor, stage, *, items: Iterable | None = None, justification: str = ""
) -> int:
    """Accept the recommendation of the actor's NotReviewed items (all, or those in `items`):
    Approve/Deny become the decision with source Recommendation; NoInfoAvailable is left."""
    return _decide(
        actor,
        stage,
        after=None,
        items=items,
        item_filter=Q() if items is None else None,
        justification=justification,
        source=DecisionSource.RECOMMENDATION,
    )

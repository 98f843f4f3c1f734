"""An admin's operations on a running instance (issue 5 "While it runs": the instance page).

Stop the instance, stop or reset the current stage, extend the end, reassign a reviewer's
items, re-resolve reviewers from the directory. Each operation:

- checks may_manage in the service (PermissionDenied, audited) whatever the caller;
- runs in one transaction with a fixed number of set-based statements whatever the number of
  items or reviewers (no Python loop over them, no bulk_update);
- locks in decisions.py's order: the open stage and its instance first (FOR UPDATE on
  PostgreSQL, which waits for in-flight deciders and keeps new ones out), then items and
  assignments;
- leaves counters equal to a recount from the links (total = links, pending = undecided links);
- writes one audit event with its counts, and changes nothing when run again (a second reset,
  reassign or re-resolve finds nothing to do and returns zero counts without an event; a
  second stop or extend is refused or is a no-op).

People who get items by a reassign or a re-resolve are told, as the start tells reviewers
(a review_started message, deduplicated per operation).

Reset puts each item of the stage back to the decision it carried into the stage: the latest
decision an earlier stage recorded on it (ItemStageHistory), or NotReviewed in stage 1; a
DecisionHistory row (source "", the admin as actor) records every change. Reassign moves only
undecided items: the record of who decided what stays with whoever decided it.
"""

import datetime
import uuid
from dataclasses import asdict, dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import (
    DateTimeField,
    Exists,
    F,
    Func,
    Max,
    OuterRef,
    Subquery,
    UUIDField,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accessreviews.choices import Decision, ReviewerType
from accessreviews.models import (
    DecisionHistory,
    DecisionItem,
    ItemReviewer,
    ItemStageHistory,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import InstanceStatus, ReviewerReason, StageStatus
from accessreviews.permissions import may_manage
from accessreviews.services.named import stage_people
from accessreviews.services.stages import (
    AUDIT_SOURCE,
    REASONS,
    InstanceEndResult,
    StageCloseResult,
    instance_end,
    lock_open_stages,
    stage_close,
)
from accessreviews.services.start import (
    ELIGIBLE,
    T,
    _eligible_params,
    insert_link_rows,
    iso,
    reviewer_messages_create,
)
from directory import audit
from directory.models import PrincipalType, User, UserType
from notifications.models import MessageKind

REASON_MAX = 500
# Longer than any stage a wizard allows; beyond it an "extension" is a new review.
EXTEND_MAX = datetime.timedelta(days=365)
RESET_NOTE = "Reset by an administrator"
NR = Decision.NOT_REVIEWED


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _require_manager(actor, instance: ReviewInstance, what: str) -> None:
    if not may_manage(actor, instance.definition):
        audit.record(actor, f"authz.denied.instance_{what}", instance, {})
        raise PermissionDenied("You may read this review but not manage it.")


def _lock_open_stage(stage: ReviewStage) -> ReviewStage:
    """The stage again, locked (PostgreSQL) and open with its instance, else ValidationError."""
    queryset = ReviewStage.objects.open().filter(pk=stage.pk).select_related("instance")
    if connection.vendor == "postgresql":
        queryset = queryset.select_for_update()  # the stage and its instance, as stages.py
    fresh = queryset.first()
    if fresh is None:
        raise ValidationError("This stage is no longer open; reload the page to see where it is.")
    return fresh


def _recount(stage_id: int, reviewer_ids=None) -> int:
    """Create missing assignments, recount total and pending from links, drop empty ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {T["assignment"]} (stage_id, reviewer_id, total, pending)
                SELECT DISTINCT l.stage_id, l.reviewer_id, 0, 0 FROM {T["link"]} l
                WHERE l.stage_id = %s AND NOT EXISTS (
                    SELECT 1 FROM {T["assignment"]} a
                    WHERE a.stage_id = l.stage_id AND a.reviewer_id = l.reviewer_id)""",
            [stage_id],
        )
    links = ItemReviewer.objects.filter(
        stage_id=OuterRef("stage_id"), reviewer_id=OuterRef("reviewer_id")
    ).order_by()

    def count(queryset):
        return Coalesce(
            Subquery(queryset.annotate(n=Func(F("id"), function="COUNT")).values("n")), 0
        )

    assignments = ReviewerAssignment.objects.filter(stage_id=stage_id)
    if reviewer_ids is not None:
        assignments = assignments.filter(reviewer_id__in=reviewer_ids)
    changed = assignments.update(
        total=count(links), pending=count(links.filter(item__stage_decision=NR))
    )
    assignments.filter(total=0).delete()
    return changed


def _tell_new_reviewers(stage: ReviewStage, recipients, operation) -> int:
    """A "you're a reviewer" message to people who just got items of the stage (one INSERT)."""
    mine = ReviewerAssignment.objects.filter(stage=stage, reviewer_id=OuterRef("id"))
    return reviewer_messages_create(
        stage.instance,
        stage,
        kind=MessageKind.REVIEW_STARTED,
        recipients=recipients,
        counts={"item_count": Subquery(mine.values("pending")[:1])},
        dedupe_prefix=f"reviewer-added:{stage.pk}:{operation.hex}:",
    )


# --- Stop ----------------------------------------------------------------------------------------


def instance_stop(actor, instance: ReviewInstance, now=None) -> InstanceEndResult:
    """End a running instance now: instance_end's path (defaults, Completed, messages)."""
    _require_manager(actor, instance, "stop")
    result = instance_end(instance, now or timezone.now(), actor)
    if not result.ended:
        raise ValidationError("Only a running review can be stopped.")
    return result


def stage_stop(actor, stage: ReviewStage, now=None) -> StageCloseResult | InstanceEndResult:
    """Close the open stage now and open the next; the last stage's stop ends the instance."""
    now = now or timezone.now()
    _require_manager(actor, stage.instance, "stage_stop")
    with transaction.atomic():
        stage = _lock_open_stage(stage)
        stages = len(stage.instance.settings_snapshot.get("stages", []))
        if stage.ordinal >= stages:
            return instance_end(stage.instance, now, actor)
        return stage_close(stage, now, actor)


# --- Reset ---------------------------------------------------------------------------------------


def stage_reset(actor, stage: ReviewStage, now=None) -> int:
    """Put the stage's decided items back to what they carried into it. Returns the count."""
    now = now or timezone.now()
    _require_manager(actor, stage.instance, "stage_reset")
    operation = uuid.uuid4()
    with transaction.atomic():
        stage = _lock_open_stage(stage)
        instance = stage.instance
        carried = (
            ItemStageHistory.objects.filter(item_id=OuterRef("pk"), stage_ordinal__lt=stage.ordinal)
            .exclude(decision=NR)
            .order_by("-stage_ordinal")
        )

        def carried_value(name, default=None):
            value = Subquery(carried.values(name)[:1])
            return value if default is None else Coalesce(value, Value(default))

        count = _insert_reset_history(actor, instance, stage, carried_value, now, operation)
        if not count:
            return 0
        changed = DecisionHistory.objects.filter(audit_operation=operation)
        DecisionItem.objects.filter(pk__in=changed.values("item_id")).update(
            decision=Subquery(changed.filter(item_id=OuterRef("pk")).values("after")[:1]),
            stage_decision=NR,
            decision_source=carried_value("decision_source", ""),
            reviewed_by=carried_value("reviewed_by"),
            reviewed_at=carried_value("reviewed_at"),
            justification=carried_value("justification", ""),
            version=F("version") + 1,
        )
        _recount(stage.pk)
        audit.record(
            actor,
            "stage.reset",
            instance,
            {"stage": stage.ordinal, "count": count},
            operation=operation,
            source=AUDIT_SOURCE,
        )
    return count


def _insert_reset_history(actor, instance, stage, carried_value, now, operation) -> int:
    rows = (
        DecisionItem.objects.filter(instance=instance, stage_ordinal=stage.ordinal)
        .exclude(stage_decision=NR)
        .annotate(
            h_stage=Value(stage.ordinal),
            h_after=carried_value("decision", NR),
            h_source=Value(""),
            h_justification=Value(RESET_NOTE),
            h_actor=Value(actor.pk),
            h_at=Value(now, output_field=DateTimeField()),
            h_operation=Value(operation, output_field=UUIDField()),
        )
        .order_by("pk")
        .values_list(
            "pk",
            "h_stage",
            "decision",
            "h_after",
            "h_source",
            "h_justification",
            "h_actor",
            "h_at",
            "h_operation",
        )
    )
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"{DecisionHistory.insert_sql()} {sql}", params)
        return cursor.rowcount


# --- Extend --------------------------------------------------------------------------------------


def instance_extend(actor, instance: ReviewInstance, new_end, now=None) -> bool:
    """Move a running instance's end, and its last stage's, later. False if already there."""
    now = now or timezone.now()
    _require_manager(actor, instance, "extend")
    with transaction.atomic():
        lock_open_stages(instance.pk)
        current = ReviewInstance.objects.filter(pk=instance.pk).values_list("status", "end_at")[0]
        status, old_end = current
        if status != InstanceStatus.IN_PROGRESS:
            raise ValidationError("Only a running review can be extended.")
        if new_end == old_end:
            return False  # a repeated submit: already done
        _check_new_end(new_end, old_end, now)
        moved = ReviewInstance.objects.filter(
            pk=instance.pk, status=InstanceStatus.IN_PROGRESS, end_at=old_end
        ).update(end_at=new_end)
        if not moved:
            raise ValidationError("The review changed meanwhile; reload and try again.")
        last = max(s["ordinal"] for s in instance.settings_snapshot["stages"])
        ReviewStage.objects.filter(instance_id=instance.pk, ordinal=last).exclude(
            status=StageStatus.COMPLETED
        ).update(end_at=new_end)
        audit.record(
            actor,
            "instance.extended",
            instance,
            {"from": iso(old_end), "to": iso(new_end), "last_stage": last},
        )
    instance.end_at = new_end
    return True


def _check_new_end(new_end, old_end, now) -> None:
    if new_end < old_end:
        raise ValidationError(
            {"new_end": "Choose a time after the current end: a review can only be extended."}
        )
    if new_end <= now:
        raise ValidationError({"new_end": "Choose a time in the future."})
    if new_end > old_end + EXTEND_MAX:
        raise ValidationError(
            {"new_end": "At most a year after the current end; start a new review instead."}
        )


# --- Reassign ------------------------------------------------------------------------------------


@dataclass
class ReassignResult:
    moved: int = 0
    kept: int = 0  # the new reviewer's own access: they never review themselves
    messages: int = 0


def items_reassign(actor, stage: ReviewStage, from_reviewer, to_reviewer, reason: str):
    """Move `from_reviewer`'s undecided items of the open stage to `to_reviewer`."""
    _require_manager(actor, stage.instance, "reassign")
    _refuse_to_self(actor, stage, from_reviewer, to_reviewer)
    reason = _clean_reason(reason)
    _check_people(from_reviewer, to_reviewer)
    result = ReassignResult()
    with transaction.atomic():
        stage = _lock_open_stage(stage)
        undecided = ItemReviewer.objects.filter(
            stage=stage, reviewer=from_reviewer, item__stage_decision=NR
        )
        if not undecided.exists():
            raise ValidationError({"from_reviewer": "This reviewer has nothing left to review."})
        _copy_undecided_links(stage, from_reviewer, to_reviewer)
        # Every undecided link the new reviewer now also holds leaves the old reviewer.
        handed_over = ItemReviewer.objects.filter(
            stage_id=stage.pk, reviewer_id=to_reviewer.pk, item_id=OuterRef("item_id")
        )
        result.moved = undecided.filter(Exists(handed_over)).delete()[0]
        result.kept = undecided.count()
        _recount(stage.pk, [from_reviewer.pk, to_reviewer.pk])
        if result.moved:
            to = User.objects.filter(pk=to_reviewer.pk)
            result.messages = _tell_new_reviewers(stage, to, uuid.uuid4())
        audit.record(
            actor,
            "stage.items_reassigned",
            stage.instance,
            {
                "stage": stage.ordinal,
                "from": from_reviewer.user_principal_name,
                "to": to_reviewer.user_principal_name,
                "reason": reason,
                **asdict(result),
            },
        )
    return result


def _copy_undecided_links(stage, from_reviewer, to_reviewer) -> None:
    """Give `to_reviewer` a REASSIGNED link to each undecided item `from_reviewer` has, except
    their own access and items they already review.

    Own access is left out in every review type: only a SELF link lets a person decide their
    own access (decisions.py), so a REASSIGNED one, even in a self-review, would hand over an
    item nobody could decide. It stays with the current reviewer (counted as kept)."""
    own = f"AND NOT (i.principal_type = '{PrincipalType.USER}' AND i.principal_id = %s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {T["link"]} (stage_id, reviewer_id, sort_key, item_id, reason)
                SELECT l.stage_id, %s, l.sort_key, l.item_id, %s
                FROM {T["link"]} l JOIN {T["item"]} i ON i.id = l.item_id
                WHERE l.stage_id = %s AND l.reviewer_id = %s AND i.stage_decision = %s {own}
                  AND NOT EXISTS (SELECT 1 FROM {T["link"]} x WHERE x.stage_id = l.stage_id
                                  AND x.reviewer_id = %s AND x.item_id = l.item_id)""",
            [
                to_reviewer.pk,
                ReviewerReason.REASSIGNED,
                stage.pk,
                from_reviewer.pk,
                NR,
                to_reviewer.pk,
                to_reviewer.pk,
            ],
        )


def _refuse_to_self(actor, stage, from_reviewer, to_reviewer) -> None:
    """A manager never takes items to decide them: who manages a review does not also review
    it by their own hand (separation of duties, which an auditor checks). Refused, audited."""
    if to_reviewer.pk != actor.pk:
        return
    details = {"stage": stage.ordinal, "from": from_reviewer.user_principal_name}
    audit.record(actor, "authz.denied.instance_reassign_to_self", stage.instance, details)
    raise ValidationError(
        {"to_reviewer": "You manage this review, so you cannot reassign its items to yourself."}
    )


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why: the reason is kept in the audit log."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"At most {REASON_MAX} characters."})
    return reason


def _check_people(from_reviewer, to_reviewer) -> None:
    if from_reviewer.pk == to_reviewer.pk:
        raise ValidationError({"to_reviewer": "Choose someone other than the current reviewer."})
    eligible = User.objects.filter(pk=to_reviewer.pk, is_active=True, deleted_at__isnull=True)
    eligible = eligible.exclude(user_type=UserType.GUEST, guest_invitation_accepted=False)
    if not eligible.exists():
        raise ValidationError(
            {"to_reviewer": "This person cannot review: disabled, deleted or an invited guest."}
        )


def _spec(stage: ReviewStage) -> dict:
    for spec in stage.instance.settings_snapshot.get("stages", []):
        if spec["ordinal"] == stage.ordinal:
            return spec
    raise ValueError(f"stage {stage.ordinal} is not in the instance's snapshot")


# --- Re-resolve ----------------------------------------------------------------------------------


@dataclass
class ReresolveResult:
    added: dict = field(default_factory=dict)
    removed: dict = field(default_factory=dict)
    messages: int = 0

    @property
    def changed(self) -> bool:
        return any(self.added.values()) or any(self.removed.values())


def reviewers_reresolve(actor, stage: ReviewStage) -> ReresolveResult:
    """Recompute the open stage's reviewers from the directory as it is now, keeping every
    decision: new reviewers get links, those who no longer qualify lose the links of items
    they did not decide, fallbacks cover exactly the items left without a reviewer."""
    _require_manager(actor, stage.instance, "reresolve")
    result = ReresolveResult()
    with transaction.atomic():
        stage = _lock_open_stage(stage)
        # Links added below have higher ids: who had none before is a new reviewer.
        before = ItemReviewer.objects.filter(stage=stage).aggregate(last=Max("id"))["last"] or 0
        with connection.cursor() as cursor:
            _relink(cursor, stage, result)
        if not result.changed:
            return result
        _recount(stage.pk)
        result.messages = _tell_new_reviewers(stage, _newcomers(stage, before), uuid.uuid4())
        details = {"stage": stage.ordinal, **asdict(result)}
        audit.record(actor, "stage.reviewers_reresolved", stage.instance, details)
    return result


def _relink(cursor, stage: ReviewStage, result: ReresolveResult) -> None:
    """Add the reviewers who qualify now, drop who no longer does, then the fallbacks."""
    instance, spec = stage.instance, _spec(stage)
    reviewer_type = spec["reviewer_type"]
    reason = REASONS[reviewer_type]
    # Who is named comes from the snapshot (editing the series never changes a running
    # review); who that resolves to (owners, managers, group members) is the directory now.
    candidates, fallbacks = stage_people(spec, instance)
    not_own, not_theirs = _not_own(reviewer_type != ReviewerType.SELF), _not_own(True)
    in_stage = f"AND i.stage_ordinal = {int(stage.ordinal)}"
    # Not twice, and not on items an admin reassigned (re-resolve must not undo that).
    unlinked = (
        f"AND NOT EXISTS (SELECT 1 FROM {T['link']} x WHERE x.stage_id = {int(stage.pk)} "
        f"AND x.item_id = i.id AND (x.reviewer_id = r.id "
        f"OR x.reason = '{ReviewerReason.REASSIGNED}'))"
    )
    result.added[reason] = 0
    if candidates:
        extra = f"{not_own} {in_stage} {unlinked}"
        result.added[reason] = insert_link_rows(cursor, stage, candidates, reason, extra)
    result.removed[reason] = _drop_unqualified(cursor, stage, reason, candidates, not_own)
    fallback = ReviewerReason.FALLBACK
    result.removed[fallback] = _drop_unqualified(
        cursor, stage, fallback, fallbacks, not_theirs, covered=True
    )
    result.added[fallback] = 0
    if fallbacks:
        fallback_sql, fallback_params = fallbacks
        uncovered = (
            f"{fallback_sql} AND NOT EXISTS (SELECT 1 FROM {T['link']} l "
            "WHERE l.stage_id = %s AND l.item_id = i.id)",
            [*fallback_params, stage.pk],
        )
        extra = f"{not_theirs} {in_stage}"
        result.added[fallback] = insert_link_rows(cursor, stage, uncovered, fallback, extra)


def _newcomers(stage: ReviewStage, before: int):
    """Reviewers whose every link of the stage is newer than `before`."""
    links = ItemReviewer.objects.filter(stage=stage)
    return User.objects.filter(pk__in=links.filter(id__gt=before).values("reviewer_id")).exclude(
        pk__in=links.filter(id__lte=before).values("reviewer_id")
    )


def _not_own(applies: bool) -> str:
    if not applies:
        return ""
    return f"AND NOT (i.principal_type = '{PrincipalType.USER}' AND i.principal_id = r.id)"


def _drop_unqualified(cursor, stage, reason, candidates, not_own, covered=False) -> int:
    """Delete the stage's links with this reason whose reviewer no longer qualifies for the
    item (or, for fallbacks, whose item has another reviewer now), unless they decided it."""
    link, item = _q(T["link"]), _q(T["item"])
    where, params = [f"{link}.stage_id = %s", f"{link}.reason = %s"], [stage.pk, reason]
    where.append(
        f"""NOT EXISTS (SELECT 1 FROM {item} d WHERE d.id = {link}.item_id
              AND d.stage_decision <> %s AND d.reviewed_by_id = {link}.reviewer_id)"""
    )
    params.append(NR)
    still = "1 = 0"  # no candidate query (e.g. group owners of an application): none qualify
    if candidates:
        candidate_sql, candidate_params = candidates
        still = f"""EXISTS (SELECT 1 FROM ({candidate_sql}) c
                     JOIN {T["item"]} i ON i.id = c.item_id
                     JOIN {T["user"]} r ON r.id = c.reviewer_id
                     WHERE c.item_id = {link}.item_id AND c.reviewer_id = {link}.reviewer_id
                       AND {ELIGIBLE} {not_own})"""
        params += [*candidate_params, *_eligible_params()]
    if covered:
        still = f"""({still} AND NOT EXISTS (SELECT 1 FROM {link} p
                     WHERE p.stage_id = {link}.stage_id AND p.item_id = {link}.item_id
                       AND p.reason <> %s))"""
        params.append(ReviewerReason.FALLBACK)
    where.append(f"NOT {still}")
    cursor.execute(f"DELETE FROM {link} WHERE {' AND '.join(where)}", params)
    return cursor.rowcount

"""Starting due occurrences: one instance per resource in scope, set-based (DESIGN.md flow 2).

The tick starts an occurrence in two steps, so a start that fails leaves nothing behind yet is
tried again:

1. instances_create_due(): per due series, one transaction claims the occurrence (a conditional
   UPDATE of next_occurrence_index), audits skipped ones and writes one NotStarted instance per
   resource, carrying the settings snapshot.
2. instances_initialise_due(): each NotStarted instance (fewer than MAX_START_ATTEMPTS failed
   attempts) is initialised in its own transaction, claimed NotStarted -> Initializing, with a
   fixed number of statements whatever the size of the resource: the items are one
   INSERT ... SELECT over directory/access.py's query, the reviewer links one per reason plus
   one for fallbacks, the assignments one GROUP BY, the messages one INSERT ... SELECT. There
   is no Python loop over members. An exception rolls all of it back (items, links, messages,
   audit event, the claim); the failure is then counted in a transaction of its own, and the
   third one marks the instance Failed (failed_step start) for the work queue's Retry. Only an
   active series' instances start (a paused or ended series' wait); one whose window closed
   before it could start is marked Failed with that reason (Retry refuses it too).

An instance process killed mid-start rolls back the same way but is not counted (nothing was
left to count it); the next tick simply tries again.
"""

import datetime
import logging
import zoneinfo
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import CharField, Exists, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone

from accessreviews import schedule
from accessreviews.choices import (
    Decision,
    PrincipalScope,
    ReviewerType,
    RoleAssignmentScope,
    ScopeType,
    SeriesStatus,
)
from accessreviews.models import (
    DecisionItem,
    DefinitionStage,
    ItemReviewer,
    ReviewDefinition,
    ReviewerAssignment,
    ReviewInstance,
    ReviewStage,
)
from accessreviews.models.instances import (
    ApplyResult,
    FailedStep,
    InstanceStatus,
    Recommendation,
    ReviewerReason,
    StageStatus,
)
from accessreviews.nudge import tick_nudge_after_commit
from accessreviews.permissions import may_manage
from accessreviews.snapshot import definition_snapshot
from directory import audit
from directory.access import members_at_any_depth, principals_with_access
from directory.models import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
    DirectoryRole,
    Group,
    GroupMembership,
    GroupOwner,
    MembershipType,
    PrincipalType,
    ResourceType,
    RoleAssignmentKind,
    User,
    UserType,
)
from directory.models.groups import GroupKind
from notifications.models import MessageKind
from notifications.services import messages_create_many

logger = logging.getLogger(__name__)

UTC = datetime.UTC
MAX_START_ATTEMPTS = 3
# PostgreSQL plans the first decisions on a big new stage from statistics that have never seen
# it (autovacuum analyses later): a decide-all right after the start would nest a loop over
# every link inside one over every history row. A start this big analyses the item and link
# tables itself (ANALYZE samples a bounded number of rows, whatever the table's size).
ANALYZE_AFTER_ITEMS = 10_000
LAST_ERROR_MAX = 2000
WINDOW_CLOSED = "the review window closed before it could start: it is not started"

T = {
    "item": DecisionItem._meta.db_table,
    "link": ItemReviewer._meta.db_table,
    "assignment": ReviewerAssignment._meta.db_table,
    "user": User._meta.db_table,
    "group": Group._meta.db_table,
    "group_owner": GroupOwner._meta.db_table,
    "membership": GroupMembership._meta.db_table,
    "app_owner": ApplicationOwner._meta.db_table,
    "app_sign_in": ApplicationSignIn._meta.db_table,
    "stage_reviewer_users": DefinitionStage.reviewer_users.through._meta.db_table,
    "stage_reviewer_groups": DefinitionStage.reviewer_groups.through._meta.db_table,
    "stage_fallback_users": DefinitionStage.fallback_users.through._meta.db_table,
    "stage_fallback_groups": DefinitionStage.fallback_groups.through._meta.db_table,
}

ROLE_KINDS = {
    RoleAssignmentScope.ACTIVE: (RoleAssignmentKind.ACTIVE,),
    RoleAssignmentScope.ELIGIBLE: (RoleAssignmentKind.ELIGIBLE,),
    RoleAssignmentScope.BOTH: (RoleAssignmentKind.ACTIVE, RoleAssignmentKind.ELIGIBLE),
}


@dataclass
class StartCounts:
    definitions: int = 0
    instances: int = 0
    duplicates: int = 0
    skipped_occurrences: int = 0
    failures: int = 0
    instance_ids: list[int] = field(default_factory=list)


# --- The tick's part ---------------------------------------------------------------------------


def instances_start_due(now=None) -> StartCounts:
    """Start every due occurrence, then initialise every instance waiting to start. Safe twice
    and concurrently: each series is claimed by a conditional UPDATE of its
    next_occurrence_index, each instance by its NotStarted -> Initializing transition, and
    instances are unique per (definition, resource, occurrence start)."""
    now = now or timezone.now()
    counts = StartCounts()
    instances_create_due(now, counts)
    instances_initialise_due(now, counts)
    return counts


def instances_create_due(now, counts: StartCounts) -> None:
    for definition_id in list(ReviewDefinition.objects.due(now).values_list("pk", flat=True)):
        try:
            occurrence_create_due(definition_id, now, counts)
        except Exception:  # noqa: BLE001 - rolled back whole, claim included: the next tick retries
            logger.exception("start of the due occurrence of review %s failed", definition_id)
            counts.failures += 1


def occurrence_create_due(definition_id: int, now, counts: StartCounts) -> None:
    """Claim a series' due occurrence and write its NotStarted instances, in one transaction."""
    with transaction.atomic():
        definition = ReviewDefinition.objects.filter(pk=definition_id).first()
        if definition is None or definition.status != SeriesStatus.ACTIVE:
            return
        plan = definition.schedule()
        work = schedule.due_work(plan, definition.next_occurrence_index, now)
        if not occurrence_claim(definition, work.next_index, work.next):
            return  # another tick took it
        counts.definitions += 1
        if work.skipped:
            counts.skipped_occurrences += len(work.skipped)
            audit.record(
                None,
                "definition.occurrences_skipped",
                definition,
                {
                    "count": len(work.skipped),
                    "first": iso(work.skipped[0].start),
                    "last": iso(work.skipped[-1].start),
                },
            )
        if work.start is not None:
            instances_create(definition, work.start, work.start.start, counts)


def occurrence_claim(definition: ReviewDefinition, next_index: int, following) -> bool:
    """Move the series past its next occurrence, if nobody did meanwhile."""
    return bool(
        ReviewDefinition.objects.filter(
            pk=definition.pk,
            status=SeriesStatus.ACTIVE,
            next_occurrence_index=definition.next_occurrence_index,
        ).update(
            next_occurrence_index=next_index,
            next_occurrence_at=following.start if following else None,
        )
    )


def instances_create(definition, occurrence, start_at, counts: StartCounts) -> None:
    """One NotStarted instance per resource in scope, from `start_at` to the end of the same
    local wall time `duration` calendar days later (the occurrence's own end when it starts
    on time)."""
    snapshot = definition_snapshot(definition)
    end_at = _end_after(definition.time_zone, start_at, _days(snapshot["stages"]))
    if start_at == occurrence.start:
        end_at = occurrence.end
    resources = resources_in_scope(definition)
    names = _resource_names(resources)
    started = started_resources(definition, occurrence)
    new = [
        ReviewInstance(
            **_instance_fields(definition, occurrence, resource_type, resource_id),
            resource_name=names[resource_id],
            start_at=start_at,
            end_at=end_at,
            settings_snapshot=snapshot,
        )
        for resource_type, resource_id in resources
        if (resource_type, resource_id) not in started
    ]
    # A few multi-row INSERTs, however many groups the scope holds. Both callers hold the
    # occurrence's claim, so no other writer races this one; were one to, the unique
    # constraint (one instance per resource and occurrence) refuses the INSERT and the whole
    # claim rolls back. (Not ignore_conflicts: SQLite's INSERT OR IGNORE would also skip a row
    # that breaks a CHECK constraint.)
    ReviewInstance.objects.bulk_create(new, batch_size=500)
    counts.duplicates += len(resources) - len(new)


def started_resources(definition, occurrence) -> set[tuple[str, int]]:
    """The resources that already have their instance of this occurrence."""
    existing = ReviewInstance.objects.filter(
        definition=definition, occurrence_start=occurrence.start
    )
    return set(existing.values_list("resource_type", "resource_id"))


def instances_initialise_due(now, counts: StartCounts) -> None:
    """Initialise the NotStarted instances due now (one read finds them all). Only an active
    series' instances start (a paused or ended series' wait), and only while their window is
    open: once it has closed the instance is failed instead, as Retry refuses it too."""
    waiting = ReviewInstance.objects.filter(
        status=InstanceStatus.NOT_STARTED,
        attempts__lt=MAX_START_ATTEMPTS,
        start_at__lte=now,
    ).order_by("start_at", "pk")
    rows = list(waiting.values_list("pk", "end_at", "definition__status"))
    for instance_id, end_at, series_status in rows:
        if end_at <= now:
            counts.failures += instance_fail_closed(instance_id, now)
            continue
        if series_status != SeriesStatus.ACTIVE:
            continue
        try:
            instance = instance_initialise(instance_id)
        except Exception as error:  # noqa: BLE001 - any failure is counted, and retried
            logger.exception("start of review instance %s failed", instance_id)
            instance_start_failed(instance_id, error)
            counts.failures += 1
            continue
        if instance is not None:
            counts.instances += 1
            counts.instance_ids.append(instance.pk)


def instance_fail_closed(instance_id: int, now) -> bool:
    """Mark Failed (failed_step start, the reason in last_error, audited) a NotStarted instance
    whose window closed before it started: nobody could review it any more."""
    with transaction.atomic():
        closed = ReviewInstance.objects.filter(
            pk=instance_id, status=InstanceStatus.NOT_STARTED, end_at__lte=now
        )
        if not closed.update(
            status=InstanceStatus.FAILED, failed_step=FailedStep.START, last_error=WINDOW_CLOSED
        ):
            return False  # another tick, or it started meanwhile
        instance = ReviewInstance.objects.get(pk=instance_id)
        audit.record(
            None,
            "instance.failed",
            instance,
            {"step": FailedStep.START, "attempts": instance.attempts, "error": WINDOW_CLOSED},
        )
    return True


def instance_initialise(instance_id: int) -> ReviewInstance | None:
    """Claim a NotStarted instance and initialise it, in one transaction (None if not claimed)."""
    with transaction.atomic():
        claimed = ReviewInstance.objects.filter(
            pk=instance_id,
            status=InstanceStatus.NOT_STARTED,
            attempts__lt=MAX_START_ATTEMPTS,
        ).update(status=InstanceStatus.INITIALIZING)
        if not claimed:
            return None  # another tick has it, or an admin changed it
        instance = ReviewInstance.objects.select_related("definition").get(pk=instance_id)
        _initialise(instance.definition, instance)
    return instance


def instance_start_failed(instance_id: int, error: Exception) -> None:
    """Count a failed attempt (its own transaction: the attempt itself was rolled back); the
    last one allowed marks the instance Failed, with the error, for an admin's Retry."""
    message = f"{type(error).__name__}: {error}"[:LAST_ERROR_MAX]
    with transaction.atomic():
        ReviewInstance.objects.filter(pk=instance_id, status=InstanceStatus.NOT_STARTED).update(
            attempts=F("attempts") + 1, last_error=message
        )
        failed = ReviewInstance.objects.filter(
            pk=instance_id,
            status=InstanceStatus.NOT_STARTED,
            attempts__gte=MAX_START_ATTEMPTS,
        ).update(status=InstanceStatus.FAILED, failed_step=FailedStep.START)
        if failed:
            instance = ReviewInstance.objects.get(pk=instance_id)
            audit.record(
                None,
                "instance.failed",
                instance,
                {"step": FailedStep.START, "attempts": instance.attempts, "error": message},
            )


def resources_in_scope(definition: ReviewDefinition) -> list[tuple[str, int]]:
    scope = definition.scope_type
    if scope == ScopeType.GROUP_MEMBERS:
        ids = definition.groups.values_list("pk", flat=True)
        return [(ResourceType.GROUP, pk) for pk in sorted(ids)]
    if scope == ScopeType.APPLICATION_ASSIGNEES:
        ids = definition.applications.values_list("pk", flat=True)
        return [(ResourceType.APPLICATION, pk) for pk in sorted(ids)]
    if scope == ScopeType.ROLE_ASSIGNEES:
        ids = definition.roles.values_list("pk", flat=True)
        return [(ResourceType.DIRECTORY_ROLE, pk) for pk in sorted(ids)]
    if scope == ScopeType.ALL_GROUPS_WITH_GUESTS:
        return [(ResourceType.GROUP, pk) for pk in eligible_guest_groups(definition)]
    raise ValueError(f"unknown scope {scope!r}")


def eligible_guest_groups(definition: ReviewDefinition) -> list[int]:
    """Microsoft 365 groups, assigned membership, not role-assignable, not excluded, with at
    least one guest among their direct members (one query)."""
    has_guest = GroupMembership.objects.filter(
        group_id=OuterRef("pk"), user__user_type=UserType.GUEST
    )
    return list(
        Group.objects.filter(kind=GroupKind.MICROSOFT_365, is_role_assignable=False)
        .exclude(membership_type=MembershipType.DYNAMIC)
        .exclude(pk__in=definition.excluded_groups.values("pk"))
        .filter(Exists(has_guest))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- One instance ------------------------------------------------------------------------------


def iso(instant: datetime.datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _db_time(instant: datetime.datetime):
    return connection.ops.adapt_datetimefield_value(instant)


def _uuid_sql() -> str:
    if connection.vendor == "postgresql":
        return "gen_random_uuid()"
    return "lower(hex(randomblob(16)))"  # Django keeps SQLite UUIDs as 32 hex digits


RESOURCE_MODELS = {
    ResourceType.GROUP: Group,
    ResourceType.APPLICATION: Application,
    ResourceType.DIRECTORY_ROLE: DirectoryRole,
}


def _resource_name(resource_type: str, resource_id: int) -> str:
    model = RESOURCE_MODELS[resource_type]
    return model.objects.filter(pk=resource_id).values_list("name", flat=True).get()


def _resource_names(resources: list[tuple[str, int]]) -> dict[int, str]:
    """Names of a series' resources (all of one type), in one query."""
    if not resources:
        return {}
    model = RESOURCE_MODELS[resources[0][0]]
    return dict(model.objects.filter(pk__in=[pk for _, pk in resources]).values_list("pk", "name"))


def _days(stages: list[dict]) -> int:
    return sum(stage["duration_days"] for stage in stages)


def _end_after(zone_name: str, start: datetime.datetime, days: int) -> datetime.datetime:
    """The same local wall time as `start`, `days` calendar days later."""
    zone = zoneinfo.ZoneInfo(zone_name)
    local = start.astimezone(zone)
    return schedule.to_utc(local.date() + datetime.timedelta(days=days), local.time(), zone)


def _stage_windows(definition, instance: ReviewInstance, stages: list[dict]) -> list[tuple]:
    """(start, end) of each stage: stage k ends at the local wall time of the instance start
    plus the durations of stages 1..k (calendar days, as DESIGN.md "Time" says). An occurrence
    started on time follows its schedule, so a start moved by a DST gap keeps its wall time."""
    on_time = instance.start_at == instance.occurrence_start
    windows, start, days = [], instance.start_at, 0
    for stage in stages:
        days += stage["duration_days"]
        if on_time:
            end = schedule.occurrence(definition.schedule(days), instance.occurrence_index).end
        else:
            end = _end_after(definition.time_zone, instance.start_at, days)
        windows.append((start, end))
        start = end
    return windows


def _instance_fields(definition, occurrence, resource_type: str, resource_id: int) -> dict:
    return {
        "definition": definition,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "occurrence_index": occurrence.index,
        "occurrence_start": occurrence.start,
    }


def instance_start(
    definition: ReviewDefinition,
    occurrence: schedule.Occurrence,
    resource_type: str,
    resource_id: int,
    *,
    snapshot: dict | None = None,
) -> ReviewInstance:
    """Start one instance over one resource on time, in one transaction (IntegrityError if it
    exists): the tick's two steps in one, for callers that start a single resource."""
    snapshot = snapshot if snapshot is not None else definition_snapshot(definition)
    with transaction.atomic():
        instance = ReviewInstance.objects.create(
            **_instance_fields(definition, occurrence, resource_type, resource_id),
            resource_name=_resource_name(resource_type, resource_id),
            start_at=occurrence.start,
            end_at=occurrence.end,
            status=InstanceStatus.INITIALIZING,
            settings_snapshot=snapshot,
        )
        _initialise(definition, instance)
    return instance


def _initialise(definition: ReviewDefinition, instance: ReviewInstance) -> None:
    """Stages, items, links, assignments, messages and the audit event of a claimed instance
    (status Initializing), inside the caller's transaction."""
    snapshot = instance.settings_snapshot
    stages = snapshot["stages"]
    windows = _stage_windows(definition, instance, stages)
    review_stages = ReviewStage.objects.bulk_create(
        [
            ReviewStage(
                instance=instance,
                ordinal=spec["ordinal"],
                start_at=start,
                end_at=end,
                status=StageStatus.IN_PROGRESS if i == 0 else StageStatus.NOT_STARTED,
            )
            for i, (spec, (start, end)) in enumerate(zip(stages, windows, strict=True))
        ]
    )
    stage = review_stages[0]
    with connection.cursor() as cursor:
        item_count = _insert_items(cursor, instance, snapshot)
        links = _insert_links(cursor, instance, stage, stages[0]) if item_count else {}
        reviewers = insert_assignments(cursor, stage) if item_count else 0
        if connection.vendor == "postgresql" and item_count >= ANALYZE_AFTER_ITEMS:
            cursor.execute(f"ANALYZE {T['item']}, {T['link']}")
    messages = 0
    if reviewers:
        messages = _create_messages(instance, stage)
    if item_count:
        ReviewInstance.objects.filter(pk=instance.pk).update(
            status=InstanceStatus.IN_PROGRESS, current_stage=1
        )
        instance.status, instance.current_stage = InstanceStatus.IN_PROGRESS, 1
    else:
        now = timezone.now()
        ReviewStage.objects.filter(instance=instance).update(status=StageStatus.COMPLETED)
        ReviewInstance.objects.filter(pk=instance.pk).update(
            status=InstanceStatus.COMPLETED, completed_at=now
        )
        instance.status, instance.completed_at = InstanceStatus.COMPLETED, now
    audit.record(
        None,
        "instance.started",
        instance,
        {
            "definition": definition.pk,
            "resource_type": instance.resource_type,
            "resource_id": instance.resource_id,
            "occurrence_index": instance.occurrence_index,
            "items": item_count,
            "links": links,
            "reviewers": reviewers,
            "messages": messages,
            "status": instance.status,
        },
    )


def _insert_items(cursor, instance: ReviewInstance, snapshot: dict) -> int:
    scope = snapshot["scope"]
    access = principals_with_access(
        instance.resource_type,
        instance.resource_id,
        expand_groups=True,
        role_kinds=ROLE_KINDS[scope["role_assignment_scope"]],
    )
    start = instance.start_at
    look_back = start - datetime.timedelta(
        days=snapshot["settings"]["recommendation_look_back_days"]
    )
    if instance.resource_type == ResourceType.APPLICATION:
        sign_in = "s.last_sign_in_at"
        sign_in_join = (
            f"LEFT JOIN {T['app_sign_in']} s ON s.application_id = %s AND s.user_id = u.id"
        )
        join_params = [instance.resource_id]
    else:
        sign_in, sign_in_join, join_params = "u.last_sign_in_at", "", []
    where, where_params = ["(u.id IS NOT NULL OR g.id IS NOT NULL)"], []
    if scope["principal_scope"] == PrincipalScope.GUESTS_ONLY:
        where.append("u.user_type = %s")
        where_params.append(UserType.GUEST)
    if scope["inactive_days"]:
        # Inactive: no sign-in within the N days before the start, and not created within them.
        inactive_since = _db_time(start - datetime.timedelta(days=scope["inactive_days"]))
        where.append(
            f"u.id IS NOT NULL AND ({sign_in} IS NULL OR {sign_in} < %s) AND u.created_at < %s"
        )
        where_params += [inactive_since, inactive_since]
    # Groups (role-assignable groups in role reviews) do not sign in: no information.
    recommendation = f"""CASE
        WHEN u.id IS NULL THEN '{Recommendation.NO_INFO}'
        WHEN {sign_in} >= %s THEN '{Recommendation.APPROVE}'
        WHEN u.created_at >= %s THEN '{Recommendation.NO_INFO}'
        ELSE '{Recommendation.DENY}' END"""
    recommendation_params = [_db_time(look_back), _db_time(look_back)]
    sql = f"""
        INSERT INTO {T["item"]} (
            uuid, instance_id, principal_type, principal_id, principal_name, principal_upn,
            principal_email, principal_user_type, sort_key, access_path, via_group_id,
            via_group_name, stage_ordinal, stage_decision, decision, decision_source,
            justification, recommendation, last_sign_in_at, apply_result, apply_detail,
            verification, version)
        SELECT {_uuid_sql()}, %s, a.principal_type, a.principal_id,
               COALESCE(u.display_name, g.name), COALESCE(u.user_principal_name, ''),
               COALESCE(u.email, ''), COALESCE(u.user_type, ''),
               LOWER(COALESCE(u.display_name, g.name)), a.access_path, a.via_group_id,
               COALESCE(vg.name, ''), 1, %s, %s, '', '', {recommendation},
               {sign_in}, %s, '', '', 0
        FROM ({access.sql}) a
        LEFT JOIN {T["user"]} u ON a.principal_type = '{PrincipalType.USER}'
             AND u.id = a.principal_id
        LEFT JOIN {T["group"]} g ON a.principal_type = '{PrincipalType.GROUP}'
             AND g.id = a.principal_id
        LEFT JOIN {T["group"]} vg ON vg.id = a.via_group_id
        {sign_in_join}
        WHERE {" AND ".join(where)}"""
    params = [
        instance.pk,
        Decision.NOT_REVIEWED,
        Decision.NOT_REVIEWED,
        *recommendation_params,
        ApplyResult.NEW,
        *access.params,
        *join_params,
        *where_params,
    ]
    cursor.execute(sql, params)
    return cursor.rowcount


# Who may review at all: enabled, not deleted, and guests only once they accepted.
ELIGIBLE = (
    "r.is_active = %s AND r.deleted_at IS NULL "
    "AND NOT (r.user_type = %s AND r.guest_invitation_accepted = %s)"
)


def _eligible_params():
    return [True, UserType.GUEST, False]


def reviewer_candidates(reviewer_type: str, instance: ReviewInstance, definition_stage_id: int):
    """SQL selecting (item_id, reviewer_id) for the stage's reviewer type, with params."""
    item = f"FROM {T['item']} i"
    if reviewer_type == ReviewerType.GROUP_OWNERS:
        if instance.resource_type != ResourceType.GROUP:
            return None
        return (
            f"SELECT i.id AS item_id, o.user_id AS reviewer_id {item} "
            f"JOIN {T['group_owner']} o ON o.group_id = %s WHERE i.instance_id = %s",
            [instance.resource_id, instance.pk],
        )
    if reviewer_type == ReviewerType.APPLICATION_OWNERS:
        if instance.resource_type != ResourceType.APPLICATION:
            return None
        return (
            f"SELECT i.id AS item_id, o.user_id AS reviewer_id {item} "
            f"JOIN {T['app_owner']} o ON o.application_id = %s WHERE i.instance_id = %s",
            [instance.resource_id, instance.pk],
        )
    if reviewer_type == ReviewerType.MANAGERS:
        return (
            f"SELECT i.id AS item_id, p.manager_id AS reviewer_id {item} "
            f"JOIN {T['user']} p ON i.principal_type = '{PrincipalType.USER}' "
            "AND p.id = i.principal_id WHERE i.instance_id = %s AND p.manager_id IS NOT NULL",
            [instance.pk],
        )
    if reviewer_type == ReviewerType.SELF:
        return (
            f"SELECT i.id AS item_id, i.principal_id AS reviewer_id {item} "
            f"WHERE i.instance_id = %s AND i.principal_type = '{PrincipalType.USER}'",
            [instance.pk],
        )
    if reviewer_type == ReviewerType.SELECTED:
        return people(
            T["stage_reviewer_users"], T["stage_reviewer_groups"], instance, definition_stage_id
        )
    raise ValueError(f"unknown reviewer type {reviewer_type!r}")


def people(users_table: str, groups_table: str, instance, definition_stage_id: int):
    """SQL selecting (item_id, reviewer_id): every item of the instance with each user named
    on the stage and each member, at any depth, of the groups named on it."""
    members_sql, members_params = members_at_any_depth(
        f"SELECT sg.group_id FROM {groups_table} sg WHERE sg.definitionstage_id = %s",
        [definition_stage_id],
    )
    return (
        f"SELECT i.id AS item_id, x.user_id AS reviewer_id FROM {T['item']} i JOIN ("
        f"SELECT su.user_id FROM {users_table} su WHERE su.definitionstage_id = %s "
        f"UNION SELECT gm.user_id FROM ({members_sql}) gm"
        ") x ON 1 = 1 WHERE i.instance_id = %s",
        [definition_stage_id, *members_params, instance.pk],
    )


def _insert_links(cursor, instance, stage: ReviewStage, spec: dict) -> dict:
    definition_stage_id = (
        DefinitionStage.objects.filter(
            definition_id=instance.definition_id, ordinal=spec["ordinal"]
        )
        .values_list("pk", flat=True)
        .first()
    )
    reviewer_type = spec["reviewer_type"]
    reason = {
        ReviewerType.GROUP_OWNERS: ReviewerReason.OWNER,
        ReviewerType.APPLICATION_OWNERS: ReviewerReason.OWNER,
        ReviewerType.MANAGERS: ReviewerReason.MANAGER,
        ReviewerType.SELECTED: ReviewerReason.SELECTED,
        ReviewerType.SELF: ReviewerReason.SELF,
    }[reviewer_type]
    not_own = (
        ""
        if reviewer_type == ReviewerType.SELF
        else (f"AND NOT (i.principal_type = '{PrincipalType.USER}' AND i.principal_id = r.id)")
    )
    counts = {}
    candidates = reviewer_candidates(reviewer_type, instance, definition_stage_id)
    if candidates:
        counts[reason] = insert_link_rows(cursor, stage, candidates, reason, not_own)
    fallback_sql, fallback_params = people(
        T["stage_fallback_users"], T["stage_fallback_groups"], instance, definition_stage_id
    )
    fallback = (
        f"{fallback_sql} AND NOT EXISTS (SELECT 1 FROM {T['link']} l "
        "WHERE l.stage_id = %s AND l.item_id = i.id)",
        [*fallback_params, stage.pk],
    )
    not_principal = f"AND NOT (i.principal_type = '{PrincipalType.USER}' AND i.principal_id = r.id)"
    counts[ReviewerReason.FALLBACK] = insert_link_rows(
        cursor, stage, fallback, ReviewerReason.FALLBACK, not_principal
    )
    return counts


def insert_link_rows(cursor, stage, candidates, reason: str, extra_where: str) -> int:
    candidate_sql, candidate_params = candidates
    sql = f"""
        INSERT INTO {T["link"]} (stage_id, reviewer_id, sort_key, item_id, reason)
        SELECT DISTINCT %s, r.id, i.sort_key, i.id, %s
        FROM ({candidate_sql}) c
        JOIN {T["item"]} i ON i.id = c.item_id
        JOIN {T["user"]} r ON r.id = c.reviewer_id
        WHERE {ELIGIBLE} {extra_where}"""
    cursor.execute(sql, [stage.pk, reason, *candidate_params, *_eligible_params()])
    return cursor.rowcount


def insert_assignments(cursor, stage: ReviewStage) -> int:
    cursor.execute(
        f"""INSERT INTO {T["assignment"]} (stage_id, reviewer_id, total, pending)
            SELECT stage_id, reviewer_id, COUNT(*), COUNT(*) FROM {T["link"]}
            WHERE stage_id = %s GROUP BY stage_id, reviewer_id""",
        [stage.pk],
    )
    return cursor.rowcount


def reviewer_messages_create(
    instance: ReviewInstance,
    stage: ReviewStage,
    *,
    kind: str,
    recipients,
    counts: dict,
    dedupe_prefix: str,
) -> int:
    """Tell reviewers about their part of `stage`, one message each (one INSERT ... SELECT).

    Start, the next stage, reminders and new reviewers after a reassign or re-resolve say the
    same things from the settings snapshot; only the kind, the recipients (a User QuerySet),
    the per-recipient `counts` (expressions such as their assignment's total) and the dedupe key
    (prefix + user id) differ."""
    snapshot = instance.settings_snapshot
    settings = snapshot["settings"]
    return messages_create_many(
        recipients=recipients,
        kind=kind,
        context={
            "review_name": settings["name"],
            "resource_type": instance.resource_type,
            "resource_name": instance.resource_name,
            "reviewer_description": settings["description_for_reviewers"],
            "stage": stage.ordinal,
            "stage_count": len(snapshot["stages"]),
            "due_at": iso(stage.end_at),
            "link": reverse("accessreviews:review-open", args=[instance.uuid]),
            **counts,
        },
        dedupe_key=Concat(Value(dedupe_prefix), Cast("id", CharField()), output_field=CharField()),
        email=settings["mail_notifications_enabled"],
    )


def _create_messages(instance, stage: ReviewStage) -> int:
    assignments = ReviewerAssignment.objects.filter(stage=stage)
    total = Subquery(assignments.filter(reviewer_id=OuterRef("id")).values("total")[:1])
    return reviewer_messages_create(
        instance,
        stage,
        kind=MessageKind.REVIEW_STARTED,
        recipients=User.objects.filter(pk__in=assignments.values("reviewer_id")),
        counts={"item_count": total},
        dedupe_prefix=f"review-started:{instance.pk}:{stage.ordinal}:",
    )


# --- Start now ---------------------------------------------------------------------------------

# An instance in one of these is "running": a series starts its next occurrence only after.
RUNNING = (
    InstanceStatus.NOT_STARTED,
    InstanceStatus.INITIALIZING,
    InstanceStatus.IN_PROGRESS,
    InstanceStatus.AUTO_REVIEWING,
)


def definition_start_now(actor, definition: ReviewDefinition, now=None) -> int:
    """Start the series' next occurrence now, as an admin asks from the series page.

    The occurrence keeps its duration (its stages end at the same local wall time as now, N
    calendar days later) and the series goes on with the following one as scheduled, as
    Entra's "start now" does. The request writes the NotStarted instances only; the tick (or
    the nudge after commit) initialises them. Returns how many instances it wrote.
    """
    now = now or timezone.now()
    if not may_manage(actor, definition):
        audit.record(actor, "authz.denied.definition_start_now", definition, {})
        raise PermissionDenied("You may read this review but not manage it.")
    with transaction.atomic():
        definition.refresh_from_db()
        occurrence, following = _next_to_start_now(definition)
        if not occurrence_claim(definition, occurrence.index + 1, following):
            raise ValidationError("The series changed meanwhile; reload and try again.")
        counts = StartCounts()
        instances_create(definition, occurrence, now, counts)
        created = ReviewInstance.objects.filter(
            definition=definition, occurrence_start=occurrence.start
        ).count()
        audit.record(
            actor,
            "definition.started_now",
            definition,
            {
                "occurrence_index": occurrence.index,
                "scheduled_start": iso(occurrence.start),
                "start": iso(now),
                "instances": created,
            },
        )
        tick_nudge_after_commit()
    definition.refresh_from_db()
    return created


def _next_to_start_now(definition: ReviewDefinition):
    """The series' next unstarted occurrence and the one after it; ValidationError if the
    series may not start now."""
    if definition.status != SeriesStatus.ACTIVE:
        raise ValidationError("Only an active series can be started now.")
    if definition.instances.filter(status__in=RUNNING).exists():
        raise ValidationError("A review of this series is running: start the next one after it.")
    plan = definition.schedule()
    index = definition.next_occurrence_index
    if not schedule.exists(plan, index):
        raise ValidationError("This series has no more occurrences to start.")
    following = schedule.occurrence(plan, index + 1) if schedule.exists(plan, index + 1) else None
    return schedule.occurrence(plan, index), following

"""Applying a completed instance's decisions (issue 5 "Apply", DESIGN.md flow 5).

Completed -> Applying -> Applied, by an admin's confirmation after the preview, or by the tick
when the series auto-applies (unless the removal share is over the definition's limit: then
the instance waits at Completed with needs_confirmation). The work is done by the tick (or a
nudged worker), never by the web request, in committed chunks of APPLY_CHUNK_SIZE denied items:

1. lock the instance row (a second worker skips it: PostgreSQL SKIP LOCKED; SQLite's IMMEDIATE
   transactions serialise writers, and the second then finds the chunk done);
2. find the chunk's last item id (the APPLY_CHUNK_SIZE-th `New` Deny item);
3. protected principals (PROTECTED_PRINCIPALS, the last active Global Administrator):
   ApplyNotSupported with the reason, nothing revoked. The last-admin items are settled over
   the whole instance (so apply keeps whom the preview showed), counting denied groups and
   blocked guests, under one tenant-wide lock held until the chunk commits;
4. block-then-delete reviews: denied guests' sign-in blocked (directory/guests.py), as in Entra
   their grants stay until the account is deleted 30 days later;
5. the rest: access.revoke_grants_from (one INSERT ... SELECT of the revocation requests, the
   directory classifying each as it is inserted, then its removals), and one UPDATE joining
   the directory's per-request results back onto the items.

A chunk either commits whole or not at all, and only `New` items are claimed, so a crash between
chunks leaves a state the next tick resumes, and nothing is removed twice. Items not denied
(Approve, DontKnow, NotReviewed) are never touched: their apply_result stays `New`, which is
what Graph reports for a decision that asks for no change. Three failed attempts -> Failed
(failed_step apply); Retry (services/retry.py) puts the instance back to Applying.
"""

import logging
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, Lower
from django.utils import timezone

from accessreviews.choices import Decision, DeniedGuestAction
from accessreviews.models import DecisionItem, ReviewInstance
from accessreviews.models.definitions import GUARD_MINIMUM_REMOVALS
from accessreviews.models.instances import (
    ApplyResult,
    FailedStep,
    InstanceStatus,
    VerificationStatus,
)
from accessreviews.nudge import tick_nudge_after_commit
from accessreviews.permissions import may_manage
from accessreviews.services.start import iso
from directory import audit, guests
from directory.access import revoke_grants_from
from directory.models import (
    AccessPath,
    BuiltinRole,
    DirectoryRole,
    GrantRevocation,
    Group,
    GroupMembership,
    GroupSource,
    MembershipType,
    PrincipalType,
    ResourceType,
    RevocationResult,
    RoleAssignment,
    RoleAssignmentKind,
    User,
    UserType,
)
from notifications.models import MessageKind
from notifications.services import messages_create_many

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# More active Global Administrators than this and none is ever "the last".
MAX_ADMIN_HOLDERS = 100
PREVIEW_PAGE_SIZE = 50
PROTECTED_REASON = "a protected account (PROTECTED_PRINCIPALS): reviews never remove its access"
LAST_ADMIN_REASON = "the last active Global Administrator: reviews never remove their access"
ALREADY_GONE_DETAIL = "the access was already gone"
VERIFIED_DETAIL = "access removed"
ALREADY_DELETED_DETAIL = "the account was already deleted"
ALREADY_BLOCKED_DETAIL = "sign-in was blocked already; the account is deleted on its scheduled date"
# pg_advisory_xact_lock key around the last-admin decision (any constant; "lastga" in ASCII).
LAST_ADMIN_LOCK_KEY = 0x6C6173746761


class ApplyFault(RuntimeError):
    """The fault injected at a chunk boundary (APPLY_FAULT_AFTER_CHUNKS, tests only)."""


class ApplyIncomplete(RuntimeError):
    """A chunk claimed nothing while denied items are still waiting."""


# --- Who is protected ------------------------------------------------------------------------


def protected_user_ids() -> QuerySet:
    """Users whose UPN is in PROTECTED_PRINCIPALS (case-insensitive), as a subquery."""
    upns = [upn.lower() for upn in settings.PROTECTED_PRINCIPALS]
    return (
        User.objects.annotate(upn_ci=Lower("user_principal_name"))
        .filter(upn_ci__in=upns)
        .values("pk")
    )


def _active_global_admin() -> QuerySet:
    return RoleAssignment.objects.filter(
        kind=RoleAssignmentKind.ACTIVE, role__template_id=BuiltinRole.GLOBAL_ADMINISTRATOR
    )


def _holders(direct: QuerySet, memberships: QuerySet) -> QuerySet:
    # A UNION of the (few) holders drives the lookup, rather than an OR over every user.
    holders = direct.values("user_id").union(memberships.values("user_id"))
    return User.objects.filter(is_active=True, deleted_at__isnull=True, pk__in=holders)


def global_admin_holders() -> QuerySet:
    """Enabled users holding Global Administrator actively, directly or through a
    role-assignable group (capabilities' notion of active; superusers are not role holders)."""
    active = _active_global_admin()
    through_groups = GroupMembership.objects.filter(
        group__is_role_assignable=True,
        group_id__in=active.filter(group__isnull=False).values("group_id"),
    )
    return _holders(active.filter(user__isnull=False), through_groups)


def _holders_left(instance: ReviewInstance, denied: QuerySet, resource: str | None) -> QuerySet:
    """The holders still active once `denied` is applied: denied users lose the resource
    (their direct role assignment, or their membership of the role-holding group), denied
    groups their role assignment, and blocked guests everything."""
    active = _active_global_admin()
    direct, groups = active.filter(user__isnull=False), active.filter(group__isnull=False)
    users = denied.filter(principal_type=PrincipalType.USER, access_path=AccessPath.DIRECT)
    users = users.values("principal_id")
    if resource == ResourceType.DIRECTORY_ROLE:
        direct = direct.exclude(user_id__in=users)
        denied_groups = denied.filter(principal_type=PrincipalType.GROUP)
        groups = groups.exclude(group_id__in=denied_groups.values("principal_id"))
    memberships = GroupMembership.objects.filter(
        group__is_role_assignable=True, group_id__in=groups.values("group_id")
    )
    if resource == ResourceType.GROUP:
        memberships = memberships.exclude(group_id=instance.resource_id, user_id__in=users)
    left = _holders(direct, memberships)
    if blocks_guests(instance):
        left = left.exclude(pk__in=_denied_guests(denied).values("principal_id"))
    return left


def _global_admin_resource(instance: ReviewInstance) -> str | None:
    """The resource type when the instance's resource grants Global Administrator, else None."""
    return instance.resource_type if _grants_global_admin(instance) else None


def _lock_global_admins() -> None:
    """One tenant-wide lock around the last-admin decision and the revocations it allows, so
    two instances applied at once cannot each remove "the other" last administrator."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LAST_ADMIN_LOCK_KEY])
    # SQLite: transactions BEGIN IMMEDIATE (settings), which already holds the one write lock.


def last_admin_item_ids(instance: ReviewInstance, denied: QuerySet, *, lock=False) -> list[int]:
    """The denied items apply keeps so that one active Global Administrator remains.

    The only holder is never removed from anything. Otherwise, when the instance's resource
    grants the role or it blocks denied guests, and applying every denied item would leave no
    active holder, one item stays: a user's if any, else the role-holding group's. `lock`: take
    the tenant-wide lock first (apply), so the answer stays true until the chunk commits.
    """
    resource = _global_admin_resource(instance)
    relevant = resource is not None or blocks_guests(instance)
    if lock and relevant:
        _lock_global_admins()
    holders = list(global_admin_holders().values_list("pk", flat=True)[: MAX_ADMIN_HOLDERS + 1])
    if not holders or len(holders) > MAX_ADMIN_HOLDERS:
        return []
    users = denied.filter(principal_type=PrincipalType.USER)
    kept = []
    if len(holders) == 1:
        kept = list(users.filter(principal_id=holders[0]).values_list("pk", flat=True))
    if not relevant or _holders_left(instance, denied.exclude(pk__in=kept), resource).exists():
        return kept
    losing = Q(access_path=AccessPath.DIRECT) if resource else Q(pk__in=[])
    if blocks_guests(instance):
        losing |= Q(principal_user_type=UserType.GUEST)
    candidates = users.filter(losing, principal_id__in=holders).exclude(pk__in=kept)
    first = candidates.order_by("pk").values_list("pk", flat=True).first()
    if first is None and resource == ResourceType.DIRECTORY_ROLE:
        role_groups = _active_global_admin().filter(group__isnull=False).values("group_id")
        groups = denied.filter(principal_type=PrincipalType.GROUP, principal_id__in=role_groups)
        first = groups.order_by("pk").values_list("pk", flat=True).first()
    return kept if first is None else [*kept, first]


def _grants_global_admin(instance: ReviewInstance) -> bool:
    if instance.resource_type == ResourceType.DIRECTORY_ROLE:
        return DirectoryRole.objects.filter(
            pk=instance.resource_id, template_id=BuiltinRole.GLOBAL_ADMINISTRATOR
        ).exists()
    if instance.resource_type == ResourceType.GROUP:
        return RoleAssignment.objects.filter(
            group_id=instance.resource_id,
            group__is_role_assignable=True,
            kind=RoleAssignmentKind.ACTIVE,
            role__template_id=BuiltinRole.GLOBAL_ADMINISTRATOR,
        ).exists()
    return False


# --- The preview -----------------------------------------------------------------------------


class Outcome:
    """What apply does (or did) to one item: the preview's vocabulary."""

    REMOVE = "remove"
    PROTECTED = "protected"
    LAST_ADMIN = "lastAdmin"
    BLOCK_GUEST = "blockGuest"
    NOT_SUPPORTED = "notSupported"
    KEEP = "keep"

    LABELS = {
        REMOVE: "Access removed",
        PROTECTED: "Kept: protected account",
        LAST_ADMIN: "Kept: last active Global Administrator",
        BLOCK_GUEST: "Sign-in blocked, account deleted after 30 days",
        NOT_SUPPORTED: "Cannot be removed here",
        KEEP: "No change",
    }


def blocks_guests(instance: ReviewInstance) -> bool:
    action = instance.settings_snapshot.get("settings", {}).get("denied_guest_action")
    return action == DeniedGuestAction.DISABLE_AND_DELETE


def _unmanaged_group_reason(instance: ReviewInstance) -> str:
    if instance.resource_type != ResourceType.GROUP:
        return ""
    group = Group.objects.filter(pk=instance.resource_id).values("membership_type", "source")
    row = group.first() or {}
    if row.get("membership_type") == MembershipType.DYNAMIC:
        return "the group's membership is dynamic"
    if row.get("source") == GroupSource.ON_PREMISES:
        return "the group is synced from on-premises: remove it in the source system"
    return ""


def _outcomes(instance: ReviewInstance, items: QuerySet) -> QuerySet:
    """Annotate each item with `outcome` and `outcome_reason`: the real result once applied,
    else what apply would do (the directory decides nested and group paths for real)."""
    user = Q(principal_type=PrincipalType.USER)
    unmanaged = _unmanaged_group_reason(instance)
    rules = [
        (
            Q(decision__in=[Decision.APPROVE, Decision.DONT_KNOW, Decision.NOT_REVIEWED]),
            Outcome.KEEP,
            "",
        ),
        (user & Q(principal_id__in=protected_user_ids()), Outcome.PROTECTED, PROTECTED_REASON),
        (
            Q(pk__in=last_admin_item_ids(instance, _removable(instance))),
            Outcome.LAST_ADMIN,
            LAST_ADMIN_REASON,
        ),
    ]
    if blocks_guests(instance):
        rules.append((user & Q(principal_user_type=UserType.GUEST), Outcome.BLOCK_GUEST, ""))
    if unmanaged:
        rules.append((Q(pk__isnull=False), Outcome.NOT_SUPPORTED, unmanaged))
    rules += [
        (
            Q(access_path=AccessPath.NESTED),
            Outcome.NOT_SUPPORTED,
            "access is through a nested group",
        ),
        (
            Q(access_path=AccessPath.VIA_GROUP),
            Outcome.NOT_SUPPORTED,
            "access is through a group assignment",
        ),
    ]
    applied = ~Q(apply_result=ApplyResult.NEW)
    return items.annotate(
        outcome=Case(
            When(
                applied & Q(apply_result=ApplyResult.NOT_SUPPORTED),
                then=Value(Outcome.NOT_SUPPORTED),
            ),
            When(applied, then=Value(Outcome.REMOVE)),
            *(When(condition, then=Value(outcome)) for condition, outcome, _ in rules),
            default=Value(Outcome.REMOVE),
            output_field=CharField(),
        ),
        outcome_reason=Case(
            When(applied, then=F("apply_detail")),
            *(When(condition, then=Value(reason)) for condition, _, reason in rules),
            default=Value(""),
            output_field=CharField(),
        ),
    )


@dataclass
class ApplyPreview:
    instance: ReviewInstance
    decisions: dict
    outcomes: dict
    total: int
    would_remove: int
    limit_percent: int
    page: object = None
    protected: list = field(default_factory=list)

    @property
    def share_percent(self) -> float:
        return round(100 * self.would_remove / self.total, 1) if self.total else 0.0

    @property
    def over_limit(self) -> bool:
        return removal_over_limit(self.would_remove, self.total, self.limit_percent)

    @property
    def to_remove(self) -> int:
        """Denied people who lose access (or sign-in) when applied; the rest are kept."""
        return self.outcomes.get(Outcome.REMOVE, 0) + self.outcomes.get(Outcome.BLOCK_GUEST, 0)

    @property
    def outcome_rows(self) -> list[tuple[str, str, int]]:
        return [(key, label, self.outcomes.get(key, 0)) for key, label in Outcome.LABELS.items()]


def removal_over_limit(would_remove: int, total: int, limit_percent: int) -> bool:
    """The guardrail: more than limit_percent of the items, and at least the minimum."""
    return would_remove >= GUARD_MINIMUM_REMOVALS and would_remove * 100 > limit_percent * total


def _limit_percent(instance: ReviewInstance) -> int:
    return int(
        instance.settings_snapshot.get("settings", {}).get("auto_apply_max_removal_percent", 100)
    )


def apply_preview(instance: ReviewInstance, page_number=1) -> ApplyPreview:
    """Who loses what: counts per decision and per outcome, the share against the limit, the
    protected principals by name and a page of the denied items (a fixed number of queries)."""
    items = DecisionItem.objects.filter(instance=instance)
    decisions = dict(items.order_by().values_list("decision").annotate(n=Count("id")))
    denied = _outcomes(instance, items.filter(decision=Decision.DENY))
    outcomes = dict(denied.order_by().values_list("outcome").annotate(n=Count("id")))
    total = sum(decisions.values())
    protected = list(
        denied.filter(outcome__in=[Outcome.PROTECTED, Outcome.LAST_ADMIN]).order_by(
            "sort_key", "id"
        )[:50]
    )
    page = Paginator(denied.order_by("sort_key", "id"), PREVIEW_PAGE_SIZE).get_page(page_number)
    for item in page:  # the shown page only
        item.outcome_label = Outcome.LABELS.get(item.outcome, item.outcome)
    return ApplyPreview(
        instance=instance,
        decisions=decisions,
        outcomes=outcomes,
        total=total,
        would_remove=decisions.get(Decision.DENY, 0),
        limit_percent=_limit_percent(instance),
        page=page,
        protected=protected,
    )


# --- Starting an apply ---------------------------------------------------------------------------


def apply_request(actor, instance: ReviewInstance) -> ReviewInstance:
    """An admin's confirmation after the preview: Completed -> Applying (the tick does the work)."""
    if not may_manage(actor, instance.definition):
        raise PermissionDenied("You may read this review but not apply it.")
    with transaction.atomic():
        claimed = ReviewInstance.objects.filter(
            pk=instance.pk, status=InstanceStatus.COMPLETED
        ).update(
            status=InstanceStatus.APPLYING,
            needs_confirmation=False,
            apply_requested_by=actor,
            attempts=0,
            last_error="",
        )
        if not claimed:
            instance.refresh_from_db()
            raise ValidationError(_refusal(instance))
        audit.record(
            actor,
            "instance.apply_requested",
            instance,
            {"needs_confirmation": instance.needs_confirmation},
        )
        tick_nudge_after_commit()
    instance.refresh_from_db()
    return instance


def _refusal(instance: ReviewInstance) -> str:
    if instance.status == InstanceStatus.APPLIED:
        return "These decisions were applied already."
    if instance.status == InstanceStatus.APPLYING:
        return "These decisions are being applied already."
    return (
        f"Only a completed review can be applied; this one is "
        f"{InstanceStatus(instance.status).label.lower()}."
    )


# --- The tick's part -----------------------------------------------------------------------------


@dataclass
class ApplyCounts:
    started: int = 0
    held: int = 0
    applied: int = 0
    failed: int = 0


def applies_due(now=None) -> ApplyCounts:
    """Auto-apply completed instances (or hold them for confirmation), then run every Applying
    one to its end. Safe twice and concurrently."""
    now = now or timezone.now()
    counts = ApplyCounts()
    auto = ReviewInstance.objects.filter(
        status=InstanceStatus.COMPLETED,
        needs_confirmation=False,
        applied_at__isnull=True,
        settings_snapshot__settings__auto_apply=True,
    ).order_by("completed_at", "pk")
    for instance in list(auto):
        started = _auto_apply_start(instance, now)
        if started is True:
            counts.started += 1
        elif started is False:
            counts.held += 1
    applying = ReviewInstance.objects.filter(status=InstanceStatus.APPLYING).order_by("pk")
    for instance in list(applying):
        outcome = instance_apply(instance, now)
        counts.applied += outcome is True
        counts.failed += outcome is False
    return counts


def _auto_apply_start(instance: ReviewInstance, now) -> bool | None:
    """Start an auto-apply, or hold it when the removal share is over the limit (False).
    None: another tick got there first."""
    items = DecisionItem.objects.filter(instance=instance)
    totals = items.aggregate(
        total=Count("id"), denied=Count("id", filter=Q(decision=Decision.DENY))
    )
    limit = _limit_percent(instance)
    with transaction.atomic():
        pending = ReviewInstance.objects.filter(
            pk=instance.pk, status=InstanceStatus.COMPLETED, needs_confirmation=False
        )
        details = {**totals, "limit_percent": limit}
        if removal_over_limit(totals["denied"], totals["total"], limit):
            if not pending.update(needs_confirmation=True):
                return None
            audit.record(None, "instance.apply_held", instance, details)
            _needs_confirmation_message(instance, totals, limit)
            return False
        if not pending.update(status=InstanceStatus.APPLYING, attempts=0, last_error=""):
            return None
        audit.record(None, "instance.apply_started", instance, details)
    return True


def _needs_confirmation_message(instance: ReviewInstance, totals: dict, limit: int) -> int:
    settings_ = instance.settings_snapshot["settings"]
    creator = ReviewInstance.objects.filter(pk=instance.pk).values("definition__created_by_id")
    return messages_create_many(
        recipients=User.objects.filter(pk__in=creator),
        kind=MessageKind.APPLY_NEEDS_CONFIRMATION,
        context={
            "review_name": settings_["name"],
            "resource_name": instance.resource_name,
            "would_remove": totals["denied"],
            "total": totals["total"],
            "limit_percent": limit,
            "link": f"/reviews/instances/{instance.uuid}/apply/",
        },
        dedupe_key=Concat(
            Value(f"apply-needs-confirmation:{instance.pk}:"),
            Cast("id", CharField()),
            output_field=CharField(),
        ),
        email=settings_.get("mail_notifications_enabled", True),
    )


def instance_apply(instance: ReviewInstance, now=None) -> bool | None:
    """Run an Applying instance's chunks to the end. True: applied now; False: this attempt
    failed (counted); None: not Applying, or another worker holds it."""
    now = now or timezone.now()
    chunks, after_id = 0, 0
    try:
        while True:
            outcome = _apply_chunk(instance, now, settings.APPLY_CHUNK_SIZE, after_id)
            if outcome is None:
                return None
            handled, after_id, last = outcome
            if handled:
                chunks += 1
                fault_after = settings.APPLY_FAULT_AFTER_CHUNKS
                if fault_after and chunks >= fault_after:
                    raise ApplyFault(f"injected fault after {chunks} committed chunk(s)")
            # A short chunk took every item left: no empty chunk (a transaction) to find out.
            if last or not handled:
                return _finish(instance, now)
    except Exception as error:  # noqa: BLE001 - any failure is an attempt, recorded below
        logger.warning("apply of instance %s failed: %s", instance.pk, error)
        _count_failure(instance, error)
        return False


def _lock_applying(instance: ReviewInstance) -> ReviewInstance | None:
    return (
        ReviewInstance.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("apply_requested_by")
        .filter(pk=instance.pk, status=InstanceStatus.APPLYING)
        .first()
    )


def denied_items(instance: ReviewInstance) -> QuerySet:
    return DecisionItem.objects.filter(instance=instance, decision=Decision.DENY)


def _pending(instance: ReviewInstance) -> QuerySet:
    return DecisionItem.objects.filter(
        instance=instance, decision=Decision.DENY, apply_result=ApplyResult.NEW
    )


def _removable(instance: ReviewInstance) -> QuerySet:
    """Pending denied items apply may act on: protected accounts keep their access anyway."""
    pending = _pending(instance)
    if settings.PROTECTED_PRINCIPALS:
        user = Q(principal_type=PrincipalType.USER)
        pending = pending.exclude(user, principal_id__in=protected_user_ids())
    return pending


def apply_chunk(instance: ReviewInstance, now=None, size: int | None = None) -> int | None:
    """Apply the next chunk of denied items in one transaction; how many it settled (0: none
    left), or None when the instance is not Applying or another worker holds it."""
    outcome = _apply_chunk(instance, now or timezone.now(), size or settings.APPLY_CHUNK_SIZE)
    return None if outcome is None else outcome[0]


def _apply_chunk(instance, now, size: int, after_id: int = 0) -> tuple[int, int, bool] | None:
    """The chunk after item `after_id` (items before it were settled by this run's earlier
    chunks, so the boundary query never walks over them): (settled, its last item id, whether
    it took every pending item left)."""
    with transaction.atomic():
        locked = _lock_applying(instance)
        if locked is None:
            return None
        stamp = {"applied_by_id": locked.apply_requested_by_id, "applied_at": now}
        handled = _settle_last_admins(locked, stamp)
        pending = _pending(locked).filter(pk__gt=after_id).order_by("pk")
        # The chunk's last item, and the first one after it if any (then more chunks follow).
        boundary = list(pending.values_list("pk", flat=True)[size - 1 : size + 1])
        last_id = boundary[0] if boundary else None
        chunk = pending if last_id is None else pending.filter(pk__lte=last_id)
        handled += _mark_protected(chunk, stamp)
        if blocks_guests(locked):
            handled += _block_guests(locked, chunk, stamp, now)
        handled += _revoke(locked, chunk, stamp)
    return handled, last_id or after_id, len(boundary) < 2


def _settle_last_admins(instance: ReviewInstance, stamp: dict) -> int:
    """Keep the last-admin items of the whole instance (not just this chunk, so apply keeps
    whom the preview showed), under the tenant-wide lock held until the chunk commits."""
    kept = last_admin_item_ids(instance, _removable(instance), lock=True)
    if not kept:
        return 0
    return (
        _pending(instance)
        .filter(pk__in=kept)
        .update(apply_result=ApplyResult.NOT_SUPPORTED, apply_detail=LAST_ADMIN_REASON, **stamp)
    )


def _mark_protected(chunk: QuerySet, stamp: dict) -> int:
    if not settings.PROTECTED_PRINCIPALS:
        return 0
    user = Q(principal_type=PrincipalType.USER)
    return chunk.filter(user, principal_id__in=protected_user_ids()).update(
        apply_result=ApplyResult.NOT_SUPPORTED, apply_detail=PROTECTED_REASON, **stamp
    )


def _actor(instance: ReviewInstance):
    """Who applies: the confirming admin, or the review itself (auto-apply)."""
    name = instance.settings_snapshot["settings"]["name"]
    return instance.apply_requested_by or f"review: {name}"


def _denied_guests(items: QuerySet) -> QuerySet:
    return items.filter(principal_type=PrincipalType.USER, principal_user_type=UserType.GUEST)


def _block_guests(instance: ReviewInstance, chunk: QuerySet, stamp: dict, now) -> int:
    denied_guests = _denied_guests(chunk)
    actor = _actor(instance)
    guests.users_block_sign_in(
        actor,
        User.objects.filter(pk__in=denied_guests.values("principal_id")),
        now,
        reason=f"denied in the access review of {instance.resource_name}",
    )
    delete_at = now + guests.DELETE_AFTER
    users = User.objects.filter(pk__in=denied_guests.values("principal_id"))
    # Blocking skips deleted accounts (nothing left to block) and keeps an earlier date.
    deleted = Q(principal_id__in=users.filter(deleted_at__isnull=False).values("pk"))
    earlier = Q(principal_id__in=users.exclude(deletion_scheduled_at=delete_at).values("pk"))
    blocked = f"sign-in blocked; the account is deleted on {delete_at.date().isoformat()}"
    return denied_guests.update(
        apply_result=Case(
            When(deleted, then=Value(ApplyResult.NOT_FOUND)),
            default=Value(ApplyResult.APPLIED),
        ),
        apply_detail=Case(
            When(deleted, then=Value(ALREADY_DELETED_DETAIL)),
            When(earlier, then=Value(ALREADY_BLOCKED_DETAIL)),
            default=Value(f"{blocked} unless re-enabled"),
        ),
        **stamp,
    )


RESULTS = {
    RevocationResult.REMOVED: ApplyResult.APPLIED,
    RevocationResult.ALREADY_GONE: ApplyResult.NOT_FOUND,
    RevocationResult.NOT_SUPPORTED: ApplyResult.NOT_SUPPORTED,
}


def _revoke(instance: ReviewInstance, chunk: QuerySet, stamp: dict) -> int:
    """Queue the chunk's revocations (INSERT ... SELECT), revoke, join the results back."""
    batch = uuid.uuid4()
    requests = (
        chunk.order_by()
        .annotate(
            r_ref=F("pk"),
            r_resource_type=Value(instance.resource_type, output_field=CharField()),
            r_resource_id=Value(instance.resource_id),
            r_principal_type=F("principal_type"),
            r_principal_id=F("principal_id"),
        )
        .values_list(
            "r_ref", "r_resource_type", "r_resource_id", "r_principal_type", "r_principal_id"
        )
    )
    actor = _actor(instance)
    label = audit.actor_of(actor).label
    if not any(revoke_grants_from(batch, requests, actor, actor_label=label).values()):
        return 0
    return _join_results(batch, stamp)


def _join_results(batch, stamp: dict) -> int:
    """One UPDATE ... FROM the batch's results: apply result, detail, who and when; what the
    directory removed is verified at once (it said so in this very transaction)."""
    item, rev = DecisionItem._meta.db_table, GrantRevocation._meta.db_table
    result = " ".join(f"WHEN '{r}' THEN '{a}'" for r, a in RESULTS.items())
    gone = f"rev.result IN ('{RevocationResult.REMOVED}', '{RevocationResult.ALREADY_GONE}')"
    sql = f"""
        UPDATE {item} SET
            apply_result = CASE rev.result {result} ELSE '{ApplyResult.UNKNOWN_FAILURE}' END,
            apply_detail = CASE WHEN rev.result = %s THEN %s ELSE rev.reason END,
            verification_status = CASE WHEN {gone} THEN %s ELSE '' END,
            verification = CASE WHEN {gone} THEN %s ELSE '' END,
            applied_by_id = %s, applied_at = %s
        FROM {rev} rev
        WHERE rev.batch = %s AND rev.ref = {item}.id AND {item}.apply_result = %s"""
    params = [
        RevocationResult.ALREADY_GONE,
        ALREADY_GONE_DETAIL,
        VerificationStatus.VERIFIED,
        VERIFIED_DETAIL,
        stamp["applied_by_id"],
        connection.ops.adapt_datetimefield_value(stamp["applied_at"]),
        batch.hex if connection.vendor == "sqlite" else batch,
        ApplyResult.NEW,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _finish(instance: ReviewInstance, now) -> bool | None:
    from accessreviews.services.verify import verification_update

    with transaction.atomic():
        locked = _lock_applying(instance)
        if locked is None:
            return None
        # One pass over the denied items: the event's results, and whether any is still New.
        results = dict(
            denied_items(locked).order_by().values_list("apply_result").annotate(n=Count("id"))
        )
        if results.get(ApplyResult.NEW):
            raise ApplyIncomplete("denied items are left that no chunk could settle")
        applied = ReviewInstance.objects.filter(pk=locked.pk)
        applied.update(
            status=InstanceStatus.APPLIED,
            applied_at=now,
            needs_confirmation=False,
            failed_step=FailedStep.NONE,
            last_error="",
        )
        # In the same commit, in a savepoint of its own (verification_update is atomic), and
        # before the audit event (whose chain lock other writers wait for until the commit):
        # a failing verification rolls back alone, Applied stands, and the tick tries again.
        try:
            verification_update(locked, just_applied=True)
        except Exception:  # noqa: BLE001 - see above
            logger.exception("verification of applied instance %s failed", locked.pk)
            applied.update(reverify_due_at=now)
        messages = _removed_messages(locked, now)
        audit.record(
            locked.apply_requested_by,
            "instance.applied",
            locked,
            {"results": results, "messages": messages},
        )
    return True


def _removed_messages(instance: ReviewInstance, now) -> int:
    """Tell removed people, when the review says so (notify_removed_people)."""
    settings_ = instance.settings_snapshot["settings"]
    if not settings_.get("notify_removed_people"):
        return 0
    removed = denied_items(instance).filter(
        principal_type=PrincipalType.USER, apply_result=ApplyResult.APPLIED
    )
    return messages_create_many(
        recipients=User.objects.filter(pk__in=removed.values("principal_id")),
        kind=MessageKind.ACCESS_REMOVED,
        context={
            "resource_type": instance.resource_type,
            "resource_name": instance.resource_name,
            "review_name": settings_["name"],
            "removed_at": iso(now),
        },
        dedupe_key=Concat(
            Value(f"access-removed:{instance.pk}:"),
            Cast("id", CharField()),
            output_field=CharField(),
        ),
        email=settings_.get("mail_notifications_enabled", True),
    )


def _count_failure(instance: ReviewInstance, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"[:1000]
    with transaction.atomic():
        applying = ReviewInstance.objects.filter(pk=instance.pk, status=InstanceStatus.APPLYING)
        applying.update(attempts=F("attempts") + 1, last_error=message)
        failed = applying.filter(attempts__gte=MAX_ATTEMPTS).update(
            status=InstanceStatus.FAILED,
            failed_step=FailedStep.APPLY,
            reverify_due_at=None,  # an import's request: Retry's apply verifies anyway
        )
        if failed:
            audit.record(None, "instance.failed", instance, {"step": "apply", "error": message})


__all__ = [
    "ApplyCounts",
    "ApplyFault",
    "ApplyPreview",
    "Outcome",
    "applies_due",
    "apply_chunk",
    "apply_preview",
    "apply_request",
    "instance_apply",
    "last_admin_item_ids",
    "protected_user_ids",
]

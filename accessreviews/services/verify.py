"""Verification after apply: ask the directory again (issue 5 "Verification").

instance_verify recomputes every applied item's verification in a fixed number of statements:

1. every denied item the directory reported removed or already gone: Verified ("access removed");
2. one UPDATE ... FROM the resource's current access (directory/access.py): a direct grant that
   is still there is a Mismatch; access by another path (a nested group, a group assignment) is
   StillHasAccess "still has access via <group>", which is not a failure;
3. a Mismatch whose revocation an import flagged as restored says so ("re-granted by import on
   <date>"): the source system still has the grant (the work queue shows it);
4. block-then-delete guests: Verified while blocked or once deleted, StillHasAccess once an
   admin re-enabled the account.

Items apply did not remove (ApplyNotSupported, protected) are left unverified. It runs after
every apply, and after every directory import: the import's signal (directory.signals.
directory_imported) sets, or brings forward, the instances' reverify_due_at in one UPDATE, and
the tick verifies those due (verifications_due). A verification that fails, after apply or in
the tick, is due again later (RETRY_AFTER).
"""

import datetime
import logging

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat, Least
from django.utils import timezone

from accessreviews.choices import Decision
from accessreviews.models import DecisionItem, ReviewInstance
from accessreviews.models.instances import ApplyResult, InstanceStatus, VerificationStatus
from accessreviews.nudge import tick_nudge_after_commit
from accessreviews.permissions import definitions_visible_to
from accessreviews.services.apply import VERIFIED_DETAIL, blocks_guests
from accessreviews.services.start import ROLE_KINDS
from directory.access import principals_with_access
from directory.models import AccessPath, GrantRevocation, Group, RevocationResult, User

logger = logging.getLogger(__name__)

# After an import, instances applied this recently are verified again (plus any older one
# whose resource had a revoked grant brought back by an import).
REVERIFY_WINDOW = datetime.timedelta(days=90)
# The tick verifies at most this many instances (the rest on the next ticks), so that a large
# backlog after an import never holds up the tick's other work for long.
VERIFY_PER_TICK = 50
# A verification that failed is tried again this much later (not every minute).
RETRY_AFTER = datetime.timedelta(minutes=15)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _revocations(instance: ReviewInstance) -> QuerySet:
    return GrantRevocation.objects.filter(
        ref=OuterRef("pk"),
        resource_type=instance.resource_type,
        resource_id=instance.resource_id,
    )


def _applied(instance: ReviewInstance) -> QuerySet:
    return DecisionItem.objects.filter(
        instance=instance,
        decision=Decision.DENY,
        apply_result__in=[ApplyResult.APPLIED, ApplyResult.NOT_FOUND],
    )


def instance_verify(instance: ReviewInstance) -> dict:
    """Recompute the verification of an instance's applied items; counts per status."""
    verification_update(instance)
    return dict(
        _applied(instance).order_by().values_list("verification_status").annotate(n=Count("id"))
    )


@transaction.atomic
def verification_update(instance: ReviewInstance, *, just_applied=False) -> None:
    """Recompute the verification of an instance's applied items (steps 1 to 4 above).

    just_applied: apply's join-back already wrote step 1 in the transaction that removed the
    grants, so it is skipped (it rewrites every applied row)."""
    revoked = _revocations(instance).filter(
        result__in=[RevocationResult.REMOVED, RevocationResult.ALREADY_GONE]
    )
    through_directory = _applied(instance).filter(Exists(revoked))
    if not just_applied:
        through_directory.update(
            verification_status=VerificationStatus.VERIFIED, verification=VERIFIED_DETAIL
        )
    if _mark_remaining_access(instance):
        _note_regranted(instance)
    if blocks_guests(instance):
        _verify_blocked_guests(instance)


def _note_regranted(instance: ReviewInstance) -> None:
    """Step 3. Only Mismatches step 2 just wrote can be re-granted ones: step 1 reset every
    other item, so a step 2 that changed nothing leaves this pass out."""
    restored = (
        _revocations(instance)
        .filter(result=RevocationResult.REMOVED, restored_at__isnull=False)
        .order_by("-restored_at")
    )
    restored_on = Cast(Cast(Subquery(restored.values("restored_at")[:1]), DateField()), CharField())
    mismatches = _applied(instance).filter(verification_status=VerificationStatus.MISMATCH)
    mismatches.filter(Exists(restored)).update(
        verification=Concat(
            Value("re-granted by import on "), restored_on, output_field=CharField()
        )
    )


def _mark_remaining_access(instance: ReviewInstance) -> int:
    """Step 2: one UPDATE ... FROM the resource's access query (both databases support the
    form); how many items still have access."""
    scope = instance.settings_snapshot.get("scope", {})
    kinds = ROLE_KINDS.get(scope.get("role_assignment_scope"), ROLE_KINDS["both"])
    access = principals_with_access(
        instance.resource_type, instance.resource_id, expand_groups=True, role_kinds=kinds
    )
    item = _q(DecisionItem._meta.db_table)
    group = _q(Group._meta.db_table)
    sql = f"""
        UPDATE {item} SET
            verification_status = CASE WHEN a.access_path = %s THEN %s ELSE %s END,
            verification = CASE WHEN a.access_path = %s THEN %s
                                ELSE 'still has access via ' || COALESCE(vg.name, 'another path')
                           END
        FROM ({access.sql}) a LEFT JOIN {group} vg ON vg.id = a.via_group_id
        WHERE {item}.instance_id = %s AND {item}.verification_status = %s
          AND {item}.principal_type = a.principal_type AND {item}.principal_id = a.principal_id"""
    params = [
        AccessPath.DIRECT,
        VerificationStatus.MISMATCH,
        VerificationStatus.STILL_HAS_ACCESS,
        AccessPath.DIRECT,
        "the removed grant is still there",
        *access.params,
        instance.pk,
        VerificationStatus.VERIFIED,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _verify_blocked_guests(instance: ReviewInstance) -> None:
    user = User.objects.filter(pk=OuterRef("principal_id"))
    deleted = Exists(user.filter(deleted_at__isnull=False))
    blocked = Exists(user.filter(is_active=False))
    _applied(instance).filter(~Exists(_revocations(instance))).update(
        verification_status=Case(
            When(deleted | blocked, then=Value(VerificationStatus.VERIFIED)),
            default=Value(VerificationStatus.STILL_HAS_ACCESS),
            output_field=CharField(),
        ),
        verification=Case(
            When(deleted, then=Value("the account was deleted")),
            When(blocked, then=Value("sign-in blocked until the account is deleted")),
            default=Value("the account was re-enabled by an admin"),
            output_field=CharField(),
        ),
    )


def verifications_request(now=None) -> int:
    """After an import: ask the tick to verify again every instance applied recently, any older
    one whose resource had a revoked grant brought back by an import, and any still Applying
    (the apply's own verification may have read the directory before this import committed).
    One UPDATE, however many instances: the import's commit never waits on their verification.
    """
    now = now or timezone.now()
    restored = GrantRevocation.objects.filter(
        result=RevocationResult.REMOVED,
        restored_at__isnull=False,
        resource_type=OuterRef("resource_type"),
        resource_id=OuterRef("resource_id"),
    )
    applied = Q(status=InstanceStatus.APPLIED) & (
        Q(applied_at__gte=now - REVERIFY_WINDOW) | Exists(restored)
    )
    # Applying counts too: on PostgreSQL this UPDATE then waits for an apply that is finishing
    # (its row is locked) and marks it once Applied, instead of skipping a row it saw Applying.
    # No condition on the due time either, for the same reason (a tick verifying the instance
    # holds its row with the time cleared): the time is only ever brought forward, to now.
    now_value = Value(now, output_field=DateTimeField())
    return ReviewInstance.objects.filter(applied | Q(status=InstanceStatus.APPLYING)).update(
        reverify_due_at=Least(Coalesce(F("reverify_due_at"), now_value), now_value)
    )


def verifications_due(now=None) -> int:
    """The tick: verify the applied instances whose verification is due, at most
    VERIFY_PER_TICK of them (the rest on the next ticks). Each is claimed by a conditional
    UPDATE in the transaction that verifies it, so a second tick skips it, a crash leaves it
    due, and a request made meanwhile (a later import) stays for another pass. A verification
    that fails is tried again RETRY_AFTER later. Instances still Applying wait (apply verifies
    them as it finishes)."""
    now = now or timezone.now()
    due = ReviewInstance.objects.filter(
        reverify_due_at__lte=now, status=InstanceStatus.APPLIED
    ).order_by("reverify_due_at", "pk")
    count = 0
    for instance in list(due[:VERIFY_PER_TICK]):
        try:
            count += _verify_due(instance)
        except Exception:  # noqa: BLE001 - tried again later; the rest of the tick goes on
            logger.exception("verification of applied instance %s failed", instance.pk)
            _retry_later(instance, now)
    return count


def _retry_later(instance: ReviewInstance, now) -> None:
    # Only if nobody asked again meanwhile (a new request keeps its own, earlier time).
    try:
        ReviewInstance.objects.filter(
            pk=instance.pk, reverify_due_at=instance.reverify_due_at
        ).update(reverify_due_at=now + RETRY_AFTER)
    except Exception:  # noqa: BLE001 - then it is simply due again on the next tick
        logger.exception("could not postpone the verification of instance %s", instance.pk)


@transaction.atomic
def _verify_due(instance: ReviewInstance) -> bool:
    claimed = ReviewInstance.objects.filter(
        pk=instance.pk, reverify_due_at=instance.reverify_due_at
    ).update(reverify_due_at=None)
    if claimed:
        verification_update(instance)
    return bool(claimed)


def on_directory_imported(sender, **kwargs) -> None:
    if verifications_request():
        tick_nudge_after_commit()


def verification_mismatches(user) -> QuerySet:
    """Applied items whose removed grant is back or still there, in reviews `user` may see:
    the work queue's list (re-granted ones say so in `verification`)."""
    return (
        DecisionItem.objects.filter(
            verification_status=VerificationStatus.MISMATCH,
            instance__definition__in=definitions_visible_to(user).values("pk"),
        )
        .select_related("instance")
        .order_by("-instance__applied_at", "sort_key", "id")
    )

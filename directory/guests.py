"""Block then delete: a denied guest's sign-in is blocked now, the account deleted 30 days later.

Entra's "block user from signing in for 30 days, then remove user from the tenant". Blocking
stamps `deletion_scheduled_at`; enabling the account again within the 30 days (user_reenable,
the admin form, an import, a restore) clears it, and only still-blocked accounts are due; the
tick tombstones the accounts whose date has come, set-based (the same columns as
services.user_tombstone), and clears their date. Each step is one audit event, whatever the
number of users.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from directory import audit
from directory.models import (
    ApplicationOwner,
    AppRoleAssignment,
    GroupMembership,
    GroupOwner,
    RoleAssignment,
    User,
)

DELETE_AFTER = datetime.timedelta(days=30)
# Audit events name at most this many accounts (the count is always exact).
AUDIT_LIST_CAP = 100


def _names(users: QuerySet) -> dict:
    upns = list(
        users.order_by("id").values_list("user_principal_name", flat=True)[: AUDIT_LIST_CAP + 1]
    )
    return {"users": upns[:AUDIT_LIST_CAP], "truncated": len(upns) > AUDIT_LIST_CAP}


@transaction.atomic
def users_block_sign_in(actor, users: QuerySet, now=None, *, reason: str = "") -> int:
    """Block sign-in of these users and schedule their deletion; already blocked ones keep
    their date. Returns how many were blocked now."""
    now = now or timezone.now()
    blocking = User.objects.filter(
        pk__in=users.values("pk"), deleted_at__isnull=True, deletion_scheduled_at__isnull=True
    )
    names = _names(blocking)
    blocked = blocking.update(is_active=False, deletion_scheduled_at=now + DELETE_AFTER)
    if blocked:
        audit.record(
            actor,
            "user.sign_in_blocked",
            None,
            {"count": blocked, "delete_at": now + DELETE_AFTER, "reason": reason, **names},
        )
    return blocked


@transaction.atomic
def user_reenable(actor, user: User) -> bool:
    """Enable a blocked account again and cancel its scheduled deletion."""
    if user.deleted_at is not None:
        raise ValidationError(f"{user.display_name} was deleted; restore the account instead.")
    changed = User.objects.filter(
        pk=user.pk, deleted_at__isnull=True, deletion_scheduled_at__isnull=False
    ).update(is_active=True, deletion_scheduled_at=None)
    if changed:
        audit.record(
            actor,
            "user.reenabled",
            user,
            {"upn": user.user_principal_name, "cancelled_deletion_at": user.deletion_scheduled_at},
        )
    user.refresh_from_db()
    return bool(changed)


def users_delete_due(now=None) -> int:
    """Tombstone blocked accounts whose deletion date has come. Safe twice and concurrently:
    the claim is the UPDATE that sets deleted_at, and the grants go for the claimed rows only."""
    now = now or timezone.now()
    # Still blocked too: an account enabled again by any path (admin form, import) is kept.
    due = User.objects.filter(
        deleted_at__isnull=True,
        is_active=False,
        deletion_scheduled_at__isnull=False,
        deletion_scheduled_at__lte=now,
    )
    if not due.exists():  # the tick's usual case: one indexed read, no transaction
        return 0
    with transaction.atomic():
        return _delete_claimed(due, now)


def _delete_claimed(due, now) -> int:
    claimed = due.update(is_active=False, deleted_at=now, password="!deleted")  # noqa: S106
    if not claimed:
        return 0
    gone = User.objects.filter(deleted_at=now, deletion_scheduled_at__isnull=False)
    ids = gone.values("pk")
    removed = {
        "group_memberships": GroupMembership.objects.filter(user_id__in=ids).delete()[0],
        "group_ownerships": GroupOwner.objects.filter(user_id__in=ids).delete()[0],
        "application_ownerships": ApplicationOwner.objects.filter(user_id__in=ids).delete()[0],
        "application_assignments": AppRoleAssignment.objects.filter(user_id__in=ids).delete()[0],
        "role_assignments": RoleAssignment.objects.filter(user_id__in=ids).delete()[0],
    }
    names = _names(gone)
    # Done: a later restore must not find a past date and delete the account again.
    gone.update(deletion_scheduled_at=None)
    audit.record(
        None, "user.deleted_after_block", None, {"count": claimed, "removed": removed, **names}
    )
    return claimed

"""Writes to the directory. Each checks its rules, changes the rows and records one audit event.

`actor` is the person (or system label) making the change; the audit log names them.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from directory import audit
from directory.access import MAX_NESTING_DEPTH, T
from directory.models import (
    ApplicationOwner,
    AppRoleAssignment,
    Group,
    GroupMembership,
    GroupOwner,
    NestedGroup,
    RoleAssignment,
    User,
)

SELF_ELEVATION_DENIED = "authz.denied.self_elevation"


class SelfElevationRefused(PermissionDenied):
    """Someone tried to change their own role assignments or superuser flag."""


# --- Nesting -------------------------------------------------------------------------------


def nesting_would_cycle(parent_id: int, child_id: int) -> bool:
    """Whether making child a member of parent would close a loop (parent is under child)."""
    if parent_id == child_id:
        return True
    sql = f"""
        WITH RECURSIVE below(group_id, depth) AS (
            SELECT CAST(%s AS BIGINT), 0
            UNION
            SELECT n.child_id, b.depth + 1 FROM {T["nested"]} n
            JOIN below b ON n.parent_id = b.group_id WHERE b.depth < {MAX_NESTING_DEPTH}
        )
        SELECT 1 FROM below WHERE group_id = %s LIMIT 1"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [child_id, parent_id])
        return cursor.fetchone() is not None


def nesting_lock() -> None:
    # Two concurrent nestings (A in B, B in A) could each pass the cycle check; serialise them.
    # SQLite transactions already hold the single write lock from BEGIN IMMEDIATE.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x6E657374])


def validate_nesting(parent: Group, child: Group) -> None:
    if parent.is_role_assignable:
        raise ValidationError(
            f"{parent.name} is role-assignable, and role-assignable groups cannot contain groups."
        )
    _require_managed_membership(parent)
    if nesting_would_cycle(parent.pk, child.pk):
        raise ValidationError(
            f"Adding {child.name} to {parent.name} would make a cycle: "
            f"{parent.name} is already inside {child.name}."
        )


@transaction.atomic
def group_nest(actor, parent: Group, child: Group) -> NestedGroup:
    nesting_lock()
    validate_nesting(parent, child)
    nested, created = NestedGroup.objects.get_or_create(parent=parent, child=child)
    if created:
        audit.record(
            actor,
            "group.member_group_added",
            parent,
            {"group": str(child.uuid), "group_name": child.name},
        )
    return nested


@transaction.atomic
def group_unnest(actor, parent: Group, child: Group) -> None:
    deleted, _ = NestedGroup.objects.filter(parent=parent, child=child).delete()
    if deleted:
        audit.record(
            actor,
            "group.member_group_removed",
            parent,
            {"group": str(child.uuid), "group_name": child.name},
        )


# --- Members and owners --------------------------------------------------------------------


def _refuse_self_elevation(actor, request_user: User, what: str, obj) -> None:
    # Called before any write transaction opens, so the refusal's audit event survives it.
    if getattr(actor, "pk", None) is not None and actor.pk == request_user.pk:
        audit.record(actor, SELF_ELEVATION_DENIED, obj, {"attempt": what})
        raise SelfElevationRefused(f"You cannot {what} yourself.")


def _user_ref(user: User) -> dict:
    return {"user": str(user.uuid), "upn": user.user_principal_name}


def _require_managed_membership(group: Group) -> None:
    if not group.membership_is_managed_here:
        raise ValidationError(group.unmanaged_message)


def group_member_add(actor, group: Group, user: User) -> GroupMembership:
    _require_managed_membership(group)
    if group.is_role_assignable and RoleAssignment.objects.filter(group=group).exists():
        # Joining a group that holds a role is taking that role.
        _refuse_self_elevation(actor, user, f"add to {group.name}, which holds a role,", group)
    with transaction.atomic():
        membership, created = GroupMembership.objects.get_or_create(group=group, user=user)
        if created:
            audit.record(actor, "group.member_added", group, _user_ref(user))
    return membership


@transaction.atomic
def group_member_remove(actor, group: Group, user: User) -> None:
    _require_managed_membership(group)
    if GroupMembership.objects.filter(group=group, user=user).delete()[0]:
        audit.record(actor, "group.member_removed", group, _user_ref(user))


@transaction.atomic
def group_owner_add(actor, group: Group, user: User) -> GroupOwner:
    owner, created = GroupOwner.objects.get_or_create(group=group, user=user)
    if created:
        audit.record(actor, "group.owner_added", group, _user_ref(user))
    return owner


@transaction.atomic
def group_owner_remove(actor, group: Group, user: User) -> None:
    if GroupOwner.objects.filter(group=group, user=user).delete()[0]:
        audit.record(actor, "group.owner_removed", group, _user_ref(user))


# --- Directory roles -----------------------------------------------------------------------


def role_assignment_concerns(actor, assignment: RoleAssignment) -> bool:
    """Whether the assignment is the actor's own, directly or through a group they are in."""
    actor_pk = getattr(actor, "pk", None)
    if actor_pk is None:
        return False
    if assignment.user_id is not None:
        return assignment.user_id == actor_pk
    return GroupMembership.objects.filter(group_id=assignment.group_id, user_id=actor_pk).exists()


def validate_role_assignment(assignment: RoleAssignment) -> None:
    if assignment.group_id is not None and not assignment.group.is_role_assignable:
        raise ValidationError(
            {"group": f"{assignment.group.name} is not role-assignable, so it cannot hold a role."}
        )


def role_assignment_save(actor, assignment: RoleAssignment) -> RoleAssignment:
    """Create or change a role assignment; nobody may touch one that is (or would be) theirs."""
    validate_role_assignment(assignment)
    if assignment.pk:
        before = RoleAssignment.objects.get(pk=assignment.pk)
        if role_assignment_concerns(actor, before):
            _refuse_self_elevation(actor, actor, "change role assignments of", assignment.role)
    if role_assignment_concerns(actor, assignment):
        _refuse_self_elevation(actor, actor, "assign a directory role to", assignment.role)
    created = assignment.pk is None
    with transaction.atomic():
        assignment.save()
        audit.record(
            actor,
            "role.assignment_added" if created else "role.assignment_changed",
            assignment.role,
            _role_assignment_details(assignment),
        )
    return assignment


def role_assignment_delete(actor, assignment: RoleAssignment) -> None:
    if role_assignment_concerns(actor, assignment):
        _refuse_self_elevation(actor, actor, "remove role assignments of", assignment.role)
    details = _role_assignment_details(assignment)
    with transaction.atomic():
        assignment.delete()
        audit.record(actor, "role.assignment_removed", assignment.role, details)


def _role_assignment_details(assignment: RoleAssignment) -> dict:
    principal = assignment.user or assignment.group
    return {
        "principal_type": "user" if assignment.user_id else "group",
        "principal": str(principal.uuid),
        "principal_label": str(principal),
        "kind": assignment.kind,
    }


def user_set_superuser(actor, user: User, is_superuser: bool) -> None:
    if user.is_superuser == is_superuser:
        return
    _refuse_self_elevation(actor, user, "change the superuser flag of", user)
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_superuser=is_superuser)
        user.is_superuser = is_superuser
        audit.record(actor, "user.superuser_changed", user, {"is_superuser": is_superuser})


# --- Users ---------------------------------------------------------------------------------


@transaction.atomic
def user_tombstone(actor, user: User) -> dict[str, int]:
    """Delete a user the only way users are deleted: disable, stamp, and remove every grant."""
    if getattr(actor, "pk", None) == user.pk:
        raise ValidationError("You cannot delete your own account.")
    if user.deleted_at is not None:
        return {}
    removed = {
        "group_memberships": GroupMembership.objects.filter(user=user).delete()[0],
        "group_ownerships": GroupOwner.objects.filter(user=user).delete()[0],
        "application_ownerships": ApplicationOwner.objects.filter(user=user).delete()[0],
        "application_assignments": AppRoleAssignment.objects.filter(user=user).delete()[0],
        "role_assignments": RoleAssignment.objects.filter(user=user).delete()[0],
    }
    User.objects.filter(pk=user.pk).update(
        is_active=False,
        deleted_at=timezone.now(),
        password="!deleted",  # noqa: S106
    )
    user.refresh_from_db()
    audit.record(actor, "user.deleted", user, {"removed": removed})
    return removed


@transaction.atomic
def user_restore(actor, user: User) -> None:
    """Undo a tombstone (the grants it removed are not restored)."""
    if user.deleted_at is None:
        return
    User.objects.filter(pk=user.pk).update(
        deleted_at=None, is_active=True, deletion_scheduled_at=None
    )
    user.refresh_from_db()
    audit.record(actor, "user.restored", user, {})

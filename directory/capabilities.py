"""Portal capabilities: what a signed-in person may do (DESIGN.md "Who may do what").

This is the one place portal-wide permissions are decided; views, templates, the Django admin
and the permission-matrix page all read it. Per-object rules (which review items a reviewer may
see) are a separate vocabulary and live with those objects.

Only active role assignments count, including those held through a role-assignable group the
user is a direct member of (role-assignable groups cannot contain groups, so direct is enough).
"""

from dataclasses import dataclass
from functools import cached_property

from django.db.models import Q, QuerySet

from directory.models import (
    BuiltinRole,
    GroupMembership,
    GroupOwner,
    RoleAssignment,
    RoleAssignmentKind,
    TenantSettings,
    User,
)

READER_ROLES = frozenset(
    {
        BuiltinRole.GLOBAL_ADMINISTRATOR,
        BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR,
        BuiltinRole.USER_ADMINISTRATOR,
        BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR,
        BuiltinRole.GLOBAL_READER,
        BuiltinRole.SECURITY_READER,
    }
)
GROUP_AND_APP_REVIEW_ROLES = frozenset(
    {
        BuiltinRole.GLOBAL_ADMINISTRATOR,
        BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR,
        BuiltinRole.USER_ADMINISTRATOR,
    }
)
ROLE_REVIEW_ROLES = frozenset(
    {BuiltinRole.GLOBAL_ADMINISTRATOR, BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR}
)


class Capabilities:
    """What one person may do. Cheap to build; each fact is queried only when first asked."""

    def __init__(
        self,
        user=None,
        *,
        roles=None,
        is_superuser=False,
        owns_groups=None,
        group_owners_enabled=None,
    ):
        self._user = user
        self.is_superuser = is_superuser
        if roles is not None:
            self.__dict__["roles"] = frozenset(roles)
        if owns_groups is not None:
            self.__dict__["owns_groups"] = owns_groups
        if group_owners_enabled is not None:
            self.__dict__["group_owners_enabled"] = group_owners_enabled

    @cached_property
    def roles(self) -> frozenset[str]:
        """Template ids of the built-in roles this user holds actively."""
        if self._user is None:
            return frozenset()
        through_groups = GroupMembership.objects.filter(
            user=self._user, group__is_role_assignable=True
        ).values("group_id")
        ids = RoleAssignment.objects.filter(
            Q(user=self._user) | Q(group_id__in=through_groups), kind=RoleAssignmentKind.ACTIVE
        ).values_list("role__template_id", flat=True)
        return frozenset(ids)

    @cached_property
    def owns_groups(self) -> bool:
        return self._user is not None and GroupOwner.objects.filter(user=self._user).exists()

    @cached_property
    def group_owners_enabled(self) -> bool:
        return TenantSettings.group_owners_manage_reviews()

    def _holds(self, roles: frozenset[str]) -> bool:
        return self.is_superuser or bool(self.roles & roles)

    @property
    def signed_in(self) -> bool:
        return self._user is not None or self.is_superuser or bool(self.roles)

    @property
    def use_django_admin(self) -> bool:
        return self._holds(frozenset({BuiltinRole.GLOBAL_ADMINISTRATOR}))

    @property
    def read_all(self) -> bool:
        """Read every review, result, audit event and the directory."""
        return self._holds(READER_ROLES)

    @property
    def manage_group_reviews(self) -> bool:
        return self._holds(GROUP_AND_APP_REVIEW_ROLES)

    @property
    def manage_application_reviews(self) -> bool:
        return self._holds(GROUP_AND_APP_REVIEW_ROLES)

    @property
    def manage_role_reviews(self) -> bool:
        return self._holds(ROLE_REVIEW_ROLES)

    @property
    def manage_owned_group_reviews(self) -> bool:
        """Reviews of groups one owns: a subset of all group reviews, or the owners' switch."""
        # Ownership first: most people own nothing, and then the tenant switch is never read.
        return self.manage_group_reviews or (self.owns_groups and self.group_owners_enabled)

    @property
    def create_reviews(self) -> bool:
        return (
            self.manage_group_reviews or self.manage_role_reviews or self.manage_owned_group_reviews
        )

    @property
    def view_directory(self) -> bool:
        return self.read_all

    @property
    def view_audit_log(self) -> bool:
        return self.read_all


def users_holding(roles) -> QuerySet:
    """Enabled users who hold any of these roles actively (directly or via a group), and
    superusers: the set-based twin of Capabilities, for choosing message recipients."""
    active = RoleAssignment.objects.filter(
        kind=RoleAssignmentKind.ACTIVE, role__template_id__in=list(roles)
    )
    through_groups = GroupMembership.objects.filter(
        group__is_role_assignable=True,
        group_id__in=active.filter(group__isnull=False).values("group_id"),
    ).values("user_id")
    holders = Q(is_superuser=True) | Q(id__in=active.filter(user__isnull=False).values("user_id"))
    return User.objects.filter(is_active=True, deleted_at__isnull=True).filter(
        holders | Q(id__in=through_groups)
    )


def administrators() -> QuerySet:
    return users_holding({BuiltinRole.GLOBAL_ADMINISTRATOR})


def readers_of_everything() -> QuerySet:
    return users_holding(READER_ROLES)


NOBODY = Capabilities(roles=(), owns_groups=False, group_owners_enabled=False)


def capabilities_for(user) -> Capabilities:
    """The user's capabilities, computed once per user object (so once per request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return NOBODY
    cached = getattr(user, "_capabilities", None)
    if cached is None:
        if not user.is_active or user.deleted_at is not None:
            cached = NOBODY
        else:
            cached = Capabilities(user, is_superuser=user.is_superuser)
        user._capabilities = cached
    return cached


# --- The permission matrix, derived from the rules above -----------------------------------------


@dataclass(frozen=True)
class MatrixColumn:
    label: str
    attribute: str


MATRIX_COLUMNS = (
    MatrixColumn("Django admin", "use_django_admin"),
    MatrixColumn("Read all reviews, results, audit and directory", "read_all"),
    MatrixColumn("Create and manage group reviews", "manage_group_reviews"),
    MatrixColumn("Create and manage application reviews", "manage_application_reviews"),
    MatrixColumn("Create and manage directory role reviews", "manage_role_reviews"),
    MatrixColumn("Create and manage reviews of groups they own", "manage_owned_group_reviews"),
)

# Everyone, whatever their role, decides the items assigned to them and nothing else.
REVIEWER_NOTE = (
    "Anyone assigned as a reviewer sees and decides their own items in the open stage and sees "
    "past ones read-only; a role never lets someone decide items not assigned to them."
)


def _persona(label, roles=(), superuser=False, owns=False, owners_enabled=False):
    return label, Capabilities(
        roles=roles, is_superuser=superuser, owns_groups=owns, group_owners_enabled=owners_enabled
    )


MATRIX_PERSONAS = (
    _persona("Global Administrator", [BuiltinRole.GLOBAL_ADMINISTRATOR]),
    _persona("Django superuser", superuser=True),
    _persona("Identity Governance Administrator", [BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR]),
    _persona("User Administrator", [BuiltinRole.USER_ADMINISTRATOR]),
    _persona("Privileged Role Administrator", [BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR]),
    _persona("Global Reader", [BuiltinRole.GLOBAL_READER]),
    _persona("Security Reader", [BuiltinRole.SECURITY_READER]),
    _persona("Group owner, GROUP_OWNERS_CAN_MANAGE_REVIEWS on", owns=True, owners_enabled=True),
    _persona("Group owner, GROUP_OWNERS_CAN_MANAGE_REVIEWS off", owns=True),
    _persona("Reviewer (no role)"),
    _persona("Eligible (not active) Global Administrator"),
    _persona("Anyone else"),
)


def permission_matrix() -> list[tuple[str, list[bool]]]:
    return [
        (label, [getattr(caps, column.attribute) for column in MATRIX_COLUMNS])
        for label, caps in MATRIX_PERSONAS
    ]

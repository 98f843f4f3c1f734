from directory.models.applications import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
    AppRole,
    AppRoleAssignment,
)
from directory.models.audit import AuditEvent
from directory.models.choices import AccessPath, PrincipalType, ResourceType, RevocationResult
from directory.models.groups import (
    Group,
    GroupKind,
    GroupMembership,
    GroupOwner,
    GroupSource,
    MembershipType,
    NestedGroup,
)
from directory.models.revocations import GrantRevocation
from directory.models.roles import BuiltinRole, DirectoryRole, RoleAssignment, RoleAssignmentKind
from directory.models.tenant import TenantSettings
from directory.models.users import User, UserType

__all__ = [
    "AccessPath",
    "AppRole",
    "AppRoleAssignment",
    "Application",
    "ApplicationOwner",
    "ApplicationSignIn",
    "AuditEvent",
    "BuiltinRole",
    "DirectoryRole",
    "GrantRevocation",
    "Group",
    "GroupKind",
    "GroupMembership",
    "GroupOwner",
    "GroupSource",
    "MembershipType",
    "NestedGroup",
    "PrincipalType",
    "ResourceType",
    "RevocationResult",
    "RoleAssignment",
    "RoleAssignmentKind",
    "TenantSettings",
    "User",
    "UserType",
]

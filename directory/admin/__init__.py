"""The Django admin for the directory: every write is validated and audited.

Only Global Administrators and superusers get in (directory/admin_site.py). Writes that have a
service (members, owners, nesting, role assignments, the superuser flag, deleting and restoring
users) call it, so they are checked and audited as in the portal. Every other save or delete made
here records an `admin.<model>.<added|changed|deleted>` event naming the changed fields.

Importing this package registers every model admin (one module per area); the names below stay
importable from `directory.admin`.
"""

from django.contrib import admin
from django.contrib.auth.models import Group as DjangoAuthGroup

from directory.admin.applications import (
    ApplicationAdmin,
    ApplicationSignInAdmin,
    AppRoleAdmin,
    AppRoleAssignmentAdmin,
)
from directory.admin.audit import AuditEventAdmin, GrantRevocationAdmin
from directory.admin.base import AuditedAdmin, ReadOnlyAdmin
from directory.admin.groups import GroupAdmin, GroupMembershipAdmin
from directory.admin.roles import DirectoryRoleAdmin, RoleAssignmentAdmin
from directory.admin.tenant import TenantSettingsAdmin
from directory.admin.users import UserAdmin

__all__ = [
    "ApplicationAdmin",
    "ApplicationSignInAdmin",
    "AppRoleAdmin",
    "AppRoleAssignmentAdmin",
    "AuditEventAdmin",
    "AuditedAdmin",
    "DirectoryRoleAdmin",
    "GrantRevocationAdmin",
    "GroupAdmin",
    "GroupMembershipAdmin",
    "ReadOnlyAdmin",
    "RoleAssignmentAdmin",
    "TenantSettingsAdmin",
    "UserAdmin",
]

# The portal's permissions come from directory roles (directory.capabilities), never from
# Django's auth groups, which would only be confused with directory groups here. (Importing
# users above imported django.contrib.auth.admin, which registers them.)
if admin.site.is_registered(DjangoAuthGroup):
    admin.site.unregister(DjangoAuthGroup)

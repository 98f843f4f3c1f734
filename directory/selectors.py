"""Reads behind the directory pages: each page's rows and joins, in a fixed number of queries.

Callers authorize first (capabilities.view_directory / view_audit_log); everything here reads the
whole tenant, as a directory reader may. List selectors return querysets for the view to page;
detail selectors return one bundle per page, raising Http404 for an unknown uuid.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Lower
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from directory import access
from directory.models import (
    Application,
    AppRole,
    AppRoleAssignment,
    AuditEvent,
    DirectoryRole,
    Group,
    GroupKind,
    GroupSource,
    MembershipType,
    NestedGroup,
    PrincipalType,
    ResourceType,
    RoleAssignment,
    RoleAssignmentKind,
    User,
    UserType,
)

PAGE_SIZE = 50
# Detail pages list at most this many principals; the total is always shown.
ACCESS_LIST_LIMIT = 500

USER_STATUSES = {"enabled": "Enabled", "disabled": "Disabled", "deleted": "Deleted"}
OWNER_FILTERS = {"none": "No owners", "some": "Has owners"}
ASSIGNMENT_FILTERS = {"required": "Assignment required", "optional": "Assignment not required"}


def _choice(params: Mapping, name: str, allowed) -> str:
    value = params.get(name, "")
    return value if value in allowed else ""


def _text(params: Mapping, name: str) -> str:
    return params.get(name, "").strip()[:200]


def _since(field_name: str) -> ExpressionWrapper:
    # The portal's clock, not the database's: "n days ago" agrees with every other date shown.
    now = Value(timezone.now(), output_field=DateTimeField())
    return ExpressionWrapper(now - F(field_name), output_field=DurationField())


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        return None


def _as_uuid(value) -> uuid.UUID | None:
    # Raw SQL returns a UUID on PostgreSQL and 32 hex characters on SQLite.
    return None if value is None else uuid.UUID(str(value))


# --- Users -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserFilter:
    q: str = ""
    user_type: str = ""
    status: str = ""

    @classmethod
    def from_params(cls, params: Mapping) -> "UserFilter":
        return cls(
            q=_text(params, "q"),
            user_type=_choice(params, "type", UserType.values),
            status=_choice(params, "status", USER_STATUSES),
        )

    @property
    def is_set(self) -> bool:
        return bool(self.q or self.user_type or self.status)


def user_list(filters: UserFilter) -> QuerySet:
    """Users for the list page, by display name, with manager and sign-in age (one query)."""
    users = User.objects.search(filters.q)
    if filters.user_type:
        users = users.filter(user_type=filters.user_type)
    if filters.status == "enabled":
        users = users.filter(is_active=True)
    elif filters.status == "disabled":
        users = users.alive().filter(is_active=False)
    elif filters.status == "deleted":
        users = users.filter(deleted_at__isnull=False)
    else:
        users = users.alive()
    return (
        users.select_related("manager")
        .annotate(since_sign_in=_since("last_sign_in_at"))
        # Matches the user_name_sort_idx index (lower(display_name), id).
        .order_by(Lower("display_name"), "id")
    )


@dataclass(frozen=True)
class Grant:
    """One group, application or role a user reaches, and how."""

    resource_type: str
    uuid: uuid.UUID
    name: str
    access_path: str
    via_group_uuid: uuid.UUID | None
    via_group_name: str | None
    detail: str


@dataclass
class UserProfile:
    user: User
    direct_reports: list[User]
    owned_groups: list[Group]
    owned_applications: list[Application]
    groups: list[Grant] = field(default_factory=list)
    applications: list[Grant] = field(default_factory=list)
    roles: list[Grant] = field(default_factory=list)


def user_profile(user_uuid) -> UserProfile:
    user = get_object_or_404(
        User.objects.select_related("manager").annotate(since_sign_in=_since("last_sign_in_at")),
        uuid=user_uuid,
    )
    profile = UserProfile(
        user=user,
        direct_reports=list(user.direct_reports.order_by(Lower("display_name"), "id")),
        owned_groups=list(user.owned_groups.order_by(Lower("name"), "id")),
        owned_applications=list(user.owned_applications.order_by(Lower("name"), "id")),
    )
    for grant in _grants_with_uuids(access.grants_of_user(user.pk)):
        {
            ResourceType.GROUP: profile.groups,
            ResourceType.APPLICATION: profile.applications,
            ResourceType.DIRECTORY_ROLE: profile.roles,
        }[grant.resource_type].append(grant)
    return profile


def _grants_with_uuids(grants: list[access.UserGrant]) -> list[Grant]:
    """The grants with public ids for links: one lookup per resource type that occurs."""
    group_ids = {g.via_group_id for g in grants if g.via_group_id}
    group_ids |= {g.resource_id for g in grants if g.resource_type == ResourceType.GROUP}
    uuids = {
        ResourceType.GROUP: _uuids(Group, group_ids),
        ResourceType.APPLICATION: _uuids(
            Application,
            {g.resource_id for g in grants if g.resource_type == ResourceType.APPLICATION},
        ),
        ResourceType.DIRECTORY_ROLE: _uuids(
            DirectoryRole,
            {g.resource_id for g in grants if g.resource_type == ResourceType.DIRECTORY_ROLE},
        ),
    }
    return [
        Grant(
            resource_type=g.resource_type,
            uuid=uuids[g.resource_type][g.resource_id],
            name=g.resource_name,
            access_path=g.access_path,
            via_group_uuid=uuids[ResourceType.GROUP].get(g.via_group_id),
            via_group_name=g.via_group_name,
            detail=g.detail,
        )
        for g in grants
    ]


def _uuids(model, ids: set[int]) -> dict[int, uuid.UUID]:
    if not ids:
        return {}
    return dict(model.objects.filter(id__in=ids).values_list("id", "uuid"))


# --- Principals holding access to one resource -------------------------------------------------


@dataclass(frozen=True)
class Holder:
    """A principal (user or group) holding access to a resource, and how."""

    principal_type: str
    uuid: uuid.UUID
    name: str
    user_principal_name: str
    user_type: str
    is_active: bool
    is_deleted: bool
    access_path: str
    via_group_uuid: uuid.UUID | None
    via_group_name: str | None
    role_kind: str | None

    @property
    def is_group(self) -> bool:
        return self.principal_type == PrincipalType.GROUP


@dataclass(frozen=True)
class Holders:
    rows: list[Holder]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


def holders(query: access.AccessQuery, limit: int = ACCESS_LIST_LIMIT) -> Holders:
    """The principals of an access query with their names, by name, in one query.

    The access SQL is wrapped (as access.py intends) and joined to users and groups in the
    database, so a group of 10,000 members costs one query, not one per member.
    """
    user, group = User._meta.db_table, Group._meta.db_table
    sql = f"""
        SELECT a.principal_type, COALESCE(u.uuid, g.uuid), COALESCE(u.display_name, g.name),
               u.user_principal_name, u.user_type, u.is_active, u.deleted_at,
               a.access_path, v.uuid, v.name, a.role_assignment_kind, COUNT(*) OVER ()
        FROM ({query.sql}) a
        LEFT JOIN {user} u ON a.principal_type = '{PrincipalType.USER}' AND u.id = a.principal_id
        LEFT JOIN {group} g ON a.principal_type = '{PrincipalType.GROUP}' AND g.id = a.principal_id
        LEFT JOIN {group} v ON v.id = a.via_group_id
        ORDER BY LOWER(COALESCE(u.display_name, g.name)), a.principal_type, a.principal_id
        LIMIT %s"""
    with connection.cursor() as cursor:
        cursor.execute(sql, (*query.params, limit))
        rows = cursor.fetchall()
    entries = [
        Holder(
            principal_type=kind,
            uuid=_as_uuid(public_id),
            name=name,
            user_principal_name=upn or "",
            user_type=user_type or "",
            is_active=bool(is_active) if kind == PrincipalType.USER else True,
            is_deleted=deleted_at is not None,
            access_path=path,
            via_group_uuid=_as_uuid(via_uuid),
            via_group_name=via_name,
            role_kind=role_kind,
        )
        for (
            kind,
            public_id,
            name,
            upn,
            user_type,
            is_active,
            deleted_at,
            path,
            via_uuid,
            via_name,
            role_kind,
            _total,
        ) in rows
    ]
    return Holders(entries, rows[0][-1] if rows else 0)


# --- Groups ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupFilter:
    q: str = ""
    kind: str = ""
    membership_type: str = ""
    source: str = ""
    owners: str = ""

    @classmethod
    def from_params(cls, params: Mapping) -> "GroupFilter":
        return cls(
            q=_text(params, "q"),
            kind=_choice(params, "kind", GroupKind.values),
            membership_type=_choice(params, "membership", MembershipType.values),
            source=_choice(params, "source", GroupSource.values),
            owners=_choice(params, "owners", OWNER_FILTERS),
        )

    @property
    def is_set(self) -> bool:
        return any((self.q, self.kind, self.membership_type, self.source, self.owners))


def group_list(filters: GroupFilter) -> QuerySet:
    """Groups by name with member, nested-group and owner counts (one query, no N+1)."""
    groups = Group.objects.search(filters.q)
    for column, value in (
        ("kind", filters.kind),
        ("membership_type", filters.membership_type),
        ("source", filters.source),
    ):
        if value:
            groups = groups.filter(**{column: value})
    groups = groups.with_counts()
    if filters.owners == "none":
        groups = groups.filter(owner_count=0)
    elif filters.owners == "some":
        groups = groups.filter(owner_count__gt=0)
    # Matches the group_name_sort_idx index (lower(name), id).
    return groups.order_by(Lower("name"), "id")


@dataclass
class GroupPage:
    group: Group
    owners: list[User]
    member_of: list[Group]
    direct_members: Holders
    everyone: Holders
    applications: list[AppRoleAssignment]
    roles: list[RoleAssignment]

    @property
    def grant_count(self) -> int:
        return len(self.applications) + len(self.roles)


def group_page(group_uuid) -> GroupPage:
    group = get_object_or_404(Group, uuid=group_uuid)
    parents = NestedGroup.objects.filter(child=group).values("parent_id")
    return GroupPage(
        group=group,
        owners=list(group.owners.order_by(Lower("display_name"), "id")),
        member_of=list(Group.objects.filter(id__in=parents).order_by(Lower("name"), "id")),
        direct_members=holders(
            access.principals_with_access(ResourceType.GROUP, group.pk, expand_groups=False)
        ),
        everyone=holders(access.principals_with_access(ResourceType.GROUP, group.pk)),
        applications=list(
            AppRoleAssignment.objects.filter(group=group)
            .select_related("app_role__application")
            .order_by(Lower("app_role__application__name"), "app_role__display_name")
        ),
        roles=list(
            RoleAssignment.objects.filter(group=group).select_related("role").order_by("role__name")
        ),
    )


# --- Applications ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationFilter:
    q: str = ""
    assignment: str = ""

    @classmethod
    def from_params(cls, params: Mapping) -> "ApplicationFilter":
        return cls(
            q=_text(params, "q"), assignment=_choice(params, "assignment", ASSIGNMENT_FILTERS)
        )

    @property
    def is_set(self) -> bool:
        return bool(self.q or self.assignment)


def application_list(filters: ApplicationFilter) -> QuerySet:
    """Applications by name with role, assignment and owner counts (one query)."""
    apps = Application.objects.search(filters.q)
    if filters.assignment:
        apps = apps.filter(assignment_required=filters.assignment == "required")
    # Matches the app_name_sort_idx index (lower(name), id).
    return apps.with_counts().order_by(Lower("name"), "id")


@dataclass
class ApplicationPage:
    application: Application
    owners: list[User]
    app_roles: list[AppRole]
    group_assignments: list[AppRoleAssignment]
    users: Holders


def application_page(application_uuid) -> ApplicationPage:
    app = get_object_or_404(Application, uuid=application_uuid)
    return ApplicationPage(
        application=app,
        owners=list(app.owners.order_by(Lower("display_name"), "id")),
        app_roles=list(
            app.app_roles.annotate(
                user_count=Count("assignments", filter=Q(assignments__user__isnull=False)),
                group_count=Count("assignments", filter=Q(assignments__group__isnull=False)),
            ).order_by(Lower("display_name"), "id")
        ),
        group_assignments=list(
            AppRoleAssignment.objects.filter(app_role__application=app, group__isnull=False)
            .select_related("group", "app_role")
            .order_by(Lower("group__name"), "app_role__display_name")
        ),
        users=holders(access.principals_with_access(ResourceType.APPLICATION, app.pk)),
    )


# --- Directory roles ---------------------------------------------------------------------------


def role_list() -> QuerySet:
    """Every directory role with its active and eligible assignment counts (one query)."""
    return DirectoryRole.objects.with_counts().order_by("name")


@dataclass
class RolePage:
    role: DirectoryRole
    assignees: Holders
    active: list[Holder]
    eligible: list[Holder]


def role_page(role_uuid) -> RolePage:
    role = get_object_or_404(DirectoryRole, uuid=role_uuid)
    assignees = holders(access.principals_with_access(ResourceType.DIRECTORY_ROLE, role.pk))
    return RolePage(
        role=role,
        assignees=assignees,
        active=[h for h in assignees.rows if h.role_kind == RoleAssignmentKind.ACTIVE],
        eligible=[h for h in assignees.rows if h.role_kind == RoleAssignmentKind.ELIGIBLE],
    )


# --- Audit log ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    object: str = ""
    before: int | None = None
    after: int | None = None

    @classmethod
    def from_params(cls, params: Mapping) -> "AuditFilter":
        return cls(
            action=_text(params, "action"),
            actor=_text(params, "actor"),
            object=_text(params, "object"),
            before=_cursor(params.get("before")),
            after=_cursor(params.get("after")),
        )

    @property
    def is_set(self) -> bool:
        return bool(self.action or self.actor or self.object)


def _cursor(value) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 19 else None


@dataclass
class AuditPage:
    events: list[AuditEvent]
    newer: int | None  # pass as ?after= for the newer page
    older: int | None  # pass as ?before= for the older page


def _matching(events: QuerySet, filters: AuditFilter) -> QuerySet:
    if filters.action:
        events = events.filter(action__startswith=filters.action)
    for prefix, text in (("actor", filters.actor), ("object", filters.object)):
        if not text:
            continue
        if _parse_uuid(text):
            events = events.filter(**{f"{prefix}_id": str(_parse_uuid(text))})
        else:
            events = events.filter(**{f"{prefix}_label__icontains": text})
    return events


def audit_page(filters: AuditFilter) -> AuditPage:
    """One page of events, newest first, by keyset on seq: no COUNT over the whole log."""
    events = _matching(AuditEvent.objects.all(), filters)
    if filters.after is not None:
        rows = list(events.filter(seq__gt=filters.after).order_by("seq")[: PAGE_SIZE + 1])
        more_newer = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        newer = rows[0].seq if more_newer else None
        older = rows[-1].seq if rows else None
    else:
        if filters.before is not None:
            events = events.filter(seq__lt=filters.before)
        rows = list(events.order_by("-seq")[: PAGE_SIZE + 1])
        more_older = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        newer = rows[0].seq if rows and filters.before is not None else None
        older = rows[-1].seq if more_older else None
    for event in rows:
        event.object_url = _object_url(event.object_type, event.object_id)
        event.actor_url = _object_url(event.actor_type, event.actor_id)
    return AuditPage(rows, newer, older)


_DETAIL_PAGES = {
    "user": "directory:user-detail",
    "group": "directory:group-detail",
    "application": "directory:application-detail",
    "directoryrole": "directory:role-detail",
}


def _object_url(object_type: str, object_id: str) -> str:
    """The directory page of an audited object, when it has one (ids are copies, not keys)."""
    public_id = _parse_uuid(object_id)
    if object_type not in _DETAIL_PAGES or public_id is None:
        return ""
    return reverse(_DETAIL_PAGES[object_type], args=[public_id])

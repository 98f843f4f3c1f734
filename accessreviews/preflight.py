"""What the review step shows before a review is created: the figures per resource, the
plain-language summary and the calendar, so nobody finds the surprises when the review ends.

Figures are set-based: one query lists the resources in scope, then one aggregate query per
resource over directory.access's "who has access" SQL, whatever the number of principals.
"""

import datetime
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accessreviews import describe, schedule
from accessreviews.choices import PrincipalScope, ReviewerType, RoleAssignmentScope, ScopeType
from accessreviews.drafts import DefinitionDraft
from directory.access import principals_with_access
from directory.models import (
    AccessPath,
    Application,
    ApplicationOwner,
    DirectoryRole,
    Group,
    GroupKind,
    GroupMembership,
    GroupOwner,
    GroupSource,
    MembershipType,
    PrincipalType,
    ResourceType,
    RoleAssignmentKind,
    User,
    UserType,
)

# Beyond this many resources the preflight shows the first ones and says how many it left out.
RESOURCES_MAX = 50
ROLE_KINDS = {
    RoleAssignmentScope.ACTIVE: (RoleAssignmentKind.ACTIVE,),
    RoleAssignmentScope.ELIGIBLE: (RoleAssignmentKind.ELIGIBLE,),
    RoleAssignmentScope.BOTH: (RoleAssignmentKind.ACTIVE, RoleAssignmentKind.ELIGIBLE),
}
OWNER_TYPES = (ReviewerType.GROUP_OWNERS, ReviewerType.APPLICATION_OWNERS)


@dataclass
class ResourceFigures:
    resource_type: str
    resource_id: int
    name: str
    principals: int = 0
    groups: int = 0  # principals that are groups (role-assignable groups in role reviews)
    owners: int | None = None  # None: not a resource with owners
    without_manager: int = 0
    self_reviewers: int = 0
    indirect: int = 0  # nested or through a group: apply removes direct grants only
    unmanaged_reason: str = ""  # dynamic or synced group: apply cannot remove anyone

    @property
    def apply_cannot_remove(self) -> int:
        return self.principals if self.unmanaged_reason else self.indirect


@dataclass
class Preflight:
    rows: list[ResourceFigures]
    total: int
    owners_review: bool
    managers_review: bool
    needs_acknowledgement: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def capped(self) -> bool:
        return self.total > len(self.rows)


def preflight(draft: DefinitionDraft, now: datetime.datetime | None = None) -> Preflight:
    """The figures for each resource in scope (at most RESOURCES_MAX of them)."""
    now = now or timezone.now()
    resource_type, resources, total = _resources(draft)
    types = {stage.reviewer_type for stage in draft.stages}
    rows = [_figures(draft, resource_type, resource, types, now) for resource in resources]
    owners_review = bool(types & set(OWNER_TYPES))
    ownerless = [row for row in rows if owners_review and row.owners == 0]
    unguarded = any(
        stage.reviewer_type in OWNER_TYPES
        and not (stage.fallback_user_ids or stage.fallback_group_ids)
        for stage in draft.stages
    )
    warnings = []
    if ownerless and unguarded:
        warnings.append(
            f"{describe.names([r.name for r in ownerless])} "
            f"{'has' if len(ownerless) == 1 else 'have'} no owner, owners review, and no "
            "fallback reviewer is set: their items will have no reviewer."
        )
    return Preflight(
        rows,
        total,
        owners_review,
        ReviewerType.MANAGERS in types,
        bool(warnings),
        warnings,
    )


def _resources(draft: DefinitionDraft):
    """(resource type, the first RESOURCES_MAX resources by name, how many in all)."""
    if draft.scope_type == ScopeType.APPLICATION_ASSIGNEES:
        found = Application.objects.filter(pk__in=draft.application_ids).with_counts()
        kind = ResourceType.APPLICATION
    elif draft.scope_type == ScopeType.ROLE_ASSIGNEES:
        found = DirectoryRole.objects.filter(pk__in=draft.role_ids)
        kind = ResourceType.DIRECTORY_ROLE
    else:
        found = _groups_in_scope(draft).with_counts()
        kind = ResourceType.GROUP
    found = list(found.order_by("name", "pk")[: RESOURCES_MAX + 1])
    total = len(found)
    if total > RESOURCES_MAX:
        total = found[0].__class__.objects.filter(pk__in=_ids_in_scope(draft)).count()
    return kind, found[:RESOURCES_MAX], total


def _groups_in_scope(draft: DefinitionDraft):
    if draft.scope_type == ScopeType.GROUP_MEMBERS:
        return Group.objects.filter(pk__in=draft.group_ids)
    return all_groups_with_guests(draft.excluded_group_ids)


def _ids_in_scope(draft: DefinitionDraft):
    if draft.scope_type == ScopeType.ALL_GROUPS_WITH_GUESTS:
        return all_groups_with_guests(draft.excluded_group_ids).values("pk")
    return draft.group_ids or draft.application_ids or draft.role_ids


def all_groups_with_guests(excluded_ids=()):
    """Microsoft 365 groups with a guest member, not dynamic, not role-assignable (as Entra)."""
    guests = GroupMembership.objects.filter(group=OuterRef("pk"), user__user_type=UserType.GUEST)
    return (
        Group.objects.filter(
            kind=GroupKind.MICROSOFT_365,
            membership_type=MembershipType.ASSIGNED,
            is_role_assignable=False,
        )
        .exclude(pk__in=list(excluded_ids))
        .filter(Exists(guests))
    )


def _figures(draft, resource_type, resource, reviewer_types, now) -> ResourceFigures:
    access = principals_with_access(
        resource_type,
        resource.pk,
        role_kinds=ROLE_KINDS.get(draft.role_assignment_scope, ROLE_KINDS["both"]),
    )
    self_sql, self_params = _self_review_condition(draft, resource_type, resource.pk)
    where_sql, where_params = _principal_filter(draft, now)
    user = PrincipalType.USER
    sql = f"""
        SELECT COUNT(*),
               COALESCE(SUM(CASE WHEN a.principal_type <> '{user}' THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN a.access_path <> '{AccessPath.DIRECT}' THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN a.principal_type = '{user}' AND u.manager_id IS NULL
                                 THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN {self_sql} THEN 1 ELSE 0 END), 0)
        FROM ({access.sql}) a
        LEFT JOIN {User._meta.db_table} u ON a.principal_type = '{user}' AND u.id = a.principal_id
        WHERE {where_sql}"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [*self_params, *access.params, *where_params])
        principals, groups, indirect, without_manager, self_reviewers = cursor.fetchone()
    return ResourceFigures(
        resource_type,
        resource.pk,
        resource.name,
        principals=principals,
        groups=groups,
        owners=getattr(resource, "owner_count", None),
        without_manager=without_manager if ReviewerType.MANAGERS in reviewer_types else 0,
        self_reviewers=self_reviewers,
        indirect=indirect,
        unmanaged_reason=_unmanaged_reason(resource),
    )


def _unmanaged_reason(resource) -> str:
    if not isinstance(resource, Group):
        return ""
    if resource.membership_type == MembershipType.DYNAMIC:
        return "Dynamic membership"
    if resource.source == GroupSource.ON_PREMISES:
        return "Synced from on-premises"
    return ""


def _principal_filter(draft, now) -> tuple[str, list]:
    """Guests only and inactive only, as the snapshot will apply them."""
    clauses, params = ["1 = 1"], []
    if draft.principal_scope == PrincipalScope.GUESTS_ONLY:
        clauses.append("u.user_type = %s")
        params.append(UserType.GUEST)
    if draft.inactive_days:
        cutoff = now - datetime.timedelta(days=draft.inactive_days)
        clauses.append("(u.last_sign_in_at IS NULL OR u.last_sign_in_at < %s)")
        clauses.append("u.created_at < %s")
        params += [cutoff, cutoff]
    return " AND ".join(clauses), params


def _self_review_condition(draft, resource_type, resource_id) -> tuple[str, list]:
    """Principals who are also among a stage's reviewers of this resource (never self-reviews)."""
    user = PrincipalType.USER
    conditions, params = [], []
    types = {stage.reviewer_type for stage in draft.stages}
    if ReviewerType.GROUP_OWNERS in types and resource_type == ResourceType.GROUP:
        conditions.append(
            f"EXISTS (SELECT 1 FROM {GroupOwner._meta.db_table} o "
            "WHERE o.group_id = %s AND o.user_id = a.principal_id)"
        )
        params.append(resource_id)
    if ReviewerType.APPLICATION_OWNERS in types and resource_type == ResourceType.APPLICATION:
        conditions.append(
            f"EXISTS (SELECT 1 FROM {ApplicationOwner._meta.db_table} o "
            "WHERE o.application_id = %s AND o.user_id = a.principal_id)"
        )
        params.append(resource_id)
    user_ids = sorted({i for s in draft.stages for i in s.reviewer_user_ids})
    group_ids = sorted({i for s in draft.stages for i in s.reviewer_group_ids})
    if user_ids:
        conditions.append(f"a.principal_id IN ({', '.join(['%s'] * len(user_ids))})")
        params += user_ids
    if group_ids:
        conditions.append(
            f"EXISTS (SELECT 1 FROM {GroupMembership._meta.db_table} m WHERE m.user_id = "
            f"a.principal_id AND m.group_id IN ({', '.join(['%s'] * len(group_ids))}))"
        )
        params += group_ids
    if not conditions:
        return "1 = 0", []
    return f"a.principal_type = '{user}' AND ({' OR '.join(conditions)})", params


# --- The calendar --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarRow:
    number: int
    start: str
    end: str
    viewer_start: str
    viewer_end: str


def calendar(draft: DefinitionDraft, viewer_zone: str, limit: int = 12) -> list[CalendarRow]:
    """The next occurrences, in the definition's zone and the viewer's."""
    if draft.start_date is None:
        return []
    zone = draft.time_zone
    return [
        CalendarRow(
            o.index + 1,
            describe.moment(o.start, zone),
            describe.moment(o.end, zone),
            describe.moment(o.start, viewer_zone),
            describe.moment(o.end, viewer_zone),
        )
        for o in schedule.occurrences(draft.schedule(), 0, limit)
    ]


# --- The summary in words ------------------------------------------------------------------------


@dataclass
class Names:
    """Labels of everything a draft refers to, fetched in four queries."""

    users: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    applications: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)

    @classmethod
    def of(cls, draft: DefinitionDraft) -> "Names":
        user_ids = set(draft.additional_recipient_ids)
        group_ids = set(draft.group_ids) | set(draft.excluded_group_ids)
        for stage in draft.stages:
            user_ids |= set(stage.reviewer_user_ids) | set(stage.fallback_user_ids)
            group_ids |= set(stage.reviewer_group_ids) | set(stage.fallback_group_ids)
        return cls(
            _labels(User.objects.filter(pk__in=user_ids), "display_name"),
            _labels(Group.objects.filter(pk__in=group_ids), "name"),
            _labels(Application.objects.filter(pk__in=draft.application_ids), "name"),
            _labels(DirectoryRole.objects.filter(pk__in=draft.role_ids), "name"),
        )

    def pick(self, kind: str, ids) -> list[str]:
        labels = getattr(self, kind)
        return sorted(labels[i] for i in ids if i in labels)


def _labels(queryset, attribute) -> dict:
    return dict(queryset.values_list("pk", attribute))


def sentence(draft: DefinitionDraft, labels: Names) -> str:
    """'Every month from Tue 1 Dec 2026, 09:00 Europe/Paris, the owners of Project Falcon
    review its members for 14 days.'"""
    target, whose = _target(draft, labels)
    parts = []
    for number, stage in enumerate(draft.stages, start=1):
        reviewers = _reviewers(draft, stage, labels, target)
        days = describe.plural(stage.duration_days, "day")
        if number == 1:
            if stage.reviewer_type == ReviewerType.SELF:
                parts.append(f"{whose} of {target} review their own access for {days}")
            else:
                possessive = "its" if len(_resource_ids(draft)) == 1 else "their"
                what = (
                    f"{possessive} {whose}"
                    if stage.reviewer_type in OWNER_TYPES
                    else f"the {whose} of {target}"
                )
                parts.append(f"{reviewers} review {what} for {days}")
        else:
            parts.append(f"then {reviewers} for {days}")
    return f"{_when(draft)}, {', '.join(parts)}{_end(draft)}."


def _resource_ids(draft):
    return draft.group_ids or draft.application_ids or draft.role_ids


def _target(draft, labels) -> tuple[str, str]:
    scope = draft.scope_type
    guests = draft.principal_scope == PrincipalScope.GUESTS_ONLY
    if scope == ScopeType.ALL_GROUPS_WITH_GUESTS:
        return "every Microsoft 365 group with guests", "guest members"
    kind, whose = {
        ScopeType.GROUP_MEMBERS: ("groups", "members"),
        ScopeType.APPLICATION_ASSIGNEES: ("applications", "assigned users"),
        ScopeType.ROLE_ASSIGNEES: ("roles", "assignees"),
    }[scope]
    if guests:
        whose = f"guest {whose}"
    if draft.inactive_days:
        whose = f"{whose} inactive for {describe.plural(draft.inactive_days, 'day')}"
    target = describe.names(labels.pick(kind, _resource_ids(draft))) or "nothing yet"
    return target, whose


def _reviewers(draft, stage, labels, target) -> str:
    kind = stage.reviewer_type
    if kind in OWNER_TYPES:
        if len(_resource_ids(draft)) == 1:
            return f"the owners of {target}"
        return "each application's owners" if draft.application_ids else "each group's owners"
    if kind == ReviewerType.MANAGERS:
        return "their managers"
    if kind == ReviewerType.SELF:
        return "the people themselves"
    chosen = labels.pick("users", stage.reviewer_user_ids) + labels.pick(
        "groups", stage.reviewer_group_ids
    )
    return describe.names(chosen) or "the selected reviewers"


def _when(draft) -> str:
    at = f"{describe.day(draft.start_date)}, {draft.start_time:%H:%M} {draft.time_zone}"
    if draft.recurrence == schedule.Recurrence.ONE_TIME:
        return f"Once, on {at}"
    return f"{_every(draft.recurrence, draft.interval)} from {at}"


EVERY = {
    schedule.Recurrence.WEEKLY: "Every week",
    schedule.Recurrence.MONTHLY: "Every month",
    schedule.Recurrence.QUARTERLY: "Every quarter",
    schedule.Recurrence.SEMI_ANNUALLY: "Every six months",
    schedule.Recurrence.ANNUALLY: "Every year",
}


def _every(recurrence, interval) -> str:
    if interval == 1:
        return EVERY.get(recurrence, "Every time")
    return describe.describe_recurrence(recurrence, interval)


def _end(draft) -> str:
    if draft.recurrence == schedule.Recurrence.ONE_TIME:
        return ""
    if draft.end_rule == schedule.EndRule.ON_DATE and draft.end_date:
        return f"; the series ends on {describe.day(draft.end_date)}"
    if draft.end_rule == schedule.EndRule.AFTER and draft.occurrence_count:
        return f"; {describe.plural(draft.occurrence_count, 'occurrence')} in all"
    return "; it has no end date"

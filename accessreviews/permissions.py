"""Who may create, manage and read review definitions (DESIGN.md "Who may do what").

Portal-wide capabilities come from directory.capabilities; this module adds the per-object
rule: group owners manage reviews of groups they own, and only while the tenant allows it.
"""

from django.db.models import Q, QuerySet

from accessreviews.choices import ScopeType
from accessreviews.models import ReviewDefinition
from directory.capabilities import capabilities_for
from directory.models import GroupOwner, ResourceType


def owned_group_ids(user) -> set[int]:
    return set(GroupOwner.objects.filter(user=user).values_list("group_id", flat=True))


def may_manage_scope(user, scope_type: str, group_ids=(), owned=None) -> bool:
    """Whether `user` may create or manage a definition with this scope (`owned`: their
    owned_group_ids, when a caller checks many definitions and reads them once)."""
    caps = capabilities_for(user)
    if scope_type == ScopeType.GROUP_MEMBERS:
        if caps.manage_group_reviews:
            return True
        return (
            caps.manage_owned_group_reviews
            and bool(group_ids)
            and set(group_ids) <= (owned_group_ids(user) if owned is None else owned)
        )
    if scope_type == ScopeType.ALL_GROUPS_WITH_GUESTS:
        return caps.manage_group_reviews
    if scope_type == ScopeType.APPLICATION_ASSIGNEES:
        return caps.manage_application_reviews
    if scope_type == ScopeType.ROLE_ASSIGNEES:
        return caps.manage_role_reviews
    return False


def may_manage(user, definition: ReviewDefinition) -> bool:
    group_ids = [g.pk for g in definition.groups.all()]
    return may_manage_scope(user, definition.scope_type, group_ids)


def definitions_visible_to(user) -> QuerySet:
    """Readers and admins see every definition; group owners those of groups they own."""
    caps = capabilities_for(user)
    definitions = ReviewDefinition.objects.all()
    if caps.read_all:
        return definitions
    visible = Q(created_by=user)
    if caps.manage_owned_group_reviews:
        owned = GroupOwner.objects.filter(user=user).values("group_id")
        visible |= Q(scope_type=ScopeType.GROUP_MEMBERS, groups__in=owned)
    return definitions.filter(visible).distinct()


def instances_visible_to(user) -> Q:
    """Of the runs of a visible series: readers and admins see all; anyone else the runs of
    series they created and of groups they own. A series over several groups is visible to an
    owner of one of them, but the other groups' members and decisions are not theirs to see."""
    if capabilities_for(user).read_all:
        return Q()
    owned = GroupOwner.objects.filter(user=user).values("group_id")
    return Q(definition__created_by=user) | Q(
        resource_type=ResourceType.GROUP, resource_id__in=owned
    )

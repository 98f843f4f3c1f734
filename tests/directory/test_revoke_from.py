"""revoke_grants_from (requests classified as inserted) gives revoke_grants' results."""

import uuid

import pytest
from django.db.models import F, Value

from directory import access
from directory.models import (
    GrantRevocation,
    Group,
    GroupMembership,
    GroupSource,
    MembershipType,
    PrincipalType,
    ResourceType,
    RevocationResult,
    User,
)
from directory.models.roles import BuiltinRole
from tests.factories import (
    AppRoleFactory,
    GroupFactory,
    UserFactory,
    add_members,
    assign_app,
    assign_role,
    builtin_role,
    nest,
)

pytestmark = pytest.mark.django_db

REMOVED, GONE, NOT_SUPPORTED = (
    RevocationResult.REMOVED,
    RevocationResult.ALREADY_GONE,
    RevocationResult.NOT_SUPPORTED,
)


def requests(resource_type, resource, principals):
    model = Group if principals and isinstance(principals[0], Group) else User
    kind = PrincipalType.GROUP if model is Group else PrincipalType.USER
    return (
        model.objects.filter(pk__in=[p.pk for p in principals])
        .annotate(
            r_ref=F("id"),
            r_type=Value(resource_type),
            r_id=Value(resource.pk),
            p_type=Value(kind),
            p_id=F("id"),
        )
        .values_list("r_ref", "r_type", "r_id", "p_type", "p_id")
    )


def revoke(path, resource_type, resource, *principals):
    batch, queryset = uuid.uuid4(), requests(resource_type, resource, list(principals))
    if path == "two steps":
        access.revocation_requests_add(batch, queryset)
        counts = access.revoke_grants(batch)
    else:
        counts = access.revoke_grants_from(batch, queryset)
    rows = dict(GrantRevocation.objects.filter(batch=batch).values_list("ref", "result"))
    return counts, [rows[p.pk] for p in principals]


@pytest.fixture(params=["two steps", "from"])
def path(request):
    return request.param


def test_group_results(path):
    falcon, contractors = GroupFactory(), GroupFactory()
    nest(falcon, contractors)
    both, nested, gone = UserFactory.create_batch(3)
    add_members(falcon, both)
    add_members(contractors, both, nested)
    counts, results = revoke(path, ResourceType.GROUP, falcon, both, nested, gone)
    assert results == [REMOVED, NOT_SUPPORTED, GONE]
    assert counts[REMOVED] == 1 and not GroupMembership.objects.filter(group=falcon).exists()


@pytest.mark.parametrize(
    "changes", [{"membership_type": MembershipType.DYNAMIC}, {"source": GroupSource.ON_PREMISES}]
)
def test_unmanaged_groups(path, changes):
    group, ann = GroupFactory(**changes), UserFactory()
    add_members(group, ann)
    _, results = revoke(path, ResourceType.GROUP, group, ann)
    assert results == [NOT_SUPPORTED] and GroupMembership.objects.filter(group=group).exists()
    reason = GrantRevocation.objects.get().reason
    assert reason in (access.DYNAMIC_REASON, access.SYNCED_REASON)


def test_nested_group_applications_and_roles(path):
    parent, child = GroupFactory(), GroupFactory()
    nest(parent, child)
    assert revoke(path, ResourceType.GROUP, parent, child)[1] == [REMOVED]
    role, staff = AppRoleFactory(), GroupFactory()
    ann, bob = UserFactory.create_batch(2)
    add_members(staff, bob)
    assign_app(role, user=ann)
    assign_app(role, group=staff)
    assert revoke(path, ResourceType.APPLICATION, role.application, ann, bob)[1] == [
        REMOVED,
        NOT_SUPPORTED,
    ]
    assign_role(BuiltinRole.SECURITY_READER, user=ann)
    reader_role = builtin_role(BuiltinRole.SECURITY_READER)
    assert revoke(path, ResourceType.DIRECTORY_ROLE, reader_role, ann)[1] == [REMOVED]

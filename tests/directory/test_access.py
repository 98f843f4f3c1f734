import uuid

import pytest
from django.db import connection

from directory import access
from directory.models import (
    AccessPath,
    AuditEvent,
    GrantRevocation,
    GroupMembership,
    GroupSource,
    MembershipType,
    NestedGroup,
    PrincipalType,
    ResourceType,
    RevocationResult,
    RoleAssignment,
    RoleAssignmentKind,
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


def by_principal(query):
    return {(row.principal_type, row.principal_id): row for row in query.rows()}


@pytest.fixture
def org():
    """Engineering <- Backend <- Oncall (nested); Ann direct in Engineering and in Backend."""
    ann, bob, cat, dan = UserFactory.create_batch(4)
    engineering, backend, oncall = GroupFactory.create_batch(3)
    add_members(engineering, ann)
    add_members(backend, ann, bob)
    add_members(oncall, cat)
    nest(engineering, backend)
    nest(backend, oncall)
    return dict(
        ann=ann, bob=bob, cat=cat, dan=dan, engineering=engineering, backend=backend, oncall=oncall
    )


def test_group_access_flattens_nested_groups_with_the_nearest_path(org):
    rows = by_principal(access.principals_with_access(ResourceType.GROUP, org["engineering"].id))

    assert set(rows) == {("user", org["ann"].id), ("user", org["bob"].id), ("user", org["cat"].id)}
    assert rows["user", org["ann"].id].access_path == AccessPath.DIRECT
    assert rows["user", org["ann"].id].via_group_id is None
    assert rows["user", org["bob"].id].access_path == AccessPath.NESTED
    assert rows["user", org["bob"].id].via_group_id == org["backend"].id
    assert rows["user", org["cat"].id].via_group_id == org["oncall"].id


def test_group_access_without_expansion_lists_direct_users_and_groups(org):
    rows = by_principal(
        access.principals_with_access(
            ResourceType.GROUP, org["engineering"].id, expand_groups=False
        )
    )

    assert set(rows) == {("user", org["ann"].id), ("group", org["backend"].id)}
    assert {row.access_path for row in rows.values()} == {AccessPath.DIRECT}


def test_an_empty_group_has_no_principals():
    assert access.principals_with_access(ResourceType.GROUP, GroupFactory().id).rows() == []


def test_application_access_covers_direct_assignees_and_direct_members_of_assigned_groups(org):
    role = AppRoleFactory()
    assign_app(role, user=org["dan"])
    assign_app(role, user=org["ann"])
    assign_app(role, group=org["backend"])  # Ann and Bob directly; not Cat (nested in oncall)

    rows = by_principal(
        access.principals_with_access(ResourceType.APPLICATION, role.application_id)
    )

    assert set(rows) == {("user", org["dan"].id), ("user", org["ann"].id), ("user", org["bob"].id)}
    assert rows["user", org["ann"].id].access_path == AccessPath.DIRECT  # direct beats group
    assert rows["user", org["bob"].id].access_path == AccessPath.VIA_GROUP
    assert rows["user", org["bob"].id].via_group_id == org["backend"].id


def test_role_access_counts_each_principal_once_and_a_role_assignable_group_as_one(org):
    tier0 = GroupFactory(is_role_assignable=True)
    add_members(tier0, org["cat"])
    assign_role(BuiltinRole.SECURITY_ADMINISTRATOR, user=org["ann"])
    assign_role(
        BuiltinRole.SECURITY_ADMINISTRATOR, user=org["ann"], kind=RoleAssignmentKind.ELIGIBLE
    )
    assign_role(
        BuiltinRole.SECURITY_ADMINISTRATOR, user=org["bob"], kind=RoleAssignmentKind.ELIGIBLE
    )
    assign_role(BuiltinRole.SECURITY_ADMINISTRATOR, group=tier0)
    role_id = builtin_role(BuiltinRole.SECURITY_ADMINISTRATOR).id

    everyone = by_principal(access.principals_with_access(ResourceType.DIRECTORY_ROLE, role_id))
    active = by_principal(
        access.principals_with_access(
            ResourceType.DIRECTORY_ROLE, role_id, role_kinds=[RoleAssignmentKind.ACTIVE]
        )
    )
    eligible = by_principal(
        access.principals_with_access(
            ResourceType.DIRECTORY_ROLE, role_id, role_kinds=[RoleAssignmentKind.ELIGIBLE]
        )
    )

    assert set(everyone) == {("user", org["ann"].id), ("user", org["bob"].id), ("group", tier0.id)}
    assert everyone["user", org["ann"].id].role_assignment_kind == RoleAssignmentKind.ACTIVE
    assert set(active) == {("user", org["ann"].id), ("group", tier0.id)}
    assert set(eligible) == {("user", org["ann"].id), ("user", org["bob"].id)}


def test_an_access_query_can_feed_an_insert_select(org):
    query = access.principals_with_access(ResourceType.GROUP, org["engineering"].id)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE snapshot (kind VARCHAR(10), principal BIGINT, "
            "path VARCHAR(10), via BIGINT, role_kind VARCHAR(10))"
        )
        cursor.execute(f"INSERT INTO snapshot SELECT * FROM ({query.sql}) AS a", query.params)
        cursor.execute("SELECT COUNT(*), COUNT(via) FROM snapshot")
        assert cursor.fetchone() == (3, 2)
        cursor.execute("DROP TABLE snapshot")


def test_unknown_resource_type_is_refused():
    with pytest.raises(ValueError, match="unknown resource type"):
        access.principals_with_access("printer", 1)


def test_grants_of_user_lists_groups_apps_and_roles_with_paths(org):
    role = AppRoleFactory(display_name="Reader")
    assign_app(role, group=org["oncall"])
    assign_role(BuiltinRole.GLOBAL_READER, user=org["cat"], kind=RoleAssignmentKind.ELIGIBLE)

    grants = {(g.resource_type, g.resource_id): g for g in access.grants_of_user(org["cat"].id)}

    assert grants[ResourceType.GROUP, org["oncall"].id].access_path == AccessPath.DIRECT
    assert grants[ResourceType.GROUP, org["backend"].id].access_path == AccessPath.NESTED
    assert grants[ResourceType.GROUP, org["engineering"].id].via_group_id == org["oncall"].id
    app = grants[ResourceType.APPLICATION, role.application_id]
    assert (app.access_path, app.via_group_name, app.detail) == (
        AccessPath.VIA_GROUP,
        org["oncall"].name,
        "Reader",
    )
    reader = builtin_role(BuiltinRole.GLOBAL_READER)
    assert grants[ResourceType.DIRECTORY_ROLE, reader.id].detail == RoleAssignmentKind.ELIGIBLE


# --- Revocation ----------------------------------------------------------------------------


def revoke(resource_type, resource, *principals, actor="apply"):
    batch = uuid.uuid4()
    requests = [
        (
            ref,
            resource_type,
            resource.id,
            PrincipalType.GROUP if p.__class__.__name__ == "Group" else PrincipalType.USER,
            p.id,
        )
        for ref, p in enumerate(principals, start=1)
    ]
    access.revocation_requests_add(batch, requests, actor_label=actor)
    counts = access.revoke_grants(batch, actor)
    results = dict(GrantRevocation.objects.filter(batch=batch).values_list("ref", "result"))
    return batch, counts, [results[ref] for ref in range(1, len(principals) + 1)]


def test_revoking_removes_direct_memberships_and_reports_each_result(org):
    _, counts, results = revoke(
        ResourceType.GROUP, org["engineering"], org["ann"], org["bob"], org["dan"]
    )

    assert results == [
        RevocationResult.REMOVED,
        RevocationResult.NOT_SUPPORTED,
        RevocationResult.ALREADY_GONE,
    ]
    assert not GroupMembership.objects.filter(group=org["engineering"], user=org["ann"]).exists()
    assert GroupMembership.objects.filter(group=org["backend"], user=org["bob"]).exists()
    assert counts[RevocationResult.REMOVED] == 1
    reason = GrantRevocation.objects.get(ref=2, result=RevocationResult.NOT_SUPPORTED).reason
    assert "nested" in reason


def test_revoking_twice_finds_the_grant_already_gone(org):
    revoke(ResourceType.GROUP, org["oncall"], org["cat"])
    _, _, results = revoke(ResourceType.GROUP, org["oncall"], org["cat"])
    assert results == [RevocationResult.ALREADY_GONE]


def test_a_direct_member_also_nested_loses_the_direct_grant_and_keeps_the_nested_path(org):
    _, _, results = revoke(ResourceType.GROUP, org["engineering"], org["ann"])
    assert results == [RevocationResult.REMOVED]
    rows = by_principal(access.principals_with_access(ResourceType.GROUP, org["engineering"].id))
    assert rows["user", org["ann"].id].access_path == AccessPath.NESTED


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("membership_type", MembershipType.DYNAMIC, "dynamic"),
        ("source", GroupSource.ON_PREMISES, "on-premises"),
    ],
)
def test_revoking_from_dynamic_or_synced_groups_is_not_supported(org, field, value, reason):
    group = GroupFactory(**{field: value})
    add_members(group, org["ann"])

    _, _, results = revoke(ResourceType.GROUP, group, org["ann"])

    assert results == [RevocationResult.NOT_SUPPORTED]
    assert GroupMembership.objects.filter(group=group, user=org["ann"]).exists()
    assert reason in GrantRevocation.objects.get(resource_id=group.id).reason


def test_revoking_a_nested_group_removes_the_nesting(org):
    _, _, results = revoke(ResourceType.GROUP, org["engineering"], org["backend"])
    assert results == [RevocationResult.REMOVED]
    assert not NestedGroup.objects.filter(parent=org["engineering"], child=org["backend"]).exists()


def test_revoking_application_access_removes_direct_assignments_only(org):
    role = AppRoleFactory()
    assign_app(role, user=org["ann"])
    assign_app(role, group=org["backend"])

    _, _, results = revoke(ResourceType.APPLICATION, role.application, org["ann"], org["bob"])

    assert results == [RevocationResult.REMOVED, RevocationResult.NOT_SUPPORTED]
    assert access.principals_with_access(ResourceType.APPLICATION, role.application_id).rows()
    rows = by_principal(
        access.principals_with_access(ResourceType.APPLICATION, role.application_id)
    )
    # Ann keeps access through Backend's assignment: removed directly, still there via group.
    assert rows["user", org["ann"].id].access_path == AccessPath.VIA_GROUP


def test_revoking_a_role_removes_every_kind_of_that_principals_assignment(org):
    assign_role(BuiltinRole.SECURITY_READER, user=org["ann"])
    assign_role(BuiltinRole.SECURITY_READER, user=org["ann"], kind=RoleAssignmentKind.ELIGIBLE)
    role = builtin_role(BuiltinRole.SECURITY_READER)

    _, _, results = revoke(ResourceType.DIRECTORY_ROLE, role, org["ann"])

    assert results == [RevocationResult.REMOVED]
    assert not RoleAssignment.objects.filter(role=role, user=org["ann"]).exists()


def test_a_revocation_batch_is_one_audit_event_whose_digest_covers_its_results(org):
    batch, _, _ = revoke(ResourceType.GROUP, org["engineering"], org["ann"], org["dan"])

    event = AuditEvent.objects.get(operation=batch)
    assert event.action == "directory.grants_revoked"
    assert event.detail_count == 2
    assert len(event.detail_digest) == 64


def test_revocation_requests_can_come_from_a_queryset_as_one_insert_select(org):
    batch = uuid.uuid4()
    from django.db.models import F, Value

    requests = (
        GroupMembership.objects.filter(group=org["backend"])
        .annotate(
            ref=F("id"),
            rtype=Value(ResourceType.GROUP),
            rid=F("group_id"),
            ptype=Value(PrincipalType.USER),
            pid=F("user_id"),
        )
        .values_list("ref", "rtype", "rid", "ptype", "pid")
    )
    assert access.revocation_requests_add(batch, requests) == 2
    counts = access.revoke_grants(batch)
    assert counts[RevocationResult.REMOVED] == 2
    assert not GroupMembership.objects.filter(group=org["backend"]).exists()

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from directory import services
from directory.models import (
    AppRoleAssignment,
    AuditEvent,
    BuiltinRole,
    GroupMembership,
    GroupOwner,
    GroupSource,
    MembershipType,
    NestedGroup,
    RoleAssignment,
    User,
)
from tests.factories import (
    AppRoleFactory,
    GroupFactory,
    UserFactory,
    add_members,
    add_owners,
    assign_app,
    assign_role,
    builtin_role,
    nest,
)

pytestmark = pytest.mark.django_db


def actions():
    return list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))


class TestNesting:
    def test_nesting_is_audited(self, admin_user):
        parent, child = GroupFactory(), GroupFactory()
        services.group_nest(admin_user, parent, child)
        assert NestedGroup.objects.filter(parent=parent, child=child).exists()
        assert actions() == ["group.member_group_added"]

    def test_a_cycle_is_refused(self, admin_user):
        a, b, c = GroupFactory.create_batch(3)
        nest(a, b)
        nest(b, c)
        with pytest.raises(ValidationError, match="cycle"):
            services.group_nest(admin_user, c, a)
        assert not NestedGroup.objects.filter(parent=c).exists()

    def test_a_group_cannot_contain_itself(self, admin_user):
        group = GroupFactory()
        with pytest.raises(ValidationError, match="cycle"):
            services.group_nest(admin_user, group, group)

    def test_the_database_refuses_a_self_nesting_that_skips_the_service(self):
        group = GroupFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            NestedGroup.objects.create(parent=group, child=group)

    def test_role_assignable_groups_cannot_contain_groups(self, admin_user):
        parent, child = GroupFactory(is_role_assignable=True), GroupFactory()
        with pytest.raises(ValidationError, match="role-assignable"):
            services.group_nest(admin_user, parent, child)

    @pytest.mark.parametrize(
        "fields",
        [
            {"membership_type": MembershipType.DYNAMIC},
            {"source": GroupSource.ON_PREMISES},
        ],
    )
    def test_members_of_dynamic_or_synced_groups_cannot_be_changed_here(self, admin_user, fields):
        group = GroupFactory(**fields)
        with pytest.raises(ValidationError, match="cannot be changed here"):
            services.group_member_add(admin_user, group, UserFactory())
        with pytest.raises(ValidationError, match="cannot be changed here"):
            services.group_nest(admin_user, group, GroupFactory())
        member = UserFactory()
        add_members(group, member)
        with pytest.raises(ValidationError, match="cannot be changed here"):
            services.group_member_remove(admin_user, group, member)
        assert GroupMembership.objects.filter(group=group, user=member).exists()


class TestMembers:
    def test_adding_and_removing_members_and_owners_is_audited(self, admin_user):
        group, user = GroupFactory(), UserFactory()
        services.group_member_add(admin_user, group, user)
        services.group_member_add(admin_user, group, user)  # already there: no second event
        services.group_owner_add(admin_user, group, user)
        services.group_member_remove(admin_user, group, user)
        services.group_owner_remove(admin_user, group, user)
        assert actions() == [
            "group.member_added",
            "group.owner_added",
            "group.member_removed",
            "group.owner_removed",
        ]

    def test_nobody_adds_themselves_to_a_group_that_holds_a_role(self, admin_user):
        tier0 = GroupFactory(is_role_assignable=True)
        assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, group=tier0)
        with pytest.raises(services.SelfElevationRefused):
            services.group_member_add(admin_user, tier0, admin_user)
        assert not GroupMembership.objects.filter(group=tier0, user=admin_user).exists()
        assert actions() == ["authz.denied.self_elevation"]


class TestRoles:
    def test_assigning_a_role_to_someone_else_is_audited(self, admin_user):
        other = UserFactory()
        assignment = RoleAssignment(role=builtin_role(BuiltinRole.GLOBAL_READER), user=other)
        services.role_assignment_save(admin_user, assignment)
        assert actions() == ["role.assignment_added"]
        services.role_assignment_delete(admin_user, assignment)
        assert not RoleAssignment.objects.filter(user=other).exists()
        assert actions()[-1] == "role.assignment_removed"

    def test_nobody_assigns_a_role_to_themselves(self, admin_user):
        assignment = RoleAssignment(
            role=builtin_role(BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR), user=admin_user
        )
        with pytest.raises(services.SelfElevationRefused):
            services.role_assignment_save(admin_user, assignment)
        assert not RoleAssignment.objects.filter(
            role__template_id=BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR
        ).exists()
        assert actions() == ["authz.denied.self_elevation"]

    def test_nobody_assigns_a_role_to_a_group_they_belong_to(self, outsider, admin_user):
        tier0 = GroupFactory(is_role_assignable=True)
        add_members(tier0, admin_user)
        assignment = RoleAssignment(role=builtin_role(BuiltinRole.SECURITY_READER), group=tier0)
        with pytest.raises(services.SelfElevationRefused):
            services.role_assignment_save(admin_user, assignment)

    def test_nobody_removes_or_changes_their_own_assignment(self, admin_user):
        own = RoleAssignment.objects.get(user=admin_user)
        with pytest.raises(services.SelfElevationRefused):
            services.role_assignment_delete(admin_user, own)
        own.kind = "eligible"
        with pytest.raises(services.SelfElevationRefused):
            services.role_assignment_save(admin_user, own)
        assert RoleAssignment.objects.get(user=admin_user).kind == "active"

    def test_a_role_needs_a_role_assignable_group(self, admin_user):
        assignment = RoleAssignment(
            role=builtin_role(BuiltinRole.SECURITY_READER),
            group=GroupFactory(is_role_assignable=False),
        )
        with pytest.raises(ValidationError, match="not role-assignable"):
            services.role_assignment_save(admin_user, assignment)

    def test_nobody_changes_their_own_superuser_flag(self, admin_user):
        with pytest.raises(services.SelfElevationRefused):
            services.user_set_superuser(admin_user, admin_user, True)
        admin_user.refresh_from_db()
        assert not admin_user.is_superuser

    def test_an_admin_may_make_someone_else_a_superuser(self, admin_user):
        other = UserFactory()
        services.user_set_superuser(admin_user, other, True)
        assert User.objects.get(pk=other.pk).is_superuser
        assert actions() == ["user.superuser_changed"]


class TestTombstone:
    def test_deleting_a_user_disables_them_and_removes_every_grant(self, admin_user):
        user, group = UserFactory(), GroupFactory()
        add_members(group, user)
        add_owners(group, user)
        assign_app(AppRoleFactory(), user=user)
        assign_role(BuiltinRole.GLOBAL_READER, user=user)

        removed = services.user_tombstone(admin_user, user)

        user.refresh_from_db()
        assert user.deleted_at is not None and not user.is_active
        assert not user.has_usable_password()
        assert removed["group_memberships"] == removed["role_assignments"] == 1
        assert not GroupMembership.objects.filter(user=user).exists()
        assert not GroupOwner.objects.filter(user=user).exists()
        assert not AppRoleAssignment.objects.filter(user=user).exists()
        assert actions() == ["user.deleted"]

    def test_users_are_never_hard_deleted(self):
        user = UserFactory()
        with pytest.raises(TypeError, match="tombstoned"):
            user.delete()
        with pytest.raises(TypeError, match="tombstoned"):
            User.objects.filter(pk=user.pk).delete()
        assert User.objects.filter(pk=user.pk).exists()

    def test_nobody_deletes_their_own_account(self, admin_user):
        with pytest.raises(ValidationError):
            services.user_tombstone(admin_user, admin_user)

    def test_a_restored_user_is_enabled_again(self, admin_user):
        user = UserFactory()
        services.user_tombstone(admin_user, user)
        services.user_restore(admin_user, user)
        assert user.deleted_at is None and user.is_active

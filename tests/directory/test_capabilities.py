import pytest
from django.utils import timezone

from directory.capabilities import MATRIX_COLUMNS, capabilities_for, permission_matrix
from directory.models import BuiltinRole, RoleAssignmentKind, TenantSettings, User
from tests.factories import GroupFactory, UserFactory, add_members, add_owners, assign_role

pytestmark = pytest.mark.django_db

ALL = [column.attribute for column in MATRIX_COLUMNS]


def allowed(user):
    caps = capabilities_for(User.objects.get(pk=user.pk))
    return {name for name in ALL if getattr(caps, name)}


@pytest.mark.parametrize(
    "role, expected",
    [
        (BuiltinRole.GLOBAL_ADMINISTRATOR, set(ALL)),
        (
            BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR,
            {
                "read_all",
                "manage_group_reviews",
                "manage_application_reviews",
                "manage_owned_group_reviews",
            },
        ),
        (
            BuiltinRole.USER_ADMINISTRATOR,
            {
                "read_all",
                "manage_group_reviews",
                "manage_application_reviews",
                "manage_owned_group_reviews",
            },
        ),
        (BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR, {"read_all", "manage_role_reviews"}),
        (BuiltinRole.GLOBAL_READER, {"read_all"}),
        (BuiltinRole.SECURITY_READER, {"read_all"}),
        (BuiltinRole.HELPDESK_ADMINISTRATOR, set()),
    ],
)
def test_each_active_role_gives_exactly_its_capabilities(role, expected):
    user = UserFactory()
    assign_role(role, user=user)
    assert allowed(user) == expected


def test_an_eligible_assignment_gives_nothing_until_activated():
    user = UserFactory()
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=user, kind=RoleAssignmentKind.ELIGIBLE)
    assert allowed(user) == set()


def test_an_active_role_held_through_a_role_assignable_group_counts():
    user, tier0 = UserFactory(), GroupFactory(is_role_assignable=True)
    add_members(tier0, user)
    assign_role(BuiltinRole.GLOBAL_READER, group=tier0)
    assert allowed(user) == {"read_all"}


def test_an_eligible_role_held_through_a_group_gives_nothing():
    user, tier0 = UserFactory(), GroupFactory(is_role_assignable=True)
    add_members(tier0, user)
    assign_role(BuiltinRole.GLOBAL_READER, group=tier0, kind=RoleAssignmentKind.ELIGIBLE)
    assert allowed(user) == set()


def test_a_superuser_may_do_everything():
    assert allowed(UserFactory(is_superuser=True)) == set(ALL)


def test_group_owners_manage_reviews_only_when_the_tenant_allows(settings):
    owner = UserFactory()
    add_owners(GroupFactory(), owner)
    settings.GROUP_OWNERS_CAN_MANAGE_REVIEWS = False
    assert allowed(owner) == set()

    settings.GROUP_OWNERS_CAN_MANAGE_REVIEWS = True
    assert allowed(owner) == {"manage_owned_group_reviews"}
    assert capabilities_for(User.objects.get(pk=owner.pk)).create_reviews


def test_the_tenant_setting_overrides_the_environment(settings):
    owner = UserFactory()
    add_owners(GroupFactory(), owner)
    settings.GROUP_OWNERS_CAN_MANAGE_REVIEWS = True
    TenantSettings.objects.create(pk=1, group_owners_can_manage_reviews=False)
    assert allowed(owner) == set()


def test_a_disabled_or_deleted_account_has_no_capabilities():
    disabled = UserFactory(is_active=False)
    deleted = UserFactory(is_active=False, deleted_at=timezone.now())
    for user in (disabled, deleted):
        assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=user)
        assert allowed(user) == set()


def test_anonymous_has_no_capabilities():
    from django.contrib.auth.models import AnonymousUser

    caps = capabilities_for(AnonymousUser())
    assert not any(getattr(caps, name) for name in ALL)


def test_capabilities_are_computed_once_per_user_object(django_assert_num_queries):
    user = UserFactory()
    assign_role(BuiltinRole.GLOBAL_READER, user=user)
    user = User.objects.get(pk=user.pk)
    with django_assert_num_queries(1):  # the active roles, direct or through groups
        assert capabilities_for(user).read_all
        assert capabilities_for(user).view_directory
        assert not capabilities_for(user).use_django_admin


def test_the_permission_matrix_follows_the_rules():
    rows = dict(permission_matrix())
    assert all(rows["Global Administrator"])
    assert not any(rows["Eligible (not active) Global Administrator"])
    assert rows["Global Reader"] == [False, True, False, False, False, False]
    assert rows["Group owner, GROUP_OWNERS_CAN_MANAGE_REVIEWS on"][-1] is True
    assert not any(rows["Group owner, GROUP_OWNERS_CAN_MANAGE_REVIEWS off"])

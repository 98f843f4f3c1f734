from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from directory.capabilities import capabilities_for
from directory.models import (
    Application,
    AppRoleAssignment,
    Group,
    GroupMembership,
    GroupOwner,
    GroupSource,
    MembershipType,
    NestedGroup,
    RoleAssignment,
    RoleAssignmentKind,
    TenantSettings,
    User,
    UserType,
)

pytestmark = pytest.mark.django_db

TABLES = [
    User,
    Group,
    GroupMembership,
    GroupOwner,
    NestedGroup,
    Application,
    AppRoleAssignment,
    RoleAssignment,
]


def counts():
    return {model.__name__: model.objects.count() for model in TABLES}


def test_the_demo_is_a_realistic_organisation(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out

    users = User.objects.all()
    assert users.count() == 300
    guests = users.filter(user_type=UserType.GUEST)
    assert 0.10 < guests.count() / 300 < 0.20
    assert guests.filter(guest_invitation_accepted=False).exists()
    stale = timezone.now() - timedelta(days=30)
    inactive = (
        users.filter(last_sign_in_at__lt=stale).count()
        + users.filter(last_sign_in_at__isnull=True).count()
    )
    assert 0.12 < inactive / 300 < 0.30
    assert users.filter(manager__isnull=False).count() > 200
    assert Group.objects.count() == 30
    assert Group.objects.filter(membership_type=MembershipType.DYNAMIC).exists()
    assert Group.objects.filter(source=GroupSource.ON_PREMISES).exists()
    assert Group.objects.filter(is_role_assignable=True).exists()
    assert NestedGroup.objects.exists()
    assert Group.objects.filter(groupowner__isnull=True).count() >= 2
    assert Application.objects.count() == 8
    assert AppRoleAssignment.objects.filter(group__isnull=False).exists()
    assert RoleAssignment.objects.filter(kind=RoleAssignmentKind.ELIGIBLE).exists()
    assert TenantSettings.current().group_owners_can_manage_reviews is True
    assert "alice.admin@contoso.example" in out and "demo-pass-2026" in out


def test_the_demo_logins_can_do_what_the_printout_says():
    call_command("seed_demo")

    def caps(name):
        return capabilities_for(User.objects.get(user_principal_name=f"{name}@contoso.example"))

    assert caps("alice.admin").use_django_admin
    assert caps("oscar.owner").manage_owned_group_reviews
    assert caps("rita.reader").read_all and not caps("rita.reader").manage_group_reviews
    rob = User.objects.get(user_principal_name="rob.reviewer@contoso.example")
    assert rob.direct_reports.exists() and rob.check_password("demo-pass-2026")


def test_seeding_twice_adds_nothing():
    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first


def test_if_empty_leaves_an_existing_directory_alone(capsys, outsider):
    call_command("seed_demo", "--if-empty")
    assert User.objects.count() == 1
    assert "nothing seeded" in capsys.readouterr().out


def test_the_demo_scales_with_its_options():
    call_command("seed_demo", "--users", "500", "--groups", "40", "--members-per-group", "25")
    assert User.objects.count() == 500
    assert Group.objects.count() == 40
    # 25 chosen per group, plus guests and demo logins in some of the named ones
    sizes = GroupMembership.objects.filter(group__name__startswith="Team ").values("group")
    assert sizes.count() == 10 * 25


def test_nonsense_options_are_refused():
    with pytest.raises(CommandError, match="--users"):
        call_command("seed_demo", "--users", "3")


def test_the_demo_reviewer_has_no_portal_role_and_owns_no_group():
    call_command("seed_demo")
    rob = User.objects.get(user_principal_name="rob.reviewer@contoso.example")
    caps = capabilities_for(rob)
    assert not caps.create_reviews and not caps.read_all
    assert not GroupOwner.objects.filter(user=rob).exists()

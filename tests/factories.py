"""factory-boy factories that build valid directory graphs."""

import factory
from django.utils import timezone

from directory.models import (
    Application,
    AppRole,
    AppRoleAssignment,
    BuiltinRole,
    DirectoryRole,
    Group,
    GroupMembership,
    GroupOwner,
    NestedGroup,
    RoleAssignment,
    RoleAssignmentKind,
    User,
    UserType,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    display_name = factory.Sequence(lambda n: f"Person {n:05d}")
    user_principal_name = factory.Sequence(lambda n: f"person{n:05d}@contoso.example")
    email = factory.LazyAttribute(lambda o: o.user_principal_name)
    user_type = UserType.MEMBER
    department = "Engineering"
    job_title = "Engineer"
    last_sign_in_at = factory.LazyFunction(timezone.now)
    password = factory.django.Password("correct horse battery staple")


class GuestFactory(UserFactory):
    user_type = UserType.GUEST
    user_principal_name = factory.Sequence(
        lambda n: f"guest{n:05d}_fabrikam.example#EXT#@contoso.example"
    )
    email = factory.Sequence(lambda n: f"guest{n:05d}@fabrikam.example")


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    name = factory.Sequence(lambda n: f"Group {n:04d}")
    description = "A test group"


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    name = factory.Sequence(lambda n: f"App {n:03d}")


class AppRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppRole

    application = factory.SubFactory(ApplicationFactory)
    value = "default"
    display_name = "Default Access"


def add_members(group, *users):
    GroupMembership.objects.bulk_create([GroupMembership(group=group, user=u) for u in users])


def add_owners(group, *users):
    GroupOwner.objects.bulk_create([GroupOwner(group=group, user=u) for u in users])


def nest(parent, child):
    return NestedGroup.objects.create(parent=parent, child=child)


def assign_app(app_role, *, user=None, group=None):
    return AppRoleAssignment.objects.create(app_role=app_role, user=user, group=group)


def builtin_role(role: BuiltinRole) -> DirectoryRole:
    return DirectoryRole.objects.get(template_id=role)


def assign_role(role: BuiltinRole, *, user=None, group=None, kind=RoleAssignmentKind.ACTIVE):
    return RoleAssignment.objects.create(role=builtin_role(role), user=user, group=group, kind=kind)

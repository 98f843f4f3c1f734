"""The database keeps the directory's invariants even when code forgets them."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from directory.models import (
    AppRoleAssignment,
    Group,
    MembershipType,
    RoleAssignment,
    TenantSettings,
    User,
)
from tests.factories import AppRoleFactory, GroupFactory, UserFactory, builtin_role

pytestmark = pytest.mark.django_db


def refused(create):
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_user_principal_names_are_unique_whatever_the_case():
    UserFactory(user_principal_name="ann@contoso.example")
    refused(lambda: UserFactory(user_principal_name="ANN@Contoso.example"))


def test_emails_are_unique_whatever_the_case_but_may_be_empty():
    UserFactory(email="ann@contoso.example")
    refused(lambda: UserFactory(email="Ann@CONTOSO.example"))
    UserFactory(email="")
    UserFactory(email="")


def test_sign_in_name_lookup_is_case_insensitive():
    user = UserFactory(user_principal_name="ann@contoso.example")
    assert User.objects.get_by_natural_key("ANN@contoso.EXAMPLE") == user


def test_a_user_cannot_manage_themselves():
    user = UserFactory()
    refused(lambda: User.objects.filter(pk=user.pk).update(manager=user))
    user.manager = user
    with pytest.raises(ValidationError, match="own manager"):
        user.clean()


def test_a_tombstoned_user_must_be_disabled():
    refused(lambda: UserFactory(deleted_at=timezone.now(), is_active=True))


def test_an_invalid_time_zone_is_a_validation_error():
    user = UserFactory.build(time_zone="Mars/Base")
    with pytest.raises(ValidationError, match="IANA"):
        user.full_clean(exclude=["password"])


def test_an_unknown_user_type_is_refused_by_the_database():
    refused(lambda: UserFactory(user_type="Robot"))


def test_a_role_assignable_group_cannot_be_dynamic():
    refused(lambda: GroupFactory(is_role_assignable=True, membership_type=MembershipType.DYNAMIC))


def test_an_assignment_has_exactly_one_principal():
    role = AppRoleFactory()
    refused(lambda: AppRoleAssignment.objects.create(app_role=role))
    refused(
        lambda: AppRoleAssignment.objects.create(
            app_role=role, user=UserFactory(), group=GroupFactory()
        )
    )
    refused(
        lambda: RoleAssignment.objects.create(
            role=builtin_role("62e90394-69f5-4237-9190-012177145e10")
        )
    )


def test_a_user_holds_an_app_role_once():
    role, user = AppRoleFactory(), UserFactory()
    AppRoleAssignment.objects.create(app_role=role, user=user)
    refused(lambda: AppRoleAssignment.objects.create(app_role=role, user=user))


def test_external_ids_are_unique_when_set():
    GroupFactory(external_id="g-1")
    refused(lambda: GroupFactory(external_id="g-1"))
    GroupFactory(external_id="")
    GroupFactory(external_id="")
    assert Group.objects.filter(external_id="").count() == 2


def test_there_is_one_tenant_settings_row():
    refused(lambda: TenantSettings.objects.create(pk=2))

"""Shared fixtures: the suite's calendar, and the personas every authorization test uses (after
healthchecks' hc/test.py)."""

import datetime as dt

import pytest
import time_machine

from directory.models import BuiltinRole, TenantSettings
from tests.factories import GroupFactory, UserFactory, add_members, add_owners, assign_role

# The suite runs on a fixed calendar: its series start on 1 Dec 2026 (the wizard refuses a start
# in the past) and its assertions name those dates. The clock runs on from this instant, and a
# test may travel elsewhere on top of it. Before it, the suite read the real clock and failed
# once the real date passed 1 Dec 2026.
SUITE_NOW = dt.datetime(2026, 12, 1, 21, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def suite_calendar():
    with time_machine.travel(SUITE_NOW, tick=True):
        yield


@pytest.fixture
def admin_user(db):
    """A Global Administrator (active assignment)."""
    user = UserFactory(display_name="Alice Admin", user_principal_name="alice@contoso.example")
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=user)
    return user


@pytest.fixture
def reader(db):
    """A Global Reader: reads everything, changes nothing."""
    user = UserFactory(display_name="Rita Reader", user_principal_name="rita@contoso.example")
    assign_role(BuiltinRole.GLOBAL_READER, user=user)
    return user


@pytest.fixture
def owned_group(db):
    return GroupFactory(name="Project Falcon")


@pytest.fixture
def group_owner(db, owned_group):
    """Owns `owned_group`, with group owners allowed to manage reviews of their groups."""
    user = UserFactory(display_name="Oscar Owner", user_principal_name="oscar@contoso.example")
    add_owners(owned_group, user)
    TenantSettings.objects.update_or_create(
        pk=1, defaults={"group_owners_can_manage_reviews": True}
    )
    return user


@pytest.fixture
def reviewer(db, owned_group):
    user = UserFactory(display_name="Rob Reviewer", user_principal_name="rob@contoso.example")
    add_members(owned_group, user)
    return user


@pytest.fixture
def other_reviewer(db):
    return UserFactory(display_name="Olga Other", user_principal_name="olga@contoso.example")


@pytest.fixture
def outsider(db):
    """Signed in, no role, owns nothing, reviews nothing."""
    return UserFactory(display_name="Otto Outsider", user_principal_name="otto@contoso.example")


@pytest.fixture
def signed_in(client):
    """signed_in(user) -> the test client, signed in as that user."""

    def sign_in(user):
        client.force_login(user, backend="directory.backends.DirectoryBackend")
        return client

    return sign_in

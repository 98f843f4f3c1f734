"""Block then delete: blocked now, tombstoned 30 days later, unless an admin re-enables first."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from directory import guests, services
from directory.models import AuditEvent, BuiltinRole, GroupMembership, RoleAssignment, User
from tests.factories import GroupFactory, GuestFactory, add_members, assign_role

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 15, 9, 0, tzinfo=dt.UTC)
DUE = NOW + dt.timedelta(days=30)


def events(action):
    return AuditEvent.objects.filter(action=action)


@pytest.fixture
def guest(db):
    someone = GuestFactory(display_name="Gus Guest")
    add_members(GroupFactory(name="Partners"), someone)
    assign_role(BuiltinRole.GLOBAL_READER, user=someone)
    return someone


def block(*users):
    return guests.users_block_sign_in(
        None, User.objects.filter(pk__in=[u.pk for u in users]), NOW, reason="test"
    )


def test_blocking_disables_sign_in_and_schedules_the_deletion_once(guest):
    assert block(guest) == 1
    guest.refresh_from_db()
    assert (guest.is_active, guest.deletion_scheduled_at) == (False, DUE)
    assert GroupMembership.objects.filter(user=guest).exists()  # grants stay until deletion
    assert block(guest) == 0  # already blocked: the date stays, no second event
    (event,) = events("user.sign_in_blocked")
    assert event.details["users"] == [guest.user_principal_name]


def test_the_tick_deletes_blocked_accounts_after_30_days_and_twice_changes_nothing(guest):
    block(guest)
    assert guests.users_delete_due(DUE - dt.timedelta(minutes=1)) == 0
    assert guests.users_delete_due(DUE) == 1
    guest.refresh_from_db()
    assert guest.deleted_at == DUE and not guest.is_active
    assert not GroupMembership.objects.filter(user=guest).exists()
    assert not RoleAssignment.objects.filter(user=guest).exists()
    (event,) = events("user.deleted_after_block")
    assert event.details["removed"]["group_memberships"] == 1
    assert guests.users_delete_due(DUE + dt.timedelta(days=1)) == 0
    assert events("user.deleted_after_block").count() == 1


def test_a_re_enabled_account_is_never_deleted(guest, admin_user):
    block(guest)
    assert guests.user_reenable(admin_user, guest) is True
    assert (guest.is_active, guest.deletion_scheduled_at) == (True, None)
    assert guests.users_delete_due(DUE) == 0
    guest.refresh_from_db()
    assert guest.deleted_at is None
    assert events("user.reenabled").count() == 1
    assert guests.user_reenable(admin_user, guest) is False  # nothing to cancel


def test_a_restored_account_is_not_deleted_again(guest, admin_user):
    block(guest)
    assert guests.users_delete_due(DUE) == 1
    guest.refresh_from_db()
    assert guest.deletion_scheduled_at is None  # the deletion is done
    services.user_restore(admin_user, guest)
    add_members(GroupFactory(name="Back"), guest)
    assert guests.users_delete_due(DUE + dt.timedelta(minutes=5)) == 0
    guest.refresh_from_db()
    assert guest.deleted_at is None and guest.is_active
    assert GroupMembership.objects.filter(user=guest).exists()


def test_a_restore_before_the_date_cancels_it_too(guest, admin_user):
    block(guest)
    services.user_tombstone(admin_user, guest)
    services.user_restore(admin_user, guest)
    guest.refresh_from_db()
    assert (guest.is_active, guest.deletion_scheduled_at) == (True, None)
    assert guests.users_delete_due(DUE) == 0


def test_an_account_enabled_again_by_any_path_is_never_deleted(guest):
    block(guest)
    User.objects.filter(pk=guest.pk).update(is_active=True)  # e.g. a raw SQL fix
    assert guests.users_delete_due(DUE) == 0
    guest.refresh_from_db()
    assert guest.deleted_at is None
    assert GroupMembership.objects.filter(user=guest).exists()


def test_the_admin_form_enabling_a_blocked_guest_cancels_the_deletion(signed_in, admin_user, guest):
    from tests.directory.test_admin import form_data

    block(guest)
    client = signed_in(admin_user)
    change = reverse("admin:directory_user_change", args=[guest.pk])
    data = form_data(client.get(change))
    data["is_active"] = "on"
    assert client.post(change, data).status_code == 302
    guest.refresh_from_db()
    assert (guest.is_active, guest.deletion_scheduled_at) == (True, None)


def test_a_deleted_account_cannot_be_re_enabled(guest, admin_user):
    services.user_tombstone(admin_user, guest)
    with pytest.raises(ValidationError, match="was deleted"):
        guests.user_reenable(admin_user, guest)


# --- The button on the user's page ------------------------------------------------------------


def url(user):
    return reverse("directory:user-reenable", args=[user.uuid])


def test_an_admin_re_enables_from_the_users_page(signed_in, admin_user, guest):
    block(guest)
    client = signed_in(admin_user)
    page = client.get(reverse("directory:user-detail", args=[guest.uuid])).content.decode()
    assert "will be deleted on" in page and url(guest) in page
    response = client.post(url(guest))
    assert response.status_code == 302
    guest.refresh_from_db()
    assert guest.is_active and guest.deletion_scheduled_at is None


def test_a_reader_sees_the_deletion_but_no_button_and_gets_403(signed_in, reader, guest):
    block(guest)
    client = signed_in(reader)
    page = client.get(reverse("directory:user-detail", args=[guest.uuid])).content.decode()
    assert "will be deleted on" in page and url(guest) not in page
    assert client.post(url(guest)).status_code == 403
    guest.refresh_from_db()
    assert not guest.is_active
    assert events("authz.denied.user_reenable").count() == 1


def test_the_button_wants_a_signed_in_post(client, signed_in, admin_user, guest):
    block(guest)
    assert client.post(url(guest))["Location"].startswith(reverse("login"))
    client = signed_in(admin_user)
    assert client.get(url(guest)).status_code == 405
    missing = reverse("directory:user-reenable", args=["00000000-0000-0000-0000-000000000000"])
    assert client.post(missing).status_code == 404


def test_the_admin_action_re_enables_blocked_guests(signed_in, admin_user, guest):
    block(guest)
    signed_in(admin_user).post(
        reverse("admin:directory_user_changelist"),
        {"action": "reenable_blocked_users", "_selected_action": [guest.pk]},
    )
    guest.refresh_from_db()
    assert guest.is_active and guest.deletion_scheduled_at is None

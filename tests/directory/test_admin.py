"""The Django admin: who gets in, and every change validated and audited (state re-read)."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from accessreviews.models import ReviewDefinition, ReviewInstance, SchedulerHeartbeat
from accessreviews.services.definitions import definition_create
from directory import services
from directory.models import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
    AuditEvent,
    BuiltinRole,
    DirectoryRole,
    GrantRevocation,
    Group,
    GroupMembership,
    GroupOwner,
    GroupSource,
    MembershipType,
    NestedGroup,
    PrincipalType,
    ResourceType,
    RoleAssignment,
    TenantSettings,
    User,
)
from tests.accessreviews.factories import group_review_draft
from tests.factories import (
    ApplicationFactory,
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

READ_ONLY = {
    AuditEvent,
    GrantRevocation,
    ApplicationSignIn,
    SchedulerHeartbeat,
    ReviewDefinition,
    ReviewInstance,
}
OURS = sorted(
    (
        model
        for model, model_admin in admin.site._registry.items()
        if type(model_admin).__module__.startswith(("directory.admin.", "accessreviews.admin"))
    ),
    key=lambda model: model._meta.label,
)
DENIED_SELF_ELEVATION = "authz.denied.self_elevation"


def admin_url(model, view="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(response) -> dict:
    """What a browser posts back unchanged: the main form and every inline formset."""
    data = {}

    def add(form):
        for name, field in form.fields.items():
            value = form[name].value()
            if field.disabled or value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def add_row(data, prefix, **fields):
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    data.update({f"{prefix}-{index}-{name}": str(value) for name, value in fields.items()})


def mark_deleted(data, prefix, pk):
    index = next(
        key.split("-")[1]
        for key, value in data.items()
        if key.endswith("-id") and value == str(pk) and key.startswith(f"{prefix}-")
    )
    data[f"{prefix}-{index}-DELETE"] = "on"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def events(action, **filters):
    return AuditEvent.objects.filter(action=action, **filters)


@pytest.fixture
def superuser(db):
    return UserFactory(
        display_name="Sam Super", user_principal_name="sam@contoso.example", is_superuser=True
    )


@pytest.fixture
def admin_client(signed_in, admin_user):
    return signed_in(admin_user)


@pytest.fixture
def tenant(admin_user):
    """One of everything the admin lists, so every change page has something to show."""
    manager = UserFactory(display_name="Mia Manager")
    member = UserFactory(manager=manager)
    parent, child = GroupFactory(), GroupFactory()
    add_owners(parent, manager)
    add_members(parent, member)
    nest(parent, child)
    app = ApplicationFactory()
    ApplicationOwner.objects.create(application=app, user=manager)
    assign_app(AppRoleFactory(application=app), user=member)
    ApplicationSignIn.objects.create(user=member, application=app, last_sign_in_at=timezone.now())
    GrantRevocation.objects.create(
        batch="3f1b5c8e-64a7-4c8d-9d2e-000000000001",
        ref=1,
        resource_type=ResourceType.GROUP,
        resource_id=parent.pk,
        principal_type=PrincipalType.USER,
        principal_id=member.pk,
    )
    TenantSettings.objects.create(pk=1, group_owners_can_manage_reviews=True)
    SchedulerHeartbeat.beat()
    definition = definition_create(admin_user, group_review_draft([parent]))
    start = timezone.now()
    ReviewInstance.objects.create(
        definition=definition,
        resource_type=ResourceType.GROUP,
        resource_id=parent.pk,
        resource_name=parent.name,
        occurrence_index=0,
        occurrence_start=start,
        start_at=start,
        end_at=start + timedelta(days=14),
    )
    return SimpleNamespace(manager=manager, member=member, parent=parent, child=child, app=app)


# --- Who gets in ---------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["admin_user", "superuser"])
@pytest.mark.parametrize("model", OURS, ids=lambda model: model._meta.label)
def test_every_changelist_and_add_page_renders_for_an_administrator(
    persona, model, request, signed_in
):
    client = signed_in(request.getfixturevalue(persona))

    assert client.get(admin_url(model)).status_code == 200
    assert client.get(admin_url(model, "add")).status_code == (403 if model in READ_ONLY else 200)


@pytest.mark.parametrize("model", OURS, ids=lambda model: model._meta.label)
def test_every_change_page_renders_for_a_global_administrator(model, admin_client, tenant):
    obj = model.objects.order_by("pk").first()

    assert admin_client.get(admin_url(model, "change", obj.pk)).status_code == 200


def test_the_admin_index_and_user_autocomplete_work_for_a_superuser(signed_in, superuser):
    client = signed_in(superuser)
    deleted = UserFactory(display_name="Dora Deleted")
    services.user_tombstone(superuser, deleted)

    assert client.get(reverse("admin:index")).status_code == 200
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "directory", "model_name": "user", "field_name": "manager", "term": "Dora"},
    )
    assert response.status_code == 200
    assert response.json()["results"] == []  # deleted users are never offered


@pytest.mark.parametrize("persona", ["reader", "group_owner", "outsider"])
def test_people_without_the_admin_capability_get_403_and_an_audit_event(
    persona, request, signed_in
):
    user = request.getfixturevalue(persona)
    client = signed_in(user)
    urls = [reverse("admin:index"), admin_url(User), admin_url(Group, "add")]

    assert [client.get(url).status_code for url in urls] == [403, 403, 403]
    denied = events("authz.denied.django_admin", actor_id=str(user.uuid))
    assert sorted(denied.values_list("details__path", flat=True)) == sorted(urls)


def test_anonymous_visitors_are_sent_to_the_admin_login(client):
    url = admin_url(User)

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('admin:login')}?next={url}"


# --- The audit log -------------------------------------------------------------------------


def test_the_audit_log_admin_can_only_be_read(admin_client):
    event = AuditEvent.objects.order_by("seq").last()  # the sign-in
    change_url = admin_url(AuditEvent, "change", event.pk)

    assert admin_client.get(admin_url(AuditEvent, "add")).status_code == 403
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(change_url, {"action": "changed"}).status_code == 403
    assert (
        admin_client.post(admin_url(AuditEvent, "delete", event.pk), {"post": "yes"}).status_code
        == 403
    )
    listing = admin_client.post(
        admin_url(AuditEvent),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert b'name="action"' not in listing.content  # no actions at all
    assert AuditEvent.objects.get(pk=event.pk).hash == event.hash


# --- Users ---------------------------------------------------------------------------------


def test_deleting_a_user_in_the_admin_tombstones_them(admin_client, admin_user):
    victim = UserFactory()
    group = GroupFactory()
    add_members(group, victim)
    add_owners(group, victim)

    confirm = admin_client.get(admin_url(User, "delete", victim.pk))
    assert confirm.status_code == 200
    assert b"the account and its history are kept" in confirm.content
    response = admin_client.post(admin_url(User, "delete", victim.pk), {"post": "yes"})

    assert response.status_code == 302
    victim = User.objects.get(pk=victim.pk)  # the row is still there
    assert victim.deleted_at is not None
    assert not victim.is_active
    assert not GroupMembership.objects.filter(user=victim).exists()
    assert not GroupOwner.objects.filter(user=victim).exists()
    assert events(
        "user.deleted", object_id=str(victim.uuid), actor_id=str(admin_user.uuid)
    ).exists()


def test_the_bulk_delete_action_tombstones_each_user_but_never_the_admin(admin_client, admin_user):
    first, second = UserFactory(), UserFactory()
    selected = [first.pk, second.pk, admin_user.pk]

    confirm = admin_client.post(
        admin_url(User), {"action": "delete_selected", "_selected_action": selected}
    )
    assert confirm.status_code == 200
    assert "you cannot delete your own account" in " ".join(messages_of(confirm))
    admin_client.post(
        admin_url(User),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert User.objects.filter(pk__in=[first.pk, second.pk], deleted_at__isnull=False).count() == 2
    assert events("user.deleted").count() == 2
    admin_user.refresh_from_db()
    assert admin_user.is_active
    assert admin_user.deleted_at is None


def test_an_admin_cannot_open_the_delete_page_of_their_own_account(admin_client, admin_user):
    response = admin_client.post(admin_url(User, "delete", admin_user.pk), {"post": "yes"})

    assert response.status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.deleted_at is None


def test_the_restore_action_restores_deleted_users(admin_client, admin_user):
    victim = UserFactory()
    services.user_tombstone(admin_user, victim)

    admin_client.post(admin_url(User), {"action": "restore_users", "_selected_action": [victim.pk]})

    victim.refresh_from_db()
    assert victim.deleted_at is None
    assert victim.is_active
    assert events("user.restored", object_id=str(victim.uuid)).exists()


def test_an_admin_cannot_change_their_own_superuser_flag(admin_client, admin_user):
    url = admin_url(User, "change", admin_user.pk)
    page = admin_client.get(url)
    assert 'name="is_superuser"' not in page.content.decode()  # shown read-only
    data = form_data(page)
    data["is_superuser"] = "on"

    response = admin_client.post(url, data)

    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert not admin_user.is_superuser
    assert not events("user.superuser_changed").exists()


def test_the_user_page_says_whether_a_password_is_set_but_shows_no_part_of_it(admin_client):
    other = UserFactory()
    *_, salt, hash_ = other.password.split("$")

    page = admin_client.get(admin_url(User, "change", other.pk)).content.decode()

    assert "Password set." in page
    assert salt[:6] not in page
    assert hash_[:6] not in page
    assert 'href="../password/"' in page  # Django's change-password page


def test_saving_an_own_superuser_flag_is_refused_by_the_service_whatever_the_form(admin_user):
    model_admin = admin.site._registry[User]
    request = RequestFactory().post("/")
    request.user = admin_user
    admin_user.is_superuser = True
    form = SimpleNamespace(changed_data=["is_superuser"])

    with pytest.raises(services.SelfElevationRefused):
        model_admin.save_model(request, admin_user, form, change=True)


def test_an_admin_can_make_someone_else_a_superuser_and_it_is_audited(admin_client, admin_user):
    other = UserFactory()
    url = admin_url(User, "change", other.pk)
    data = form_data(admin_client.get(url))
    data["is_superuser"] = "on"
    data["job_title"] = "Platform lead"

    admin_client.post(url, data)

    other.refresh_from_db()
    assert other.is_superuser
    assert other.job_title == "Platform lead"
    changed = events("user.superuser_changed", object_id=str(other.uuid)).get()
    assert changed.details == {"is_superuser": True}
    assert events("admin.user.changed").get().details == {"fields": ["job_title"]}


def test_adding_a_user_is_audited_without_any_password(admin_client):
    response = admin_client.post(
        admin_url(User, "add"),
        {
            "user_principal_name": "nina@contoso.example",
            "display_name": "Nina New",
            "email": "nina@contoso.example",
            "user_type": "Member",
            "usable_password": "true",
            "password1": "a-long-unusual-passphrase-42",
            "password2": "a-long-unusual-passphrase-42",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(user_principal_name="nina@contoso.example")
    added = events("admin.user.added", object_id=str(user.uuid)).get()
    assert added.details == {
        "fields": ["user_principal_name", "display_name", "email"],
        "usable_password": True,
    }
    assert user.password not in str(added.details)


def test_a_password_change_in_the_admin_is_audited_without_the_hash(admin_client):
    other = UserFactory()

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[other.pk]),
        {
            "set_usable_password": "true",
            "password1": "another-long-passphrase-77",
            "password2": "another-long-passphrase-77",
        },
    )

    assert response.status_code == 302
    other.refresh_from_db()
    assert other.check_password("another-long-passphrase-77")
    changed = events("admin.user.password_changed", object_id=str(other.uuid)).get()
    assert changed.details == {"usable_password": True}


# --- Directory roles -----------------------------------------------------------------------


def test_an_admin_cannot_add_a_role_assignment_to_themselves(admin_client, admin_user):
    role = builtin_role(BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR)

    response = admin_client.post(
        admin_url(RoleAssignment, "add"),
        {"role": role.pk, "user": admin_user.pk, "kind": "active"},
    )

    assert response.status_code == 302
    assert "You cannot assign a directory role to yourself." in messages_of(response)
    assert not RoleAssignment.objects.filter(role=role, user=admin_user).exists()
    denied = events(DENIED_SELF_ELEVATION, actor_id=str(admin_user.uuid)).get()
    assert denied.object_id == str(role.uuid)


def test_an_admin_cannot_remove_their_own_role_assignment(admin_client, admin_user):
    own = RoleAssignment.objects.get(user=admin_user)

    response = admin_client.post(admin_url(RoleAssignment, "delete", own.pk), {"post": "yes"})

    assert response.status_code == 302
    assert RoleAssignment.objects.filter(pk=own.pk).exists()
    assert events(DENIED_SELF_ELEVATION, actor_id=str(admin_user.uuid)).count() == 1


def test_the_bulk_delete_of_role_assignments_leaves_out_the_admins_own(admin_client, admin_user):
    own = RoleAssignment.objects.get(user=admin_user)
    other = assign_role(BuiltinRole.GLOBAL_READER, user=UserFactory())

    confirm = admin_client.post(
        admin_url(RoleAssignment),
        {"action": "delete_selected", "_selected_action": [own.pk, other.pk]},
    )
    assert confirm.status_code == 200
    admin_client.post(
        admin_url(RoleAssignment),
        {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"},
    )

    assert list(RoleAssignment.objects.filter(pk__in=[own.pk, other.pk])) == [own]
    assert events(DENIED_SELF_ELEVATION, actor_id=str(admin_user.uuid)).count() == 1
    assert events("role.assignment_removed").count() == 1


def test_a_role_assignment_to_someone_else_goes_through_the_service(admin_client, admin_user):
    role = builtin_role(BuiltinRole.GLOBAL_READER)
    other = UserFactory()

    admin_client.post(
        admin_url(RoleAssignment, "add"), {"role": role.pk, "user": other.pk, "kind": "eligible"}
    )

    assert RoleAssignment.objects.filter(role=role, user=other, kind="eligible").exists()
    added = events("role.assignment_added", object_id=str(role.uuid)).get()
    assert added.actor_id == str(admin_user.uuid)


def test_a_role_can_only_be_assigned_to_a_role_assignable_group(admin_client):
    role = builtin_role(BuiltinRole.GLOBAL_READER)
    group = GroupFactory(name="Plain group")

    response = admin_client.post(
        admin_url(RoleAssignment, "add"), {"role": role.pk, "group": group.pk, "kind": "active"}
    )

    assert response.status_code == 200
    assert "Plain group is not role-assignable" in response.content.decode()
    assert not RoleAssignment.objects.filter(group=group).exists()


def test_the_role_page_inline_adds_assignments_through_the_service(admin_client):
    role = builtin_role(BuiltinRole.SECURITY_READER)
    other = UserFactory()
    url = admin_url(DirectoryRole, "change", role.pk)
    data = form_data(admin_client.get(url))
    add_row(data, "assignments", user=other.pk, kind="active")

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert RoleAssignment.objects.filter(role=role, user=other).exists()
    assert events("role.assignment_added", object_id=str(role.uuid)).exists()


def test_built_in_roles_cannot_be_deleted(admin_client):
    role = builtin_role(BuiltinRole.GLOBAL_READER)

    assert (
        admin_client.post(admin_url(DirectoryRole, "delete", role.pk), {"post": "yes"}).status_code
        == 403
    )
    response = admin_client.post(
        admin_url(DirectoryRole),
        {"action": "delete_selected", "_selected_action": [role.pk], "post": "yes"},
    )

    assert "built-in roles cannot be deleted" in " ".join(messages_of(response))
    assert DirectoryRole.objects.filter(pk=role.pk).exists()


# --- Groups --------------------------------------------------------------------------------


def test_nesting_a_group_into_its_own_descendant_shows_an_error_and_changes_nothing(admin_client):
    top, middle, bottom = GroupFactory(name="Top"), GroupFactory(), GroupFactory(name="Bottom")
    nest(top, middle)
    nest(middle, bottom)
    url = admin_url(Group, "change", bottom.pk)
    data = form_data(admin_client.get(url))
    data["description"] = "Changed in the same save"
    add_row(data, "member_groups", child=top.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "Adding Top to Bottom would make a cycle" in response.content.decode()
    bottom.refresh_from_db()
    assert bottom.description == "A test group"
    assert not NestedGroup.objects.filter(parent=bottom, child=top).exists()
    assert not events("group.member_group_added").exists()


def test_nesting_into_a_role_assignable_group_shows_an_error(admin_client):
    privileged = GroupFactory(name="Tier0", is_role_assignable=True)
    other = GroupFactory()
    url = admin_url(Group, "change", privileged.pk)
    data = form_data(admin_client.get(url))
    add_row(data, "member_groups", child=other.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "Tier0 is role-assignable" in response.content.decode()
    assert not NestedGroup.objects.filter(parent=privileged).exists()


def test_nesting_a_group_in_the_admin_goes_through_the_service(admin_client):
    parent, child = GroupFactory(), GroupFactory()
    url = admin_url(Group, "change", parent.pk)
    data = form_data(admin_client.get(url))
    add_row(data, "member_groups", child=child.pk)

    admin_client.post(url, data)

    assert NestedGroup.objects.filter(parent=parent, child=child).exists()
    assert events("group.member_group_added", object_id=str(parent.uuid)).exists()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"membership_type": MembershipType.DYNAMIC}, "its membership is dynamic"),
        ({"source": GroupSource.ON_PREMISES}, "it is synced from on-premises"),
    ],
)
def test_editing_members_of_a_dynamic_or_synced_group_shows_an_error(admin_client, changes, reason):
    group = GroupFactory(name="Unmanaged", **changes)
    member = UserFactory()
    url = admin_url(Group, "change", group.pk)
    data = form_data(admin_client.get(url))
    add_row(data, "members", user=member.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert f"Members of Unmanaged cannot be changed here: {reason}" in response.content.decode()
    assert not GroupMembership.objects.filter(group=group).exists()


def test_a_membership_added_in_the_admin_is_audited(admin_client, admin_user):
    group = GroupFactory()
    member = UserFactory()
    url = admin_url(Group, "change", group.pk)
    data = form_data(admin_client.get(url))
    add_row(data, "members", user=member.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert GroupMembership.objects.filter(group=group, user=member).exists()
    added = events("group.member_added", object_id=str(group.uuid)).get()
    assert added.actor_id == str(admin_user.uuid)
    assert added.details == {"user": str(member.uuid), "upn": member.user_principal_name}


def test_removing_a_member_and_adding_an_owner_in_the_admin_are_audited(admin_client):
    group = GroupFactory()
    leaver, owner = UserFactory(), UserFactory()
    add_members(group, leaver)
    url = admin_url(Group, "change", group.pk)
    data = form_data(admin_client.get(url))
    mark_deleted(data, "members", GroupMembership.objects.get(group=group).pk)
    add_row(data, "owners", user=owner.pk)
    data["description"] = "Now owned"

    admin_client.post(url, data)

    assert not GroupMembership.objects.filter(group=group).exists()
    assert GroupOwner.objects.filter(group=group, user=owner).exists()
    assert events("group.member_removed", object_id=str(group.uuid)).exists()
    assert events("group.owner_added", object_id=str(group.uuid)).exists()
    assert events("admin.group.changed").get().details == {"fields": ["description"]}


def test_a_new_group_and_its_first_member_are_saved_and_audited_together(admin_client):
    member = UserFactory()
    data = form_data(admin_client.get(admin_url(Group, "add")))
    data.update(name="Project Osprey", description="New", kind="security")
    add_row(data, "members", user=member.pk)

    response = admin_client.post(admin_url(Group, "add"), data)

    assert response.status_code == 302
    group = Group.objects.get(name="Project Osprey")
    assert list(group.members.all()) == [member]
    assert events("admin.group.added", object_id=str(group.uuid)).exists()
    assert events("group.member_added", object_id=str(group.uuid)).exists()


def test_inline_rows_without_a_service_are_audited_with_their_parent(admin_client):
    app = ApplicationFactory(name="Payroll")
    owner = UserFactory()
    url = admin_url(Application, "change", app.pk)
    data = form_data(admin_client.get(url))
    add_row(data, "applicationowner_set", user=owner.pk)

    admin_client.post(url, data)

    assert ApplicationOwner.objects.filter(application=app, user=owner).exists()
    added = events("admin.applicationowner.added").get()
    assert added.details == {"parent": ["application", str(app.uuid), "Payroll"]}


def test_joining_a_group_that_holds_a_role_is_refused_for_oneself(admin_client, admin_user):
    privileged = GroupFactory(is_role_assignable=True)
    assign_role(BuiltinRole.SECURITY_READER, group=privileged)
    url = admin_url(Group, "change", privileged.pk)
    data = form_data(admin_client.get(url))
    add_row(data, "members", user=admin_user.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert any("yourself" in message for message in messages_of(response))
    assert not GroupMembership.objects.filter(group=privileged).exists()
    denied = events(DENIED_SELF_ELEVATION, actor_id=str(admin_user.uuid)).get()
    assert denied.object_id == str(privileged.uuid)


def test_the_membership_admin_refuses_synced_groups(admin_client):
    group = GroupFactory(name="FromAD", source=GroupSource.ON_PREMISES)

    response = admin_client.post(
        admin_url(GroupMembership, "add"), {"group": group.pk, "user": UserFactory().pk}
    )

    assert response.status_code == 200
    assert "Members of FromAD cannot be changed here" in response.content.decode()
    assert not GroupMembership.objects.exists()


# --- Tenant settings -----------------------------------------------------------------------


def test_tenant_settings_are_a_singleton_whose_changes_are_audited(admin_client):
    assert admin_client.post(admin_url(TenantSettings, "add"), {}).status_code == 302
    settings = TenantSettings.objects.get()
    assert admin_client.get(admin_url(TenantSettings, "add")).status_code == 403
    assert (
        admin_client.post(admin_url(TenantSettings, "delete", 1), {"post": "yes"}).status_code
        == 403
    )

    admin_client.post(
        admin_url(TenantSettings, "change", settings.pk),
        {"group_owners_can_manage_reviews": "true"},
    )

    assert TenantSettings.objects.get().group_owners_can_manage_reviews is True
    changed = events("admin.tenantsettings.changed").get()
    assert changed.details == {
        "fields": ["group_owners_can_manage_reviews"],
        "values": {"group_owners_can_manage_reviews": True},
    }


# --- Query counts --------------------------------------------------------------------------


def test_the_user_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_num_queries
):
    manager = UserFactory()
    url = admin_url(User)
    admin_client.get(url)  # warm the session and the content-type cache
    # session, signed-in user, their roles (capabilities), page COUNT, whether tenant settings
    # exist (the sidebar's "Add" link), the page of users JOIN manager, departments for the filter
    expected = 7
    with django_assert_num_queries(expected):
        admin_client.get(url)
    UserFactory.create_batch(30, manager=manager)
    with django_assert_num_queries(expected):
        admin_client.get(url)


def test_the_group_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_assert_num_queries
):
    url = admin_url(Group)
    admin_client.get(url)
    # session, signed-in user, their roles (capabilities), page COUNT, whether tenant settings
    # exist (the sidebar's "Add" link), the page of groups with member and owner counts as
    # correlated subqueries
    expected = 6
    with django_assert_num_queries(expected):
        admin_client.get(url)
    for group in GroupFactory.create_batch(30):
        add_members(group, *UserFactory.create_batch(2))
        add_owners(group, UserFactory())
    with django_assert_num_queries(expected):
        admin_client.get(url)

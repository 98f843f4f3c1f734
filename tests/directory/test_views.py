"""The directory pages: who may open them, what they show, and what they cost in queries."""

import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directory import audit, services
from directory.models import (
    ApplicationOwner,
    AuditEvent,
    BuiltinRole,
    GroupSource,
    MembershipType,
    RoleAssignmentKind,
)
from tests.factories import (
    ApplicationFactory,
    AppRoleFactory,
    GroupFactory,
    GuestFactory,
    UserFactory,
    add_members,
    add_owners,
    assign_app,
    assign_role,
    builtin_role,
    nest,
)

pytestmark = pytest.mark.django_db


def text(response) -> str:
    """The page's visible text, tags stripped and whitespace collapsed, to assert sentences."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture(params=["admin_user", "reader"])
def directory_reader(request):
    """Each persona allowed to read the directory: a Global Administrator, a Global Reader."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def tenant(db):
    """A small tenant with every path: direct, nested, through a group, active and eligible."""
    ada = UserFactory(display_name="Ada Lovelace", user_principal_name="ada@contoso.example")
    ben = UserFactory(
        display_name="Ben Baker",
        user_principal_name="ben@contoso.example",
        manager=ada,
        department="Finance",
        last_sign_in_at=timezone.now() - timedelta(days=12),
    )
    gus = GuestFactory(display_name="Gus Guest", manager=ada)
    cleo = UserFactory(display_name="Cleo Closed", is_active=False)
    dan = UserFactory(display_name="Dan Departed")
    services.user_tombstone("test", dan)

    engineering = GroupFactory(name="Engineering", description="Everyone who builds things")
    platform = GroupFactory(name="Platform team")
    nest(engineering, platform)
    add_members(engineering, ada)
    add_members(platform, ben, gus)
    add_owners(engineering, ada)
    dynamic = GroupFactory(name="All employees", membership_type=MembershipType.DYNAMIC)
    synced = GroupFactory(name="Legacy file share", source=GroupSource.ON_PREMISES)
    helpdesk = GroupFactory(name="Helpdesk admins", is_role_assignable=True)
    add_members(helpdesk, ben)

    payroll = ApplicationFactory(name="Payroll", description="Pays people")
    default_role = AppRoleFactory(application=payroll)
    approver = AppRoleFactory(application=payroll, value="approver", display_name="Approver")
    assign_app(approver, user=ada)
    assign_app(default_role, group=platform)
    ApplicationOwner.objects.create(application=payroll, user=ada)
    open_app = ApplicationFactory(name="Cafeteria menu", assignment_required=False)

    assign_role(BuiltinRole.HELPDESK_ADMINISTRATOR, group=helpdesk)
    assign_role(BuiltinRole.HELPDESK_ADMINISTRATOR, user=ada, kind=RoleAssignmentKind.ELIGIBLE)
    return {
        "ada": ada,
        "ben": ben,
        "gus": gus,
        "cleo": cleo,
        "dan": dan,
        "engineering": engineering,
        "platform": platform,
        "dynamic": dynamic,
        "synced": synced,
        "helpdesk": helpdesk,
        "payroll": payroll,
        "open_app": open_app,
        "helpdesk_role": builtin_role(BuiltinRole.HELPDESK_ADMINISTRATOR),
    }


# (URL name, tenant key of the object or None for a list page)
PAGES = [
    ("directory:user-list", None),
    ("directory:user-detail", "ben"),
    ("directory:group-list", None),
    ("directory:group-detail", "engineering"),
    ("directory:application-list", None),
    ("directory:application-detail", "payroll"),
    ("directory:role-list", None),
    ("directory:role-detail", "helpdesk_role"),
    ("directory:audit-list", None),
]
DETAIL_PAGES = [name for name, key in PAGES if key]


def url_of(tenant, name, key):
    return reverse(name, args=[tenant[key].uuid]) if key else reverse(name)


# --- Who may open the pages --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "key"), PAGES)
def test_anonymous_visitor_is_sent_to_sign_in(client, tenant, name, key):
    url = url_of(tenant, name, key)

    response = client.get(url)

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize(("name", "key"), PAGES)
def test_outsider_gets_403_and_the_refusal_is_audited(signed_in, outsider, tenant, name, key):
    url = url_of(tenant, name, key)

    response = signed_in(outsider).get(url)

    assert response.status_code == 403
    assert "administrators and readers" in text(response)
    denied = AuditEvent.objects.get(actor_id=str(outsider.uuid), action__startswith="authz.denied")
    expected = (
        "authz.denied.audit_log" if name == "directory:audit-list" else "authz.denied.directory"
    )
    assert denied.action == expected
    assert denied.details == {"path": url, "method": "GET"}


@pytest.mark.parametrize(
    "persona", ["group_owner", "reviewer", "other_reviewer"], ids=lambda p: p.replace("_", " ")
)
def test_group_owners_and_reviewers_without_a_role_get_403(request, signed_in, persona):
    user = request.getfixturevalue(persona)

    response = signed_in(user).get(reverse("directory:user-list"))

    assert response.status_code == 403


def test_eligible_global_administrator_gets_403_until_activated(signed_in):
    user = UserFactory()
    assign_role(BuiltinRole.GLOBAL_ADMINISTRATOR, user=user, kind=RoleAssignmentKind.ELIGIBLE)

    response = signed_in(user).get(reverse("directory:group-list"))

    assert response.status_code == 403


@pytest.mark.parametrize(("name", "key"), PAGES)
def test_post_is_refused_with_405(signed_in, admin_user, tenant, name, key):
    response = signed_in(admin_user).post(url_of(tenant, name, key))

    assert response.status_code == 405


@pytest.mark.parametrize("name", DETAIL_PAGES)
def test_unknown_uuid_is_404(signed_in, directory_reader, name):
    response = signed_in(directory_reader).get(reverse(name, args=[uuid.uuid4()]))

    assert response.status_code == 404


# --- Users -------------------------------------------------------------------------------------


def test_user_list_shows_each_user_with_type_department_manager_and_sign_in(
    signed_in, directory_reader, tenant
):
    response = signed_in(directory_reader).get(reverse("directory:user-list"))

    assert response.status_code == 200
    page = text(response)
    assert (
        "Ben Baker Engineer ben@contoso.example Member Finance Ada Lovelace Enabled 12 days ago"
        in page
    )
    assert "Gus Guest" in page and "Guest" in page
    assert "Cleo Closed" in page and "Disabled" in page
    assert "Dan Departed" not in page, "deleted users only appear under the Deleted filter"


def test_user_list_is_ordered_by_display_name(signed_in, admin_user, tenant):
    page = text(signed_in(admin_user).get(reverse("directory:user-list")))
    table = page[page.index("Last sign-in") :]

    names = ["Ada Lovelace", "Alice Admin", "Ben Baker", "Cleo Closed", "Gus Guest"]
    positions = [table.index(name) for name in names]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("q=baker", "Ben Baker", "Cleo Closed"),
        ("q=ADA@contoso", "Ada Lovelace", "Ben Baker"),
        ("type=Guest", "Gus Guest", "Ben Baker"),
        ("status=disabled", "Cleo Closed", "Ben Baker"),
        ("status=deleted", "Dan Departed", "Cleo Closed"),
        ("status=enabled", "Ben Baker", "Cleo Closed"),
    ],
)
def test_user_list_filters_by_search_type_and_account_state(
    signed_in, admin_user, tenant, query, shown, hidden
):
    page = text(signed_in(admin_user).get(f"{reverse('directory:user-list')}?{query}"))

    assert shown in page
    assert hidden not in page


def test_user_list_ignores_unknown_filter_values(signed_in, admin_user, tenant):
    response = signed_in(admin_user).get(f"{reverse('directory:user-list')}?type=Robot&status=x")

    assert response.status_code == 200
    assert "Ben Baker" in text(response)


def test_user_list_pages_by_50(signed_in, admin_user):
    UserFactory.create_batch(60)
    client = signed_in(admin_user)

    first = text(client.get(reverse("directory:user-list")))
    second = text(client.get(f"{reverse('directory:user-list')}?page=2"))

    assert "Showing 1–50 of 61" in first
    assert "Showing 51–61 of 61" in second


@pytest.mark.parametrize("rows", [3, 30])
def test_user_list_runs_5_queries_whatever_the_number_of_users(
    signed_in, admin_user, django_assert_num_queries, rows
):
    boss = UserFactory()
    UserFactory.create_batch(rows, manager=boss)
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities),
    # 4 COUNT for the paginator, 5 the page of users joined to their managers,
    # 6 the unread-messages COUNT for the navigation badge.
    with django_assert_num_queries(6):
        response = client.get(reverse("directory:user-list"))

    assert response.status_code == 200


def test_user_detail_shows_profile_manager_and_reports(signed_in, directory_reader, tenant):
    client = signed_in(directory_reader)

    ben = text(client.get(reverse("directory:user-detail", args=[tenant["ben"].uuid])))
    ada = text(client.get(reverse("directory:user-detail", args=[tenant["ada"].uuid])))

    assert "User principal name ben@contoso.example" in ben
    assert "Department Finance" in ben
    assert "Manager Ada Lovelace" in ben
    assert "Direct reports 2 Ben Baker" in ada
    assert "Gus Guest" in ada
    assert "Owner of Group Engineering Application Payroll" in ada


def test_user_detail_lists_every_grant_with_its_path_in_words(signed_in, directory_reader, tenant):
    response = signed_in(directory_reader).get(
        reverse("directory:user-detail", args=[tenant["ben"].uuid])
    )

    page = text(response)
    assert "Engineering Through nested group Platform team" in page
    assert "Platform team Direct" in page
    assert "Helpdesk admins Direct" in page
    assert "Payroll Default Access Through group Platform team" in page
    assert "Helpdesk Administrator Active Through group Helpdesk admins" in page
    platform_url = reverse("directory:group-detail", args=[tenant["platform"].uuid])
    assert f'Through nested group <a href="{platform_url}">Platform team</a>' in (
        response.content.decode()
    )


def test_user_detail_shows_direct_app_roles_and_eligible_roles(signed_in, admin_user, tenant):
    page = text(
        signed_in(admin_user).get(reverse("directory:user-detail", args=[tenant["ada"].uuid]))
    )

    assert "Payroll Approver Direct" in page
    assert "Helpdesk Administrator Eligible Direct" in page


def test_deleted_user_detail_says_so(signed_in, admin_user, tenant):
    page = text(
        signed_in(admin_user).get(reverse("directory:user-detail", args=[tenant["dan"].uuid]))
    )

    assert "This user was deleted on" in page
    assert "Not a member of any group." in page


# --- Groups ------------------------------------------------------------------------------------


def test_group_list_shows_counts_and_badges(signed_in, directory_reader, tenant):
    page = text(signed_in(directory_reader).get(reverse("directory:group-list")))

    assert "Engineering Everyone who builds things Security Assigned 1 user + 1 group 1" in page
    assert "All employees Dynamic No owners" in page
    assert "Legacy file share Synced No owners" in page
    assert "Helpdesk admins Role-assignable No owners" in page


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("q=engin", "Engineering", "Platform team"),
        ("membership=dynamic", "All employees", "Engineering"),
        ("source=onPremises", "Legacy file share", "Engineering"),
        ("kind=microsoft365", "No groups match", "Engineering"),
        ("owners=none", "Platform team", "Engineering"),
        ("owners=some", "Engineering", "Platform team"),
    ],
)
def test_group_list_filters(signed_in, admin_user, tenant, query, shown, hidden):
    page = text(signed_in(admin_user).get(f"{reverse('directory:group-list')}?{query}"))

    assert shown in page
    assert hidden not in page


@pytest.mark.parametrize("rows", [3, 30])
def test_group_list_runs_5_queries_whatever_the_number_of_groups(
    signed_in, admin_user, django_assert_num_queries, rows
):
    people = UserFactory.create_batch(3)
    for group in GroupFactory.create_batch(rows):
        add_members(group, *people)
        add_owners(group, people[0])
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities),
    # 4 COUNT for the paginator, 5 the page of groups with member, nested-group and owner
    # counts as subqueries (no query per group), 6 the unread-messages COUNT (nav badge).
    with django_assert_num_queries(6):
        response = client.get(reverse("directory:group-list"))

    assert "3 users" in text(response)


def test_group_detail_shows_owners_direct_members_and_everyone_with_a_path(
    signed_in, directory_reader, tenant
):
    response = signed_in(directory_reader).get(
        reverse("directory:group-detail", args=[tenant["engineering"].uuid])
    )

    page = text(response)
    assert "Owners 1 Ada Lovelace" in page
    assert "Direct members 2" in page
    assert "Platform team Group Nested group" in page
    assert "Users with access 3" in page
    assert "Ada Lovelace ada@contoso.example Direct" in page
    assert "Ben Baker ben@contoso.example Through nested group Platform team" in page
    assert "Gus Guest Guest" in page
    assert "Read-only membership" not in page


def test_group_detail_shows_what_the_group_grants_and_where_it_is_nested(
    signed_in, admin_user, tenant
):
    page = text(
        signed_in(admin_user).get(reverse("directory:group-detail", args=[tenant["platform"].uuid]))
    )

    assert "Member of Engineering" in page
    assert "Payroll Application Default Access" in page


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("dynamic", "its membership is dynamic (computed from a rule)"),
        ("synced", "it is synced from on-premises and must be changed there"),
    ],
)
def test_group_detail_notes_when_membership_cannot_be_changed_here(
    signed_in, admin_user, tenant, key, reason
):
    page = text(
        signed_in(admin_user).get(reverse("directory:group-detail", args=[tenant[key].uuid]))
    )

    assert f"Members of this group cannot be changed here: {reason}." in page


@pytest.mark.parametrize("members", [3, 30])
def test_group_detail_queries_do_not_grow_with_members(
    signed_in, admin_user, django_assert_num_queries, members
):
    group, child = GroupFactory(), GroupFactory()
    nest(group, child)
    add_members(group, *UserFactory.create_batch(members))
    add_members(child, *UserFactory.create_batch(members))
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 capabilities, 4 the group, 5 owners, 6 parent groups,
    # 7 direct members with names, 8 everyone with access with names and via-group,
    # 9 application assignments, 10 role assignments, 11 the unread COUNT (nav badge).
    with django_assert_num_queries(11):
        response = client.get(reverse("directory:group-detail", args=[group.uuid]))

    assert f"Users with access {members * 2}" in text(response)


# --- Applications ------------------------------------------------------------------------------


def test_application_list_shows_assignment_rule_and_counts(signed_in, directory_reader, tenant):
    page = text(signed_in(directory_reader).get(reverse("directory:application-list")))

    assert "Payroll Pays people Yes 2 2 1" in page
    assert "Cafeteria menu No owners No (anyone may sign in) 0 0 0" in page


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("q=pay", "Payroll", "Cafeteria menu"),
        ("assignment=optional", "Cafeteria menu", "Payroll"),
        ("assignment=required", "Payroll", "Cafeteria menu"),
    ],
)
def test_application_list_filters(signed_in, admin_user, tenant, query, shown, hidden):
    page = text(signed_in(admin_user).get(f"{reverse('directory:application-list')}?{query}"))

    assert shown in page
    assert hidden not in page


@pytest.mark.parametrize("rows", [3, 30])
def test_application_list_runs_5_queries_whatever_the_number_of_applications(
    signed_in, admin_user, django_assert_num_queries, rows
):
    owner, group = UserFactory(), GroupFactory()
    for app in ApplicationFactory.create_batch(rows):
        assign_app(AppRoleFactory(application=app), user=owner)
        assign_app(AppRoleFactory(application=app, value="admin"), group=group)
        ApplicationOwner.objects.create(application=app, user=owner)
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities),
    # 4 COUNT for the paginator, 5 the page with role, assignment and owner counts,
    # 6 the unread-messages COUNT (nav badge).
    with django_assert_num_queries(6):
        response = client.get(reverse("directory:application-list"))

    assert response.status_code == 200


def test_application_detail_shows_owners_roles_groups_and_users_with_a_path(
    signed_in, directory_reader, tenant
):
    page = text(
        signed_in(directory_reader).get(
            reverse("directory:application-detail", args=[tenant["payroll"].uuid])
        )
    )

    assert "Assignment required Yes" in page
    assert "Owners 1 Ada Lovelace" in page
    assert "Approver approver 1 0" in page
    assert "Default Access default 0 1" in page
    assert "Assigned groups 1" in page
    assert "Group App role Platform team Default Access" in page
    assert "Users with access 3" in page
    assert "Ada Lovelace ada@contoso.example Direct" in page
    assert "Ben Baker ben@contoso.example Through group Platform team" in page


def test_application_without_required_assignment_warns_it_cannot_be_reviewed(
    signed_in, admin_user, tenant
):
    page = text(
        signed_in(admin_user).get(
            reverse("directory:application-detail", args=[tenant["open_app"].uuid])
        )
    )

    assert "Assignment is not required." in page
    assert "Nobody is assigned to this application." in page


# --- Directory roles ---------------------------------------------------------------------------


def test_role_list_shows_every_builtin_role_with_active_and_eligible_counts(
    signed_in, directory_reader, tenant
):
    page = text(signed_in(directory_reader).get(reverse("directory:role-list")))

    assert "Global Reader" in page
    assert "Helpdesk Administrator Privileged Can reset passwords for non-administrators. 1 1" in (
        page
    )


@pytest.mark.parametrize("rows", [3, 30])
def test_role_list_runs_4_queries_whatever_the_number_of_assignments(
    signed_in, admin_user, django_assert_num_queries, rows
):
    for user in UserFactory.create_batch(rows):
        assign_role(BuiltinRole.GROUPS_ADMINISTRATOR, user=user)
        assign_role(BuiltinRole.SECURITY_ADMINISTRATOR, user=user, kind="eligible")
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities),
    # 4 the roles with active and eligible counts as subqueries (few roles: no paging),
    # 5 the unread-messages COUNT (nav badge).
    with django_assert_num_queries(5):
        response = client.get(reverse("directory:role-list"))

    assert "Groups Administrator" in text(response)


def test_role_detail_splits_active_and_eligible_and_keeps_a_group_as_one_principal(
    signed_in, directory_reader, tenant
):
    page = text(
        signed_in(directory_reader).get(
            reverse("directory:role-detail", args=[tenant["helpdesk_role"].uuid])
        )
    )

    active, eligible = page.split("Eligible assignments")
    assert "Helpdesk admins Group Role-assignable group (one assignee" in active
    assert "Ben Baker" not in active, "members of a role-assignable group are not listed one by one"
    assert "Ada Lovelace ada@contoso.example User" in eligible


# --- Audit log ---------------------------------------------------------------------------------


def record_events(count, action="test.event", actor="tester"):
    return [audit.record(actor, action, None, {"n": n}) for n in range(count)]


def test_audit_list_shows_chain_head_and_events_newest_first(signed_in, directory_reader, tenant):
    client = signed_in(directory_reader)
    audit.record(tenant["ada"], "group.member_added", tenant["engineering"], {"upn": "x@y"})
    seq, head = audit.chain_head()

    page = text(client.get(reverse("directory:audit-list")))

    assert f"Chain head #{seq}" in page
    assert head in page
    assert f"#{seq} " in page
    newest = page.index("group.member_added")
    assert newest < page.index("user.deleted"), "newest first"
    assert "ada@contoso.example group.member_added Engineering group upn x@y" in page


def test_audit_list_links_actors_and_objects_to_their_directory_pages(
    signed_in, admin_user, tenant
):
    audit.record(tenant["ada"], "group.member_added", tenant["engineering"])

    html = signed_in(admin_user).get(reverse("directory:audit-list")).content.decode()

    assert reverse("directory:user-detail", args=[tenant["ada"].uuid]) in html
    assert reverse("directory:group-detail", args=[tenant["engineering"].uuid]) in html


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("action=group.", "group.member_added", "role.assignment_added"),
        ("action=role", "role.assignment_added", "group.member_added"),
        ("actor=ada@contoso", "group.member_added", "role.assignment_added"),
        ("object=Engineering", "group.member_added", "role.assignment_added"),
    ],
)
def test_audit_list_filters_by_action_prefix_actor_and_object(
    signed_in, admin_user, tenant, query, shown, hidden
):
    audit.record(tenant["ada"], "group.member_added", tenant["engineering"])
    audit.record(tenant["ben"], "role.assignment_added", tenant["helpdesk_role"])

    page = text(signed_in(admin_user).get(f"{reverse('directory:audit-list')}?{query}"))

    assert shown in page
    assert hidden not in page


def test_audit_list_filters_by_actor_and_object_id(signed_in, admin_user, tenant):
    audit.record(tenant["ada"], "group.member_added", tenant["engineering"])
    audit.record(tenant["ben"], "group.member_added", tenant["platform"])
    client = signed_in(admin_user)

    by_actor = text(client.get(f"{reverse('directory:audit-list')}?actor={tenant['ben'].uuid}"))
    by_object = text(
        client.get(f"{reverse('directory:audit-list')}?object={tenant['engineering'].uuid}")
    )

    assert "Platform team" in by_actor and "Engineering group" not in by_actor
    assert "Engineering" in by_object and "Platform team" not in by_object


def test_audit_list_pages_by_keyset_on_seq(signed_in, admin_user):
    events = record_events(120, action="bulk.test")
    client = signed_in(admin_user)
    url = f"{reverse('directory:audit-list')}?action=bulk."

    newest = client.get(url).context["page"]
    older = client.get(f"{url}&before={newest.older}").context["page"]
    oldest = client.get(f"{url}&before={older.older}").context["page"]
    back = client.get(f"{url}&after={oldest.newer}").context["page"]

    assert [e.seq for e in newest.events] == [e.seq for e in events[-1:-51:-1]]
    assert newest.newer is None
    assert [e.seq for e in older.events] == [e.seq for e in events[-51:-101:-1]]
    assert [e.seq for e in oldest.events] == [e.seq for e in events[-101::-1]]
    assert oldest.older is None
    assert [e.seq for e in back.events] == [e.seq for e in older.events]


@pytest.mark.parametrize("rows", [3, 30])
def test_audit_list_runs_5_queries_whatever_the_number_of_events(
    signed_in, admin_user, django_assert_num_queries, rows
):
    record_events(rows)
    client = signed_in(admin_user)

    # 1 session, 2 signed-in user, 3 their active roles (capabilities),
    # 4 one page of events (keyset on seq, LIMIT 51, no COUNT), 5 the chain head,
    # 6 the unread-messages COUNT (nav badge).
    with django_assert_num_queries(6):
        response = client.get(reverse("directory:audit-list"))

    assert response.status_code == 200


def test_a_group_without_owners_says_where_owner_reviews_will_go(signed_in, admin_user):
    from tests.factories import GroupFactory

    group = GroupFactory()
    page = signed_in(admin_user).get(reverse("directory:group-detail", args=[group.uuid]))
    assert "Reviews by group owners will go to the fallback reviewers." in page.content.decode()


def test_an_application_without_owners_says_so(signed_in, admin_user):
    from tests.factories import ApplicationFactory

    app = ApplicationFactory()
    page = signed_in(admin_user).get(reverse("directory:application-detail", args=[app.uuid]))
    assert "Nobody owns this application." in page.content.decode()

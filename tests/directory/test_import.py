"""The directory import: `import_directory FILE [--prune] [--dry-run]` (docs/import.md)."""

import copy
import io
import json
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory import access, audit, guests, services
from directory.models import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
    AppRole,
    AppRoleAssignment,
    AuditEvent,
    BuiltinRole,
    GrantRevocation,
    Group,
    GroupMembership,
    GroupOwner,
    NestedGroup,
    RevocationResult,
    RoleAssignment,
    User,
)
from tests.factories import UserFactory, builtin_role

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
EXAMPLE = json.loads((EXAMPLES / "directory.json").read_text())
DIRECTORY_MODELS = (
    User,
    Group,
    GroupOwner,
    GroupMembership,
    NestedGroup,
    Application,
    ApplicationOwner,
    AppRole,
    AppRoleAssignment,
    ApplicationSignIn,
    RoleAssignment,
    GrantRevocation,
)


def run_import(path, *args) -> str:
    out = io.StringIO()
    call_command("import_directory", str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def rejected(path, *args) -> str:
    """Run an import that must fail; return what it printed on stderr."""
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was imported") as failure:
        call_command("import_directory", str(path), *args, stdout=io.StringIO(), stderr=err)
    assert failure.value.returncode == 1
    return err.getvalue()


def example() -> dict:
    return copy.deepcopy(EXAMPLE)


def write_json(tmp_path, data, name="directory.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def write_text(tmp_path, text, name) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def directory_state() -> dict:
    """Every directory row, and the audit log's length: what a rejected import must not change."""
    state = {
        model.__name__: list(model.objects.order_by("pk").values()) for model in DIRECTORY_MODELS
    }
    state["audit events"] = AuditEvent.objects.count()
    return state


def user(ext) -> User:
    return User.objects.get(external_id=ext)


def group(ext) -> Group:
    return Group.objects.get(external_id=ext)


def members(ext) -> set[str]:
    return set(
        GroupMembership.objects.filter(group__external_id=ext).values_list(
            "user__external_id", flat=True
        )
    )


def events(action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def count_line(output: str, label: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{label}:"))


# --- Happy paths ---------------------------------------------------------------------------------


def assert_example_imported():
    adele, megan, lee = user("E1001"), user("E1002"), user("X2001")
    assert adele.display_name == "Adele Vance"
    assert adele.time_zone == "Europe/London"
    assert adele.last_sign_in_at.isoformat() == "2025-03-03T08:15:00+00:00"
    assert megan.manager == adele
    assert user("E1004").is_active is False
    assert (lee.user_type, lee.guest_invitation_accepted) == ("Guest", False)
    assert not adele.has_usable_password()
    sales = group("G-SALES")
    assert members("G-SALES") == {"E1002", "E1004"}
    assert set(sales.owners.values_list("external_id", flat=True)) == {"E1001"}
    assert NestedGroup.objects.filter(parent=sales, child=group("G-SALES-EMEA")).exists()
    assert group("G-SALES-EMEA").kind == "microsoft365"
    assert group("G-HELPDESK").is_role_assignable is True
    crm = Application.objects.get(external_id="A-CRM")
    roles = dict(crm.app_roles.values_list("value", "display_name"))
    assert roles == {"default": "Default Access", "crm-admin": "CRM Administrator"}
    assert AppRoleAssignment.objects.filter(app_role__value="default", group=sales).exists()
    assert AppRoleAssignment.objects.filter(app_role__value="crm-admin", user__external_id="E1003")
    assert ApplicationSignIn.objects.get(application=crm, user=megan).last_sign_in_at.day == 2
    helpdesk_admin = builtin_role(BuiltinRole.HELPDESK_ADMINISTRATOR)
    assert RoleAssignment.objects.filter(role=helpdesk_admin, group=group("G-HELPDESK")).exists()
    groups_admin = builtin_role(BuiltinRole.GROUPS_ADMINISTRATOR)
    assert RoleAssignment.objects.get(role=groups_admin).user == adele
    assert RoleAssignment.objects.get(role=groups_admin).kind == "eligible"


def test_json_file_creates_users_groups_applications_and_assignments():
    output = run_import(EXAMPLES / "directory.json")

    assert_example_imported()
    assert "users: 5 created, 0 updated, 0 restored, 0 tombstoned" in output
    assert "group members: 4 added, 0 removed" in output
    assert "directory role assignments: 2 added, 0 removed" in output
    summary = events("directory.import")[-1]
    assert summary.actor_label == "import:directory.json"
    assert summary.details["counts"]["users"]["created"] == 5
    assert summary.details["file"] == "directory.json"
    assert audit.verify_chain().ok


def test_csv_file_creates_the_same_directory_as_the_json_file():
    output = run_import(EXAMPLES / "directory.csv")

    assert_example_imported()
    assert "users: 5 created" in output
    again = run_import(EXAMPLES / "directory.json")
    assert all(" 0 " in f" {line} " for line in again.splitlines()), again


def test_importing_the_same_file_twice_changes_nothing_the_second_time():
    run_import(EXAMPLES / "directory.json")
    state, seq = directory_state(), AuditEvent.objects.order_by("-seq").first().seq

    output = run_import(EXAMPLES / "directory.json")

    for line in output.splitlines():
        assert all(word == "0" for word in line.split(": ")[1].split()[::2]), line
    state["audit events"] += 1
    assert directory_state() == state
    new = AuditEvent.objects.filter(seq__gt=seq)
    assert [event.action for event in new] == ["directory.import"]


def test_a_users_only_csv_updates_users_and_leaves_groups_alone(tmp_path):
    run_import(EXAMPLES / "directory.json")
    text = (EXAMPLES / "users.csv").read_text().replace("Retail Manager", "Head of Retail")

    output = run_import(write_text(tmp_path, text, "users.csv"))

    assert "users: 0 created, 1 updated" in output
    assert user("E1001").job_title == "Head of Retail"
    # Columns the file leaves out keep their values.
    assert user("E1004").is_active is False
    assert user("E1001").last_sign_in_at is not None
    assert members("G-SALES") == {"E1002", "E1004"}


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir()))
def test_example_files_import_cleanly(name):
    output = run_import(EXAMPLES / name)

    assert "users: 5 created" in output
    assert audit.verify_chain().ok


def test_the_snippets_in_the_import_docs_import_cleanly(tmp_path):
    text = (EXAMPLES.parent / "import.md").read_text()
    json_snippet = text.split("```json\n")[1].split("```")[0]
    csv_snippet = next(block for block in text.split("```\n") if block.startswith("record,"))

    run_import(write_text(tmp_path, json_snippet, "snippet.json"))
    assert RoleAssignment.objects.filter(group=group("G-HELPDESK")).exists()
    run_import(write_text(tmp_path, csv_snippet, "snippet.csv"))

    assert user("E1002").department == "Sales"
    assert members("G-SALES") == {"E1002"}


def test_existing_users_are_updated_by_external_id(tmp_path):
    run_import(EXAMPLES / "directory.json")
    adele_id = user("E1001").pk
    data = example()
    data["users"][0].update(display_name="Adele V.", department="Stores", manager="E1003")

    output = run_import(write_json(tmp_path, data))

    assert "users: 0 created, 1 updated" in output
    adele = User.objects.get(pk=adele_id)
    assert (adele.display_name, adele.department, adele.manager) == (
        "Adele V.",
        "Stores",
        user("E1003"),
    )


def test_an_import_enabling_a_blocked_account_cancels_its_deletion(tmp_path):
    run_import(EXAMPLES / "directory.json")
    guests.users_block_sign_in(None, User.objects.filter(external_id="E1004"))
    data = example()
    next(u for u in data["users"] if u["external_id"] == "E1004")["is_active"] = True

    run_import(write_json(tmp_path, data))

    diego = user("E1004")
    assert (diego.is_active, diego.deletion_scheduled_at) == (True, None)
    assert [e.details["count"] for e in events("user.deletion_cancelled")] == [1]
    run_import(write_json(tmp_path, data))
    assert len(events("user.deletion_cancelled")) == 1  # twice: nothing more to cancel


def test_two_users_can_swap_principal_names_and_emails(tmp_path):
    run_import(EXAMPLES / "directory.json")
    data = example()
    first, second = data["users"][0], data["users"][1]
    for key in ("user_principal_name", "email"):
        first[key], second[key] = second[key], first[key]

    output = run_import(write_json(tmp_path, data))

    assert "users: 0 created, 2 updated" in output
    assert user("E1001").user_principal_name == "megan.bowen@contoso.example"
    assert user("E1002").email == "adele.vance@contoso.example"


def test_an_application_always_gets_the_default_role(tmp_path):
    data = {"applications": [{"external_id": "A-1", "name": "Payroll"}]}

    run_import(write_json(tmp_path, data))

    role = AppRole.objects.get(application__external_id="A-1")
    assert (role.value, role.display_name) == ("default", "Default Access")


def test_format_can_be_given_when_the_extension_does_not_say(tmp_path):
    path = write_text(tmp_path, (EXAMPLES / "directory.json").read_text(), "export.txt")

    run_import(path, "--format", "json")

    assert User.objects.filter(external_id="E1001").exists()


def test_dry_run_reports_what_would_change_and_writes_nothing():
    state = directory_state()

    output = run_import(EXAMPLES / "directory.json", "--dry-run")

    assert "users: 5 created" in output
    assert "Dry run: nothing was written." in output
    assert directory_state() == state


def test_sign_ins_are_updated_and_never_removed(tmp_path):
    run_import(EXAMPLES / "directory.json")
    data = example()
    data["applications"][0]["sign_ins"] = [
        {"user": "E1002", "last_sign_in_at": "2025-04-01T08:00:00+02:00"},
        {"user": "E1002", "last_sign_in_at": "2025-03-30T08:00:00Z"},
    ]

    output = run_import(write_json(tmp_path, data))

    assert "application sign-ins: 0 created, 1 updated" in output
    sign_ins = ApplicationSignIn.objects.order_by("user__external_id")
    moments = [s.last_sign_in_at.isoformat() for s in sign_ins]
    assert moments == ["2025-04-01T06:00:00+00:00", "2025-02-20T10:00:00+00:00"]


def test_a_csv_role_row_with_no_assignments_empties_the_role(tmp_path):
    run_import(EXAMPLES / "directory.json")
    text = "record,role\nrole,Groups Administrator\n"

    output = run_import(write_text(tmp_path, text, "roles.csv"))

    assert "directory role assignments: 0 added, 1 removed" in output
    assert not RoleAssignment.objects.filter(role=builtin_role(BuiltinRole.GROUPS_ADMINISTRATOR))
    assert RoleAssignment.objects.filter(role=builtin_role(BuiltinRole.HELPDESK_ADMINISTRATOR))


# --- Removals and pruning ------------------------------------------------------------------------


def test_members_absent_from_the_file_are_removed_and_audited(tmp_path):
    run_import(EXAMPLES / "directory.json")
    data = example()
    sales, _, helpdesk = data["groups"]
    sales["members"].remove("E1004")
    sales["member_groups"] = []
    helpdesk["owners"] = []

    output = run_import(write_json(tmp_path, data))

    assert "group members: 0 added, 1 removed" in output
    assert members("G-SALES") == {"E1002"}
    assert not NestedGroup.objects.filter(parent=group("G-SALES")).exists()
    assert not GroupOwner.objects.filter(group=group("G-HELPDESK")).exists()
    (event,) = events("group.members_removed_by_import")
    assert event.object_id == str(group("G-SALES").uuid)
    assert event.actor_label == "import:directory.json"
    assert event.details["removed"] == ["diego.siciliani@contoso.example"]
    assert event.details["count"] == 1
    assert events("group.member_groups_removed_by_import")[0].details["removed"] == ["Sales EMEA"]
    owners_event = events("group.owners_removed_by_import")[0]
    assert owners_event.details["removed"] == ["adele.vance@contoso.example"]


def test_assignments_absent_from_the_file_are_removed_and_audited(tmp_path):
    run_import(EXAMPLES / "directory.json")
    data = example()
    crm = data["applications"][0]
    crm["owners"] = []
    crm["assignments"] = [{"group": "G-SALES"}]
    data["roles"][1]["assignments"] = []

    output = run_import(write_json(tmp_path, data))

    assert "app role assignments: 0 added, 1 removed" in output
    assert "directory role assignments: 0 added, 1 removed" in output
    assert not AppRoleAssignment.objects.filter(user__isnull=False).exists()
    assert not RoleAssignment.objects.filter(role=builtin_role(BuiltinRole.GROUPS_ADMINISTRATOR))
    removed = events("application.assignments_removed_by_import")[0].details["removed"]
    assert removed == ["alex.wilber@contoso.example as crm-admin"]
    role_removed = events("role.assignments_removed_by_import")[0]
    assert role_removed.object_label == "Groups Administrator"
    assert role_removed.details["removed"] == ["adele.vance@contoso.example (eligible)"]
    assert events("application.owners_removed_by_import")[0].details["count"] == 1


def test_removal_events_cap_the_list_but_count_everyone(tmp_path):
    users = [
        {"external_id": f"U{n}", "user_principal_name": f"user{n:03d}@contoso.example"}
        for n in range(120)
    ]
    data = {"users": users, "groups": [{"external_id": "G", "name": "Big", "members": []}]}
    data["groups"][0]["members"] = [u["external_id"] for u in users]
    run_import(write_json(tmp_path, data))
    data["groups"][0]["members"] = []

    run_import(write_json(tmp_path, data))

    (event,) = events("group.members_removed_by_import")
    assert event.details["count"] == 120
    assert len(event.details["removed"]) == 100
    assert event.details["truncated"] is True


def test_users_absent_from_the_file_are_untouched_without_prune(tmp_path):
    run_import(EXAMPLES / "directory.json")
    data = example()
    del data["users"][4]
    data["groups"][1]["members"] = []

    output = run_import(write_json(tmp_path, data))

    assert "0 tombstoned" in output
    lee = user("X2001")
    assert lee.deleted_at is None and lee.is_active


def test_users_absent_from_the_file_are_tombstoned_with_prune(tmp_path):
    local_admin = UserFactory(user_principal_name="break.glass@contoso.example")
    run_import(EXAMPLES / "directory.json")
    data = example()
    del data["users"][4]
    data["groups"][1]["members"] = []

    output = run_import(write_json(tmp_path, data), "--prune")

    assert "users: 0 created, 0 updated, 0 restored, 1 tombstoned" in output
    lee = user("X2001")
    assert lee.deleted_at is not None and not lee.is_active
    (event,) = events("user.deleted")
    assert (event.object_id, event.actor_label) == (str(lee.uuid), "import:directory.json")
    # Accounts the source system does not know (no external id) are never pruned.
    local_admin.refresh_from_db()
    assert local_admin.deleted_at is None


def test_prune_refuses_a_file_that_lists_no_users(tmp_path):
    run_import(EXAMPLES / "directory.json")
    state = directory_state()

    errors = rejected(write_json(tmp_path, {"groups": []}), "--prune")

    assert "--prune: the file lists no users" in errors
    assert directory_state() == state


def test_prune_refuses_references_to_users_it_would_delete(tmp_path):
    run_import(EXAMPLES / "directory.json")
    data = example()
    del data["users"][4]

    errors = rejected(write_json(tmp_path, data), "--prune")

    assert "groups[1].members[0]: user 'X2001' is not in the file, so --prune would" in errors


def test_a_tombstoned_user_in_the_file_is_restored_and_audited():
    run_import(EXAMPLES / "directory.json")
    services.user_tombstone("test", user("E1002"))

    output = run_import(EXAMPLES / "directory.json")

    assert "users: 0 created, 0 updated, 1 restored, 0 tombstoned" in output
    megan = user("E1002")
    assert megan.deleted_at is None and megan.is_active
    assert members("G-SALES") == {"E1002", "E1004"}
    (event,) = events("user.restored")
    assert (event.object_id, event.actor_label) == (str(megan.uuid), "import:directory.json")


# --- Revoked grants the source brings back -------------------------------------------------------

REVOKED = {
    "group membership": ("group", lambda: (group("G-SALES"), user("E1002"))),
    "app assignment": (
        "application",
        lambda: (Application.objects.get(external_id="A-CRM"), user("E1003")),
    ),
    "directory role": (
        "directoryRole",
        lambda: (builtin_role(BuiltinRole.GROUPS_ADMINISTRATOR), user("E1001")),
    ),
}


@pytest.mark.parametrize("grant", REVOKED)
def test_a_revoked_grant_brought_back_is_recreated_and_flagged(grant):
    run_import(EXAMPLES / "directory.json")
    resource_type, objects = REVOKED[grant]
    resource, principal = objects()
    batch = uuid.uuid4()
    access.revocation_requests_add(batch, [(1, resource_type, resource.pk, "user", principal.pk)])
    access.revoke_grants(batch)
    revocation = GrantRevocation.objects.get(batch=batch)
    assert revocation.result == RevocationResult.REMOVED

    output = run_import(EXAMPLES / "directory.json")

    assert "revoked grants brought back: 1 restored" in output
    assert access.principals_with_access(resource_type, resource.pk).rows()
    revocation.refresh_from_db()
    assert revocation.restored_at is not None
    (event,) = events("directory.revoked_grant_restored")
    assert event.object_id == str(resource.uuid)
    assert event.details["principal"] == str(principal.uuid)
    assert event.details["batch"] == str(batch)
    assert event.details["revoked_at"].startswith(revocation.requested_at.strftime("%Y-%m-%dT"))
    again = run_import(EXAMPLES / "directory.json")
    assert "revoked grants brought back: 0 restored" in again


def test_a_revoked_grant_the_file_leaves_out_stays_revoked(tmp_path):
    run_import(EXAMPLES / "directory.json")
    batch = uuid.uuid4()
    sales, diego = group("G-SALES"), user("E1004")
    access.revocation_requests_add(batch, [(1, "group", sales.pk, "user", diego.pk)])
    access.revoke_grants(batch)
    data = example()
    data["groups"][0]["members"].remove("E1004")

    run_import(write_json(tmp_path, data))

    assert GrantRevocation.objects.get(batch=batch).restored_at is None
    assert not events("directory.revoked_grant_restored")


# --- Rejections ----------------------------------------------------------------------------------


def mutate(path: str, value):
    """A change to the example document at a dotted path (list indexes as numbers)."""

    def apply(data):
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value

    return apply


def append(path: str, value):
    def apply(data):
        target = data
        for key in path.split("."):
            target = target[int(key)] if key.isdigit() else target[key]
        target.append(value)

    return apply


JSON_REJECTIONS = {
    "bad email": (
        mutate("users.1.email", "megan at contoso"),
        "users[1].email: malformed email address 'megan at contoso'",
    ),
    "unknown user type": (
        mutate("users.0.user_type", "Contractor"),
        "users[0].user_type: unknown user type 'Contractor' (expected Member or Guest)",
    ),
    "unknown reference": (
        append("groups.0.members", "E9999"),
        "groups[0].members[1]: unknown user external id 'E9999'",
    ),
    "unknown manager": (
        mutate("users.1.manager", "E9999"),
        "users[1].manager: unknown user external id 'E9999'",
    ),
    "duplicate external id": (
        append(
            "users",
            {"external_id": "E1001", "user_principal_name": "adele2@contoso.example"},
        ),
        "users[5].external_id: duplicate user external id 'E1001' (also at users[0])",
    ),
    "duplicate principal name": (
        mutate("users.1.user_principal_name", "ADELE.VANCE@contoso.example"),
        "users[1].user_principal_name: duplicate user_principal_name",
    ),
    "nesting cycle": (
        mutate("groups.1.member_groups", ["G-SALES"]),
        "groups[1].member_groups[0]: this nesting makes a cycle: 'Sales' > 'Sales EMEA' > 'Sales'",
    ),
    "group nested into itself": (
        mutate("groups.0.member_groups", ["G-SALES"]),
        "groups[0].member_groups[0]: a group cannot be nested into itself",
    ),
    "nesting into a role-assignable group": (
        mutate("groups.2.member_groups", ["G-SALES-EMEA"]),
        "groups[2].member_groups[0]: cannot nest a group into 'Helpdesk admins': it is "
        "role-assignable",
    ),
    "role to a non-role-assignable group": (
        mutate("roles.0.assignments.0.group", "G-SALES"),
        "roles[0].assignments[0].group: group 'Sales' is not role-assignable",
    ),
    "role-assignable group with dynamic membership": (
        mutate("groups.2.membership_type", "dynamic"),
        "groups[2].is_role_assignable: a role-assignable group cannot have dynamic membership",
    ),
    "NUL character": (
        mutate("users.2.department", "IT\x00"),
        "users[2].department: contains a NUL character",
    ),
    "bad date": (
        mutate("users.0.last_sign_in_at", "last Tuesday"),
        "users[0].last_sign_in_at: bad date 'last Tuesday'",
    ),
    "unknown time zone": (
        mutate("users.0.time_zone", "Mars/Olympus_Mons"),
        "users[0].time_zone: unknown time zone 'Mars/Olympus_Mons'",
    ),
    "unknown app role": (
        mutate("applications.0.assignments.1.role", "superuser"),
        "applications[0].assignments[1].role: unknown app role 'superuser' of 'Contoso CRM'",
    ),
    "unknown directory role": (
        mutate("roles.0.name", "Chief Wizard"),
        "roles[0].name: unknown directory role 'Chief Wizard'",
    ),
    "unknown field": (
        mutate("users.0.emial", "x@contoso.example"),
        "users[0].emial: unknown field",
    ),
    "missing principal name": (
        mutate("users.3.user_principal_name", ""),
        "users[3].user_principal_name: is required",
    ),
    "too long": (
        mutate("groups.0.name", "x" * 300),
        "groups[0].name: is longer than 256 characters",
    ),
}


@pytest.mark.parametrize("case", JSON_REJECTIONS)
def test_a_bad_row_is_named_and_nothing_is_imported(tmp_path, case):
    run_import(EXAMPLES / "directory.json")
    change, message = JSON_REJECTIONS[case]
    data = example()
    data["users"][0]["department"] = "Changed"  # a valid change that must not be applied
    data["groups"][0]["members"].remove("E1004")
    change(data)
    state = directory_state()

    errors = rejected(write_json(tmp_path, data))

    assert message in errors
    assert directory_state() == state


def test_a_principal_name_owned_by_another_user_is_rejected(tmp_path):
    UserFactory(user_principal_name="Adele.Vance@contoso.example", email="adele@elsewhere.example")
    UserFactory(email="megan.bowen@CONTOSO.example", external_id="HR-7")
    state = directory_state()

    errors = rejected(EXAMPLES / "directory.json")

    assert (
        "users[0].user_principal_name: 'adele.vance@contoso.example' belongs to another user, "
        "Adele.Vance@contoso.example (no external id)"
    ) in errors
    assert "users[1].email: 'megan.bowen@contoso.example' belongs to another user" in errors
    assert "(external id 'HR-7')" in errors
    assert directory_state() == state


def test_a_deleted_user_can_be_named_only_by_listing_them(tmp_path):
    run_import(EXAMPLES / "directory.json")
    services.user_tombstone("test", user("X2001"))
    data = example()
    del data["users"][4]

    errors = rejected(write_json(tmp_path, data))

    assert "groups[1].members[0]: user 'X2001' is deleted (list them in the file" in errors


def test_a_user_cannot_be_their_own_manager(tmp_path):
    data = example()
    data["users"][1]["manager"] = "E1002"

    errors = rejected(write_json(tmp_path, data))

    assert "users[1].manager: a user cannot be their own manager" in errors


def test_a_group_that_stops_being_role_assignable_cannot_keep_its_role(tmp_path):
    run_import(EXAMPLES / "directory.json")
    data = example()
    data["groups"][2]["is_role_assignable"] = False
    del data["roles"]

    errors = rejected(write_json(tmp_path, data))

    assert (
        "groups[2].is_role_assignable: the group holds the directory role 'Helpdesk Administrator'"
    ) in errors


def test_a_cycle_through_an_existing_nesting_is_rejected(tmp_path):
    run_import(EXAMPLES / "directory.json")
    # G-SALES already contains G-SALES-EMEA; a file listing only the inner group closes the loop.
    data = {
        "groups": [
            {"external_id": "G-SALES-EMEA", "name": "Sales EMEA", "member_groups": ["G-SALES"]}
        ]
    }

    errors = rejected(write_json(tmp_path, data))

    assert "groups[0].member_groups[0]: this nesting makes a cycle" in errors


def test_a_malformed_json_file_is_rejected(tmp_path):
    errors = rejected(write_text(tmp_path, '{"users": [{"external_id": "E1"', "broken.json"))

    assert "line 1, column 32: malformed JSON" in errors
    assert not User.objects.filter(external_id="E1").exists()


CSV_HEADER = "record,external_id,user_principal_name,display_name,department,group,user,name\n"
CSV_REJECTIONS = {
    "unknown record type": (
        "user,E1,a@contoso.example,A,,,,\nusr,E2,b@contoso.example,B,,,,\n",
        "line 3, record: unknown record type 'usr'",
    ),
    "NUL character": (
        "user,E1,a@contoso.example,A,Sa\x00les,,,\n",
        "line 2, department: contains a NUL character",
    ),
    "a member of a group the file does not list": (
        "user,E1,a@contoso.example,A,,,,\ngroup_member,,,,,G-9,E1,\n",
        "line 3, group: group 'G-9' has no group row in this file",
    ),
    "a column that does not apply": (
        "user,E1,a@contoso.example,A,,,,Sales\n",
        "line 2, name: does not apply to user rows",
    ),
    "wrong number of fields": (
        "user,E1,a@contoso.example\n",
        "line 2: has 3 fields, the header has 8",
    ),
    "unknown reference": (
        "group,G1,,,,,,Team\ngroup_member,,,,,G1,E404,\n",
        "line 3, user: unknown user external id 'E404'",
    ),
}


@pytest.mark.parametrize("case", CSV_REJECTIONS)
def test_a_bad_csv_row_is_named_by_line_and_nothing_is_imported(tmp_path, case):
    rows, message = CSV_REJECTIONS[case]
    state = directory_state()

    errors = rejected(write_text(tmp_path, CSV_HEADER + rows, "directory.csv"))

    assert message in errors
    assert directory_state() == state


def test_a_csv_with_an_unknown_column_is_rejected(tmp_path):
    errors = rejected(write_text(tmp_path, "record,external_id,shoe_size\n", "x.csv"))

    assert "line 1, shoe_size: unknown column" in errors


def test_every_problem_is_listed_at_most_fifty_shown(tmp_path):
    users = [
        {"external_id": f"U{n}", "user_principal_name": f"u{n}@contoso.example", "email": "bad"}
        for n in range(60)
    ]

    errors = rejected(write_json(tmp_path, {"users": users})).splitlines()

    assert len(errors) == 51
    assert errors[0] == "users[0].email: malformed email address 'bad'"
    assert errors[-1] == "... and 10 more"


def test_a_file_of_unknown_format_is_rejected(tmp_path):
    errors = rejected(write_text(tmp_path, "{}", "directory.xml"))

    assert "cannot tell the format; use --format json or csv" in errors


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_directory", str(tmp_path / "nope.json"), stdout=io.StringIO())


# --- Scale ---------------------------------------------------------------------------------------


def tenant(size: int, prefix: str) -> dict:
    users = [
        {
            "external_id": f"{prefix}{n}",
            "user_principal_name": f"{prefix}{n}@contoso.example",
            "email": f"{prefix}{n}@contoso.example",
            "manager": f"{prefix}0" if n else None,
        }
        for n in range(size)
    ]
    ids = [u["external_id"] for u in users]
    return {
        "users": users,
        "groups": [{"external_id": prefix, "name": "All", "members": ids, "owners": ids[:2]}],
        "applications": [
            {"external_id": prefix, "name": "App", "assignments": [{"group": prefix}]}
        ],
    }


def test_import_queries_do_not_grow_with_the_number_of_users(tmp_path):
    def queries(size, prefix):
        path = write_json(tmp_path, tenant(size, prefix), f"{prefix}.json")
        with CaptureQueriesContext(connection) as captured:
            run_import(path)
        return len(captured)

    small = queries(10, "small")
    large = queries(400, "large")

    # Only batching grows (SQLite: 999 parameters per statement), not one query per row.
    assert large - small <= 12, (small, large)

"""A realistic demo organisation, generated deterministically and inserted set-based.

Idempotent: every row has a natural key (external ids, unique pairs) and is inserted with
ignore_conflicts, so a second run with the same arguments adds nothing. 100,000 users seed in
seconds because nothing is saved one row at a time.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from directory import audit
from directory.demo.names import APPLICATIONS, FIRST_NAMES, GROUPS, LAST_NAMES, DemoGroup
from directory.models import (
    Application,
    ApplicationOwner,
    ApplicationSignIn,
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
    TenantSettings,
    User,
    UserType,
)

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (printed for the demo; never a deployment's)
BATCH = 5000
DOMAIN = "contoso.example"
DEPARTMENTS = [
    "Engineering",
    "Finance",
    "Sales",
    "Marketing",
    "Operations",
    "Legal",
    "Support",
    "People",
    "Security",
    "Product",
]
TITLES = [
    "Engineer",
    "Analyst",
    "Manager",
    "Specialist",
    "Consultant",
    "Designer",
    "Coordinator",
    "Director",
    "Associate",
    "Administrator",
]
TIME_ZONES = [
    "Europe/London",
    "Europe/Paris",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Singapore",
    "",
]
GUEST_DOMAINS = ["fabrikam.example", "northwind.example", "adatum.example", "tailspin.example"]
REPORTS_PER_MANAGER = 7


@dataclass(frozen=True)
class DemoLogin:
    external_id: str
    display_name: str
    upn_name: str
    department: str
    title: str


DEMO_LOGINS = [
    DemoLogin("demo-u-000000", "Alice Admin", "alice.admin", "Security", "Identity Lead"),
    DemoLogin("demo-u-000001", "Oscar Owner", "oscar.owner", "Engineering", "Engineering Manager"),
    DemoLogin("demo-u-000002", "Rob Reviewer", "rob.reviewer", "Finance", "Finance Manager"),
    DemoLogin("demo-u-000003", "Rita Reader", "rita.reader", "Legal", "Internal Auditor"),
]


@dataclass
class DemoSpec:
    users: int = 300
    groups: int = 30
    members_per_group: int | None = None
    seed: int = 2026

    LOGINS = [
        (f"alice.admin@{DOMAIN}", "Global Administrator"),
        (f"oscar.owner@{DOMAIN}", "group owner (Project Falcon, Engineering and more)"),
        (f"rob.reviewer@{DOMAIN}", "reviewer: manages a team, owns the NetSuite application"),
        (f"rita.reader@{DOMAIN}", "Global Reader (auditor)"),
    ]

    def validate(self):
        if self.users < len(DEMO_LOGINS) + 10:
            raise ValueError(f"--users must be at least {len(DEMO_LOGINS) + 10}.")
        if self.groups < 1:
            raise ValueError("--groups must be at least 1.")
        if self.members_per_group is not None and not 0 <= self.members_per_group <= self.users:
            raise ValueError("--members-per-group must be between 0 and --users.")


@dataclass
class SeedResult:
    created: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{count} {name}" for name, count in self.created.items()]
        return "Seeded the demo directory: " + ", ".join(parts) + "."


def _insert_ignoring_existing(model, columns: tuple[str, ...], rows: list[tuple]) -> int:
    """Insert plain tuples, skipping rows that already exist; returns how many were added.

    Skips building a model instance per row (most of bulk_create's cost at 100k rows). On
    PostgreSQL the rows are COPYed into a scratch table and moved with one INSERT ... SELECT,
    which is the bulk path PostgreSQL's own docs recommend; on SQLite, executemany is as fast.
    """
    table, names = model._meta.db_table, ", ".join(columns)
    before = model.objects.count()
    if connection.vendor == "postgresql":
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE seed_rows AS SELECT {names} FROM {table} WITH NO DATA"
            )
            with cursor.copy(f"COPY seed_rows ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM seed_rows "
                "ON CONFLICT DO NOTHING"
            )
            cursor.execute("DROP TABLE seed_rows")
    else:
        placeholders = ", ".join(["%s"] * len(columns))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
                rows,
            )
    return model.objects.count() - before


def _counting(model, rows, result: SeedResult, label: str) -> None:
    before = model.objects.count()
    model.objects.bulk_create(rows, batch_size=BATCH, ignore_conflicts=True)
    result.created[label] = result.created.get(label, 0) + model.objects.count() - before


@transaction.atomic
def seed_demo(spec: DemoSpec, *, only_if_empty: bool = False) -> SeedResult | None:
    if only_if_empty and User.objects.exists():
        return None
    rng = random.Random(spec.seed)
    now = timezone.now().replace(microsecond=0)
    result = SeedResult()
    users, guests = _seed_users(spec, rng, now, result)
    groups = _seed_groups(spec, rng, users, guests, now, result)
    _seed_applications(rng, users, groups, now, result)
    _seed_roles(users, groups, result)
    TenantSettings.objects.update_or_create(
        pk=1, defaults={"group_owners_can_manage_reviews": True}
    )
    audit.record("seed_demo", "directory.seed_demo", None, {"created": result.created})
    return result


# --- Users -------------------------------------------------------------------------------------


def _user_rows(spec: DemoSpec, rng: random.Random, now) -> list[dict]:
    """Plain dicts in hierarchy order; row i's manager is row (i - 1) // 7 among members."""
    rows = []
    for index in range(spec.users):
        if index < len(DEMO_LOGINS):
            login = DEMO_LOGINS[index]
            first, last = login.display_name.split()
            rows.append(
                dict(
                    external_id=login.external_id,
                    display_name=login.display_name,
                    upn=f"{login.upn_name}@{DOMAIN}",
                    email=f"{login.upn_name}@{DOMAIN}",
                    user_type=UserType.MEMBER,
                    department=login.department,
                    job_title=login.title,
                    accepted=True,
                )
            )
            continue
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first.lower()}.{last.lower()}{index}"
        if rng.random() < 0.15:
            domain = rng.choice(GUEST_DOMAINS)
            rows.append(
                dict(
                    external_id=f"demo-u-{index:06d}",
                    display_name=f"{first} {last}",
                    upn=f"{name}_{domain}#EXT#@{DOMAIN}",
                    email=f"{name}@{domain}",
                    user_type=UserType.GUEST,
                    department="",
                    job_title="Guest",
                    accepted=rng.random() > 0.2,
                )
            )
        else:
            rows.append(
                dict(
                    external_id=f"demo-u-{index:06d}",
                    display_name=f"{first} {last}",
                    upn=f"{name}@{DOMAIN}",
                    email=f"{name}@{DOMAIN}",
                    user_type=UserType.MEMBER,
                    department=rng.choice(DEPARTMENTS),
                    job_title=rng.choice(TITLES),
                    accepted=True,
                )
            )
    for row in rows:
        row.update(_activity(rng, now))
        row["time_zone"] = rng.choice(TIME_ZONES)
    return rows


def _activity(rng: random.Random, now) -> dict:
    """About a fifth have not signed in for over 30 days; a few joined inside the window."""
    roll = rng.random()
    created = now - timedelta(days=rng.randint(60, 1500))
    if roll < 0.05:
        return {
            "created_at": now - timedelta(days=rng.randint(1, 25)),
            "last_sign_in_at": now - timedelta(days=rng.randint(0, 3)),
        }
    if roll < 0.13:
        return {"created_at": created, "last_sign_in_at": None}
    if roll < 0.25:
        return {
            "created_at": created,
            "last_sign_in_at": now - timedelta(days=rng.randint(31, 400)),
        }
    return {
        "created_at": created,
        "last_sign_in_at": now - timedelta(days=rng.randint(0, 29), minutes=rng.randint(0, 1440)),
    }


def _seed_users(spec, rng, now, result) -> tuple[list[int], list[int]]:
    """Insert level by level so each level's managers already have ids.

    Returns the user ids in row order, and the guests' ids.
    """
    rows = _user_rows(spec, rng, now)
    demo_password = make_password(DEMO_PASSWORD)
    unusable = make_password(None)
    member_positions = [i for i, row in enumerate(rows) if row["user_type"] == UserType.MEMBER]
    manager_of = {}
    for rank, position in enumerate(member_positions[1:], start=1):
        manager_of[position] = member_positions[(rank - 1) // REPORTS_PER_MANAGER]
    ids: dict[str, int] = dict(
        User.objects.filter(external_id__startswith="demo-u-").values_list("external_id", "id")
    )
    level = [i for i, row in enumerate(rows) if i not in manager_of]  # the CEO and the guests
    created = 0
    while level:
        values = [
            _user_values(
                rows[i],
                ids.get(rows[manager_of[i]]["external_id"]) if i in manager_of else None,
                demo_password if i < len(DEMO_LOGINS) else unusable,
            )
            for i in level
        ]
        created += _insert_ignoring_existing(User, USER_COLUMNS, values)
        # Re-read by prefix rather than `IN (level)`: a level can exceed SQLite's variable limit.
        ids.update(
            User.objects.filter(external_id__startswith="demo-u-").values_list("external_id", "id")
        )
        placed = set(level)
        level = [i for i, boss in manager_of.items() if boss in placed]
    result.created["users"] = created
    ordered = [ids[row["external_id"]] for row in rows]
    guests = [ids[row["external_id"]] for row in rows if row["user_type"] == UserType.GUEST]
    return ordered, guests


USER_COLUMNS = (
    "uuid",
    "external_id",
    "display_name",
    "user_principal_name",
    "email",
    "user_type",
    "department",
    "job_title",
    "guest_invitation_accepted",
    "manager_id",
    "created_at",
    "last_sign_in_at",
    "time_zone",
    "password",
    "is_active",
    "is_superuser",
)


def _user_values(row: dict, manager_id, password: str) -> tuple:
    ops = connection.ops
    uid = uuid.uuid4()
    return (
        uid if connection.vendor == "postgresql" else uid.hex,
        row["external_id"],
        row["display_name"],
        row["upn"],
        row["email"],
        row["user_type"],
        row["department"],
        row["job_title"],
        row["accepted"],
        manager_id,
        ops.adapt_datetimefield_value(row["created_at"]),
        ops.adapt_datetimefield_value(row["last_sign_in_at"]),
        row["time_zone"],
        password,
        True,
        False,
    )


# --- Groups ------------------------------------------------------------------------------------


def _group_specs(spec: DemoSpec) -> list[DemoGroup]:
    groups = list(GROUPS[: spec.groups])
    for index in range(len(groups), spec.groups):
        groups.append(DemoGroup(f"Team {index + 1:04d}", f"Generated team {index + 1}."))
    return groups


def _seed_groups(spec, rng, users, guests, now, result) -> dict[str, int]:
    specs = _group_specs(spec)
    _counting(
        Group,
        [
            Group(
                external_id=f"demo-g-{s.key}",
                name=s.name,
                description=s.description,
                kind=s.kind,
                membership_type=s.membership_type,
                source=s.source,
                is_role_assignable=s.role_assignable,
                created_at=now - timedelta(days=400),
            )
            for s in specs
        ],
        result,
        "groups",
    )
    ids = dict(
        Group.objects.filter(external_id__startswith="demo-g-").values_list("external_id", "id")
    )
    by_key = {s.key: ids[f"demo-g-{s.key}"] for s in specs}
    members_rows, owner_rows, nested_rows = [], [], []
    added_at = connection.ops.adapt_datetimefield_value(now - timedelta(days=200))
    logins = users[: len(DEMO_LOGINS)]
    for s in specs:
        group_id = by_key[s.key]
        size = (
            spec.members_per_group if spec.members_per_group is not None else rng.randint(*s.size)
        )
        pool = users[len(DEMO_LOGINS) :]
        chosen = set(rng.sample(pool, min(size, len(pool))))
        if s.guests and guests:
            chosen.update(rng.sample(guests, min(len(guests), max(2, size // 4))))
        chosen.update(logins[i] for i in s.logins_as_members)
        members_rows += [(group_id, u, added_at) for u in sorted(chosen)]
        owners = [logins[i] for i in s.logins_as_owners]
        owners += rng.sample(pool, s.extra_owners)
        owner_rows += [GroupOwner(group_id=group_id, user_id=u) for u in owners]
        nested_rows += [
            NestedGroup(parent_id=group_id, child_id=by_key[c]) for c in s.nested if c in by_key
        ]
    result.created["group memberships"] = _insert_ignoring_existing(
        GroupMembership, ("group_id", "user_id", "added_at"), members_rows
    )
    _counting(GroupOwner, owner_rows, result, "group owners")
    _counting(NestedGroup, nested_rows, result, "nested groups")
    return by_key


# --- Applications and roles ----------------------------------------------------------------------


def _seed_applications(rng, users, groups, now, result) -> None:
    _counting(
        Application,
        [
            Application(
                external_id=f"demo-a-{a.key}",
                name=a.name,
                description=a.description,
                assignment_required=a.assignment_required,
            )
            for a in APPLICATIONS
        ],
        result,
        "applications",
    )
    app_ids = dict(
        Application.objects.filter(external_id__startswith="demo-a-").values_list(
            "external_id", "id"
        )
    )
    roles = [
        AppRole(application_id=app_ids[f"demo-a-{a.key}"], value=value, display_name=label)
        for a in APPLICATIONS
        for value, label in [("default", "Default Access"), *a.roles]
    ]
    _counting(AppRole, roles, result, "app roles")
    role_ids = {
        (app_id, value): role_id
        for role_id, app_id, value in AppRole.objects.filter(
            application_id__in=app_ids.values()
        ).values_list("id", "application_id", "value")
    }
    pool = users[len(DEMO_LOGINS) :]
    assignments, owners, sign_ins = [], [], []
    for a in APPLICATIONS:
        app_id = app_ids[f"demo-a-{a.key}"]
        role_values = ["default"] + [value for value, _ in a.roles]
        direct = rng.sample(pool, min(len(pool), a.direct_users))
        direct += [users[i] for i in a.logins_assigned]
        assignments += [
            AppRoleAssignment(app_role_id=role_ids[app_id, rng.choice(role_values)], user_id=u)
            for u in direct
        ]
        assignments += [
            AppRoleAssignment(app_role_id=role_ids[app_id, "default"], group_id=groups[g])
            for g in a.groups
            if g in groups
        ]
        owners += [
            ApplicationOwner(application_id=app_id, user_id=u)
            for u in [users[i] for i in a.logins_as_owners] + rng.sample(pool, 1)
        ]
        for user_id in set(direct):
            days = rng.choice([1, 3, 7, 12, 20, 45, 90, 200]) if rng.random() > 0.1 else None
            if days is not None:
                sign_ins.append(
                    ApplicationSignIn(
                        application_id=app_id,
                        user_id=user_id,
                        last_sign_in_at=now - timedelta(days=days),
                    )
                )
    _counting(AppRoleAssignment, assignments, result, "app role assignments")
    _counting(ApplicationOwner, owners, result, "application owners")
    _counting(ApplicationSignIn, sign_ins, result, "application sign-ins")


ROLE_GRANTS = [
    # (user index or group key, role, kind)
    (0, BuiltinRole.GLOBAL_ADMINISTRATOR, RoleAssignmentKind.ACTIVE),
    (3, BuiltinRole.GLOBAL_READER, RoleAssignmentKind.ACTIVE),
    (4, BuiltinRole.GLOBAL_ADMINISTRATOR, RoleAssignmentKind.ELIGIBLE),
    (5, BuiltinRole.USER_ADMINISTRATOR, RoleAssignmentKind.ACTIVE),
    (6, BuiltinRole.IDENTITY_GOVERNANCE_ADMINISTRATOR, RoleAssignmentKind.ACTIVE),
    (7, BuiltinRole.PRIVILEGED_ROLE_ADMINISTRATOR, RoleAssignmentKind.ELIGIBLE),
    (8, BuiltinRole.SECURITY_READER, RoleAssignmentKind.ACTIVE),
    (9, BuiltinRole.APPLICATION_ADMINISTRATOR, RoleAssignmentKind.ELIGIBLE),
    ("tier0-admins", BuiltinRole.SECURITY_ADMINISTRATOR, RoleAssignmentKind.ACTIVE),
    ("helpdesk-operators", BuiltinRole.HELPDESK_ADMINISTRATOR, RoleAssignmentKind.ACTIVE),
    ("helpdesk-operators", BuiltinRole.USER_ADMINISTRATOR, RoleAssignmentKind.ELIGIBLE),
]


def _seed_roles(users, groups, result) -> None:
    role_ids = dict(DirectoryRole.objects.values_list("template_id", "id"))
    rows = []
    for who, role, kind in ROLE_GRANTS:
        if isinstance(who, int):
            rows.append(RoleAssignment(role_id=role_ids[role], user_id=users[who], kind=kind))
        elif who in groups:
            rows.append(RoleAssignment(role_id=role_ids[role], group_id=groups[who], kind=kind))
    _counting(RoleAssignment, rows, result, "role assignments")

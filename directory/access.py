"""The one door from the review domain into the directory's grants.

- principals_with_access(): "who has access to resource R, and by which path", as one SQL query
  (an AccessQuery) that callers run on its own or wrap in their own `INSERT ... SELECT`.
- revoke_grants(): "remove these direct grants", as a fixed number of set-based statements that
  write one GrantRevocation result per request for the caller to join back on (batch, ref).
- grants_of_user(): the inverse, for a user's page: every resource they reach and how.

Every query returns the same columns, whatever the resource:
    principal_type ('user' | 'group'), principal_id, access_path ('direct' | 'nested' |
    'viaGroup'), via_group_id (NULL when direct), role_assignment_kind (roles only, else NULL)
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from directory import audit
from directory.models import (
    AccessPath,
    Application,
    AppRole,
    AppRoleAssignment,
    AuditEvent,
    DirectoryRole,
    GrantRevocation,
    Group,
    GroupMembership,
    GroupSource,
    MembershipType,
    NestedGroup,
    PrincipalType,
    ResourceType,
    RevocationResult,
    RoleAssignment,
    RoleAssignmentKind,
)

# Cycles are refused at write time; the guard only bounds a walk over corrupted data.
MAX_NESTING_DEPTH = 32

T = {
    "user_group": GroupMembership._meta.db_table,
    "nested": NestedGroup._meta.db_table,
    "group": Group._meta.db_table,
    "app_role": AppRole._meta.db_table,
    "app_assignment": AppRoleAssignment._meta.db_table,
    "application": Application._meta.db_table,
    "role": DirectoryRole._meta.db_table,
    "role_assignment": RoleAssignment._meta.db_table,
    "revocation": GrantRevocation._meta.db_table,
}

COLUMNS = ("principal_type", "principal_id", "access_path", "via_group_id", "role_assignment_kind")


@dataclass(frozen=True)
class PrincipalAccess:
    principal_type: str
    principal_id: int
    access_path: str
    via_group_id: int | None
    role_assignment_kind: str | None


@dataclass(frozen=True)
class AccessQuery:
    """SQL selecting COLUMNS, with its parameters; wrap it as `(sql) AS access` to reuse it."""

    sql: str
    params: tuple

    def rows(self) -> list[PrincipalAccess]:
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return [PrincipalAccess(*row) for row in cursor.fetchall()]


def principals_with_access(
    resource_type: str,
    resource_id: int,
    *,
    expand_groups: bool = True,
    role_kinds: Iterable[str] = (RoleAssignmentKind.ACTIVE, RoleAssignmentKind.ELIGIBLE),
) -> AccessQuery:
    """Who has access to the resource, one row per principal, with the path.

    Groups: with expand_groups, every user member at any depth (direct, or nested via the group
    they are a direct member of, nearest first); without, the direct members, users and groups.
    Applications: direct user assignees, and direct members of assigned groups (viaGroup), as in
    Entra, where group-based assignment does not flow to nested groups.
    Directory roles: the assignees of the given kinds; a role-assignable group is one principal.
    """
    if resource_type == ResourceType.GROUP:
        if expand_groups:
            return _group_transitive_users(resource_id)
        return _group_direct_members(resource_id)
    if resource_type == ResourceType.APPLICATION:
        return _application_assignees(resource_id)
    if resource_type == ResourceType.DIRECTORY_ROLE:
        return _role_assignees(resource_id, tuple(role_kinds))
    raise ValueError(f"unknown resource type {resource_type!r}")


def _subgroups_cte(root_param: str = "%s", *, roots_sql: str | None = None) -> str:
    # UNION (not UNION ALL) drops repeated (group, depth) rows; the depth guard ends any walk.
    anchor = f"SELECT CAST({root_param} AS BIGINT), 0"
    if roots_sql is not None:
        anchor = f"SELECT CAST(r.group_id AS BIGINT), 0 FROM ({roots_sql}) r"
    return f"""
        subgroups(group_id, depth) AS (
            {anchor}
            UNION
            SELECT n.child_id, s.depth + 1
            FROM {T["nested"]} n JOIN subgroups s ON n.parent_id = s.group_id
            WHERE s.depth < {MAX_NESTING_DEPTH}
        )"""


def _group_transitive_users(group_id: int) -> AccessQuery:
    sql = f"""
        WITH RECURSIVE {_subgroups_cte()},
        paths AS (
            SELECT m.user_id, s.group_id, s.depth,
                   ROW_NUMBER() OVER (PARTITION BY m.user_id ORDER BY s.depth, s.group_id) AS rank
            FROM subgroups s JOIN {T["user_group"]} m ON m.group_id = s.group_id
        )
        SELECT '{PrincipalType.USER}' AS principal_type,
               user_id AS principal_id,
               CASE WHEN depth = 0 THEN '{AccessPath.DIRECT}' ELSE '{AccessPath.NESTED}' END
                   AS access_path,
               CASE WHEN depth = 0 THEN CAST(NULL AS BIGINT) ELSE group_id END AS via_group_id,
               CAST(NULL AS VARCHAR(10)) AS role_assignment_kind
        FROM paths WHERE rank = 1"""
    return AccessQuery(sql, (group_id,))


def members_at_any_depth(groups_sql: str, params) -> tuple[str, list]:
    """SQL selecting `user_id`, once each, of every user member at any depth of the groups
    that `groups_sql` selects (one column, `group_id`), with its parameters."""
    sql = f"""
        WITH RECURSIVE {_subgroups_cte(roots_sql=groups_sql)}
        SELECT DISTINCT m.user_id FROM subgroups s
        JOIN {T["user_group"]} m ON m.group_id = s.group_id"""
    return sql, list(params)


def _group_direct_members(group_id: int) -> AccessQuery:
    sql = f"""
        SELECT '{PrincipalType.USER}' AS principal_type, m.user_id AS principal_id,
               '{AccessPath.DIRECT}' AS access_path, CAST(NULL AS BIGINT) AS via_group_id,
               CAST(NULL AS VARCHAR(10)) AS role_assignment_kind
        FROM {T["user_group"]} m WHERE m.group_id = %s
        UNION ALL
        SELECT '{PrincipalType.GROUP}', n.child_id, '{AccessPath.DIRECT}', CAST(NULL AS BIGINT),
               CAST(NULL AS VARCHAR(10))
        FROM {T["nested"]} n WHERE n.parent_id = %s"""
    return AccessQuery(sql, (group_id, group_id))


def _application_assignees(application_id: int) -> AccessQuery:
    sql = f"""
        WITH grants AS (
            SELECT a.user_id, CAST(NULL AS BIGINT) AS via_group_id, 0 AS indirect
            FROM {T["app_assignment"]} a JOIN {T["app_role"]} r ON r.id = a.app_role_id
            WHERE r.application_id = %s AND a.user_id IS NOT NULL
            UNION ALL
            SELECT m.user_id, a.group_id, 1
            FROM {T["app_assignment"]} a JOIN {T["app_role"]} r ON r.id = a.app_role_id
            JOIN {T["user_group"]} m ON m.group_id = a.group_id
            WHERE r.application_id = %s AND a.group_id IS NOT NULL
        ),
        ranked AS (
            SELECT user_id, via_group_id, indirect,
                   ROW_NUMBER() OVER (
                       PARTITION BY user_id ORDER BY indirect, via_group_id
                   ) AS rank
            FROM grants
        )
        SELECT '{PrincipalType.USER}' AS principal_type, user_id AS principal_id,
               CASE WHEN indirect = 0 THEN '{AccessPath.DIRECT}' ELSE '{AccessPath.VIA_GROUP}' END
                   AS access_path,
               via_group_id, CAST(NULL AS VARCHAR(10)) AS role_assignment_kind
        FROM ranked WHERE rank = 1"""
    return AccessQuery(sql, (application_id, application_id))


def _role_assignees(role_id: int, kinds: tuple[str, ...]) -> AccessQuery:
    kinds = tuple(RoleAssignmentKind(kind).value for kind in kinds)
    if not kinds:
        raise ValueError("role_kinds must name at least one kind")
    placeholders = ", ".join(["%s"] * len(kinds))
    # MIN(kind): 'active' sorts before 'eligible', so someone holding both shows as active.
    sql = f"""
        SELECT CASE WHEN ra.user_id IS NOT NULL THEN '{PrincipalType.USER}'
                    ELSE '{PrincipalType.GROUP}' END AS principal_type,
               COALESCE(ra.user_id, ra.group_id) AS principal_id,
               '{AccessPath.DIRECT}' AS access_path,
               CAST(NULL AS BIGINT) AS via_group_id,
               MIN(ra.kind) AS role_assignment_kind
        FROM {T["role_assignment"]} ra
        WHERE ra.role_id = %s AND ra.kind IN ({placeholders})
        GROUP BY ra.user_id, ra.group_id"""
    return AccessQuery(sql, (role_id, *kinds))


# --- The inverse: what one user can reach ------------------------------------------------------


@dataclass(frozen=True)
class UserGrant:
    resource_type: str
    resource_id: int
    resource_name: str
    access_path: str
    via_group_id: int | None
    via_group_name: str | None
    detail: str  # app role names or the role assignment kind


def grants_of_user(user_id: int) -> list[UserGrant]:
    """Every group, application and directory role the user reaches, with the path (3 queries)."""
    return _groups_of_user(user_id) + _applications_of_user(user_id) + _roles_of_user(user_id)


def _fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _groups_of_user(user_id: int) -> list[UserGrant]:
    # Walk upwards from the user's direct groups; keep the nearest path to each ancestor.
    sql = f"""
        WITH RECURSIVE reach(group_id, via_group_id, depth) AS (
            SELECT m.group_id, m.group_id, 0 FROM {T["user_group"]} m WHERE m.user_id = %s
            UNION
            SELECT n.parent_id, r.via_group_id, r.depth + 1
            FROM {T["nested"]} n JOIN reach r ON n.child_id = r.group_id
            WHERE r.depth < {MAX_NESTING_DEPTH}
        ),
        ranked AS (
            SELECT group_id, via_group_id, depth,
                   ROW_NUMBER() OVER (PARTITION BY group_id ORDER BY depth, via_group_id) AS rank
            FROM reach
        )
        SELECT g.id, g.name, r.depth, r.via_group_id, v.name
        FROM ranked r JOIN {T["group"]} g ON g.id = r.group_id
        JOIN {T["group"]} v ON v.id = r.via_group_id
        WHERE r.rank = 1 ORDER BY g.name, g.id"""
    grants = []
    for group_id, name, depth, via_id, via_name in _fetch(sql, [user_id]):
        direct = depth == 0
        grants.append(
            UserGrant(
                ResourceType.GROUP,
                group_id,
                name,
                AccessPath.DIRECT if direct else AccessPath.NESTED,
                None if direct else via_id,
                None if direct else via_name,
                "",
            )
        )
    return grants


def _applications_of_user(user_id: int) -> list[UserGrant]:
    sql = f"""
        SELECT app.id, app.name, r.display_name, a.group_id, g.name
        FROM {T["app_assignment"]} a
        JOIN {T["app_role"]} r ON r.id = a.app_role_id
        JOIN {T["application"]} app ON app.id = r.application_id
        LEFT JOIN {T["group"]} g ON g.id = a.group_id
        WHERE a.user_id = %s
           OR a.group_id IN (SELECT m.group_id FROM {T["user_group"]} m WHERE m.user_id = %s)
        ORDER BY app.name, app.id, a.group_id IS NOT NULL, g.name, r.display_name"""
    merged: dict[int, UserGrant] = {}
    for app_id, app_name, role_name, group_id, group_name in _fetch(sql, [user_id, user_id]):
        known = merged.get(app_id)
        if known is None:
            path = AccessPath.DIRECT if group_id is None else AccessPath.VIA_GROUP
            merged[app_id] = UserGrant(
                ResourceType.APPLICATION, app_id, app_name, path, group_id, group_name, role_name
            )
        elif role_name not in known.detail.split(", "):
            merged[app_id] = UserGrant(
                **{**known.__dict__, "detail": f"{known.detail}, {role_name}"}
            )
    return list(merged.values())


def _roles_of_user(user_id: int) -> list[UserGrant]:
    sql = f"""
        SELECT role.id, role.name, ra.kind, ra.group_id, g.name
        FROM {T["role_assignment"]} ra
        JOIN {T["role"]} role ON role.id = ra.role_id
        LEFT JOIN {T["group"]} g ON g.id = ra.group_id
        WHERE ra.user_id = %s
           OR ra.group_id IN (SELECT m.group_id FROM {T["user_group"]} m WHERE m.user_id = %s)
        ORDER BY role.name, ra.kind, ra.group_id IS NOT NULL, g.name"""
    return [
        UserGrant(
            ResourceType.DIRECTORY_ROLE,
            role_id,
            name,
            AccessPath.DIRECT if group_id is None else AccessPath.VIA_GROUP,
            group_id,
            group_name,
            kind,
        )
        for role_id, name, kind, group_id, group_name in _fetch(sql, [user_id, user_id])
    ]


# --- Revoking direct grants --------------------------------------------------------------------

REQUEST_COLUMNS = ("ref", "resource_type", "resource_id", "principal_type", "principal_id")


# (resource_type, principal_type) -> SQL that is true when rev's direct grant exists, and the
# DELETE of those grants. `rev` is the GrantRevocation row; each is one statement over a batch.
# The DELETEs drive from the batch (`id IN (SELECT ... FROM rev JOIN grants)`): a correlated
# EXISTS per grant row would scan the batch once for every grant of the table.
def _delete(table: str, join: str) -> str:
    return (
        f"DELETE FROM {table} WHERE id IN (SELECT x.id FROM {T['revocation']} rev "
        f"{join} WHERE {{match}})"
    )


_APP_ROLE_JOIN = f"JOIN {T['app_role']} r ON r.application_id = rev.resource_id "
_DIRECT_GRANT = {
    (ResourceType.GROUP, PrincipalType.USER): (
        f"SELECT 1 FROM {T['user_group']} x WHERE x.group_id = rev.resource_id "
        "AND x.user_id = rev.principal_id",
        _delete(
            T["user_group"],
            f"JOIN {T['user_group']} x ON x.group_id = rev.resource_id "
            "AND x.user_id = rev.principal_id",
        ),
    ),
    (ResourceType.GROUP, PrincipalType.GROUP): (
        f"SELECT 1 FROM {T['nested']} x WHERE x.parent_id = rev.resource_id "
        "AND x.child_id = rev.principal_id",
        _delete(
            T["nested"],
            f"JOIN {T['nested']} x ON x.parent_id = rev.resource_id "
            "AND x.child_id = rev.principal_id",
        ),
    ),
    (ResourceType.APPLICATION, PrincipalType.USER): (
        f"SELECT 1 FROM {T['app_assignment']} x JOIN {T['app_role']} r ON r.id = x.app_role_id "
        "WHERE r.application_id = rev.resource_id AND x.user_id = rev.principal_id",
        _delete(
            T["app_assignment"],
            f"{_APP_ROLE_JOIN}JOIN {T['app_assignment']} x ON x.app_role_id = r.id "
            "AND x.user_id = rev.principal_id",
        ),
    ),
    (ResourceType.APPLICATION, PrincipalType.GROUP): (
        f"SELECT 1 FROM {T['app_assignment']} x JOIN {T['app_role']} r ON r.id = x.app_role_id "
        "WHERE r.application_id = rev.resource_id AND x.group_id = rev.principal_id",
        _delete(
            T["app_assignment"],
            f"{_APP_ROLE_JOIN}JOIN {T['app_assignment']} x ON x.app_role_id = r.id "
            "AND x.group_id = rev.principal_id",
        ),
    ),
    (ResourceType.DIRECTORY_ROLE, PrincipalType.USER): (
        f"SELECT 1 FROM {T['role_assignment']} x WHERE x.role_id = rev.resource_id "
        "AND x.user_id = rev.principal_id",
        _delete(
            T["role_assignment"],
            f"JOIN {T['role_assignment']} x ON x.role_id = rev.resource_id "
            "AND x.user_id = rev.principal_id",
        ),
    ),
    (ResourceType.DIRECTORY_ROLE, PrincipalType.GROUP): (
        f"SELECT 1 FROM {T['role_assignment']} x WHERE x.role_id = rev.resource_id "
        "AND x.group_id = rev.principal_id",
        _delete(
            T["role_assignment"],
            f"JOIN {T['role_assignment']} x ON x.role_id = rev.resource_id "
            "AND x.group_id = rev.principal_id",
        ),
    ),
}


def _kind(resource_type, principal_type) -> str:
    return f"rev.resource_type = '{resource_type}' AND rev.principal_type = '{principal_type}'"


def revocation_requests_add(batch, requests, *, actor_label: str = "") -> int:
    """Queue requests in a batch: an iterable of REQUEST_COLUMNS tuples, or a QuerySet whose
    SELECT yields exactly those columns in that order (then it is one INSERT ... SELECT)."""
    if hasattr(requests, "query"):
        select_sql, params = requests.query.sql_with_params()
        columns = ", ".join(REQUEST_COLUMNS)
        sql = f"""
            INSERT INTO {T["revocation"]}
                (batch, {columns}, result, reason, actor_label, requested_at)
            SELECT %s, q.*, %s, '', %s, %s FROM ({select_sql}) q"""
        with connection.cursor() as cursor:
            cursor.execute(
                sql, (_batch_value(batch), RevocationResult.PENDING, actor_label, _now(), *params)
            )
            return cursor.rowcount
    rows = [
        GrantRevocation(
            batch=batch, actor_label=actor_label, **dict(zip(REQUEST_COLUMNS, row, strict=True))
        )
        for row in requests
    ]
    GrantRevocation.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


REVOCATION_SOURCE = "directory.GrantRevocation"
DYNAMIC_REASON = "the group's membership is dynamic"
SYNCED_REASON = "the group is synced from on-premises"
REVOCATION_FIELDS = (
    "ref",
    "resource_type",
    "resource_id",
    "principal_type",
    "principal_id",
    "result",
    "reason",
)


@transaction.atomic
def revoke_grants(batch, actor=None) -> dict[str, int]:
    """Remove the direct grants a batch asks for; write each request's result. Idempotent.

    One audit event covers the batch, its digest taken over the batch's result rows.

    removed: the direct grant existed and is gone now. notSupported: the group is dynamic or
    synced, or the access is only through a nested group or a group assignment (the caller
    must change that group instead). alreadyGone: no access at all any more.
    """
    batch_value = _batch_value(batch)
    pending = f"rev.batch = %s AND rev.result = '{RevocationResult.PENDING}'"
    kinds = _batch_kinds(batch_value)
    grants = {key: sql for key, sql in _DIRECT_GRANT.items() if key in kinds}
    with connection.cursor() as cursor:
        if any(resource == ResourceType.GROUP for resource, _ in kinds):
            _mark_unmanaged_groups(cursor, pending, batch_value)
        if grants:
            cursor.execute(
                f"UPDATE {T['revocation']} SET result = %s WHERE id IN (SELECT rev.id FROM "
                f"{T['revocation']} rev WHERE {pending} AND ({_direct_exists(grants)}))",
                [RevocationResult.REMOVED, batch_value],
            )
    return _settle(batch, kinds, actor)


@transaction.atomic
def revoke_grants_from(batch, requests, actor=None, *, actor_label: str = "") -> dict[str, int]:
    """revocation_requests_add(batch, requests) then revoke_grants(batch), for a QuerySet of
    requests (REQUEST_COLUMNS), each request classified as it is inserted: one INSERT ...
    SELECT instead of an INSERT and then UPDATEs of every row. A new batch only."""
    select_sql, params = requests.query.sql_with_params()
    batch_value = _batch_value(batch)
    columns = ", ".join(REQUEST_COLUMNS)
    # A CTE names the caller's columns (SQLite has no column list on a derived table).
    sql = f"""
        WITH rev({columns}) AS ({select_sql})
        INSERT INTO {T["revocation"]}
            (batch, {columns}, result, reason, actor_label, requested_at)
        SELECT %s, {", ".join(f"rev.{c}" for c in REQUEST_COLUMNS)},
               CASE WHEN g.membership_type = %s OR g.source = %s THEN %s
                    WHEN {_direct_exists(_DIRECT_GRANT)} THEN %s ELSE %s END,
               CASE WHEN g.membership_type = %s THEN %s WHEN g.source = %s THEN %s ELSE '' END,
               %s, %s
        FROM rev
        LEFT JOIN {T["group"]} g
               ON rev.resource_type = '{ResourceType.GROUP}' AND g.id = rev.resource_id"""
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                *params,
                batch_value,
                MembershipType.DYNAMIC,
                GroupSource.ON_PREMISES,
                RevocationResult.NOT_SUPPORTED,
                RevocationResult.REMOVED,
                RevocationResult.PENDING,
                MembershipType.DYNAMIC,
                DYNAMIC_REASON,
                GroupSource.ON_PREMISES,
                SYNCED_REASON,
                actor_label,
                _now(),
            ],
        )
        if not cursor.rowcount:
            return dict.fromkeys(RevocationResult.values, 0)
    return _settle(batch, _batch_kinds(batch_value), actor)


def _now():
    """The portal's clock as a query parameter (not the database's CURRENT_TIMESTAMP, so that
    requested_at agrees with every other time the portal writes)."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _batch_value(batch):
    return batch.hex if connection.vendor == "sqlite" else batch


def _batch_kinds(batch_value) -> set[tuple[str, str]]:
    """The kinds of grant a batch holds: only their statements run (each is a pass over it)."""
    return {
        (ResourceType(r), PrincipalType(p))
        for r, p in _fetch(
            f"SELECT DISTINCT resource_type, principal_type FROM {T['revocation']} "
            "WHERE batch = %s",
            [batch_value],
        )
    }


def _direct_exists(grants: dict) -> str:
    return " OR ".join(
        f"({_kind(*key)} AND EXISTS ({exists}))" for key, (exists, _) in grants.items()
    )


def _settle(batch, kinds, actor) -> dict[str, int]:
    """The rest of a revocation: indirect access, already gone, the DELETEs, one audit event."""
    batch_value = _batch_value(batch)
    pending = f"rev.batch = %s AND rev.result = '{RevocationResult.PENDING}'"
    with connection.cursor() as cursor:
        _mark_indirect_access(cursor, pending, batch_value, kinds)
        cursor.execute(
            f"UPDATE {T['revocation']} SET result = %s "
            f"WHERE id IN (SELECT rev.id FROM {T['revocation']} rev WHERE {pending})",
            [RevocationResult.ALREADY_GONE, batch_value],
        )
        removed = f"rev.batch = %s AND rev.result = '{RevocationResult.REMOVED}'"
        for key, (_, delete_sql) in _DIRECT_GRANT.items():
            if key in kinds:
                cursor.execute(
                    delete_sql.format(match=f"{removed} AND {_kind(*key)}"), [batch_value]
                )
    counts = dict.fromkeys(RevocationResult.values, 0)
    for result, count in _fetch(
        f"SELECT result, COUNT(*) FROM {T['revocation']} WHERE batch = %s GROUP BY result",
        [batch_value],
    ):
        counts[result] = count
    if not AuditEvent.objects.filter(operation=batch).exists():
        audit.record(
            actor,
            "directory.grants_revoked",
            None,
            {"results": counts},
            operation=batch,
            source=REVOCATION_SOURCE,
        )
    return counts


def _mark_unmanaged_groups(cursor, pending: str, batch_value) -> None:
    for column, value, reason in (
        ("membership_type", MembershipType.DYNAMIC, DYNAMIC_REASON),
        ("source", GroupSource.ON_PREMISES, SYNCED_REASON),
    ):
        cursor.execute(
            f"UPDATE {T['revocation']} SET result = %s, reason = %s WHERE id IN ("
            f"SELECT rev.id FROM {T['revocation']} rev JOIN {T['group']} g "
            f"ON g.id = rev.resource_id WHERE {pending} "
            f"AND rev.resource_type = '{ResourceType.GROUP}' AND g.{column} = %s)",
            [RevocationResult.NOT_SUPPORTED, reason, batch_value, value],
        )


def _mark_indirect_access(cursor, pending: str, batch_value, kinds) -> None:
    """Pending requests whose principal still reaches the resource by another path."""
    nested_sql = f"""
        WITH RECURSIVE roots AS (
            SELECT DISTINCT rev.resource_id AS root_id FROM {T["revocation"]} rev
            WHERE {pending} AND rev.resource_type = '{ResourceType.GROUP}'
        ),
        sub(root_id, group_id, depth) AS (
            SELECT root_id, root_id, 0 FROM roots
            UNION
            SELECT s.root_id, n.child_id, s.depth + 1
            FROM {T["nested"]} n JOIN sub s ON n.parent_id = s.group_id
            WHERE s.depth < {MAX_NESTING_DEPTH}
        )
        SELECT rev.id FROM {T["revocation"]} rev
        JOIN sub s ON s.root_id = rev.resource_id AND s.depth > 0
        JOIN {T["user_group"]} m ON m.group_id = s.group_id AND m.user_id = rev.principal_id
        WHERE {pending} AND {_kind(ResourceType.GROUP, PrincipalType.USER)}"""
    via_group_sql = f"""
        SELECT rev.id FROM {T["revocation"]} rev
        JOIN {T["app_role"]} r ON r.application_id = rev.resource_id
        JOIN {T["app_assignment"]} a ON a.app_role_id = r.id AND a.group_id IS NOT NULL
        JOIN {T["user_group"]} m ON m.group_id = a.group_id AND m.user_id = rev.principal_id
        WHERE {pending} AND {_kind(ResourceType.APPLICATION, PrincipalType.USER)}"""
    for kind, select_sql, params, reason in (
        (
            (ResourceType.GROUP, PrincipalType.USER),
            nested_sql,
            [batch_value, batch_value],
            "access is through a nested group",
        ),
        (
            (ResourceType.APPLICATION, PrincipalType.USER),
            via_group_sql,
            [batch_value],
            "access is through a group assignment",
        ),
    ):
        if kind not in kinds:
            continue
        cursor.execute(
            f"UPDATE {T['revocation']} SET result = %s, reason = %s WHERE id IN ({select_sql})",
            [RevocationResult.NOT_SUPPORTED, reason, *params],
        )

"""Check every record against the rest of the file and the database before anything is written."""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import models

from directory.importer.records import AppSpec, Grant, GroupSpec, Ref, RoleSpec
from directory.importer.sql import rows_in
from directory.importer.values import APPLICATION_COLUMNS, GROUP_COLUMNS, USER_COLUMNS
from directory.models import (
    Application,
    AppRole,
    Group,
    MembershipType,
    PrincipalType,
    RoleAssignment,
    User,
)
from directory.models.applications import DEFAULT_APP_ROLE


class Checks:
    """ImportRun's checks: collect every problem, then raise them together.

    They read the snapshot ImportRun._load took, and set what the writes go by: file_users,
    file_groups, file_apps (external id -> spec, with existing and final filled in), file_roles
    and app_roles_now.
    """

    def validate(self) -> None:
        self._validate_users()
        self._validate_groups()
        self._validate_applications()
        self._validate_roles()
        self._check_lost_role_assignability()
        if self.prune and not self.doc.users:
            self.problems.add("--prune", "the file lists no users, so every user would be deleted")
        self.problems.raise_if_any()

    def _unique(self, specs: list, section: str) -> dict[str, Any]:
        """Index specs by external id, reporting every repeat."""
        index = {}
        for spec in specs:
            first = index.setdefault(spec.external_id, spec)
            if first is not spec:
                self.problems.add(
                    spec.place.of("external_id"),
                    f"duplicate {section} external id {spec.external_id!r} "
                    f"(also at {first.place.label})",
                )
        return index

    def _validate_users(self) -> None:
        self.file_users = self._unique(self.doc.users, "user")
        defaults = _defaults(User, USER_COLUMNS)
        for spec in self.file_users.values():
            spec.existing = self.user_by_ext.get(spec.external_id)
            base = dict(defaults)
            if spec.existing:
                base = {name: spec.existing[name] for name in USER_COLUMNS}
                # A deleted user the file lists is restored first, which enables the account.
                base["is_active"] = base["is_active"] or spec.existing["deleted_at"] is not None
            spec.final = {**base, **{k: v for k, v in spec.values.items() if k != "manager"}}
            if not spec.final["display_name"]:
                spec.final["display_name"] = spec.final["user_principal_name"].split("@")[0]
        for column, db_index in (
            ("user_principal_name", self.user_by_upn),
            ("email", self.user_by_email),
        ):
            self._check_unique_values(column, db_index)
        for spec in self.file_users.values():
            manager = spec.values.get("manager")
            if manager and manager.ext == spec.external_id:
                self.problems.add(manager.at, "a user cannot be their own manager")
            elif manager:
                self._check_user_ref(manager)

    def _check_unique_values(self, column: str, db_index: dict) -> None:
        """UPNs and emails: unique inside the file, and not held by a user the file leaves alone."""
        seen = {}
        for spec in self.file_users.values():
            key = spec.final[column].lower()
            if not key:
                continue
            first = seen.setdefault(key, spec)
            if first is not spec:
                self.problems.add(
                    spec.place.of(column),
                    f"duplicate {column} {spec.final[column]!r} (also at {first.place.label})",
                )
                continue
            holder = db_index.get(key)
            if (
                holder is None
                or holder is spec.existing
                or holder["external_id"] in self.file_users
            ):
                # A holder listed in the file gives the value up (else `seen` reported it).
                continue
            self.problems.add(
                spec.place.of(column),
                f"{spec.final[column]!r} belongs to another user, {_describe_user(holder)}",
            )

    def _check_user_ref(self, ref: Ref) -> bool:
        if ref.ext in self.file_users:
            return True
        row = self.user_by_ext.get(ref.ext)
        if row is None:
            self.problems.add(ref.at, f"unknown user external id {ref.ext!r}")
        elif row["deleted_at"] is not None:
            self.problems.add(
                ref.at, f"user {ref.ext!r} is deleted (list them in the file to restore them)"
            )
        elif self.prune:
            self.problems.add(
                ref.at, f"user {ref.ext!r} is not in the file, so --prune would delete them"
            )
        else:
            return True
        return False

    def _check_group_ref(self, ref: Ref) -> bool:
        if ref.ext in self.file_groups or ref.ext in self.group_by_ext:
            return True
        self.problems.add(ref.at, f"unknown group external id {ref.ext!r}")
        return False

    def _final_group(self, ext: str) -> dict:
        spec = self.file_groups.get(ext)
        return spec.final if spec else self.group_by_ext[ext]

    def _validate_groups(self) -> None:
        self.file_groups = self._unique(self.doc.groups, "group")
        defaults = _defaults(Group, GROUP_COLUMNS)
        for spec in self.file_groups.values():
            spec.existing = self.group_by_ext.get(spec.external_id)
            base = (
                {name: spec.existing[name] for name in GROUP_COLUMNS} if spec.existing else defaults
            )
            spec.final = {**base, **spec.values}
            if (
                spec.final["is_role_assignable"]
                and spec.final["membership_type"] == MembershipType.DYNAMIC
            ):
                self.problems.add(
                    spec.place.of("is_role_assignable"),
                    "a role-assignable group cannot have dynamic membership",
                )
        for spec in self.file_groups.values():
            for ref in spec.owners + spec.members:
                self._check_user_ref(ref)
            for ref in spec.member_groups:
                self._check_member_group(spec, ref)
        self._check_cycles()

    def _check_member_group(self, spec: GroupSpec, ref: Ref) -> None:
        if ref.ext == spec.external_id:
            self.problems.add(ref.at, "a group cannot be nested into itself")
        elif self._check_group_ref(ref) and spec.final["is_role_assignable"]:
            self.problems.add(
                ref.at,
                f"cannot nest a group into {spec.final['name']!r}: it is role-assignable, and "
                "role-assignable groups cannot contain groups",
            )

    def _group_key(self, group_id: int) -> str:
        return self.groups[group_id]["external_id"] or f"#{group_id}"

    def _check_cycles(self) -> None:
        """Refuse any cycle in the graph as it will be: the file's edges plus the rest's."""
        graph: dict[str, list[tuple[str, Ref | None]]] = defaultdict(list)
        for parent, child in self.nestings:
            if self._group_key(parent) not in self.file_groups:
                graph[self._group_key(parent)].append((self._group_key(child), None))
        for spec in self.file_groups.values():
            for ref in spec.member_groups:
                if ref.ext != spec.external_id:
                    graph[spec.external_id].append((ref.ext, ref))
        reported = set()
        for cycle, refs in _cycles(graph):
            if frozenset(cycle) in reported:
                continue
            reported.add(frozenset(cycle))
            at = next((ref.at for ref in reversed(refs) if ref), self.doc.groups[0].place.label)
            path = " > ".join(self._group_name(key) for key in cycle)
            self.problems.add(at, f"this nesting makes a cycle: {path}")

    def _group_name(self, key: str) -> str:
        if key.startswith("#"):
            return repr(self.groups[int(key[1:])]["name"])
        spec = self.file_groups.get(key)
        row = spec.final if spec else self.group_by_ext.get(key)
        return repr(row["name"]) if row else repr(key)

    def _validate_applications(self) -> None:
        self.file_apps = self._unique(self.doc.applications, "application")
        defaults = _defaults(Application, APPLICATION_COLUMNS)
        for spec in self.file_apps.values():
            spec.existing = self.app_by_ext.get(spec.external_id)
            base = {n: spec.existing[n] for n in APPLICATION_COLUMNS} if spec.existing else defaults
            spec.final = {**base, **spec.values}
        self.app_roles_now = defaultdict(dict)
        app_ids = [spec.existing["id"] for spec in self.file_apps.values() if spec.existing]
        fields = ("id", "application_id", "value", "display_name", "description")
        for row in rows_in(AppRole.objects, "application_id", app_ids, *fields):
            self.app_roles_now[row[1]][row[2]] = dict(zip(fields, row, strict=True))
        for spec in self.file_apps.values():
            self._validate_application(spec)

    def _validate_application(self, spec: AppSpec) -> None:
        for ref in spec.owners:
            self._check_user_ref(ref)
        known = {DEFAULT_APP_ROLE}
        if spec.existing:
            known |= set(self.app_roles_now[spec.existing["id"]])
        listed = {}
        for role in spec.app_roles:
            first = listed.setdefault(role.value, role)
            if first is not role:
                self.problems.add(
                    role.place.of("value"),
                    f"duplicate app role {role.value!r} (also at {first.place.label})",
                )
        known |= set(listed)
        for grant in spec.assignments:
            self._check_principal(grant)
            if grant.detail not in known:
                self.problems.add(
                    grant.place.of("role"),
                    f"unknown app role {grant.detail!r} of {spec.final['name']!r} "
                    f"(its roles: {', '.join(sorted(known))})",
                )
        for sign_in in spec.sign_ins:
            self._check_user_ref(sign_in.ref)

    def _check_principal(self, grant: Grant) -> bool:
        if grant.principal_type == PrincipalType.USER:
            return self._check_user_ref(grant.ref)
        return self._check_group_ref(grant.ref)

    def _validate_roles(self) -> None:
        self.file_roles: dict[int, tuple[dict, list[Grant]]] = {}
        for spec in self.doc.roles:
            role = self._resolve_role(spec)
            if role is None:
                continue
            self.file_roles.setdefault(role["id"], (role, []))[1].extend(spec.assignments)
            for grant in spec.assignments:
                if not self._check_principal(grant) or grant.principal_type != PrincipalType.GROUP:
                    continue
                group = self._final_group(grant.ref.ext)
                if not group["is_role_assignable"]:
                    self.problems.add(
                        grant.ref.at,
                        f"group {group['name']!r} is not role-assignable, so it cannot hold "
                        f"a directory role",
                    )

    def _resolve_role(self, spec: RoleSpec) -> dict | None:
        found = []
        for name, value in spec.keys:
            lowered = value.lower()
            columns = ("template_id", "name") if name == "role" else (name,)
            match = next((r for c in columns for r in self.roles if r[c].lower() == lowered), None)
            if match is None:
                self.problems.add(spec.place.of(name), f"unknown directory role {value!r}")
                return None
            found.append(match)
        if any(role is not found[0] for role in found):
            self.problems.add(spec.place.label, "name and template_id are different roles")
            return None
        return found[0]

    def _check_lost_role_assignability(self) -> None:
        """A group that stops being role-assignable must not keep a role the file leaves alone."""
        losing = {
            spec.existing["id"]: spec
            for spec in self.file_groups.values()
            if spec.existing
            and spec.existing["is_role_assignable"]
            and not spec.final["is_role_assignable"]
        }
        held = rows_in(
            RoleAssignment.objects, "group_id", losing, "group_id", "role_id", "role__name"
        )
        for group_id, role_id, role_name in held:
            if role_id not in self.file_roles:
                self.problems.add(
                    losing[group_id].place.of("is_role_assignable"),
                    f"the group holds the directory role {role_name!r}: list that role in the "
                    "file without this group, or keep the group role-assignable",
                )


def _defaults(model: type[models.Model], names: Iterable[str]) -> dict[str, Any]:
    return {name: model._meta.get_field(name).get_default() for name in names}


def _describe_user(row: dict) -> str:
    ext = f"external id {row['external_id']!r}" if row["external_id"] else "no external id"
    deleted = ", deleted" if row["deleted_at"] else ""
    return f"{row['user_principal_name']} ({ext}{deleted})"


def _cycles(graph: dict[str, list[tuple[str, Any]]]) -> Iterator[tuple[list[str], list]]:
    """Yield (path from a node back to itself, the refs of its edges) for each back edge."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in list(graph):
        if start in state:
            continue
        path, refs, stack = [start], [None], [iter(graph.get(start, ()))]
        state[start] = 1
        while stack:
            step = next(stack[-1], None)
            if step is None:
                state[path.pop()] = 2
                refs.pop()
                stack.pop()
                continue
            child, ref = step
            if state.get(child) == 1:
                at = path.index(child)
                yield path[at:] + [child], refs[at + 1 :] + [ref]
            elif child not in state:
                state[child] = 1
                path.append(child)
                refs.append(ref)
                stack.append(iter(graph.get(child, ())))

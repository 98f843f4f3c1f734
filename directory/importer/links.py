"""Make the owners, members, nesting and assignments of what the file lists exactly the file's."""

import datetime
from collections.abc import Callable

from directory.importer.records import Grant
from directory.importer.sql import bulk_set, delete_ids, insert, rows_in
from directory.models import (
    ApplicationOwner,
    ApplicationSignIn,
    AppRoleAssignment,
    GroupMembership,
    GroupOwner,
    NestedGroup,
    PrincipalType,
    ResourceType,
    RoleAssignment,
)


class Links:
    """ImportRun's link writes: diff each listed resource's rows against the file's, and sign-ins.

    Grants they add go to new_grants, which AuditEvents checks against past revocations.
    """

    def _sync(
        self, key: str, model, now: dict[tuple, int], wanted: set[tuple], build
    ) -> tuple[set, set]:
        """Make a link table hold exactly `wanted` for the resources read into `now`."""
        added, removed = wanted - now.keys(), now.keys() - wanted
        insert(model, [build(k) for k in sorted(added)])
        delete_ids(model, (now[k] for k in removed))
        self.counts[key].update(added=len(added), removed=len(removed))
        return added, removed

    def _existing_ids(self, specs: dict, kind: str) -> list[int]:
        ids = self.group_ids if kind == "group" else self.app_ids
        return [ids[ext] for ext, spec in specs.items() if spec.existing]

    def _sync_group_links(self) -> None:
        groups = {self.group_ids[ext]: spec for ext, spec in self.file_groups.items()}
        existing = self._existing_ids(self.file_groups, "group")
        for key, model, attr, action in (
            ("group_owners", GroupOwner, "owners", "group.owners_removed_by_import"),
            ("group_members", GroupMembership, "members", "group.members_removed_by_import"),
        ):
            rows = rows_in(model.objects, "group_id", existing, "id", "group_id", "user_id")
            now = {(group, user): pk for pk, group, user in rows}
            wanted = {
                (g, self.user_ids[r.ext]) for g, s in groups.items() for r in getattr(s, attr)
            }
            added, removed = self._sync(key, model, now, wanted, _pair("group_id", "user_id"))
            self._audit_removals(action, removed, lambda k: ("group", k[0]), self._user_label)
            if model is GroupMembership:
                self.new_grants |= {
                    (ResourceType.GROUP, g, PrincipalType.USER, u) for g, u in added
                }
        now = {k: pk for k, pk in self.nestings.items() if k[0] in groups}
        wanted = {(g, self.group_ids[r.ext]) for g, s in groups.items() for r in s.member_groups}
        build = _pair("parent_id", "child_id")
        added, removed = self._sync("nested_groups", NestedGroup, now, wanted, build)
        action = "group.member_groups_removed_by_import"
        self._audit_removals(
            action, removed, lambda k: ("group", k[0]), lambda k: self._label("group", k[1])
        )
        self.new_grants |= {(ResourceType.GROUP, p, PrincipalType.GROUP, c) for p, c in added}

    def _principal_id(self, grant: Grant) -> int:
        ids = self.user_ids if grant.principal_type == PrincipalType.USER else self.group_ids
        return ids[grant.ref.ext]

    def _sync_application_links(self) -> None:
        apps = {self.app_ids[ext]: spec for ext, spec in self.file_apps.items()}
        existing = self._existing_ids(self.file_apps, "application")
        rows = rows_in(
            ApplicationOwner.objects, "application_id", existing, "id", "application_id", "user_id"
        )
        now = {(app, user): pk for pk, app, user in rows}
        wanted = {(a, self.user_ids[r.ext]) for a, s in apps.items() for r in s.owners}
        build = _pair("application_id", "user_id")
        _, removed = self._sync("application_owners", ApplicationOwner, now, wanted, build)
        action = "application.owners_removed_by_import"
        self._audit_removals(action, removed, lambda k: ("application", k[0]), self._user_label)
        fields = ("id", "app_role_id", "user_id", "group_id")
        rows = rows_in(AppRoleAssignment.objects, "app_role__application_id", existing, *fields)
        now = {_grant_key(role, user, group): pk for pk, role, user, group in rows}
        wanted = {
            (self.app_role_ids[(a, g.detail)], g.principal_type, self._principal_id(g))
            for a, s in apps.items()
            for g in s.assignments
        }
        added, removed = self._sync(
            "app_role_assignments", AppRoleAssignment, now, wanted, _build_app_assignment
        )
        action = "application.assignments_removed_by_import"
        self._audit_removals(
            action,
            removed,
            lambda k: ("application", self.app_role_of[k[0]][0]),
            self._app_grant_label,
        )
        before = {(self.app_role_of[k[0]][0], k[1], k[2]) for k in now}
        for role_id, principal_type, principal_id in added:
            pair = (self.app_role_of[role_id][0], principal_type, principal_id)
            if pair not in before:
                self.new_grants.add((ResourceType.APPLICATION, *pair))

    def _sync_role_assignments(self) -> None:
        fields = ("id", "role_id", "kind", "user_id", "group_id")
        rows = rows_in(RoleAssignment.objects, "role_id", self.file_roles, *fields)
        now = {
            (role, kind, *_grant_key(None, user, group)[1:]): pk
            for pk, role, kind, user, group in rows
        }
        wanted = {
            (role_id, g.detail, g.principal_type, self._principal_id(g))
            for role_id, (_, grants) in self.file_roles.items()
            for g in grants
        }
        added, removed = self._sync(
            "role_assignments", RoleAssignment, now, wanted, _build_role_assignment
        )
        action = "role.assignments_removed_by_import"
        self._audit_removals(
            action, removed, lambda k: ("directoryrole", k[0]), self._role_grant_label
        )
        before = {(k[0], k[2], k[3]) for k in now}
        for role_id, _, principal_type, principal_id in added:
            if (role_id, principal_type, principal_id) not in before:
                self.new_grants.add(
                    (ResourceType.DIRECTORY_ROLE, role_id, principal_type, principal_id)
                )

    def _sync_sign_ins(self) -> None:
        existing = self._existing_ids(self.file_apps, "application")
        fields = ("id", "application_id", "user_id", "last_sign_in_at")
        rows = rows_in(ApplicationSignIn.objects, "application_id", existing, *fields)
        now = {(app, user): (pk, at) for pk, app, user, at in rows}
        wanted: dict[tuple[int, int], datetime.datetime] = {}
        for ext, spec in self.file_apps.items():
            for sign_in in spec.sign_ins:
                key = (self.app_ids[ext], self.user_ids[sign_in.ref.ext])
                # Several rows for one user: the last sign-in is the latest of them.
                wanted[key] = max(wanted.get(key, sign_in.at), sign_in.at)
        created = [
            {"application_id": app, "user_id": user, "last_sign_in_at": at}
            for (app, user), at in sorted(wanted.items())
            if (app, user) not in now
        ]
        insert(ApplicationSignIn, created)
        changed = [(now[k][0], at) for k, at in wanted.items() if k in now and now[k][1] != at]
        bulk_set(ApplicationSignIn, ["last_sign_in_at"], changed)
        self.counts["application_sign_ins"].update(created=len(created), updated=len(changed))


def _grant_key(role_id, user_id, group_id) -> tuple:
    if user_id is not None:
        return role_id, PrincipalType.USER.value, user_id
    return role_id, PrincipalType.GROUP.value, group_id


def _pair(first: str, second: str) -> Callable[[tuple], dict]:
    return lambda key: {first: key[0], second: key[1]}


def _build_app_assignment(key: tuple) -> dict:
    role_id, principal_type, principal_id = key
    principal = "user_id" if principal_type == PrincipalType.USER else "group_id"
    return {"app_role_id": role_id, principal: principal_id}


def _build_role_assignment(key: tuple) -> dict:
    role_id, kind, principal_type, principal_id = key
    principal = "user_id" if principal_type == PrincipalType.USER else "group_id"
    return {"role_id": role_id, "kind": kind, principal: principal_id}

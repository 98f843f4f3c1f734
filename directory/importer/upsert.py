"""Create and update users, groups, applications and app roles by external id; prune users."""

import base64
import secrets
import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db import models

from directory import audit, services
from directory.importer.records import UserSpec
from directory.importer.sql import (
    IN_CHUNK,
    allocate_ids,
    bulk_set,
    chunks,
    ids_by_external_id,
    insert,
    rows_in,
)
from directory.importer.values import (
    APP_ROLE_FIELDS,
    APPLICATION_COLUMNS,
    GROUP_COLUMNS,
    USER_COLUMNS,
)
from directory.models import Application, AppRole, Group, User
from directory.models.applications import DEFAULT_APP_ROLE

DEFAULT_APP_ROLE_NAME = "Default Access"


class Upserts:
    """ImportRun's writes of the objects the file lists, before any link that names them.

    They set the ids the links go by: user_ids, group_ids, app_ids (external id -> id),
    app_role_ids ((application id, value) -> id) and app_role_of (its inverse).
    """

    def _apply_users(self) -> None:
        specs = list(self.file_users.values())
        self._restore([spec for spec in specs if spec.existing and spec.existing["deleted_at"]])
        changes = _changes(specs, USER_COLUMNS)
        self._free_unique_values([spec for batch in changes.values() for spec in batch])
        _update(User, changes)
        self._cancel_enabled_deletions()
        new = [spec for spec in specs if not spec.existing]
        ids = allocate_ids(User, len(new))
        self.user_ids = {ext: row["id"] for ext, row in self.user_by_ext.items()}
        self.user_ids.update(zip((spec.external_id for spec in new), ids, strict=False))
        passwords = _unusable_passwords(len(new))
        insert(User, [self._new_user(spec, pw) for spec, pw in zip(new, passwords, strict=True)])
        if not ids:
            self.user_ids = ids_by_external_id(User)
        updated = {spec.external_id for batch in changes.values() for spec in batch}
        updated |= self._apply_managers(specs, managers_inserted=bool(ids))
        self.counts["users"].update(created=len(new), updated=len(updated))

    def _new_user(self, spec: UserSpec, password: str) -> dict:
        row = {"external_id": spec.external_id, "password": password, **spec.final}
        if spec.external_id in self.user_ids:
            # Ids allocated up front: the row can name its manager, even a new one.
            manager = spec.values.get("manager")
            row["id"] = self.user_ids[spec.external_id]
            row["manager_id"] = self.user_ids[manager.ext] if manager else None
        return row

    def _restore(self, specs: list[UserSpec]) -> None:
        by_id = {spec.existing["id"]: spec for spec in specs}
        for chunk in chunks(sorted(by_id), IN_CHUNK):
            for user in User.objects.filter(id__in=chunk).order_by("id"):
                services.user_restore(self.actor, user)
                by_id[user.pk].existing.update(deleted_at=None, is_active=True)
        self.counts["users"]["restored"] = len(by_id)

    def _cancel_enabled_deletions(self) -> None:
        """An account the file enables again keeps living: one UPDATE clears the scheduled
        deletion of every enabled account (blocking always disables)."""
        enabled = User.objects.filter(is_active=True, deletion_scheduled_at__isnull=False)
        cancelled = enabled.update(deletion_scheduled_at=None)
        if cancelled:
            audit.record(self.actor, "user.deletion_cancelled", None, {"count": cancelled})

    def _free_unique_values(self, changed: list[UserSpec]) -> None:
        """Move aside UPNs and emails that another user in this import takes (a swap or chain).

        The unique indexes are checked row by row, so without this the UPDATE could fail halfway.
        """
        for column, placeholder in (
            ("user_principal_name", lambda pk: f"import-{pk}-{uuid.uuid4().hex}@invalid"),
            ("email", lambda pk: ""),
        ):
            wanted = {
                spec.final[column].lower(): spec
                for spec in changed
                if spec.final[column]
                and spec.final[column].lower() != spec.existing[column].lower()
            }
            holders = [
                spec.existing["id"]
                for spec in changed
                if spec.existing[column]
                and wanted.get(spec.existing[column].lower(), spec) is not spec
            ]
            bulk_set(User, [column], [(pk, placeholder(pk)) for pk in holders])

    def _apply_managers(self, specs: list[UserSpec], *, managers_inserted: bool) -> set[str]:
        rows, updated = [], set()
        for spec in specs:
            if "manager" not in spec.values or (managers_inserted and not spec.existing):
                continue
            ref = spec.values["manager"]
            target = self.user_ids[ref.ext] if ref else None
            if target != (spec.existing["manager_id"] if spec.existing else None):
                rows.append((self.user_ids[spec.external_id], target))
                if spec.existing:
                    updated.add(spec.external_id)
        bulk_set(User, ["manager"], rows)
        return updated

    def _prune(self) -> None:
        doomed = [
            row["id"]
            for ext, row in self.user_by_ext.items()
            if ext not in self.file_users and row["deleted_at"] is None
        ]
        for chunk in chunks(doomed, IN_CHUNK):
            for user in User.objects.filter(id__in=chunk).order_by("id"):
                services.user_tombstone(self.actor, user)
        self.counts["users"]["tombstoned"] = len(doomed)

    def _upsert(self, model, specs: list, columns: list[str], count_key: str) -> dict[str, int]:
        """Update changed rows and create new ones; return every external id -> id."""
        changes = _changes(specs, columns)
        _update(model, changes)
        new = [{"external_id": s.external_id, **s.final} for s in specs if not s.existing]
        insert(model, new)
        updated = sum(len(batch) for batch in changes.values())
        self.counts[count_key].update(created=len(new), updated=updated)
        return ids_by_external_id(model)

    def _apply_groups(self) -> None:
        specs = list(self.file_groups.values())
        self.group_ids = self._upsert(Group, specs, GROUP_COLUMNS, "groups")

    def _apply_applications(self) -> None:
        specs = list(self.file_apps.values())
        self.app_ids = self._upsert(Application, specs, APPLICATION_COLUMNS, "applications")

    def _apply_app_roles(self) -> None:
        created, changed = [], []
        for spec in self.file_apps.values():
            app_id = self.app_ids[spec.external_id]
            now = self.app_roles_now[app_id]
            wanted = {role.value: role.values for role in spec.app_roles}
            wanted.setdefault(DEFAULT_APP_ROLE, {})
            for value, values in wanted.items():
                row = now.get(value)
                fallback = DEFAULT_APP_ROLE_NAME if value == DEFAULT_APP_ROLE else value
                base = row or {"display_name": fallback, "description": ""}
                final = {**{k: base[k] for k in APP_ROLE_FIELDS}, **values}
                final["display_name"] = final["display_name"] or fallback
                if row is None:
                    created.append({"application_id": app_id, "value": value, **final})
                elif any(final[k] != row[k] for k in APP_ROLE_FIELDS):
                    changed.append((row["id"], *(final[k] for k in APP_ROLE_FIELDS)))
        insert(AppRole, created)
        bulk_set(AppRole, list(APP_ROLE_FIELDS), changed)
        self.counts["app_roles"].update(created=len(created), updated=len(changed))
        app_ids = [self.app_ids[ext] for ext in self.file_apps]
        fields = ("id", "application_id", "value")
        rows = rows_in(AppRole.objects, "application_id", app_ids, *fields)
        self.app_role_ids = {(app_id, value): pk for pk, app_id, value in rows}
        self.app_role_of = {pk: key for key, pk in self.app_role_ids.items()}


def _changes(specs: Iterable, columns: list[str]) -> dict[tuple[str, ...], list]:
    """Group the existing rows whose values change by which fields change."""
    by_fields = defaultdict(list)
    for spec in specs:
        if spec.existing:
            changed = tuple(n for n in columns if spec.final[n] != spec.existing[n])
            if changed:
                by_fields[changed].append(spec)
    return by_fields


def _update(model: type[models.Model], changes: dict[tuple[str, ...], list]) -> None:
    """One UPDATE per changed field set (a sync mostly changes the same one or two fields)."""
    for names, specs in changes.items():
        rows = [(s.existing["id"], *(s.final[n] for n in names)) for s in specs]
        bulk_set(model, list(names), rows)


def _unusable_passwords(count: int) -> list[str]:
    """What make_password(None) stores, "!" and 40 random characters, for many users at once."""
    block = secrets.token_bytes(30 * count)
    return [
        "!" + base64.urlsafe_b64encode(block[i : i + 30]).decode() for i in range(0, 30 * count, 30)
    ]

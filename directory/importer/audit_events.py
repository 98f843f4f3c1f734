"""Audit what the import removed; flag and audit the revoked grants it brought back."""

from collections import defaultdict

from django.utils import timezone

from directory import audit
from directory.importer.sql import IN_CHUNK, chunks, rows_in
from directory.models import (
    Application,
    DirectoryRole,
    GrantRevocation,
    Group,
    PrincipalType,
    ResourceType,
    RevocationResult,
    User,
)

# Removal audit events list at most this many principals (the count is always exact).
AUDIT_LIST_CAP = 100


class AuditEvents:
    """ImportRun's audit events, naming each object as it is after the import."""

    def _label(self, kind: str, pk: int) -> str:
        return self._ref(kind, pk)[1]

    def _ref(self, kind: str, pk: int) -> tuple[str, str]:
        """(uuid, label) of a user, group, application or directory role, as it is now."""
        key = (kind, pk)
        if key not in self.refs:
            self.refs[key] = self._read_ref(kind, pk)
        return self.refs[key]

    def _read_ref(self, kind: str, pk: int) -> tuple[str, str]:
        snapshot, files, label = {
            "user": (self.users, self.file_users, "user_principal_name"),
            "group": (self.groups, self.file_groups, "name"),
        }.get(kind, ({}, {}, "name"))
        row = snapshot.get(pk)
        if row is None:
            model = {"user": User, "group": Group, "application": Application}.get(kind)
            uuid_, name = (model or DirectoryRole).objects.values_list("uuid", label).get(pk=pk)
            return str(uuid_), name
        spec = files.get(row["external_id"]) if row["external_id"] else None
        return str(row["uuid"]), (spec.final if spec else row)[label]

    def _object(self, kind: str, pk: int) -> tuple[str, str, str]:
        uuid_, label = self._ref(kind, pk)
        return kind, uuid_, label[:300]

    def _user_label(self, key: tuple) -> str:
        return self._label("user", key[1])

    def _principal_label(self, principal_type: str, pk: int) -> str:
        if principal_type == PrincipalType.USER:
            return self._label("user", pk)
        return f"group {self._label('group', pk)}"

    def _app_grant_label(self, key: tuple) -> str:
        role_value = self.app_role_of[key[0]][1]
        return f"{self._principal_label(key[1], key[2])} as {role_value}"

    def _role_grant_label(self, key: tuple) -> str:
        return f"{self._principal_label(key[2], key[3])} ({key[1]})"

    def _audit_removals(self, action: str, removed: set, resource_of, label_of) -> None:
        """One event per resource listing who lost what (capped; the count is exact)."""
        by_resource = defaultdict(list)
        for key in removed:
            by_resource[resource_of(key)].append(label_of(key))
        for (kind, pk), labels in sorted(by_resource.items()):
            labels.sort()
            details = {
                "file": self.actor.removeprefix("import:"),
                "count": len(labels),
                "removed": labels[:AUDIT_LIST_CAP],
                "truncated": len(labels) > AUDIT_LIST_CAP,
            }
            audit.record(self.actor, action, self._object(kind, pk), details)

    def _flag_restored_grants(self) -> None:
        """Grants a review revoked that the file brings back: re-created, and flagged."""
        hits = defaultdict(list)
        by_type = defaultdict(set)
        for resource_type, resource_id, _, _ in self.new_grants:
            by_type[resource_type].add(resource_id)
        fields = ("id", "resource_id", "principal_type", "principal_id", "batch", "requested_at")
        for resource_type, ids in by_type.items():
            live = GrantRevocation.objects.filter(
                result=RevocationResult.REMOVED,
                restored_at__isnull=True,
                resource_type=resource_type,
            )
            for row in rows_in(live, "resource_id", ids, *fields):
                key = (resource_type, row[1], row[2], row[3])
                if key in self.new_grants:
                    hits[key].append(row)
        now = timezone.now()
        for chunk in chunks(sorted(row[0] for rows in hits.values() for row in rows), IN_CHUNK):
            GrantRevocation.objects.filter(id__in=chunk).update(restored_at=now)
        for key in sorted(hits):
            self._audit_restored(key, hits[key])
        self.counts["revoked_grants"]["restored"] = len(hits)

    def _audit_restored(self, key: tuple, rows: list[tuple]) -> None:
        resource_type, resource_id, principal_type, principal_id = key
        kind = RESOURCE_KINDS[resource_type]
        latest = max(rows, key=lambda row: (row[5], row[0]))
        principal_uuid, principal_label = self._ref(principal_type, principal_id)
        details = {
            "file": self.actor.removeprefix("import:"),
            "resource_type": resource_type,
            "resource": self._ref(kind, resource_id)[0],
            "resource_name": self._label(kind, resource_id),
            "principal_type": principal_type,
            "principal": principal_uuid,
            "principal_label": principal_label,
            "batch": str(latest[4]),
            "revoked_at": latest[5],
            "revocations": len(rows),
        }
        audit.record(
            self.actor, "directory.revoked_grant_restored", self._object(kind, resource_id), details
        )


RESOURCE_KINDS = {
    ResourceType.GROUP: "group",
    ResourceType.APPLICATION: "application",
    ResourceType.DIRECTORY_ROLE: "directoryrole",
}

"""One import run: the database as read under the lock, then the checks and the writes."""

from directory.importer.audit_events import AuditEvents
from directory.importer.checks import Checks
from directory.importer.links import Links
from directory.importer.records import Document
from directory.importer.result import COUNTS
from directory.importer.upsert import Upserts
from directory.importer.values import APPLICATION_COLUMNS, GROUP_COLUMNS, USER_COLUMNS
from directory.models import Application, DirectoryRole, Group, NestedGroup, User


class ImportRun(Checks, Upserts, Links, AuditEvents):
    """One import: the database as read under the lock; the steps live in the mixins."""

    def __init__(self, doc: Document, *, actor: str, prune: bool):
        self.doc, self.actor, self.prune = doc, actor, prune
        self.problems = doc.problems
        self.counts = {key: dict.fromkeys(verbs, 0) for key, _, verbs in COUNTS}
        self.new_grants: set[tuple[str, int, str, int]] = set()
        # (kind, id) -> (uuid, label) of what audit events name, as it is after the import.
        self.refs: dict[tuple[str, int], tuple[str, str]] = {}
        self._load()

    def _load(self) -> None:
        users = User.objects.values(
            "id", "uuid", "external_id", "deleted_at", "manager_id", *USER_COLUMNS
        )
        self.users = {row["id"]: row for row in users}
        self.user_by_ext = {
            row["external_id"]: row for row in self.users.values() if row["external_id"]
        }
        self.user_by_upn = {row["user_principal_name"].lower(): row for row in self.users.values()}
        self.user_by_email = {
            row["email"].lower(): row for row in self.users.values() if row["email"]
        }
        groups = Group.objects.values("id", "uuid", "external_id", *GROUP_COLUMNS)
        self.groups = {row["id"]: row for row in groups}
        self.group_by_ext = {
            row["external_id"]: row for row in self.groups.values() if row["external_id"]
        }
        self.nestings = {
            (parent, child): pk
            for pk, parent, child in NestedGroup.objects.values_list("id", "parent_id", "child_id")
        }
        apps = Application.objects.exclude(external_id="").values(
            "id", "uuid", "external_id", *APPLICATION_COLUMNS
        )
        self.app_by_ext = {row["external_id"]: row for row in apps}
        self.roles = list(DirectoryRole.objects.values("id", "uuid", "name", "template_id"))

    def apply(self) -> None:
        self._apply_users()
        if self.prune:
            self._prune()
        self._apply_groups()
        self._apply_applications()
        self._apply_app_roles()
        self._sync_group_links()
        self._sync_application_links()
        self._sync_role_assignments()
        self._sync_sign_ins()
        self._flag_restored_grants()

"""What an import changed, counted per kind, and the report the command prints."""

from dataclasses import dataclass

COUNTS = (
    ("users", "users", ("created", "updated", "restored", "tombstoned")),
    ("groups", "groups", ("created", "updated")),
    ("group_owners", "group owners", ("added", "removed")),
    ("group_members", "group members", ("added", "removed")),
    ("nested_groups", "nested groups", ("added", "removed")),
    ("applications", "applications", ("created", "updated")),
    ("app_roles", "app roles", ("created", "updated")),
    ("application_owners", "application owners", ("added", "removed")),
    ("app_role_assignments", "app role assignments", ("added", "removed")),
    ("application_sign_ins", "application sign-ins", ("created", "updated")),
    ("role_assignments", "directory role assignments", ("added", "removed")),
    ("revoked_grants", "revoked grants brought back", ("restored",)),
)


@dataclass
class ImportResult:
    source: str
    counts: dict[str, dict[str, int]]
    dry_run: bool = False

    def report_lines(self) -> list[str]:
        lines = []
        for key, label, verbs in COUNTS:
            done = ", ".join(f"{self.counts[key][verb]} {verb}" for verb in verbs)
            lines.append(f"{label}: {done}")
        if self.counts["revoked_grants"]["restored"]:
            lines.append(
                "Some grants a review had removed came back from the source system: see the "
                "directory.revoked_grant_restored events in the audit log."
            )
        if self.dry_run:
            lines.append("Dry run: nothing was written.")
        return lines

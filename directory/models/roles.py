import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from directory.models.counting import count_of


class BuiltinRole(models.TextChoices):
    """Entra's built-in directory roles the portal knows, keyed by their role template id."""

    GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10", "Global Administrator"
    PRIVILEGED_ROLE_ADMINISTRATOR = (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    )
    USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"
    IDENTITY_GOVERNANCE_ADMINISTRATOR = (
        "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e",
        "Identity Governance Administrator",
    )
    GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"
    SECURITY_READER = "5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader"
    SECURITY_ADMINISTRATOR = "194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"
    APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"
    GROUPS_ADMINISTRATOR = "fdd7a751-b60b-444a-984c-02652fe8fa1c", "Groups Administrator"
    HELPDESK_ADMINISTRATOR = "729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"


class DirectoryRoleQuerySet(models.QuerySet):
    def with_counts(self):
        """active_count and eligible_count, in the same query."""
        return self.annotate(
            active_count=count_of(RoleAssignment, "role", kind=RoleAssignmentKind.ACTIVE),
            eligible_count=count_of(RoleAssignment, "role", kind=RoleAssignmentKind.ELIGIBLE),
        )


class DirectoryRole(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True)
    template_id = models.CharField(
        max_length=36, unique=True, help_text="Entra's role template id (stable across tenants)."
    )
    is_privileged = models.BooleanField(default=False)

    objects = DirectoryRoleQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RoleAssignmentKind(models.TextChoices):
    ACTIVE = "active", "Active"
    ELIGIBLE = "eligible", "Eligible"


class RoleAssignment(models.Model):
    """A directory role held by a user, or by a role-assignable group (as one principal)."""

    role = models.ForeignKey(
        DirectoryRole, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    user = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    group = models.ForeignKey(
        "directory.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(
        max_length=10, choices=RoleAssignmentKind, default=RoleAssignmentKind.ACTIVE
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="role_assignment_one_principal",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=RoleAssignmentKind.values), name="role_assignment_kind_valid"
            ),
            models.UniqueConstraint(
                fields=["role", "user", "kind"],
                condition=Q(user__isnull=False),
                name="role_assignment_user_unique",
            ),
            models.UniqueConstraint(
                fields=["role", "group", "kind"],
                condition=Q(group__isnull=False),
                name="role_assignment_group_unique",
            ),
        ]
        indexes = [
            # Capabilities: "which active roles does this user hold" on every request.
            models.Index(fields=["user", "kind"], name="role_assignment_user_idx"),
        ]

    def __str__(self):
        return f"{self.user or self.group}: {self.role} ({self.kind})"

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from directory.models.counting import count_of

DEFAULT_APP_ROLE = "default"


class ApplicationQuerySet(models.QuerySet):
    def search(self, text: str):
        text = text.strip()
        return self.filter(name__icontains=text) if text else self

    def with_counts(self):
        """role_count, assignment_count and owner_count, in the same query."""
        return self.annotate(
            role_count=count_of(AppRole, "application"),
            assignment_count=count_of(AppRoleAssignment, "app_role__application"),
            owner_count=count_of(ApplicationOwner, "application"),
        )


class Application(models.Model):
    """An enterprise application (service principal) that users are assigned to."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    assignment_required = models.BooleanField(
        default=True,
        help_text="Only assigned users may sign in; only such applications can be reviewed.",
    )
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    owners = models.ManyToManyField(
        "directory.User", through="ApplicationOwner", related_name="owned_applications", blank=True
    )

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""), name="app_external_id_unique"
            ),
        ]
        indexes = [models.Index(Lower("name"), "id", name="app_name_sort_idx")]

    def __str__(self):
        return self.name


class ApplicationOwner(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, db_index=False)
    user = models.ForeignKey("directory.User", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["application", "user"], name="app_owner_unique"),
        ]

    def __str__(self):
        return f"{self.user} owns {self.application}"


class AppRole(models.Model):
    """A role an application defines; every application has the 'default' access role."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="app_roles", db_index=False
    )
    value = models.SlugField(max_length=100)
    display_name = models.CharField(max_length=256)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["application_id", "value"]
        constraints = [
            models.UniqueConstraint(fields=["application", "value"], name="app_role_unique"),
        ]

    def __str__(self):
        return f"{self.application}: {self.display_name}"


class AppRoleAssignment(models.Model):
    """An app role granted to a user, or to a group (whose direct members then hold it)."""

    app_role = models.ForeignKey(
        AppRole, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    user = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    group = models.ForeignKey(
        "directory.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="app_assignment_one_principal",
            ),
            models.UniqueConstraint(
                fields=["app_role", "user"],
                condition=Q(user__isnull=False),
                name="app_assignment_user_unique",
            ),
            models.UniqueConstraint(
                fields=["app_role", "group"],
                condition=Q(group__isnull=False),
                name="app_assignment_group_unique",
            ),
        ]

    def __str__(self):
        return f"{self.user or self.group} as {self.app_role}"


class ApplicationSignIn(models.Model):
    """A user's last sign-in to one application (feeds review recommendations)."""

    user = models.ForeignKey("directory.User", on_delete=models.PROTECT, related_name="+")
    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    last_sign_in_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Leads with application: recommendations look up one application's sign-ins.
            models.UniqueConstraint(fields=["application", "user"], name="app_sign_in_unique"),
        ]

    def __str__(self):
        return f"{self.user} last signed in to {self.application} at {self.last_sign_in_at}"

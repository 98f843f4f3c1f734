import uuid

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from directory.models.counting import count_of


class GroupKind(models.TextChoices):
    SECURITY = "security", "Security"
    MICROSOFT_365 = "microsoft365", "Microsoft 365"


class MembershipType(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    DYNAMIC = "dynamic", "Dynamic"


class GroupSource(models.TextChoices):
    CLOUD = "cloud", "Cloud"
    ON_PREMISES = "onPremises", "Synced from on-premises"


class GroupQuerySet(models.QuerySet):
    def search(self, text: str):
        text = text.strip()
        return self.filter(name__icontains=text) if text else self

    def with_counts(self):
        """member_count, nested_count and owner_count, in the same query."""
        return self.annotate(
            member_count=count_of(GroupMembership, "group"),
            nested_count=count_of(NestedGroup, "parent"),
            owner_count=count_of(GroupOwner, "group"),
        )


class Group(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=GroupKind, default=GroupKind.SECURITY)
    membership_type = models.CharField(
        max_length=20, choices=MembershipType, default=MembershipType.ASSIGNED
    )
    source = models.CharField(max_length=20, choices=GroupSource, default=GroupSource.CLOUD)
    is_role_assignable = models.BooleanField(
        "role-assignable",
        default=False,
        help_text="May hold directory roles; cannot contain other groups (as in Entra).",
    )
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    owners = models.ManyToManyField(
        "directory.User", through="GroupOwner", related_name="owned_groups", blank=True
    )
    members = models.ManyToManyField(
        "directory.User", through="GroupMembership", related_name="member_of", blank=True
    )

    objects = GroupQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="group_external_id_unique",
            ),
            models.CheckConstraint(condition=Q(kind__in=GroupKind.values), name="group_kind_valid"),
            models.CheckConstraint(
                condition=Q(membership_type__in=MembershipType.values),
                name="group_membership_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(source__in=GroupSource.values), name="group_source_valid"
            ),
            # Entra: role-assignable groups cannot be dynamic.
            models.CheckConstraint(
                condition=Q(is_role_assignable=False) | Q(membership_type=MembershipType.ASSIGNED),
                name="group_role_assignable_not_dynamic",
            ),
        ]
        indexes = [
            # The group list and choosers sort by name.
            models.Index(Lower("name"), "id", name="group_name_sort_idx"),
        ]

    def __str__(self):
        return self.name

    @property
    def membership_is_managed_here(self) -> bool:
        """Whether the portal can add or remove members (not dynamic, not synced)."""
        return self.membership_type == MembershipType.ASSIGNED and self.source == GroupSource.CLOUD

    @property
    def unmanaged_message(self) -> str:
        return f"Members of {self.name} cannot be changed here: {self.unmanaged_reason}."

    @property
    def unmanaged_reason(self) -> str:
        if self.membership_type == MembershipType.DYNAMIC:
            return "its membership is dynamic (computed from a rule)"
        if self.source == GroupSource.ON_PREMISES:
            return "it is synced from on-premises and must be changed there"
        return ""


class GroupOwner(models.Model):
    # The unique constraint leads with group, so group needs no index of its own.
    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_index=False)
    user = models.ForeignKey("directory.User", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="group_owner_unique"),
        ]

    def __str__(self):
        return f"{self.user} owns {self.group}"


class GroupMembership(models.Model):
    """A user's direct membership of a group."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, db_index=False)
    user = models.ForeignKey("directory.User", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="group_membership_unique"),
        ]

    def __str__(self):
        return f"{self.user} in {self.group}"


class NestedGroup(models.Model):
    """A group that is a direct member of another group. Cycles are refused by the services."""

    parent = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+", db_index=False)
    child = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="nested_group_unique"),
            models.CheckConstraint(condition=~Q(parent=F("child")), name="nested_group_not_self"),
        ]

    def __str__(self):
        return f"{self.child} in {self.parent}"

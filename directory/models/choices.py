"""Vocabularies shared by the directory and its callers (the review domain stores these strings)."""

from django.db import models


class PrincipalType(models.TextChoices):
    USER = "user", "User"
    GROUP = "group", "Group"


class ResourceType(models.TextChoices):
    GROUP = "group", "Group"
    APPLICATION = "application", "Application"
    DIRECTORY_ROLE = "directoryRole", "Directory role"


class AccessPath(models.TextChoices):
    DIRECT = "direct", "Direct"
    # A user reaches a group through a nested group; via_group is the group they belong to.
    NESTED = "nested", "Nested group"
    # A user holds an application's assignment through an assigned group.
    VIA_GROUP = "viaGroup", "Through a group"


class RevocationResult(models.TextChoices):
    PENDING = "pending", "Pending"
    REMOVED = "removed", "Removed"
    ALREADY_GONE = "alreadyGone", "Already gone"
    NOT_SUPPORTED = "notSupported", "Not supported"

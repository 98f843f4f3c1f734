"""Vocabularies of review definitions; strings follow Microsoft Graph where Graph has a name."""

from django.db import models


class ScopeType(models.TextChoices):
    GROUP_MEMBERS = "groupMembers", "Members of selected groups"
    ALL_GROUPS_WITH_GUESTS = "allGroupsWithGuests", "All Microsoft 365 groups with guest users"
    APPLICATION_ASSIGNEES = "applicationAssignees", "Users assigned to selected applications"
    ROLE_ASSIGNEES = "roleAssignees", "Assignees of selected directory roles"


class PrincipalScope(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    GUESTS_ONLY = "guestsOnly", "Guest users only"


class RoleAssignmentScope(models.TextChoices):
    ACTIVE = "active", "Active assignments"
    ELIGIBLE = "eligible", "Eligible assignments"
    BOTH = "both", "Active and eligible assignments"


class ReviewerType(models.TextChoices):
    GROUP_OWNERS = "groupOwners", "Group owners"
    APPLICATION_OWNERS = "applicationOwners", "Application owners"
    SELECTED = "selected", "Selected users or groups"
    MANAGERS = "managers", "Managers of the users"
    SELF = "self", "The users themselves"


class Decision(models.TextChoices):
    NOT_REVIEWED = "NotReviewed", "Not reviewed"
    APPROVE = "Approve", "Approve"
    DENY = "Deny", "Deny"
    DONT_KNOW = "DontKnow", "Don't know"


# What may move from one stage to the next: the decisions, plus "Recommendation" meaning items
# whose stage decision came from an accepted recommendation.
MOVE_ON_CHOICES = [
    ("Approve", "Approved"),
    ("Deny", "Denied"),
    ("DontKnow", "Don't know"),
    ("NotReviewed", "Not reviewed"),
    ("Recommendation", "Decided by accepting a recommendation"),
]
MOVE_ON_ALL = [value for value, _ in MOVE_ON_CHOICES]


class DefaultDecision(models.TextChoices):
    NONE = "None", "No change"
    APPROVE = "Approve", "Approve access"
    DENY = "Deny", "Remove access"
    RECOMMENDATION = "Recommendation", "Take recommendations"


class DeniedGuestAction(models.TextChoices):
    REMOVE_ACCESS = "removeAccess", "Remove access to the resource"
    DISABLE_AND_DELETE = "disableAndDelete", "Block sign-in now, delete the account after 30 days"


class SeriesStatus(models.TextChoices):
    ACTIVE = "Active", "Active"
    PAUSED = "Paused", "Paused"
    ENDED = "Ended", "Ended"

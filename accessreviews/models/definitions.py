"""A review definition (Graph: accessReviewScheduleDefinition) and its 1-3 stages.

A definition is the series; each occurrence starts one instance per resource in scope, which
copies the definition into its own settings snapshot, so editing a series never changes a
review that is already running.
"""

import datetime
import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accessreviews import schedule
from accessreviews.choices import (
    MOVE_ON_ALL,
    DefaultDecision,
    DeniedGuestAction,
    PrincipalScope,
    ReviewerType,
    RoleAssignmentScope,
    ScopeType,
    SeriesStatus,
)
from accessreviews.schedule import EndRule, Recurrence
from directory.models.users import validate_time_zone

DESCRIPTION_FOR_REVIEWERS_MAX = 256  # Entra's emails carry at most this many characters
MAX_STAGES = 3
INACTIVE_DAYS_MAX = 730
APPLICATION_LOOK_BACK_MAX = 30  # Graph: recommendationLookBackDuration for applications
# Auto-apply guardrail: the share of a resource's items it may remove without an admin's
# confirmation, enforced once at least this many would be removed.
GUARD_MINIMUM_REMOVALS = 5


def default_move_on():
    return list(MOVE_ON_ALL)


class ReviewDefinitionQuerySet(models.QuerySet):
    def due(self, now):
        """Series whose next occurrence has come (the tick's query)."""
        return self.filter(status=SeriesStatus.ACTIVE, next_occurrence_at__lte=now)


class ReviewDefinition(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=256)
    description_for_admins = models.TextField(blank=True)
    description_for_reviewers = models.CharField(
        max_length=DESCRIPTION_FOR_REVIEWERS_MAX, blank=True
    )
    created_by = models.ForeignKey("directory.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # --- Scope
    scope_type = models.CharField(max_length=30, choices=ScopeType)
    principal_scope = models.CharField(
        max_length=20, choices=PrincipalScope, default=PrincipalScope.EVERYONE
    )
    inactive_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(INACTIVE_DAYS_MAX)],
        help_text="Only users with no sign-in for this many days (and not created within them).",
    )
    role_assignment_scope = models.CharField(
        max_length=10, choices=RoleAssignmentScope, default=RoleAssignmentScope.BOTH
    )
    groups = models.ManyToManyField("directory.Group", blank=True, related_name="+")
    excluded_groups = models.ManyToManyField("directory.Group", blank=True, related_name="+")
    applications = models.ManyToManyField("directory.Application", blank=True, related_name="+")
    roles = models.ManyToManyField("directory.DirectoryRole", blank=True, related_name="+")

    # --- Schedule (DESIGN.md "Time")
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    start_date = models.DateField()
    start_time = models.TimeField(default=datetime.time(9, 0))
    recurrence = models.CharField(max_length=20, choices=Recurrence, default=Recurrence.ONE_TIME)
    interval = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    end_rule = models.CharField(max_length=10, choices=EndRule, default=EndRule.NEVER)
    end_date = models.DateField(null=True, blank=True)
    occurrence_count = models.PositiveSmallIntegerField(null=True, blank=True)

    # --- Settings
    mail_notifications_enabled = models.BooleanField(default=True)
    reminders_enabled = models.BooleanField(default=True)
    # Days before each stage's end; empty means one reminder at the stage's midpoint.
    reminder_days_before_end = models.JSONField(default=list, blank=True)
    justification_required = models.BooleanField(default=False)
    recommendation_look_back_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(INACTIVE_DAYS_MAX)]
    )
    default_decision = models.CharField(
        max_length=20, choices=DefaultDecision, default=DefaultDecision.NONE
    )
    auto_apply = models.BooleanField(default=False)
    denied_guest_action = models.CharField(
        max_length=20, choices=DeniedGuestAction, default=DeniedGuestAction.REMOVE_ACCESS
    )
    notify_removed_people = models.BooleanField(default=False)
    additional_recipients = models.ManyToManyField("directory.User", blank=True, related_name="+")
    auto_apply_max_removal_percent = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Auto-apply waits for an admin when it would remove more than this share "
        f"of a resource's people (and at least {GUARD_MINIMUM_REMOVALS}).",
    )

    # --- Series state
    status = models.CharField(max_length=10, choices=SeriesStatus, default=SeriesStatus.ACTIVE)
    next_occurrence_index = models.PositiveIntegerField(default=0)
    next_occurrence_at = models.DateTimeField(null=True, blank=True)

    objects = ReviewDefinitionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope_type__in=ScopeType.values), name="definition_scope_valid"
            ),
            models.CheckConstraint(
                condition=Q(recurrence__in=Recurrence.values), name="definition_recurrence_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SeriesStatus.values), name="definition_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(inactive_days__isnull=True)
                | Q(inactive_days__gte=1, inactive_days__lte=INACTIVE_DAYS_MAX),
                name="definition_inactive_days_range",
            ),
            models.CheckConstraint(
                condition=Q(end_rule=EndRule.NEVER)
                | Q(end_rule=EndRule.ON_DATE, end_date__isnull=False)
                | Q(end_rule=EndRule.AFTER, occurrence_count__gte=1),
                name="definition_end_rule_complete",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="definition_end_after_start",
            ),
            # Entra: disable-and-delete only for guests-only scopes, never all-groups-with-guests.
            models.CheckConstraint(
                condition=Q(denied_guest_action=DeniedGuestAction.REMOVE_ACCESS)
                | (
                    Q(principal_scope=PrincipalScope.GUESTS_ONLY)
                    & ~Q(scope_type=ScopeType.ALL_GROUPS_WITH_GUESTS)
                ),
                name="definition_guest_action_needs_guest_scope",
            ),
            models.CheckConstraint(
                condition=~Q(scope_type=ScopeType.ALL_GROUPS_WITH_GUESTS)
                | Q(principal_scope=PrincipalScope.GUESTS_ONLY),
                name="definition_all_groups_scope_is_guests",
            ),
        ]
        indexes = [
            # The tick: active series whose next occurrence has come.
            models.Index(fields=["status", "next_occurrence_at"], name="definition_due_idx"),
        ]

    def __str__(self):
        return self.name

    def schedule(self, duration_days: int | None = None) -> schedule.Schedule:
        return schedule.Schedule(
            time_zone=self.time_zone,
            start_date=self.start_date,
            start_time=self.start_time,
            duration_days=duration_days if duration_days is not None else self.duration_days,
            recurrence=self.recurrence,
            interval=self.interval,
            end_rule=self.end_rule,
            end_date=self.end_date,
            occurrence_count=self.occurrence_count,
        )

    @property
    def duration_days(self) -> int:
        return sum(stage.duration_days for stage in self.stages.all())

    @property
    def is_started(self) -> bool:
        return self.next_occurrence_index > 0


class DefinitionStage(models.Model):
    definition = models.ForeignKey(
        ReviewDefinition, on_delete=models.CASCADE, related_name="stages", db_index=False
    )
    ordinal = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_STAGES)]
    )
    duration_days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    reviewer_type = models.CharField(max_length=20, choices=ReviewerType)
    reviewer_users = models.ManyToManyField("directory.User", blank=True, related_name="+")
    reviewer_groups = models.ManyToManyField("directory.Group", blank=True, related_name="+")
    fallback_users = models.ManyToManyField("directory.User", blank=True, related_name="+")
    fallback_groups = models.ManyToManyField("directory.Group", blank=True, related_name="+")
    recommendations_enabled = models.BooleanField(default=True)
    # Which items go on to the next stage, by this stage's decision (default: all).
    decisions_that_move_on = models.JSONField(default=default_move_on, blank=True)
    show_earlier_decisions = models.BooleanField(default=True)

    class Meta:
        ordering = ["definition_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "ordinal"], name="stage_ordinal_unique"),
            models.CheckConstraint(
                condition=Q(ordinal__gte=1, ordinal__lte=MAX_STAGES), name="stage_ordinal_range"
            ),
            models.CheckConstraint(condition=Q(duration_days__gte=1), name="stage_duration_min"),
            models.CheckConstraint(
                condition=Q(reviewer_type__in=ReviewerType.values), name="stage_reviewer_valid"
            ),
        ]

    def __str__(self):
        return f"{self.definition}: stage {self.ordinal}"

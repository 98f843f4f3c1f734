"""One run of a series over one resource (Graph: accessReviewInstance) and what it holds.

The schema is DESIGN.md's. Everything an instance needs later is copied into it at start
(settings_snapshot, the principal snapshot on each item), so it never reads the definition
again and evidence never changes after the fact. Rows here are never deleted: foreign keys to
users and to instances are PROTECT.
"""

import uuid

from django.db import connection, models
from django.db.models import F, Q
from django.utils import timezone

from accessreviews.choices import Decision
from directory.models import AccessPath, PrincipalType, ResourceType, UserType


class InstanceStatus(models.TextChoices):
    NOT_STARTED = "NotStarted", "Not started"
    INITIALIZING = "Initializing", "Initializing"
    IN_PROGRESS = "InProgress", "In progress"
    AUTO_REVIEWING = "AutoReviewing", "Auto-reviewing"
    COMPLETED = "Completed", "Completed"
    APPLYING = "Applying", "Applying"
    APPLIED = "Applied", "Applied"
    FAILED = "Failed", "Failed"


class StageStatus(models.TextChoices):
    NOT_STARTED = "NotStarted", "Not started"
    IN_PROGRESS = "InProgress", "In progress"
    COMPLETED = "Completed", "Completed"


class Recommendation(models.TextChoices):
    APPROVE = "Approve", "Approve"
    DENY = "Deny", "Deny"
    NO_INFO = "NoInfoAvailable", "No information"


class DecisionSource(models.TextChoices):
    NONE = "", "Not decided"
    REVIEWER = "Reviewer", "A reviewer"
    RECOMMENDATION = "Recommendation", "An accepted recommendation"
    DEFAULT = "Default", "The default decision (auto-review)"


class ApplyResult(models.TextChoices):
    NEW = "New", "Not applied yet"
    APPLIED = "AppliedSuccessfully", "Applied"
    UNKNOWN_FAILURE = "AppliedWithUnknownFailure", "Failed"
    NOT_FOUND = "AppliedSuccessfullyButObjectNotFound", "Applied (access was already gone)"
    NOT_SUPPORTED = "ApplyNotSupported", "Cannot be applied here"


class FailedStep(models.TextChoices):
    """What a Failed instance was doing when it gave up; Retry resumes that step."""

    NONE = "", "Nothing"
    START = "start", "Starting"
    APPLY = "apply", "Applying"


class VerificationStatus(models.TextChoices):
    """What asking the directory again after apply found for an item."""

    NOT_VERIFIED = "", "Not verified"
    VERIFIED = "Verified", "Access removed"
    MISMATCH = "Mismatch", "The removed grant is back or still there"
    STILL_HAS_ACCESS = "StillHasAccess", "Still has access by another path"


class ReviewerReason(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    SELECTED = "selected", "Selected reviewer"
    SELF = "self", "Self-review"
    FALLBACK = "fallback", "Fallback reviewer"
    REASSIGNED = "reassigned", "Reassigned"


class ReviewInstance(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    definition = models.ForeignKey(
        "accessreviews.ReviewDefinition",
        on_delete=models.PROTECT,
        related_name="instances",
        db_index=False,
    )
    resource_type = models.CharField(max_length=20, choices=ResourceType)
    resource_id = models.BigIntegerField()
    resource_name = models.CharField(max_length=256)
    occurrence_index = models.PositiveIntegerField()
    occurrence_start = models.DateTimeField()
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    status = models.CharField(
        max_length=20, choices=InstanceStatus, default=InstanceStatus.NOT_STARTED
    )
    current_stage = models.PositiveSmallIntegerField(null=True, blank=True)
    # The definition's scope, reviewers, stages and settings as they were at start.
    settings_snapshot = models.JSONField(default=dict)
    needs_confirmation = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    failed_step = models.CharField(
        max_length=10, choices=FailedStep, default=FailedStep.NONE, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # The admin who confirmed the apply (none for auto-apply): the items' applied_by.
    apply_requested_by = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When the tick should verify the applied instance again (verify.verifications_due clears
    # it): set by a directory import, by a verification after apply that failed, and pushed
    # back by a verification that failed.
    reverify_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurrence_start", "resource_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "resource_type", "resource_id", "occurrence_start"],
                name="instance_once_per_resource_and_occurrence",
            ),
            models.CheckConstraint(
                condition=Q(status__in=InstanceStatus.values), name="instance_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(end_at__gt=F("start_at")), name="instance_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(failed_step__in=FailedStep.values), name="instance_failed_step_valid"
            ),
        ]
        indexes = [
            # The tick: running instances whose end has come.
            models.Index(fields=["status", "end_at"], name="instance_due_idx"),
            # The tick: applied instances to verify again (few, or none).
            models.Index(
                fields=["reverify_due_at"],
                condition=Q(reverify_due_at__isnull=False),
                name="instance_reverify_due_idx",
            ),
        ]

    def __str__(self):
        return f"{self.resource_name} ({self.start_at:%Y-%m-%d})"


class ReviewStageQuerySet(models.QuerySet):
    def open(self):
        """Stages that take decisions: the stage and its instance both InProgress."""
        return self.filter(
            status=StageStatus.IN_PROGRESS, instance__status=InstanceStatus.IN_PROGRESS
        )


class ReviewStage(models.Model):
    instance = models.ForeignKey(
        ReviewInstance, on_delete=models.PROTECT, related_name="stages", db_index=False
    )
    ordinal = models.PositiveSmallIntegerField()
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=StageStatus, default=StageStatus.NOT_STARTED)
    # The latest reminder point sent ("d3@<end epoch>", see reminders.py): the tick claims a
    # point by a conditional UPDATE of it, so a point already sent costs no INSERT per tick.
    reminded_point = models.CharField(max_length=20, blank=True, default="", db_default="")

    objects = ReviewStageQuerySet.as_manager()

    class Meta:
        ordering = ["instance_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "ordinal"], name="instance_stage_unique"),
            # At most one open stage per instance: decisions compare-and-set against it.
            models.UniqueConstraint(
                fields=["instance"],
                condition=Q(status=StageStatus.IN_PROGRESS),
                name="instance_one_open_stage",
            ),
            models.CheckConstraint(
                condition=Q(ordinal__gte=1, ordinal__lte=3), name="instance_stage_ordinal_range"
            ),
        ]
        indexes = [
            # The tick: open stages whose end has come.
            models.Index(fields=["status", "end_at"], name="stage_due_idx"),
        ]

    def __str__(self):
        return f"{self.instance}: stage {self.ordinal}"


class DecisionItem(models.Model):
    """One principal's access to the instance's resource, and what was decided about it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    instance = models.ForeignKey(
        ReviewInstance, on_delete=models.PROTECT, related_name="items", db_index=False
    )
    principal_type = models.CharField(max_length=10, choices=PrincipalType)
    principal_id = models.BigIntegerField()
    # The principal as they were at start (evidence: later renames do not rewrite it).
    principal_name = models.CharField(max_length=256)
    principal_upn = models.CharField(max_length=254, blank=True)
    principal_email = models.CharField(max_length=254, blank=True)
    principal_user_type = models.CharField(max_length=10, choices=UserType, blank=True)
    sort_key = models.CharField(max_length=256)  # case-folded name: the panel's order
    access_path = models.CharField(max_length=10, choices=AccessPath)
    via_group_id = models.BigIntegerField(null=True, blank=True)
    via_group_name = models.CharField(max_length=256, blank=True)
    stage_ordinal = models.PositiveSmallIntegerField(default=1)
    stage_decision = models.CharField(
        max_length=12, choices=Decision, default=Decision.NOT_REVIEWED
    )
    decision = models.CharField(max_length=12, choices=Decision, default=Decision.NOT_REVIEWED)
    decision_source = models.CharField(
        max_length=15, choices=DecisionSource, default=DecisionSource.NONE, blank=True
    )
    reviewed_by = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    justification = models.CharField(max_length=1000, blank=True)
    recommendation = models.CharField(max_length=15, choices=Recommendation)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)  # the recommendation's insight
    apply_result = models.CharField(max_length=40, choices=ApplyResult, default=ApplyResult.NEW)
    apply_detail = models.CharField(max_length=300, blank=True)
    applied_by = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    verification_status = models.CharField(
        max_length=20,
        choices=VerificationStatus,
        default=VerificationStatus.NOT_VERIFIED,
        db_default=VerificationStatus.NOT_VERIFIED,  # the start's raw INSERT leaves it out
        blank=True,
    )
    verification = models.CharField(max_length=300, blank=True)  # in words, e.g. "via Sales"
    version = models.PositiveIntegerField(default=0)  # bumped by every decision (compare-and-set)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "principal_type", "principal_id"],
                name="item_once_per_principal",
            ),
            models.CheckConstraint(
                condition=Q(decision__in=Decision.values) & Q(stage_decision__in=Decision.values),
                name="item_decision_valid",
            ),
            models.CheckConstraint(
                condition=Q(recommendation__in=Recommendation.values),
                name="item_recommendation_valid",
            ),
            models.CheckConstraint(
                condition=Q(apply_result__in=ApplyResult.values), name="item_apply_result_valid"
            ),
            models.CheckConstraint(
                condition=Q(verification_status__in=VerificationStatus.values),
                name="item_verification_status_valid",
            ),
        ]
        indexes = [
            # Results and auto-review: an instance's items by decision.
            models.Index(fields=["instance", "decision"], name="item_instance_decision_idx"),
        ]

    def __str__(self):
        return f"{self.principal_name}: {self.decision}"


class ItemStageHistory(models.Model):
    """The decision (and its source) each stage recorded on an item."""

    item = models.ForeignKey(
        DecisionItem, on_delete=models.PROTECT, related_name="stage_history", db_index=False
    )
    stage_ordinal = models.PositiveSmallIntegerField()
    decision = models.CharField(max_length=12, choices=Decision)
    decision_source = models.CharField(max_length=15, choices=DecisionSource, blank=True)
    reviewed_by = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    justification = models.CharField(max_length=1000, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "stage_ordinal"], name="item_stage_history_unique"
            ),
        ]

    def __str__(self):
        return f"stage {self.stage_ordinal}: {self.decision}"


class ReviewerAssignment(models.Model):
    """One reviewer's share of a stage, with counters the panel reads instead of counting."""

    stage = models.ForeignKey(
        ReviewStage, on_delete=models.PROTECT, related_name="assignments", db_index=False
    )
    reviewer = models.ForeignKey("directory.User", on_delete=models.PROTECT, related_name="+")
    total = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    contacted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stage", "reviewer"], name="assignment_unique"),
            models.CheckConstraint(
                condition=Q(pending__gte=0) & Q(pending__lte=F("total")),
                name="assignment_pending_within_total",
            ),
        ]

    def __str__(self):
        return f"{self.pending} of {self.total} pending"


class ItemReviewer(models.Model):
    """A reviewer's link to an item in a stage; the panel pages by keyset over it."""

    stage = models.ForeignKey(
        ReviewStage, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reviewer = models.ForeignKey(
        "directory.User", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    sort_key = models.CharField(max_length=256)
    item = models.ForeignKey(DecisionItem, on_delete=models.PROTECT, related_name="reviewer_links")
    reason = models.CharField(max_length=12, choices=ReviewerReason)

    class Meta:
        constraints = [
            # Also the access panel's keyset index: (stage, reviewer) then by name, then item.
            models.UniqueConstraint(
                fields=["stage", "reviewer", "sort_key", "item"], name="item_reviewer_unique"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=ReviewerReason.values), name="item_reviewer_reason_valid"
            ),
        ]
        indexes = [
            # Decisions: "has this reviewer a link to this item in this stage?", probed once
            # per item. Without it SQLite walks the reviewer's whole share of the keyset index
            # for each item (quadratic: a 50,000-item decide-all took minutes).
            models.Index(fields=["item", "stage", "reviewer"], name="item_reviewer_lookup_idx"),
        ]

    def __str__(self):
        return f"reviewer {self.reviewer_id} of item {self.item_id} ({self.reason})"


class DecisionHistory(models.Model):
    """Every change of a decision: append-only, digested into the audit event of its operation."""

    item = models.ForeignKey(DecisionItem, on_delete=models.PROTECT, related_name="history")
    stage_ordinal = models.PositiveSmallIntegerField()
    before = models.CharField(max_length=12, choices=Decision)
    after = models.CharField(max_length=12, choices=Decision)
    source = models.CharField(max_length=15, choices=DecisionSource)
    justification = models.CharField(max_length=1000, blank=True)
    actor = models.ForeignKey(
        "directory.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    audit_operation = models.UUIDField(db_index=True)  # = AuditEvent.operation

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.before} -> {self.after}"

    # The column order every set-based writer's SELECT follows (decisions, stages, operations).
    INSERT_FIELDS = (
        "item",
        "stage_ordinal",
        "before",
        "after",
        "source",
        "justification",
        "actor",
        "at",
        "audit_operation",
    )

    @classmethod
    def insert_sql(cls) -> str:
        """`INSERT INTO <history> (<INSERT_FIELDS' columns>)`, for an INSERT ... SELECT."""
        quote = connection.ops.quote_name
        columns = ", ".join(quote(cls._meta.get_field(name).column) for name in cls.INSERT_FIELDS)
        return f"INSERT INTO {quote(cls._meta.db_table)} ({columns})"

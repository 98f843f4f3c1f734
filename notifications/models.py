"""Messages: every notification is a row (an inbox entry), optionally delivered by email.

The context holds every value the message shows and its link path: notifications never imports
the review domain, so a message renders the same whatever happens to the review later.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class MessageKind(models.TextChoices):
    REVIEW_STARTED = "review_started", "Review started"
    REMINDER = "reminder", "Reminder"
    STAGE_STARTED = "stage_started", "Stage started"
    REVIEW_COMPLETED = "review_completed", "Review completed"
    ACCESS_REMOVED = "access_removed", "Access removed"
    APPLY_NEEDS_CONFIRMATION = "apply_needs_confirmation", "Apply needs confirmation"
    DELIVERY_FAILURES = "delivery_failures", "Delivery failures"
    AUDIT_HEAD = "audit_head", "Audit log head"


# Kinds that several of at once become one email listing them (the inbox keeps each one).
DIGESTIBLE_KINDS = frozenset(
    {MessageKind.REVIEW_STARTED, MessageKind.REMINDER, MessageKind.STAGE_STARTED}
)


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


RESENDABLE = frozenset({EmailStatus.FAILED, EmailStatus.SKIPPED})


class SkipReason(models.TextChoices):
    EMAIL_OFF = "email_off", "Email notifications are turned off for this review"
    NO_ADDRESS = "no_address", "The recipient has no email address"
    DISABLED = "disabled", "The recipient's account is disabled"
    INVITATION_PENDING = "invitation_pending", "The guest has not accepted their invitation"


class MessageQuerySet(models.QuerySet):
    def for_recipient(self, user):
        return self.filter(recipient=user)

    def unread(self):
        return self.filter(read_at__isnull=True)

    def due(self, now):
        """Rows delivery may claim: pending and due, or sending whose lease ran out.

        A claim sets next_attempt_at to the lease's end, so one index finds both.
        """
        return self.filter(
            email_status__in=[EmailStatus.PENDING, EmailStatus.SENDING], next_attempt_at__lte=now
        )


class Message(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    recipient = models.ForeignKey(
        "directory.User", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=40, choices=MessageKind)
    context = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    email_status = models.CharField(max_length=10, choices=EmailStatus, default=EmailStatus.PENDING)
    skip_reason = models.CharField(max_length=30, choices=SkipReason, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    # The copy that was sent, stored once sent (what the recipient actually received).
    sent_at = models.DateTimeField(null=True, blank=True)
    email_message_id = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=MessageKind.values), name="message_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(email_status__in=EmailStatus.values), name="message_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(email_status=EmailStatus.SKIPPED) | Q(skip_reason=""),
                name="message_skip_reason_only_when_skipped",
            ),
            models.CheckConstraint(
                condition=~Q(email_status=EmailStatus.SENDING) | Q(lease_until__isnull=False),
                name="message_sending_has_lease",
            ),
        ]
        indexes = [
            # The inbox: one recipient's messages, newest first.
            models.Index(fields=["recipient", "-created_at", "-id"], name="message_inbox_idx"),
            # The unread badge in the navigation.
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="message_unread_idx",
            ),
            # Delivery's claim: due pending rows and expired leases, oldest first.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(email_status__in=[EmailStatus.PENDING, EmailStatus.SENDING]),
                name="message_due_idx",
            ),
            # The delivery log's filters.
            models.Index(fields=["email_status", "-created_at"], name="message_status_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} message ({self.get_email_status_display().lower()})"

    @property
    def link(self) -> str:
        return self.context.get("link", "")

    @property
    def can_resend(self) -> bool:
        return self.email_status in RESENDABLE

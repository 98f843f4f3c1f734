from django.db import models


class AuditEvent(models.Model):
    """One row of the tenant's append-only, hash-chained audit log.

    No foreign keys: actor and object are (type, id, label) copies, so deleting anything
    elsewhere never touches the log. Rows are written only by directory.audit.record(), and
    triggers on both databases refuse UPDATE and DELETE.
    """

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # The operation's detail rows (e.g. DecisionHistory) carry `operation`; the digest covers them.
    operation = models.UUIDField(null=True, blank=True, unique=True)
    detail_source = models.CharField(max_length=100, blank=True)
    detail_count = models.PositiveBigIntegerField(default=0)
    detail_digest = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            # Audit page filters: one object's history, one actor's actions, one action.
            models.Index(fields=["object_type", "object_id", "seq"], name="audit_object_idx"),
            models.Index(fields=["actor_type", "actor_id", "seq"], name="audit_actor_idx"),
            models.Index(fields=["action", "seq"], name="audit_action_idx"),
        ]

    def __str__(self):
        return f"#{self.seq} {self.action} by {self.actor_label or self.actor_type}"

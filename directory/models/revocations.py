from django.db import models
from django.db.models import Q
from django.utils import timezone

from directory.models.choices import AccessPath, PrincipalType, ResourceType, RevocationResult


class GrantRevocation(models.Model):
    """The directory's record of one requested grant removal and its result.

    Callers (the review engine's apply) write requests in a batch through access.revoke_grants
    and join the results back on (batch, ref). Rows with result `removed` are the directory's
    record of revoked grants, which the importer consults when a source system brings one back.
    """

    batch = models.UUIDField()
    ref = models.BigIntegerField(help_text="The caller's id for this request (e.g. an item id).")
    resource_type = models.CharField(max_length=20, choices=ResourceType)
    resource_id = models.BigIntegerField()
    principal_type = models.CharField(max_length=10, choices=PrincipalType)
    principal_id = models.BigIntegerField()
    result = models.CharField(
        max_length=20, choices=RevocationResult, default=RevocationResult.PENDING
    )
    reason = models.CharField(max_length=200, blank=True)
    actor_label = models.CharField(max_length=300, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    # Set when an import re-created the grant (the source system still had it).
    restored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "ref"], name="revocation_batch_ref_unique"),
            models.CheckConstraint(
                condition=Q(result__in=RevocationResult.values), name="revocation_result_valid"
            ),
        ]
        indexes = [
            # The review engine's verification: "what became of this item's revocation?"
            models.Index(fields=["ref"], name="revocation_ref_idx"),
            # Import: "was this grant revoked, and not yet restored?"
            models.Index(
                fields=["resource_type", "resource_id", "principal_type", "principal_id"],
                condition=Q(result=RevocationResult.REMOVED, restored_at__isnull=True),
                name="revocation_live_idx",
            ),
        ]

    def __str__(self):
        return (
            f"{self.principal_type} {self.principal_id} from "
            f"{self.resource_type} {self.resource_id}: {self.result}"
        )


__all__ = ["AccessPath", "GrantRevocation"]

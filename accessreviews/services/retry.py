"""Retry of a Failed instance (the shared Retry contract of issue 5).

A step that failed three times leaves the instance Failed with `failed_step` and `last_error`.
instance_retry() puts it back where that step begins, with its attempts at zero: a failed
start goes back to NotStarted, a failed apply to Applying. The web request only writes that;
the next tick (or the nudge after commit) resumes the step, which is idempotent either way.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accessreviews.models import FailedStep, InstanceStatus, ReviewInstance
from accessreviews.nudge import tick_nudge_after_commit
from accessreviews.permissions import may_manage
from directory import audit

RESUME_STATUS = {
    FailedStep.START: InstanceStatus.NOT_STARTED,
    FailedStep.APPLY: InstanceStatus.APPLYING,
}


def instance_retry(actor, instance: ReviewInstance, now=None) -> ReviewInstance:
    """Put a Failed instance back to the start of the step that failed, audited."""
    now = now or timezone.now()
    if not may_manage(actor, instance.definition):
        audit.record(actor, "authz.denied.instance_retry", instance, {})
        raise PermissionDenied("You may read this review but not manage it.")
    resume = RESUME_STATUS.get(instance.failed_step)
    if instance.status != InstanceStatus.FAILED or resume is None:
        raise ValidationError("Only a review that failed to start or to apply can be retried.")
    if resume == InstanceStatus.NOT_STARTED and instance.end_at <= now:
        raise ValidationError("This review's window has closed: it can no longer start.")
    with transaction.atomic():
        changed = ReviewInstance.objects.filter(
            pk=instance.pk, status=InstanceStatus.FAILED, failed_step=instance.failed_step
        ).update(status=resume, attempts=0, failed_step=FailedStep.NONE, last_error="")
        if not changed:  # another admin retried it meanwhile
            raise ValidationError("This review changed meanwhile; reload and try again.")
        audit.record(
            actor,
            "instance.retried",
            instance,
            {
                "step": instance.failed_step,
                "attempts": instance.attempts,
                "error": instance.last_error,
                "status": resume,
            },
        )
        tick_nudge_after_commit()
    instance.refresh_from_db()
    return instance

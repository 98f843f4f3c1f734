from celery import shared_task

from accessreviews.models import SchedulerHeartbeat
from notifications.delivery import deliver_due
from notifications.reports import publish_audit_head


@shared_task(name="accessreviews.tasks.tick", ignore_result=True)
def tick(now=None) -> None:
    """Do the work that is due. Every step is safe to run twice and concurrently."""
    from accessreviews.services.apply import applies_due
    from accessreviews.services.reminders import reminders_due
    from accessreviews.services.stages import stages_and_instances_due
    from accessreviews.services.start import instances_start_due
    from accessreviews.services.verify import verifications_due
    from directory.guests import users_delete_due

    SchedulerHeartbeat.beat()
    publish_audit_head()
    instances_start_due(now)
    stages_and_instances_due(now)
    reminders_due(now)
    applies_due(now)
    users_delete_due(now)
    deliver_due()
    verifications_due(now)  # last: a backlog after an import never delays email


@shared_task(name="accessreviews.tasks.apply_instance", ignore_result=True)
def apply_instance(instance_id: int) -> None:
    """Apply one confirmed instance now (the after-commit nudge); the tick does it anyway."""
    from accessreviews.models import ReviewInstance
    from accessreviews.services.apply import instance_apply

    instance = ReviewInstance.objects.filter(pk=instance_id).first()
    if instance is not None:
        instance_apply(instance)

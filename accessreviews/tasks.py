from celery import shared_task

from accessreviews.models import SchedulerHeartbeat
from notifications.delivery import deliver_due
from notifications.reports import publish_audit_head


@shared_task(name="accessreviews.tasks.tick", ignore_result=True)
def tick(now=None) -> None:
    """Do the work that is due. Every step is safe to run twice and concurrently."""
    from accessreviews.services.reminders import reminders_due
    from accessreviews.services.stages import stages_and_instances_due
    from accessreviews.services.start import instances_start_due

    SchedulerHeartbeat.beat()
    publish_audit_head()
    instances_start_due(now)
    stages_and_instances_due(now)
    reminders_due(now)
    deliver_due()

from celery import shared_task

from accessreviews.models import SchedulerHeartbeat
from notifications.delivery import deliver_due
from notifications.reports import publish_audit_head


@shared_task(name="accessreviews.tasks.tick", ignore_result=True)
def tick() -> None:
    """Do the work that is due. Every step is safe to run twice and concurrently."""
    SchedulerHeartbeat.beat()
    publish_audit_head()
    deliver_due()

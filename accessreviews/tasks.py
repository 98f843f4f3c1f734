from celery import shared_task

from accessreviews.models import SchedulerHeartbeat


@shared_task(name="accessreviews.tasks.tick", ignore_result=True)
def tick() -> None:
    """Do the work that is due; for now only record that the scheduler is alive."""
    SchedulerHeartbeat.beat()

from celery import shared_task

from notifications.delivery import deliver_due


@shared_task(name="notifications.tasks.deliver_messages", ignore_result=True)
def deliver_messages() -> None:
    """Deliver due messages now (the after-commit nudge); the tick does the same each minute."""
    deliver_due()

"""The Celery app and its one periodic schedule.

Beat sends a single idempotent `tick` every minute; the tick reads due work from the database.
Keeping the schedule here, in one place, means there is nothing else for a second beat process
to duplicate (DESIGN.md "Scheduling and reliability rules").
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessreviews.settings")

app = Celery("accessreviews")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "tick": {"task": "accessreviews.tasks.tick", "schedule": 60.0, "options": {"expires": 55}},
}

"""What /healthz reports: the database (down means 503), the broker and the scheduler.

A broker that does not answer is "degraded", not down: pages and decisions work without it and
the tick catches up when it returns (DESIGN.md "Scheduling and reliability rules").
"""

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from kombu import Connection

from accessreviews.models import SchedulerHeartbeat

STALE_AFTER_SECONDS = 5 * 60


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "down"
    return "ok"


def broker_status() -> str:
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=1,
        ) as broker:
            broker.ensure_connection(max_retries=1, timeout=1)
    except Exception:  # noqa: BLE001 - any failure to reach the broker is "degraded"
        return "degraded"
    return "ok"


def scheduler_status() -> tuple[str, float | None]:
    beat = SchedulerHeartbeat.last()
    if beat is None:
        return "never", None
    age = (timezone.now() - beat.last_tick_at).total_seconds()
    return ("ok" if age <= STALE_AFTER_SECONDS else "stale"), age


def report() -> tuple[dict, int]:
    database = database_status()
    if database != "ok":
        return {"database": database}, 503
    scheduler, age = scheduler_status()
    body = {
        "database": database,
        "broker": broker_status(),
        "scheduler": scheduler,
        "last_tick_seconds_ago": age,
    }
    return body, 200

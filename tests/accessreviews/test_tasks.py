import pytest
import time_machine
from django.conf import settings
from kombu import Connection

from accessreviews.celery import app
from accessreviews.models import SchedulerHeartbeat
from accessreviews.tasks import tick

pytestmark = pytest.mark.django_db


def test_a_heartbeat_is_one_update_once_its_row_exists(django_assert_num_queries):
    # UPDATE (no row yet); get_or_create: SELECT, SAVEPOINT, INSERT, RELEASE
    with time_machine.travel("2026-11-27 09:00:00+00:00", tick=False), django_assert_num_queries(5):
        SchedulerHeartbeat.beat()
    # UPDATE
    with time_machine.travel("2026-11-27 09:01:00+00:00", tick=False), django_assert_num_queries(1):
        SchedulerHeartbeat.beat()
    beat = SchedulerHeartbeat.last()
    assert beat.ticks == 2
    assert beat.last_tick_at.isoformat() == "2026-11-27T09:01:00+00:00"


def test_the_tick_records_a_heartbeat():
    tick()
    tick()
    assert SchedulerHeartbeat.last().ticks == 2


def test_beat_sends_exactly_one_tick_every_minute():
    schedule = app.conf.beat_schedule
    assert list(schedule) == ["tick"]
    assert schedule["tick"]["task"] == tick.name
    assert schedule["tick"]["schedule"] == 60.0


def test_a_message_round_trips_through_the_configured_broker():
    """Runs against Redis in CI's first pass and the filesystem broker in the second."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with Connection(
        settings.CELERY_BROKER_URL, transport_options=options, connect_timeout=5
    ) as connection:
        queue = connection.SimpleQueue("accessreviews-test-roundtrip")
        try:
            queue.clear()
            queue.put({"task": "ping"})
            message = queue.get(timeout=5)
            message.ack()
            assert message.payload == {"task": "ping"}
        finally:
            queue.close()

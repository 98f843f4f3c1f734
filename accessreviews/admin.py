from django.contrib import admin
from django.utils import timezone
from django.utils.timesince import timesince

from accessreviews.models import SchedulerHeartbeat
from directory.admin import ReadOnlyAdmin


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(ReadOnlyAdmin):
    """Written only by the tick: admins read it to see that the scheduler is alive."""

    list_display = ("name", "last_tick_at", "since", "ticks")

    @admin.display(description="last tick")
    def since(self, heartbeat):
        return f"{timesince(heartbeat.last_tick_at, timezone.now())} ago"

from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone


class SchedulerHeartbeat(models.Model):
    """One row per periodic task name: when it last ran, so admins can see the scheduler lives."""

    name = models.CharField(max_length=50, unique=True)
    last_tick_at = models.DateTimeField()
    ticks = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name} at {self.last_tick_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def beat(cls, name: str = "tick") -> None:
        """Record a tick as one statement; a second concurrent tick just counts twice."""
        now = timezone.now()
        updated = cls.objects.filter(name=name).update(
            last_tick_at=now, ticks=Coalesce(F("ticks"), Value(0)) + 1
        )
        if not updated:
            cls.objects.get_or_create(name=name, defaults={"last_tick_at": now, "ticks": 1})

    @classmethod
    def last(cls, name: str = "tick"):
        return cls.objects.filter(name=name).first()

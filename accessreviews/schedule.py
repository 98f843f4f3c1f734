"""When a review series runs: occurrence starts and ends, limits, and what is due (pure).

DESIGN.md "Time" is the rule: an occurrence starts at the definition's local start time in its
IANA zone and ends at the same local wall time N calendar days later; a local time that does
not exist (spring forward) moves forward, an ambiguous one (fall back) takes the first. Monthly
steps clamp the original day of month to each month's end without drifting (Jan 31, Feb 28,
Mar 31). Everything returned is UTC. No database, no clock: callers pass `now`.
"""

import calendar
import datetime
import zoneinfo
from dataclasses import dataclass

from django.db import models

UTC = datetime.UTC


class Recurrence(models.TextChoices):
    ONE_TIME = "oneTime", "One time"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMI_ANNUALLY = "semiAnnually", "Semi-annually"
    ANNUALLY = "annually", "Annually"


class EndRule(models.TextChoices):  # Graph's recurrenceRange types
    NEVER = "noEnd", "Never"
    ON_DATE = "endDate", "On a date"
    AFTER = "numbered", "After a number of occurrences"


MONTHS_PER_STEP = {
    Recurrence.MONTHLY: 1,
    Recurrence.QUARTERLY: 3,
    Recurrence.SEMI_ANNUALLY: 6,
    Recurrence.ANNUALLY: 12,
}
# A one-time review may run long, but not forever (Entra offers no more than this either).
ONE_TIME_MAX_DAYS = 730
# Guard for loops over a series: nobody schedules more occurrences than this ahead of now.
MAX_STEPS = 100_000


@dataclass(frozen=True)
class Schedule:
    time_zone: str
    start_date: datetime.date
    start_time: datetime.time
    duration_days: int
    recurrence: str = Recurrence.ONE_TIME
    interval: int = 1
    end_rule: str = EndRule.NEVER
    end_date: datetime.date | None = None
    occurrence_count: int | None = None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Occurrence:
    index: int  # 0 for the first
    start: datetime.datetime  # UTC
    end: datetime.datetime  # UTC

    def is_open(self, now: datetime.datetime) -> bool:
        return self.start <= now < self.end


# --- Local wall time -> UTC ---------------------------------------------------------------------


def to_utc(day: datetime.date, at: datetime.time, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The instant a local wall time names: gaps move forward, ambiguous times take the first.

    PEP 495's fold=0 does both: an ambiguous time reads as its first occurrence, and a time in
    a spring-forward gap reads with the offset from before the gap, which lands after it by the
    gap's length (Paris 02:30 on the last Sunday of March is 03:30 CEST).
    """
    return datetime.datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


# --- Dates of occurrences ------------------------------------------------------------------------


def add_months(day: datetime.date, months: int, anchor_day: int) -> datetime.date:
    """`day` moved by whole months, on the anchor day clamped to the month's end."""
    month_index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(month_index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return datetime.date(year, month + 1, min(anchor_day, last))


def occurrence_date(schedule: Schedule, index: int) -> datetime.date:
    if index == 0 or schedule.recurrence == Recurrence.ONE_TIME:
        return schedule.start_date
    if schedule.recurrence == Recurrence.WEEKLY:
        return schedule.start_date + datetime.timedelta(weeks=schedule.interval * index)
    months = MONTHS_PER_STEP[schedule.recurrence] * schedule.interval * index
    # Always from the original start, so a clamped Feb 28 never drags later months to the 28th.
    return add_months(schedule.start_date, months, schedule.start_date.day)


def occurrence(schedule: Schedule, index: int) -> Occurrence:
    day = occurrence_date(schedule, index)
    last_day = day + datetime.timedelta(days=schedule.duration_days)
    return Occurrence(
        index,
        to_utc(day, schedule.start_time, schedule.zone),
        to_utc(last_day, schedule.start_time, schedule.zone),
    )


def exists(schedule: Schedule, index: int) -> bool:
    """Whether the series has an occurrence with this index (end rules and one-time)."""
    if index < 0:
        return False
    if schedule.recurrence == Recurrence.ONE_TIME:
        return index == 0
    try:
        # The whole occurrence must be representable: a series reaching past the year 9999
        # simply ends there.
        last_day = occurrence_date(schedule, index) + datetime.timedelta(
            days=schedule.duration_days + 1
        )
    except (OverflowError, ValueError):
        return False
    if schedule.end_rule == EndRule.AFTER:
        return index < (schedule.occurrence_count or 0)
    if schedule.end_rule == EndRule.ON_DATE:
        return occurrence_date(schedule, index) <= schedule.end_date
    return index < MAX_STEPS and last_day is not None


def occurrences(schedule: Schedule, first_index: int = 0, limit: int = 12) -> list[Occurrence]:
    found = []
    index = first_index
    while len(found) < limit and exists(schedule, index):
        found.append(occurrence(schedule, index))
        index += 1
    return found


def first_index_starting_at_or_after(schedule: Schedule, instant: datetime.datetime) -> int:
    """The index of the first occurrence whose start is not before `instant` (may not exist)."""
    low, high = 0, 1
    while exists(schedule, high) and occurrence(schedule, high).start < instant:
        low, high = high, high * 2  # gallop, then bisect: a weekly series over years is cheap
    if not exists(schedule, high):
        high = _last_index(schedule, high) + 1
    while low < high:
        middle = (low + high) // 2
        if occurrence(schedule, middle).start < instant:
            low = middle + 1
        else:
            high = middle
    return low


def _last_index(schedule: Schedule, beyond: int) -> int:
    low, high = 0, beyond
    while low < high:  # the last index that exists, below `beyond`
        middle = (low + high + 1) // 2
        if exists(schedule, middle):
            low = middle
        else:
            high = middle - 1
    return low


# --- What the tick must do -----------------------------------------------------------------------


@dataclass(frozen=True)
class DueWork:
    start: Occurrence | None  # the one occurrence to start now, with its original end
    skipped: list[Occurrence]  # due ones passed over (downtime): to be audited
    next_index: int  # the series' next unstarted occurrence after this work
    next: Occurrence | None  # ... and its instants, or None when the series is over


def due_work(schedule: Schedule, next_index: int, now: datetime.datetime) -> DueWork:
    """From the series' next unstarted occurrence: what to start now, and what to skip.

    After downtime only the latest due occurrence whose window is still open is started
    (with its original end); older due ones are skipped.
    """
    upcoming = first_index_starting_at_or_after(schedule, now + datetime.timedelta(microseconds=1))
    upcoming = max(upcoming, next_index)
    due = [occurrence(schedule, i) for i in range(next_index, upcoming) if exists(schedule, i)]
    if len(due) > 1000:  # a series idle for years: report the first and last thousand only
        due = due[:500] + due[-500:]
    start = due[-1] if due and due[-1].is_open(now) else None
    skipped = [o for o in due if o is not start]
    following = occurrence(schedule, upcoming) if exists(schedule, upcoming) else None
    return DueWork(start, skipped, upcoming, following)


# --- Limits --------------------------------------------------------------------------------------


def max_duration_days(recurrence: str, interval: int = 1) -> int:
    """The longest run that still ends before the next occurrence starts (monthly: 27)."""
    if recurrence == Recurrence.ONE_TIME:
        return ONE_TIME_MAX_DAYS
    if recurrence == Recurrence.WEEKLY:
        return 7 * interval - 1
    months = MONTHS_PER_STEP[recurrence] * interval
    # The shortest run of `months` consecutive months (a non-leap February among them).
    lengths = [calendar.monthrange(2025, m)[1] for m in range(1, 13)] * (months // 12 + 2)
    shortest = min(sum(lengths[i : i + months]) for i in range(12))
    return shortest - 1

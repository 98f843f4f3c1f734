"""The recurrence arithmetic (accessreviews/schedule.py): pure, no database, no clock."""

import datetime as dt
import zoneinfo

import pytest

from accessreviews.schedule import (
    EndRule,
    Recurrence,
    Schedule,
    due_work,
    first_index_starting_at_or_after,
    max_duration_days,
    occurrence,
    occurrences,
    to_utc,
)

UTC = dt.UTC
PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"


def series(start, recurrence=Recurrence.MONTHLY, zone="UTC", at=dt.time(9, 0), days=7, **kw):
    return Schedule(zone, start, at, days, recurrence, **kw)


def local_dates(schedule, count=6):
    zone = zoneinfo.ZoneInfo(schedule.time_zone)
    return [o.start.astimezone(zone).date().isoformat() for o in occurrences(schedule, 0, count)]


class TestMonthEnds:
    def test_the_31st_clamps_to_each_months_end_without_drifting(self):
        assert local_dates(series(dt.date(2026, 1, 31))) == [
            "2026-01-31",
            "2026-02-28",
            "2026-03-31",
            "2026-04-30",
            "2026-05-31",
            "2026-06-30",
        ]

    def test_the_29th_and_30th_clamp_only_in_february(self):
        assert local_dates(series(dt.date(2026, 1, 30)), 3) == [
            "2026-01-30",
            "2026-02-28",
            "2026-03-30",
        ]
        assert local_dates(series(dt.date(2027, 12, 29)), 4) == [
            "2027-12-29",
            "2028-01-29",
            "2028-02-29",
            "2028-03-29",
        ]

    def test_february_29th_annually_lands_on_the_28th_in_common_years(self):
        assert local_dates(series(dt.date(2028, 2, 29), Recurrence.ANNUALLY), 5) == [
            "2028-02-29",
            "2029-02-28",
            "2030-02-28",
            "2031-02-28",
            "2032-02-29",
        ]

    def test_quarterly_and_semi_annual_steps(self):
        assert local_dates(series(dt.date(2026, 11, 30), Recurrence.QUARTERLY), 4) == [
            "2026-11-30",
            "2027-02-28",
            "2027-05-30",
            "2027-08-30",
        ]
        assert local_dates(series(dt.date(2026, 8, 31), Recurrence.SEMI_ANNUALLY), 3) == [
            "2026-08-31",
            "2027-02-28",
            "2027-08-31",
        ]

    def test_intervals_multiply_the_step(self):
        assert local_dates(series(dt.date(2026, 1, 5), Recurrence.WEEKLY, interval=2), 3) == [
            "2026-01-05",
            "2026-01-19",
            "2026-02-02",
        ]
        assert local_dates(series(dt.date(2026, 1, 31), Recurrence.MONTHLY, interval=2), 3) == [
            "2026-01-31",
            "2026-03-31",
            "2026-05-31",
        ]


class TestEndRules:
    def test_a_one_time_review_has_one_occurrence(self):
        assert len(occurrences(series(dt.date(2026, 1, 1), Recurrence.ONE_TIME), 0, 5)) == 1

    def test_ending_after_n_occurrences(self):
        schedule = series(dt.date(2026, 1, 1), end_rule=EndRule.AFTER, occurrence_count=3)
        assert len(occurrences(schedule, 0, 12)) == 3

    def test_ending_on_a_date_includes_an_occurrence_that_starts_that_day(self):
        schedule = series(
            dt.date(2026, 1, 15), end_rule=EndRule.ON_DATE, end_date=dt.date(2026, 4, 15)
        )
        assert local_dates(schedule, 12) == ["2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15"]

    def test_never_ending_series_keep_going(self):
        assert len(occurrences(series(dt.date(2026, 1, 1), Recurrence.WEEKLY), 0, 100)) == 100


class TestDaylightSaving:
    @pytest.mark.parametrize(
        "zone, spring_day", [(PARIS, dt.date(2026, 3, 29)), (NEW_YORK, dt.date(2026, 3, 8))]
    )
    def test_a_start_in_the_spring_forward_gap_moves_forward(self, zone, spring_day):
        start = to_utc(spring_day, dt.time(2, 30), zoneinfo.ZoneInfo(zone))
        assert start.astimezone(zoneinfo.ZoneInfo(zone)).time() == dt.time(3, 30)

    @pytest.mark.parametrize(
        "zone, fall_day, first_offset",
        [
            (PARIS, dt.date(2026, 10, 25), dt.timedelta(hours=2)),
            (NEW_YORK, dt.date(2026, 11, 1), dt.timedelta(hours=-4)),
        ],
    )
    def test_an_ambiguous_fall_back_time_takes_the_first(self, zone, fall_day, first_offset):
        at = dt.time(1, 30) if zone == NEW_YORK else dt.time(2, 30)
        start = to_utc(fall_day, at, zoneinfo.ZoneInfo(zone))
        assert start.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset() == first_offset

    @pytest.mark.parametrize("zone", [PARIS, NEW_YORK])
    def test_weekly_reviews_keep_their_local_time_across_both_changes(self, zone):
        schedule = series(dt.date(2026, 3, 2), Recurrence.WEEKLY, zone=zone, at=dt.time(9, 0))
        local = zoneinfo.ZoneInfo(zone)
        starts = [o.start.astimezone(local) for o in occurrences(schedule, 0, 40)]
        assert {s.time() for s in starts} == {dt.time(9, 0)}
        assert len({s.utcoffset() for s in starts}) == 2  # both sides of each change

    def test_an_end_is_the_same_wall_time_n_calendar_days_later_across_a_change(self):
        schedule = series(dt.date(2026, 3, 25), Recurrence.ONE_TIME, zone=PARIS, days=7)
        first = occurrence(schedule, 0)
        local = zoneinfo.ZoneInfo(PARIS)
        assert first.end.astimezone(local).replace(tzinfo=None) == dt.datetime(2026, 4, 1, 9, 0)
        assert first.end - first.start == dt.timedelta(days=7, hours=-1)  # 23-hour day inside


class TestDueWork:
    schedule = series(dt.date(2026, 1, 1), Recurrence.WEEKLY, days=3)  # Thursdays 09:00 UTC

    def test_nothing_is_due_before_the_first_start(self):
        work = due_work(self.schedule, 0, dt.datetime(2025, 12, 31, tzinfo=UTC))
        assert work.start is None and work.skipped == [] and work.next_index == 0

    def test_a_due_occurrence_starts_and_the_next_one_is_found(self):
        work = due_work(self.schedule, 0, dt.datetime(2026, 1, 1, 9, 0, 30, tzinfo=UTC))
        assert work.start.index == 0 and work.skipped == []
        assert work.next_index == 1 and work.next.start == dt.datetime(2026, 1, 8, 9, tzinfo=UTC)

    def test_after_downtime_only_the_latest_open_window_starts_with_its_original_end(self):
        now = dt.datetime(2026, 1, 23, 12, tzinfo=UTC)  # the 22nd's window is still open
        work = due_work(self.schedule, 0, now)
        assert work.start.index == 3
        assert work.start.end == dt.datetime(2026, 1, 25, 9, tzinfo=UTC)
        assert [o.index for o in work.skipped] == [0, 1, 2]
        assert work.next_index == 4

    def test_when_every_missed_window_has_closed_all_are_skipped(self):
        now = dt.datetime(2026, 1, 27, tzinfo=UTC)  # the 22nd's window closed on the 25th
        work = due_work(self.schedule, 0, now)
        assert work.start is None and [o.index for o in work.skipped] == [0, 1, 2, 3]

    def test_running_it_again_after_starting_changes_nothing(self):
        now = dt.datetime(2026, 1, 1, 9, 1, tzinfo=UTC)
        first = due_work(self.schedule, 0, now)
        again = due_work(self.schedule, first.next_index, now)
        assert again.start is None and again.skipped == []

    def test_a_finished_series_has_no_next(self):
        schedule = series(dt.date(2026, 1, 1), Recurrence.ONE_TIME)
        work = due_work(schedule, 0, dt.datetime(2026, 1, 1, 10, tzinfo=UTC))
        assert work.start.index == 0 and work.next is None

    def test_resuming_a_paused_series_starts_from_the_next_future_occurrence(self):
        resumed_at = dt.datetime(2026, 2, 10, tzinfo=UTC)
        index = first_index_starting_at_or_after(self.schedule, resumed_at)
        assert occurrence(self.schedule, index).start == dt.datetime(2026, 2, 12, 9, tzinfo=UTC)

    def test_a_series_idle_for_years_skips_what_it_missed_and_finds_the_next(self):
        work = due_work(self.schedule, 0, dt.datetime(2040, 1, 2, tzinfo=UTC))
        assert work.start is None and work.next_index == 731
        assert work.next.start == dt.datetime(2040, 1, 5, 9, tzinfo=UTC)


class TestLimits:
    @pytest.mark.parametrize(
        "recurrence, interval, days",
        [
            (Recurrence.WEEKLY, 1, 6),
            (Recurrence.WEEKLY, 2, 13),
            (Recurrence.MONTHLY, 1, 27),
            (Recurrence.MONTHLY, 2, 58),
            (Recurrence.QUARTERLY, 1, 88),
            (Recurrence.SEMI_ANNUALLY, 1, 180),
            (Recurrence.ANNUALLY, 1, 364),
        ],
    )
    def test_a_run_must_end_before_the_next_start(self, recurrence, interval, days):
        assert max_duration_days(recurrence, interval) == days

    def test_the_longest_monthly_run_ends_before_the_next_start_even_in_february(self):
        schedule = series(dt.date(2026, 1, 31), days=max_duration_days(Recurrence.MONTHLY))
        for index in range(24):
            assert occurrence(schedule, index).end < occurrence(schedule, index + 1).start


def test_a_series_reaching_the_year_9999_simply_ends_there():
    schedule = series(dt.date(9999, 10, 1), Recurrence.MONTHLY)
    assert [o.index for o in occurrences(schedule, 0, 12)] == [0, 1, 2]

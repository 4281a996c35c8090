"""Recurrences: DST-safe daily schedules, month ends, weekly days, cron, missed ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rota.core.schedule import InvalidSchedule, Recurrence, SystemSchedule


def local_runs(recurrence: Recurrence, start: datetime, end: datetime) -> list[str]:
    zone = ZoneInfo(recurrence.timezone)
    return [
        tick.astimezone(zone).strftime("%Y-%m-%d %H:%M %z")
        for tick in recurrence.ticks_between(start, end)
    ]


@pytest.mark.parametrize(
    ("zone", "day"),
    [("Europe/Berlin", datetime(2026, 3, 29)), ("America/New_York", datetime(2026, 3, 8))],
)
def test_daily_schedule_runs_once_on_spring_forward_day(zone: str, day: datetime) -> None:
    # 02:30 does not exist that day: the run happens once, at the first valid minute.
    recurrence = Recurrence("daily", zone, "02:30")
    start = (day - timedelta(days=1)).replace(tzinfo=ZoneInfo(zone))
    runs = local_runs(recurrence, start, start + timedelta(days=3))
    on_the_day = [run for run in runs if run.startswith(day.strftime("%Y-%m-%d"))]
    assert on_the_day == [f"{day:%Y-%m-%d} 03:00 {'+0200' if 'Berlin' in zone else '-0400'}"]
    assert len(runs) == 3


@pytest.mark.parametrize(
    ("zone", "day", "offset"),
    [
        ("Europe/Berlin", datetime(2026, 10, 25), "+0100"),
        ("America/New_York", datetime(2026, 11, 1), "-0500"),
    ],
)
def test_daily_schedule_runs_once_on_fall_back_day(zone: str, day: datetime, offset: str) -> None:
    # 01:30 (New York) and 02:30 (Berlin) happen twice that day: the run happens once.
    time = "02:30" if "Berlin" in zone else "01:30"
    recurrence = Recurrence("daily", zone, time)
    start = (day - timedelta(days=1)).replace(tzinfo=ZoneInfo(zone))
    runs = local_runs(recurrence, start, start + timedelta(days=3))
    on_the_day = [run for run in runs if run.startswith(day.strftime("%Y-%m-%d"))]
    assert len(on_the_day) == 1
    assert len(runs) == 3
    # The day after, the run is at the same wall-clock time in the new offset.
    assert runs[-1].endswith(f"{time} {offset}")


def test_daily_schedule_keeps_wall_clock_time_across_dst() -> None:
    recurrence = Recurrence("daily", "Europe/Berlin", "09:00")
    start = datetime(2026, 3, 27, tzinfo=UTC)
    runs = local_runs(recurrence, start, start + timedelta(days=5))
    assert [run[11:16] for run in runs] == ["09:00"] * 5


def test_monthly_on_the_31st_runs_on_each_months_last_day() -> None:
    recurrence = Recurrence("monthly", "UTC", "08:00", day_of_month=31)
    runs = local_runs(
        recurrence, datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    )
    assert [run[:10] for run in runs] == [
        "2027-01-31",
        "2027-02-28",
        "2027-03-31",
        "2027-04-30",
        "2027-05-31",
        "2027-06-30",
        "2027-07-31",
        "2027-08-31",
        "2027-09-30",
        "2027-10-31",
        "2027-11-30",
        "2027-12-31",
    ]


def test_monthly_on_the_29th_in_a_leap_year() -> None:
    recurrence = Recurrence("monthly", "UTC", "08:00", day_of_month=29)
    runs = local_runs(
        recurrence, datetime(2028, 1, 1, tzinfo=UTC), datetime(2028, 4, 1, tzinfo=UTC)
    )
    assert [run[:10] for run in runs] == ["2028-01-29", "2028-02-29", "2028-03-29"]


def test_weekly_runs_on_the_given_weekdays() -> None:
    recurrence = Recurrence("weekly", "UTC", "10:15", weekdays=(1, 5))  # Monday, Friday
    runs = local_runs(
        recurrence, datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)
    )
    days = [datetime.strptime(run[:10], "%Y-%m-%d").isoweekday() for run in runs]
    assert days == [1, 5, 1, 5]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "daily", "time_of_day": "25:00"}, "HH:MM"),
        ({"kind": "daily", "time_of_day": "09:00", "timezone": "Mars/Olympus"}, "time zone"),
        ({"kind": "weekly", "time_of_day": "09:00", "weekdays": (0,)}, "weekdays"),
        ({"kind": "monthly", "time_of_day": "09:00", "day_of_month": 32}, "day of month"),
        ({"kind": "cron", "cron": "61 * * * *"}, "cron"),
        ({"kind": "cron", "cron": "not a cron"}, "cron"),
    ],
)
def test_invalid_recurrences_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message) as caught:
        Recurrence(**kwargs)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_schedule"


def hourly(on_missed: str) -> SystemSchedule:
    return SystemSchedule(
        key="system:x",
        job_type="x",
        recurrence=Recurrence("cron", cron="0 * * * *"),
        payload={},
        on_missed=on_missed,  # type: ignore[arg-type]
    )


NOW = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def test_on_time_tick_fires() -> None:
    last = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert hourly("skip").due_ticks(last, NOW, GRACE) == [NOW.replace(second=0)]


def test_nothing_fires_twice() -> None:
    assert hourly("skip").due_ticks(NOW.replace(second=0), NOW, GRACE) == []


def test_missed_ticks_are_skipped_after_downtime() -> None:
    last = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    late = NOW.replace(minute=5)  # five minutes past the 12:00 tick: it too is missed
    assert hourly("skip").due_ticks(last, late, GRACE) == []


def test_missed_ticks_run_once_after_downtime() -> None:
    last = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    late = NOW.replace(minute=5)
    assert hourly("run_once").due_ticks(last, late, GRACE) == [NOW.replace(second=0)]


def test_a_new_schedule_starts_at_its_latest_on_time_tick() -> None:
    assert hourly("run_once").due_ticks(None, NOW, GRACE) == [NOW.replace(second=0)]
    assert hourly("run_once").due_ticks(None, NOW.replace(minute=30), GRACE) == []

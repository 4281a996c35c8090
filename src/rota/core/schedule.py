"""Recurrences: when a schedule's next tick falls. Pure functions; time is an argument.

Daily, weekly and cron recurrences are cron expressions evaluated in the schedule's IANA
time zone by cronsim, which is DST-safe: on a spring-forward day a time that does not exist
runs once at the first valid minute, on a fall-back day a time that exists twice runs once.
Monthly recurrences on days 29-31 run on the month's last day when the month is shorter.
A cron expression may have a sixth field for seconds.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from rota.errors import RotaError

Kind = Literal["daily", "weekly", "monthly", "cron"]
KINDS: tuple[Kind, ...] = ("daily", "weekly", "monthly", "cron")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MAX_TICKS = 10_000


class InvalidSchedule(RotaError):
    code = "invalid_schedule"


@dataclass(frozen=True, slots=True)
class Recurrence:
    kind: Kind
    timezone: str = "UTC"
    time_of_day: str | None = None  # "HH:MM" for daily, weekly, monthly
    weekdays: tuple[int, ...] = ()  # 1 = Monday ... 7 = Sunday, for weekly
    day_of_month: int | None = None  # 1-31, for monthly
    cron: str | None = None

    def __post_init__(self) -> None:
        self.zone()  # validates the time zone
        if self.kind not in KINDS:
            raise InvalidSchedule(f"kind must be one of {', '.join(KINDS)}")
        if self.kind == "cron":
            if not self.cron or len(self.cron) > 200:
                raise InvalidSchedule("a cron schedule needs a cron expression")
        elif self.time_of_day is None or not _TIME.match(self.time_of_day):
            raise InvalidSchedule("time must be HH:MM (24-hour)")
        if self.kind == "weekly" and (
            not self.weekdays or any(not 1 <= day <= 7 for day in self.weekdays)
        ):
            raise InvalidSchedule("a weekly schedule needs weekdays from 1 (Monday) to 7")
        if self.kind == "monthly" and (
            self.day_of_month is None or not 1 <= self.day_of_month <= 31
        ):
            raise InvalidSchedule("a monthly schedule needs a day of month from 1 to 31")
        try:
            CronSim(self.expression(), datetime(2000, 1, 1, tzinfo=UTC))
        except (CronSimError, ValueError) as error:
            raise InvalidSchedule(f"invalid cron expression {self.cron!r}: {error}") from None

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidSchedule(f"unknown time zone {self.timezone!r}") from None

    def expression(self) -> str:
        if self.kind == "cron":
            assert self.cron is not None
            return self.cron
        assert self.time_of_day is not None
        hour, minute = (int(part) for part in self.time_of_day.split(":"))
        if self.kind == "daily":
            return f"{minute} {hour} * * *"
        if self.kind == "weekly":
            days = ",".join(str(day % 7) for day in sorted(set(self.weekdays)))
            return f"{minute} {hour} * * {days}"
        # monthly: candidates every day; ticks() keeps the one day each month that counts.
        return f"{minute} {hour} * * *"

    def ticks(self, after: datetime) -> Iterator[datetime]:
        """Tick times (UTC) strictly after ``after``, in order, without end."""
        local = after.astimezone(self.zone())
        for tick in CronSim(self.expression(), local):
            if self.kind == "monthly" and not self._is_monthly_day(tick):
                continue
            yield tick.astimezone(UTC)

    def next_after(self, after: datetime) -> datetime:
        return next(self.ticks(after))

    def ticks_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Ticks in (after, until], at most the last 10,000."""
        found: list[datetime] = []
        for tick in self.ticks(after):
            if tick > until:
                break
            found.append(tick)
            if len(found) > _MAX_TICKS:
                found.pop(0)
        return found

    def _is_monthly_day(self, tick: datetime) -> bool:
        assert self.day_of_month is not None
        last = calendar.monthrange(tick.year, tick.month)[1]
        return tick.day == min(self.day_of_month, last)


def latest_tick(recurrence: Recurrence, now: datetime, horizon: timedelta) -> datetime | None:
    """The most recent tick in (now - horizon, now], if any."""
    ticks = recurrence.ticks_between(now - horizon, now)
    return ticks[-1] if ticks else None


OnMissed = Literal["skip", "run_once"]


@dataclass(frozen=True, slots=True)
class SystemSchedule:
    """A schedule declared in code with ``app.schedule``: one system job per tick."""

    key: str
    job_type: str
    recurrence: Recurrence
    payload: dict[str, object]
    on_missed: OnMissed

    def due_ticks(
        self, last_tick: datetime | None, now: datetime, grace: timedelta
    ) -> list[datetime]:
        """The ticks to fire now. A tick within ``grace`` of ``now`` is on time; older
        unfired ticks were missed (downtime) and follow ``on_missed``: ``skip`` drops them,
        ``run_once`` fires one job for the latest of them. A schedule never fired before
        starts with its latest on-time tick, if any."""
        if last_tick is None:
            latest = latest_tick(self.recurrence, now, grace)
            return [latest] if latest else []
        ticks = self.recurrence.ticks_between(last_tick, now)
        on_time = [tick for tick in ticks if now - tick <= grace]
        missed = [tick for tick in ticks if now - tick > grace]
        if missed and self.on_missed == "run_once":
            return [missed[-1], *on_time]
        return on_time

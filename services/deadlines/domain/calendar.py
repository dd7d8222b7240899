"""Working days: Monday to Friday, not a bank holiday of the organisation's nation, not one of
its own closure days (PROCEDURES.md, "Counting time").

Day zero: the day of receipt is day 0 and the next working day is working day 1. Something
received at or after the cut-off time, or on a non-working day, counts as received on the next
working day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from contracts import Nation

LONDON = ZoneInfo("Europe/London")

__all__ = [
    "LONDON",
    "Nation",
    "Skipped",
    "WorkingDayCalendar",
    "add_calendar_months",
    "calendar_for",
]


@lru_cache(maxsize=16)
def _bank_holidays(nation: Nation) -> holidays.HolidayBase:
    return holidays.country_holidays("GB", subdiv=nation.value)


@lru_cache(maxsize=8192)
def _bank_holiday(nation: Nation, day: date) -> str | None:
    """The bank holiday's name, or None. Remembered per day: working days are counted one day
    at a time, the same few weeks over and over for every case, and each lookup in the holidays
    library costs microseconds."""
    name = _bank_holidays(nation).get(day)
    return None if name is None else str(name)


@dataclass(frozen=True)
class Skipped:
    day: date
    why: str


@dataclass(frozen=True)
class WorkingDayCalendar:
    nation: Nation = Nation.ENGLAND
    closure_days: frozenset[date] = field(default_factory=frozenset)
    cutoff: time = time(17, 0)

    def why_not_working(self, day: date) -> str | None:
        """None for a working day; otherwise the reason, for explanations."""
        if day.weekday() == 5:
            return "Saturday"
        if day.weekday() == 6:
            return "Sunday"
        name = _bank_holiday(self.nation, day)
        if name is not None:
            return f"bank holiday ({name})"
        if day in self.closure_days:
            return "organisation closure day"
        return None

    def is_working_day(self, day: date) -> bool:
        return self.why_not_working(day) is None

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        day -= timedelta(days=1)
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def on_or_before(self, day: date) -> date:
        return day if self.is_working_day(day) else self.previous_working_day(day)

    def on_or_after(self, day: date) -> date:
        return day if self.is_working_day(day) else self.next_working_day(day)

    def subtract_working_days(self, end: date, days: int) -> date:
        """The working day that is ``days`` working days before ``end``."""
        day = end
        for _ in range(days):
            day = self.previous_working_day(day)
        return day

    def effective_receipt(self, received_at: datetime) -> date:
        """The date the clock counts from, after the cut-off and non-working-day rules."""
        local = received_at.astimezone(LONDON)
        day = local.date()
        if not self.is_working_day(day) or local.time() >= self.cutoff:
            return self.next_working_day(day)
        return day

    def add_working_days(self, start: date, days: int) -> date:
        """Day ``start`` is day 0; returns working day ``days``. Adding 0 returns ``start``."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start
        for _ in range(days):
            day = self.next_working_day(day)
        return day

    def skipped_between(self, start: date, end: date) -> list[Skipped]:
        """Non-working days after ``start`` up to ``end``, with why each was skipped."""
        out = []
        day = start + timedelta(days=1)
        while day <= end:
            why = self.why_not_working(day)
            if why is not None:
                out.append(Skipped(day, why))
            day += timedelta(days=1)
        return out

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def calendar_for(nation: Nation, closure_days: Iterable[date] = ()) -> WorkingDayCalendar:
    return WorkingDayCalendar(nation=nation, closure_days=frozenset(closure_days))


def add_calendar_months(start: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has no such day (31 Aug
    plus 6 months is 28 or 29 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return date(year, month, min(start.day, day))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover

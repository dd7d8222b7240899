"""Due dates with their explanations: the start, the rule, the days skipped and why, in words
an officer can read back to a resident or an Ombudsman."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from contracts.procedures import Timescale
from services.deadlines.domain.calendar import (
    LONDON,
    Skipped,
    WorkingDayCalendar,
    add_calendar_months,
)


@dataclass(frozen=True)
class Due:
    due_on: date
    counts_from: date
    working_days: int
    explanation: str


def day(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def short(d: date) -> str:
    return f"{d.day} {d:%b}"


def receipt_lead_in(received_at: datetime, calendar: WorkingDayCalendar) -> tuple[date, str]:
    """The day the clock counts from, and how that was decided."""
    local = received_at.astimezone(LONDON)
    start = calendar.effective_receipt(received_at)
    text = f"received {day(local.date())} at {local:%H:%M}"
    if start != local.date():
        why = calendar.why_not_working(local.date())
        if why is None:
            text += f", after the {calendar.cutoff:%H:%M} cut-off"
        else:
            text += f", a {why}" if why in ("Saturday", "Sunday") else f", on a {why}"
        text += f" → treated as received {day(start)}"
    return start, text


def describe_skipped(skipped: list[Skipped]) -> str:
    weekends = {s.day.isocalendar()[:2] for s in skipped if s.why in ("Saturday", "Sunday")}
    others = [s for s in skipped if s.why not in ("Saturday", "Sunday")]
    parts = []
    if len(weekends) == 1:
        parts.append("the weekend")
    elif weekends:
        parts.append(f"{len(weekends)} weekends")
    for s in others:
        parts.append(f"{short(s.day)} ({s.why.removeprefix('bank holiday (').rstrip(')')})")
    if not parts:
        return ""
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f", skipping {joined}"


def due_from(timescale: Timescale, start: date, calendar: WorkingDayCalendar, lead_in: str) -> Due:
    if timescale.calendar_months is not None:
        raw = add_calendar_months(start, timescale.calendar_months)
        due = calendar.on_or_before(raw)
        text = (
            f"{lead_in}; {timescale.calendar_months} calendar months after it "
            f"({timescale.clause}) is {day(raw)}"
        )
        if due != raw:
            text += f"; the last working day on or before it is {day(due)}"
        return Due(
            due, start, calendar.working_days_between(start, due), f"{text} → due {day(due)}"
        )
    assert timescale.working_days is not None
    due = calendar.add_working_days(start, timescale.working_days)
    text = (
        f"{lead_in}; {timescale.working_days} working days after it ({timescale.clause})"
        f"{describe_skipped(calendar.skipped_between(start, due))} → due {day(due)}"
    )
    return Due(due, start, timescale.working_days, text)


def extended(due: date, working_days: int, calendar: WorkingDayCalendar) -> tuple[date, str]:
    new = calendar.add_working_days(due, working_days)
    return new, (
        f"extended by {working_days} working days from {day(due)}"
        f"{describe_skipped(calendar.skipped_between(due, new))} → due {day(new)}"
    )


def resumed(on: date, remaining: int, calendar: WorkingDayCalendar) -> tuple[date, str]:
    start = calendar.on_or_after(on)
    new = calendar.add_working_days(start, remaining)
    return new, (
        f"clock restarted {day(on)} with {remaining} working days left"
        f"{describe_skipped(calendar.skipped_between(start, new))} → due {day(new)}"
    )

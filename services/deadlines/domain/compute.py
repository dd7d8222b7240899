"""The first due dates of a newly opened case, each with an explanation an officer can read
back to a resident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from contracts import DeadlineKind, Procedure
from services.deadlines.domain.calendar import LONDON, WorkingDayCalendar
from services.deadlines.domain.timescales import STAGE_ONE, CountsFrom, Timescale


@dataclass(frozen=True)
class ComputedDeadline:
    kind: DeadlineKind
    stage: int
    counts_from: date
    working_days: int
    due_on: date
    provisional: bool
    clause: str
    explanation: str


def initial_deadlines(
    procedure: Procedure, received_at: datetime, calendar: WorkingDayCalendar
) -> list[ComputedDeadline]:
    """Acknowledgement and response deadlines at stage 1.

    A response clock that runs from acknowledgement cannot start before the case is
    acknowledged; until then its date is provisional, counted from the latest day the
    acknowledgement may be sent, so it shows the latest the response could be due.
    """
    start = calendar.effective_receipt(received_at)
    ack_rule, response_rule = STAGE_ONE[procedure]
    ack_due = calendar.add_working_days(start, ack_rule.working_days)
    ack = _deadline(ack_rule, start, ack_due, calendar, received_at, provisional=False)
    if response_rule.counts_from is CountsFrom.ACKNOWLEDGEMENT:
        response_start, provisional = ack_due, True
    else:
        response_start, provisional = start, False
    response_due = calendar.add_working_days(response_start, response_rule.working_days)
    response = _deadline(
        response_rule, response_start, response_due, calendar, received_at, provisional
    )
    return [ack, response]


def _deadline(
    rule: Timescale,
    start: date,
    due: date,
    calendar: WorkingDayCalendar,
    received_at: datetime,
    provisional: bool,
) -> ComputedDeadline:
    local = received_at.astimezone(LONDON)
    parts = [f"{rule.working_days} working days ({rule.clause})"]
    if rule.counts_from is CountsFrom.RECEIPT:
        parts.append(f"counted from receipt on {local:%a %d %b %Y %H:%M}")
        if start != local.date():
            parts.append(
                f"treated as received {start:%a %d %b %Y} (after the "
                f"{calendar.cutoff:%H:%M} cut-off or on a non-working day)"
            )
    else:
        parts.append(
            f"counted from acknowledgement; provisional: assumes acknowledgement on its due "
            f"date {start:%a %d %b %Y} and is recomputed when the case is acknowledged"
        )
    skipped = calendar.skipped_between(start, due)
    if skipped:
        parts.append("skipping " + ", ".join(f"{s.day:%a %d %b} ({s.why})" for s in skipped))
    parts.append(f"due {due:%a %d %b %Y}")
    return ComputedDeadline(
        kind=rule.kind,
        stage=1,
        counts_from=start,
        working_days=rule.working_days,
        due_on=due,
        provisional=provisional,
        clause=rule.clause,
        explanation="; ".join(parts),
    )

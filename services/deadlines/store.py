"""Deadlines' SQL, in one place: the projection of deadline events, the durable timers, the
case facts the rules need, organisations' calendars, and parked case events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from contracts import (
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineMet,
    DeadlineMissed,
    DeadlinePaused,
    DeadlineSet,
    EventPayload,
    FeedbackKind,
    Nation,
    OrganisationConfigured,
    Procedure,
)
from contracts.procedures import TimescaleOverride
from redress.db import Connection
from services.deadlines.domain.calendar import LONDON, WorkingDayCalendar
from services.deadlines.domain.case_deadlines import CaseDeadlines


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=LONDON)


def end_of_day(day: date) -> datetime:
    return start_of(day + timedelta(days=1))


# -- organisations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganisationSettings:
    calendar: WorkingDayCalendar
    reminder_working_days: int
    stricter_timescales: tuple[TimescaleOverride, ...]


async def save_organisation(conn: Connection, org: OrganisationConfigured) -> None:
    await conn.execute(
        """INSERT INTO organisation_calendars (organisation_id, nation, closure_days,
               reminder_working_days, stricter_timescales)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organisation_id) DO UPDATE SET nation = $2, closure_days = $3,
               reminder_working_days = $4, stricter_timescales = $5""",
        org.organisation_id,
        org.nation.value,
        sorted(org.closure_days),
        org.reminder_working_days,
        [o.model_dump(mode="json") for o in org.stricter_timescales],
    )


async def organisation(
    conn: Connection | asyncpg.Pool, organisation_id: str | None, default_nation: Nation
) -> OrganisationSettings:
    row = None
    if organisation_id is not None:
        row = await conn.fetchrow(
            "SELECT * FROM organisation_calendars WHERE organisation_id = $1", organisation_id
        )
    if row is None:
        return OrganisationSettings(WorkingDayCalendar(nation=default_nation), 2, ())
    return OrganisationSettings(
        WorkingDayCalendar(
            nation=Nation(row["nation"]), closure_days=frozenset(row["closure_days"])
        ),
        row["reminder_working_days"],
        tuple(TimescaleOverride.model_validate(o) for o in row["stricter_timescales"]),
    )


# -- case facts and parked events ----------------------------------------------------------


async def case_facts(conn: Connection, case_id: uuid.UUID) -> CaseDeadlines:
    row = await conn.fetchrow("SELECT * FROM deadline_cases WHERE case_id = $1", case_id)
    if row is None:
        return CaseDeadlines()
    return CaseDeadlines(
        case_id=row["case_id"],
        organisation_id=row["organisation_id"],
        procedure=Procedure(row["procedure"]),
        kind=FeedbackKind(row["kind"]),
        received_at=row["received_at"],
    )


async def save_case_facts(conn: Connection, state: CaseDeadlines) -> None:
    assert state.case_id is not None and state.procedure and state.kind and state.received_at
    await conn.execute(
        """INSERT INTO deadline_cases (case_id, organisation_id, procedure, kind, received_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (case_id) DO UPDATE SET procedure = $3, kind = $4""",
        state.case_id,
        state.organisation_id,
        state.procedure.value,
        state.kind.value,
        state.received_at,
    )


async def park(conn: Connection, case_id: uuid.UUID, envelope: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO parked_case_events (case_id, envelope) VALUES ($1, $2)", case_id, envelope
    )


async def unpark(conn: Connection, case_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "DELETE FROM parked_case_events WHERE case_id = $1 RETURNING id, envelope", case_id
    )
    return [r["envelope"] for r in sorted(rows, key=lambda r: r["id"])]


# -- projection -----------------------------------------------------------------------------


async def project(
    conn: Connection,
    event: EventPayload,
    *,
    organisation_id: str | None,
    settings: OrganisationSettings,
    now: datetime,
) -> None:
    """Apply one deadline event to the queryable table and the timers."""
    match event:
        case DeadlineSet():
            await conn.execute(
                """INSERT INTO deadlines (deadline_id, case_id, kind, stage, procedure,
                       counts_from, working_days, due_on, due_at, state, provisional, clause,
                       explanation, created_at, organisation_id, part_id, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, $13,
                       $14, $15, $13)
                   ON CONFLICT (deadline_id) DO UPDATE SET counts_from = $6,
                       working_days = $7, due_on = $8, due_at = $9, state = 'pending',
                       provisional = $10, clause = $11, explanation = $12, procedure = $5,
                       paused_remaining = NULL, extension_days = 0, met_on = NULL,
                       updated_at = $13""",
                event.deadline_id,
                event.case_id,
                event.kind.value,
                event.stage,
                event.procedure.value,
                event.counts_from,
                event.working_days,
                event.due_on,
                end_of_day(event.due_on),
                event.provisional,
                event.clause,
                event.explanation,
                now,
                organisation_id,
                event.part_id,
            )
            await schedule(conn, event.deadline_id, event.case_id, event.due_on, settings, now)
        case DeadlineChanged():
            await conn.execute(
                """UPDATE deadlines SET due_on = $2, due_at = $3, provisional = $4,
                       explanation = $5, extension_days = $6, paused_remaining = NULL,
                       updated_at = $7
                   WHERE deadline_id = $1""",
                event.deadline_id,
                event.due_on,
                end_of_day(event.due_on),
                event.provisional,
                event.explanation,
                event.extension_days,
                now,
            )
            await schedule(conn, event.deadline_id, event.case_id, event.due_on, settings, now)
        case DeadlinePaused():
            await conn.execute(
                """UPDATE deadlines SET due_on = NULL, due_at = NULL, paused_remaining = $2,
                       updated_at = $3 WHERE deadline_id = $1""",
                event.deadline_id,
                event.remaining_working_days,
                now,
            )
            await cancel_timers(conn, event.deadline_id, now)
        case DeadlineMet():
            await conn.execute(
                "UPDATE deadlines SET state = $2, met_on = $3, updated_at = $4 "
                "WHERE deadline_id = $1",
                event.deadline_id,
                "met_late" if event.late else "met",
                event.met_on,
                now,
            )
            await cancel_timers(conn, event.deadline_id, now)
        case DeadlineCancelled():
            await conn.execute(
                "UPDATE deadlines SET state = 'cancelled', updated_at = $2 WHERE deadline_id = $1",
                event.deadline_id,
                now,
            )
            await cancel_timers(conn, event.deadline_id, now)
        case DeadlineMissed():
            await conn.execute(
                "UPDATE deadlines SET state = 'missed', updated_at = $2 "
                "WHERE deadline_id = $1 AND state = 'pending'",
                event.deadline_id,
                now,
            )


async def schedule(
    conn: Connection,
    deadline_id: uuid.UUID,
    case_id: uuid.UUID,
    due_on: date,
    settings: OrganisationSettings,
    now: datetime,
) -> None:
    """A reminder N working days before, and a breach at the end of the due day. Timers for an
    earlier due date that have not fired are cancelled."""
    await conn.execute(
        """UPDATE timers SET cancelled_at = $3
           WHERE deadline_id = $1 AND due_on <> $2 AND fired_at IS NULL AND cancelled_at IS NULL""",
        deadline_id,
        due_on,
        now,
    )
    timers = [("missed", end_of_day(due_on))]
    if settings.reminder_working_days > 0:
        remind = settings.calendar.subtract_working_days(due_on, settings.reminder_working_days)
        timers.append(("approaching", start_of(remind)))
    for kind, fire_at in timers:
        await conn.execute(
            """INSERT INTO timers (deadline_id, case_id, kind, due_on, fire_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (deadline_id, kind, due_on)
               DO UPDATE SET cancelled_at = NULL WHERE timers.fired_at IS NULL""",
            deadline_id,
            case_id,
            kind,
            due_on,
            fire_at,
        )


async def cancel_timers(conn: Connection, deadline_id: uuid.UUID, now: datetime) -> None:
    await conn.execute(
        """UPDATE timers SET cancelled_at = $2
           WHERE deadline_id = $1 AND fired_at IS NULL AND cancelled_at IS NULL""",
        deadline_id,
        now,
    )


# -- queries --------------------------------------------------------------------------------

_COLUMNS = """deadline_id, case_id, organisation_id, kind, stage, procedure, part_id,
    counts_from, working_days, due_on, due_at, state, provisional, paused_remaining,
    extension_days, met_on, clause, explanation"""


async def for_case(pool: asyncpg.Pool, case_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM deadlines WHERE case_id = $1 "
        "ORDER BY stage, due_on NULLS LAST, kind",
        case_id,
    )
    return [dict(r) for r in rows]


async def open_due_by(
    pool: asyncpg.Pool, organisation_id: str | None, *, after: date | None, by: date, limit: int
) -> list[dict[str, Any]]:
    """Open deadlines due on or before ``by`` (and after ``after``, if given)."""
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM deadlines
            WHERE state IN ('pending', 'missed') AND due_on <= $2
              AND ($1::text IS NULL OR organisation_id = $1)
              AND ($3::date IS NULL OR due_on > $3)
            ORDER BY due_on, case_id LIMIT $4""",
        organisation_id,
        by,
        after,
        limit,
    )
    return [dict(r) for r in rows]


async def get(pool: asyncpg.Pool, deadline_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM deadlines WHERE deadline_id = $1", deadline_id
    )
    return dict(row) if row else None

"""Deadlines' SQL, in one place: the projection of deadline events, the durable timers, the
case facts the rules need, organisations' calendars, and parked case events."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
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
            """SELECT nation, closure_days, reminder_working_days, stricter_timescales
               FROM organisation_calendars WHERE organisation_id = $1""",
            organisation_id,
        )
    if row is None:
        return settings_from(None, default_nation)
    return settings_from(tuple(row.values()), default_nation)


#: parsed settings by the row they came from: the row is read with every event (so a change
#: made through any replica counts at once), but parsed only when it differs from the last
_parsed: dict[tuple[Any, ...], OrganisationSettings] = {}


def settings_from(row: tuple[Any, ...] | None, default_nation: Nation) -> OrganisationSettings:
    """An organisation's settings from its row (nation, closure days, reminder days, stricter
    timescales), or the defaults when it has none."""
    key = (default_nation,) if row is None else _hashable(row)
    found = _parsed.get(key)
    if found is not None:
        return found
    if row is None:
        found = OrganisationSettings(WorkingDayCalendar(nation=default_nation), 2, ())
    else:
        nation, closure_days, reminder_working_days, stricter = row
        found = OrganisationSettings(
            WorkingDayCalendar(nation=Nation(nation), closure_days=frozenset(closure_days)),
            reminder_working_days,
            tuple(TimescaleOverride.model_validate(o) for o in stricter),
        )
    if len(_parsed) >= 1024:
        _parsed.clear()
    _parsed[key] = found
    return found


def _hashable(row: tuple[Any, ...]) -> tuple[Any, ...]:
    nation, closure_days, reminder_working_days, stricter = row
    return (
        nation,
        tuple(closure_days),
        reminder_working_days,
        json.dumps(stricter, sort_keys=True),
    )


# -- case facts and parked events ----------------------------------------------------------


@dataclass(frozen=True)
class CaseRecord:
    """What handling one case event needs, read in one round trip: the case facts, the case's
    deadline events (rows of the event store), its organisation's settings row and whether
    events wait parked for it."""

    facts: CaseDeadlines
    events: list[asyncpg.Record]
    organisation: tuple[Any, ...] | None
    parked: bool


async def case_record(
    conn: Connection, case_id: uuid.UUID, stream_id: str, organisation_id: str | None
) -> CaseRecord:
    """``organisation_id`` is whose settings to read when the case facts do not say yet (the
    CaseOpened being handled names it)."""
    rows = await conn.fetch(
        """SELECT c.case_id AS c_case_id, c.organisation_id AS c_organisation_id,
                  c.procedure AS c_procedure, c.kind AS c_kind, c.received_at AS c_received_at,
                  o.organisation_id AS o_organisation_id, o.nation AS o_nation,
                  o.closure_days AS o_closure_days,
                  o.reminder_working_days AS o_reminder_working_days,
                  o.stricter_timescales AS o_stricter_timescales,
                  EXISTS (SELECT 1 FROM parked_case_events p WHERE p.case_id = $1) AS parked,
                  e.*
           FROM (SELECT $1::uuid AS case_id) k
           LEFT JOIN deadline_cases c ON c.case_id = k.case_id
           LEFT JOIN organisation_calendars o
               ON o.organisation_id = coalesce(c.organisation_id, $3)
           LEFT JOIN events e ON e.stream_id = $2
           ORDER BY e.stream_version""",
        case_id,
        stream_id,
        organisation_id,
    )
    first = rows[0]
    facts = (
        CaseDeadlines()
        if first["c_case_id"] is None
        else CaseDeadlines(
            case_id=first["c_case_id"],
            organisation_id=first["c_organisation_id"],
            procedure=Procedure(first["c_procedure"]),
            kind=FeedbackKind(first["c_kind"]),
            received_at=first["c_received_at"],
        )
    )
    organisation = (
        None
        if first["o_organisation_id"] is None
        else (
            first["o_nation"],
            first["o_closure_days"],
            first["o_reminder_working_days"],
            first["o_stricter_timescales"],
        )
    )
    events = [] if first["event_id"] is None else list(rows)
    return CaseRecord(facts, events, organisation, first["parked"])


def case_facts(state: CaseDeadlines) -> tuple[str, tuple[object, ...]]:
    """The statement that keeps a case's facts (`save_case_facts`), to send now or held."""
    assert state.case_id is not None and state.procedure and state.kind and state.received_at
    return _statement(
        """INSERT INTO deadline_cases (case_id, organisation_id, procedure, kind, received_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (case_id) DO UPDATE SET procedure = $3, kind = $4""",
        state.case_id,
        state.organisation_id,
        state.procedure.value,
        state.kind.value,
        state.received_at,
    )


async def save_case_facts(conn: Connection, state: CaseDeadlines) -> None:
    sql, args = case_facts(state)
    await conn.execute(sql, *args)


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


def projection(
    event: EventPayload,
    *,
    organisation_id: str | None,
    settings: OrganisationSettings,
    now: datetime,
) -> tuple[str, tuple[object, ...]] | None:
    """The statement (and its arguments) that applies one deadline event to the queryable
    table and the timers: the deadline's row and its timers change together (a CTE per
    table), and touch nothing of any other deadline. None: nothing to apply."""
    match event:
        case DeadlineSet():
            kinds, fire_ats = _timers(event.due_on, settings)
            return _statement(
                """WITH deadline AS (
                       INSERT INTO deadlines (deadline_id, case_id, kind, stage, procedure,
                           counts_from, working_days, due_on, due_at, state, provisional,
                           clause, explanation, created_at, organisation_id, part_id,
                           updated_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12,
                           $13, $14, $15, $13)
                       ON CONFLICT (deadline_id) DO UPDATE SET counts_from = $6,
                           working_days = $7, due_on = $8, due_at = $9, state = 'pending',
                           provisional = $10, clause = $11, explanation = $12, procedure = $5,
                           paused_remaining = NULL, extension_days = 0, met_on = NULL,
                           updated_at = $13),"""
                + _SCHEDULE.format(
                    deadline="$1", case="$2", due_on="$8", now="$13", kinds="$16", fire_ats="$17"
                ),
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
                kinds,
                fire_ats,
            )
        case DeadlineChanged():
            kinds, fire_ats = _timers(event.due_on, settings)
            return _statement(
                """WITH deadline AS (
                       UPDATE deadlines SET due_on = $3, due_at = $4, provisional = $5,
                           explanation = $6, extension_days = $7, paused_remaining = NULL,
                           updated_at = $8
                       WHERE deadline_id = $1),"""
                + _SCHEDULE.format(
                    deadline="$1", case="$2", due_on="$3", now="$8", kinds="$9", fire_ats="$10"
                ),
                event.deadline_id,
                event.case_id,
                event.due_on,
                end_of_day(event.due_on),
                event.provisional,
                event.explanation,
                event.extension_days,
                now,
                kinds,
                fire_ats,
            )
        case DeadlinePaused():
            return _statement(
                """WITH deadline AS (
                       UPDATE deadlines SET due_on = NULL, due_at = NULL, paused_remaining = $2,
                           updated_at = $3 WHERE deadline_id = $1)"""
                + _CANCEL_TIMERS.format(deadline="$1", now="$3"),
                event.deadline_id,
                event.remaining_working_days,
                now,
            )
        case DeadlineMet():
            return _statement(
                """WITH deadline AS (
                       UPDATE deadlines SET state = $2, met_on = $3, updated_at = $4
                       WHERE deadline_id = $1)"""
                + _CANCEL_TIMERS.format(deadline="$1", now="$4"),
                event.deadline_id,
                "met_late" if event.late else "met",
                event.met_on,
                now,
            )
        case DeadlineCancelled():
            return _statement(
                """WITH deadline AS (
                       UPDATE deadlines SET state = 'cancelled', updated_at = $2
                       WHERE deadline_id = $1)"""
                + _CANCEL_TIMERS.format(deadline="$1", now="$2"),
                event.deadline_id,
                now,
            )
        case DeadlineMissed():
            return _statement(
                "UPDATE deadlines SET state = 'missed', updated_at = $2 "
                "WHERE deadline_id = $1 AND state = 'pending'",
                event.deadline_id,
                now,
            )

    return None


def _statement(sql: str, *args: object) -> tuple[str, tuple[object, ...]]:
    return sql, args


async def project(
    conn: Connection,
    event: EventPayload,
    *,
    organisation_id: str | None,
    settings: OrganisationSettings,
    now: datetime,
) -> None:
    """Apply one deadline event (`projection`) at once: one round trip per deadline it moves."""
    statement = projection(event, organisation_id=organisation_id, settings=settings, now=now)
    if statement is not None:
        await conn.execute(statement[0], *statement[1])


@dataclass
class HeldProjections:
    """A transaction's statements about deadlines (keyed by the deadline) and cases' facts
    (keyed by the case), sent as it commits in as few round trips as keep each key's own
    order: the n-th statement about a key goes in wave n, and a wave's statements go as one
    pipelined round trip per kind (``executemany``). Different keys' statements touch
    different rows, so their order between them is free."""

    waves: list[dict[str, list[tuple[object, ...]]]] = field(default_factory=list)
    seen: dict[uuid.UUID, int] = field(default_factory=dict)

    def add(self, deadline_id: uuid.UUID, statement: tuple[str, tuple[object, ...]]) -> None:
        wave = self.seen.get(deadline_id, 0)
        self.seen[deadline_id] = wave + 1
        if wave == len(self.waves):
            self.waves.append({})
        self.waves[wave].setdefault(statement[0], []).append(statement[1])

    async def write(self, conn: Connection) -> None:
        for wave in self.waves:
            for sql, rows in wave.items():
                await conn.executemany(sql, rows)


# Timers for a (new) due date, the tail of a statement whose first CTE changed the deadline:
# a reminder N working days before and a breach at the end of the due day; timers for an
# earlier due date that have not fired are cancelled. The two touch different rows (another
# due date, this due date), so one statement may do both.
_SCHEDULE = """
    earlier AS (
        UPDATE timers SET cancelled_at = {now}
        WHERE deadline_id = {deadline} AND due_on <> {due_on} AND fired_at IS NULL
          AND cancelled_at IS NULL)
    INSERT INTO timers (deadline_id, case_id, kind, due_on, fire_at)
    SELECT {deadline}, {case}, t.kind, {due_on}, t.fire_at
    FROM unnest({kinds}::text[], {fire_ats}::timestamptz[]) AS t(kind, fire_at)
    ON CONFLICT (deadline_id, kind, due_on)
    DO UPDATE SET cancelled_at = NULL WHERE timers.fired_at IS NULL"""

# the tail of a statement that ended a deadline's clock: its timers that have not fired go
_CANCEL_TIMERS = """
    UPDATE timers SET cancelled_at = {now}
    WHERE deadline_id = {deadline} AND fired_at IS NULL AND cancelled_at IS NULL"""


def _timers(due_on: date, settings: OrganisationSettings) -> tuple[list[str], list[datetime]]:
    """The timers a deadline due on ``due_on`` gets: (kinds, when each fires)."""
    kinds, fire_ats = ["missed"], [end_of_day(due_on)]
    if settings.reminder_working_days > 0:
        remind = settings.calendar.subtract_working_days(due_on, settings.reminder_working_days)
        kinds.append("approaching")
        fire_ats.append(start_of(remind))
    return kinds, fire_ats


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

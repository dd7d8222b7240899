"""Deadlines' SQL, in one place."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from contracts import DeadlineSet, Nation
from redress.db import Connection
from services.deadlines.domain.calendar import LONDON, WorkingDayCalendar


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=LONDON)


async def insert(conn: Connection, d: DeadlineSet, *, created_at: datetime) -> None:
    await conn.execute(
        """INSERT INTO deadlines (deadline_id, case_id, kind, stage, procedure, counts_from,
               working_days, due_on, due_at, provisional, clause, explanation, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        d.deadline_id,
        d.case_id,
        d.kind.value,
        d.stage,
        d.procedure.value,
        d.counts_from,
        d.working_days,
        d.due_on,
        end_of_day(d.due_on),
        d.provisional,
        d.clause,
        d.explanation,
        created_at,
    )


_COLUMNS = """deadline_id, case_id, kind, stage, procedure, counts_from, working_days, due_on,
    due_at, state, provisional, clause, explanation"""


async def for_case(pool: asyncpg.Pool, case_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM deadlines WHERE case_id = $1 ORDER BY due_on, kind", case_id
    )
    return [dict(r) for r in rows]


async def pending_due_by(pool: asyncpg.Pool, day: date, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM deadlines WHERE state = 'pending' AND due_on <= $1
            ORDER BY due_on, case_id LIMIT $2""",
        day,
        limit,
    )
    return [dict(r) for r in rows]


async def get(pool: asyncpg.Pool, deadline_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM deadlines WHERE deadline_id = $1", deadline_id
    )
    return dict(row) if row else None


async def save_calendar(
    conn: Connection, organisation_id: str, nation: Nation, closure_days: list[date]
) -> None:
    await conn.execute(
        """INSERT INTO organisation_calendars (organisation_id, nation, closure_days)
           VALUES ($1, $2, $3)
           ON CONFLICT (organisation_id) DO UPDATE SET nation = $2, closure_days = $3""",
        organisation_id,
        nation.value,
        sorted(closure_days),
    )


async def calendar_for(
    conn: Connection, organisation_id: str, default_nation: Nation
) -> WorkingDayCalendar:
    row = await conn.fetchrow(
        "SELECT nation, closure_days FROM organisation_calendars WHERE organisation_id = $1",
        organisation_id,
    )
    if row is None:
        return WorkingDayCalendar(nation=default_nation)
    return WorkingDayCalendar(
        nation=Nation(row["nation"]), closure_days=frozenset(row["closure_days"])
    )

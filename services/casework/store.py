"""Casework's SQL, in one place."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from contracts import CaseOpened, DeadlineSet
from redress.db import Connection


async def next_reference_number(conn: Connection, prefix: str, year: int) -> int:
    number = await conn.fetchval(
        """INSERT INTO reference_counters (prefix, year, last) VALUES ($1, $2, 1)
           ON CONFLICT (prefix, year) DO UPDATE SET last = reference_counters.last + 1
           RETURNING last""",
        prefix,
        year,
    )
    return int(number)


async def insert_case(
    conn: Connection, opened: CaseOpened, *, opened_at: datetime, version: int
) -> None:
    await conn.execute(
        """INSERT INTO cases (case_id, reference, submission_id, kind, channel, organisation_id,
               service_area, procedure, stage, status, received_at, opened_at, complainant_name,
               summary, version, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11, $12, $13, $14, $11)""",
        opened.case_id,
        opened.reference,
        opened.submission_id,
        opened.kind.value,
        opened.channel.value,
        opened.organisation_id,
        opened.service_area,
        opened.procedure.value,
        opened.stage,
        opened.received_at,
        opened_at,
        opened.complainant.name,
        opened.summary,
        version,
    )


async def record_deadline(conn: Connection, deadline: DeadlineSet) -> None:
    """Latest due date per (case, kind, stage): a recomputed deadline replaces the old one."""
    await conn.execute(
        """INSERT INTO case_deadlines (case_id, kind, stage, deadline_id, due_on, provisional,
               clause, explanation)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (case_id, kind, stage) DO UPDATE SET deadline_id = $4, due_on = $5,
               provisional = $6, clause = $7, explanation = $8""",
        deadline.case_id,
        deadline.kind.value,
        deadline.stage,
        deadline.deadline_id,
        deadline.due_on,
        deadline.provisional,
        deadline.clause,
        deadline.explanation,
    )


_CASE_COLUMNS = """case_id, reference, submission_id, kind, channel, organisation_id, service_area,
    procedure, stage, status, received_at, opened_at, complainant_name, summary, version"""


async def find_cases(
    pool: asyncpg.Pool,
    *,
    submission_id: uuid.UUID | None = None,
    reference: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"""SELECT {_CASE_COLUMNS} FROM cases
            WHERE ($1::uuid IS NULL OR submission_id = $1)
              AND ($2::text IS NULL OR reference = $2)
            ORDER BY opened_at DESC LIMIT $3""",
        submission_id,
        reference,
        limit,
    )
    return await _with_deadlines(pool, [dict(r) for r in rows])


async def get_case(pool: asyncpg.Pool, case_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"SELECT {_CASE_COLUMNS} FROM cases WHERE case_id = $1", case_id)
    if row is None:
        return None
    return (await _with_deadlines(pool, [dict(row)]))[0]


async def _with_deadlines(pool: asyncpg.Pool, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not cases:
        return cases
    rows = await pool.fetch(
        """SELECT case_id, kind, stage, due_on, provisional, clause, explanation
           FROM case_deadlines WHERE case_id = ANY($1::uuid[]) ORDER BY due_on""",
        [c["case_id"] for c in cases],
    )
    by_case: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for r in rows:
        item = dict(r)
        by_case.setdefault(item.pop("case_id"), []).append(item)
    for c in cases:
        c["deadlines"] = by_case.get(c["case_id"], [])
    return cases

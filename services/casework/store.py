"""Casework's SQL, in one place."""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from contracts import CaseOpened
from redress.db import Connection
from services.casework.domain.case import Case
from services.casework.view import case_view

_TAKE_REFERENCE_NUMBER = """
WITH counter AS (
    INSERT INTO reference_counters (prefix, year, last)
    SELECT $2, $3, 1 WHERE NOT EXISTS (SELECT 1 FROM events WHERE stream_id = $1)
    ON CONFLICT (prefix, year) DO UPDATE SET last = reference_counters.last + 1
    RETURNING last)
SELECT $1::text AS stream_id, counter.last,
       coalesce(o.procedures_by_service ->> $5::text, o.default_procedure) AS procedure
FROM counter LEFT JOIN organisations o ON o.organisation_id = $4"""


async def take_reference_number(
    conn: Connection,
    stream_id: str,
    prefix: str,
    year: int,
    organisation_id: str,
    service_area: str | None,
) -> tuple[int, str | None] | None:
    """For a case about to open: the next reference number of the year for this prefix, and
    the procedure its organisation configured for the service area (None when it has not),
    in one round trip. None, and no number taken, when the case's stream already holds events
    (a case stream begins with its CaseOpened, so the case is open already)."""
    row = await conn.fetchrow(
        _TAKE_REFERENCE_NUMBER, stream_id, prefix, year, organisation_id, service_area or ""
    )
    return None if row is None else (int(row["last"]), row["procedure"])


async def take_reference_numbers(
    conn: Connection, asks: list[tuple[str, str, int, str, str | None]]
) -> dict[str, tuple[int, str | None]]:
    """`take_reference_number` for several cases (``(stream_id, prefix, year, organisation,
    service area)`` each), in their order, pipelined in one round trip; by stream, the cases
    whose streams are empty."""
    rows = await conn.fetchmany(
        _TAKE_REFERENCE_NUMBER, [(s, p, y, o, area or "") for s, p, y, o, area in asks]
    )
    return {r["stream_id"]: (int(r["last"]), r["procedure"]) for r in rows}


def view_json(state: Case) -> str:
    """The case's view (`case_view`) as JSON text: stored as it is (the statements cast it to
    jsonb) and answered as it is, so a staff command encodes the case once, not once for the
    database and twice more for its answer."""
    return json.dumps(case_view(state), separators=(",", ":"))


def _view(state: Case) -> tuple[Any, ...]:
    """The case's columns that follow its state, in the order both statements below use."""
    current = state.current
    location = state.location
    return (
        view_json(state),
        state.version,
        state.lifecycle.value,
        state.stage,
        state.officer,
        state.kind.value if state.kind else None,
        state.procedure.value if state.procedure else None,
        state.service_area,
        state.category,
        state.priority.value if state.priority else None,
        current.acknowledged_on is not None,
        current.issued_on is not None,
        location.ward if location else None,
        location.postcode if location else None,
        [f.flag_type.value for f in state.flags if f.active],
        sorted({p.service_area for s in state.stages for p in s.parts}),
    )


_OPEN_CASE = """
INSERT INTO cases (case_id, reference, submission_id, channel, organisation_id, received_at,
    opened_at, complainant_name, summary, complainant_email, person_id, state, version,
    lifecycle, status, stage, officer, kind, procedure, service_area, category, priority,
    acknowledged, responded, ward, postcode, flags, part_services, updated_at, closed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
    $12::text::jsonb, $13, $14, $14, coalesce($15::integer, $28), $16, coalesce($17, $29),
    coalesce($18, $30), $19, $20, $21, $22, $23, $24, coalesce($25, $31), $26, $27,
    $7, CASE WHEN $14 = 'closed' THEN $7::timestamptz END)"""


def _opened_row(opened: CaseOpened, state: Case, opened_at: datetime) -> tuple[Any, ...]:
    return (
        opened.case_id,
        opened.reference,
        opened.submission_id,
        opened.channel.value,
        opened.organisation_id,
        opened.received_at,
        opened_at,
        opened.complainant.name,
        opened.summary,
        opened.complainant.email,
        opened.person_id,
        *_view(state),
        opened.stage,
        opened.kind.value,
        opened.procedure.value,
        opened.complainant.postcode,
    )


async def open_case(conn: Connection, opened: CaseOpened, state: Case, opened_at: datetime) -> None:
    """The view row of a new case, as `save_view` would leave it, in one statement."""
    await conn.execute(_OPEN_CASE, *_opened_row(opened, state, opened_at))


async def open_cases(conn: Connection, cases: list[tuple[CaseOpened, Case, datetime]]) -> None:
    """`open_case` for several cases, pipelined in one round trip."""
    if cases:
        await conn.executemany(_OPEN_CASE, [_opened_row(*case) for case in cases])


_SAVE_VIEW = """UPDATE cases SET state = $2::text::jsonb, version = $3, lifecycle = $4,
        status = $4, stage = $5, officer = $6, kind = $7, procedure = $8, service_area = $9,
        category = $10, priority = $11, acknowledged = $12, responded = $13, ward = $14,
        postcode = coalesce($15, postcode), flags = $16, part_services = $17, updated_at = $18,
        closed_at = CASE WHEN $4 = 'closed' THEN coalesce(closed_at, $18) END
    WHERE case_id = $1"""


def view_update(state: Case, *, updated_at: datetime, first: int = 1) -> tuple[str, list[Any], str]:
    """The statement that stores the case's view, its arguments (numbered from ``$first``, so
    that it can ride in another statement: `commanding.execute` sends it with the events) and
    the view as stored (`view_json`), for a caller that answers with it too."""
    columns = _view(state)
    view: str = columns[0]
    return _save_view_from(first), [state.case_id, *columns, updated_at], view


@functools.cache
def _save_view_from(first: int) -> str:
    return re.sub(r"\$(\d+)", lambda m: f"${int(m[1]) + first - 1}", _SAVE_VIEW)


async def save_view(conn: Connection, state: Case, *, updated_at: datetime) -> str:
    """The case's view as stored (`view_json`), for a caller that answers with it too."""
    sql, args, view = view_update(state, updated_at=updated_at)
    await conn.execute(sql, *args)
    return view


async def letters(reader: Connection | asyncpg.Pool, case_id: uuid.UUID) -> list[dict[str, Any]]:
    """The case's letters and messages, newest first."""
    rows = await reader.fetch(
        """SELECT notification_id, template, channel, recipient, status, attempts, error,
                  happened_at
           FROM case_letters WHERE case_id = $1 ORDER BY happened_at DESC, notification_id""",
        case_id,
    )
    return [dict(r) for r in rows]


async def scrub_letters(conn: Connection, case_ids: list[uuid.UUID], erased: str) -> None:
    """An erased person's address and the error texts (which can quote it) read as erased,
    as the sealed fields of the events now do."""
    await conn.execute(
        """UPDATE case_letters SET recipient = $2,
               error = CASE WHEN error IS NULL THEN NULL ELSE $2 END
           WHERE case_id = ANY($1::uuid[])""",
        case_ids,
        erased,
    )


_CASE_COLUMNS = """case_id, reference, submission_id, kind, channel, organisation_id, service_area,
    procedure, stage, lifecycle, received_at, opened_at, complainant_name, complainant_email,
    postcode, ward, officer, category, priority, acknowledged, responded, flags, part_services,
    summary, version, updated_at"""


def _qualified(table: str) -> str:
    return ", ".join(f"{table}.{c.strip()}" for c in _CASE_COLUMNS.split(","))


@dataclass(frozen=True)
class Search:
    q: str | None = None
    reference: str | None = None
    submission_id: uuid.UUID | None = None
    name: str | None = None
    email: str | None = None
    postcode: str | None = None
    officer: str | None = None
    lifecycle: str | None = None
    service_area: str | None = None
    ward: str | None = None
    flag: str | None = None
    scope: str | None = None  # a service responder's service
    limit: int = 50


def _like(text: str | None) -> str | None:
    if text is None:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(pool: asyncpg.Pool, s: Search) -> list[dict[str, Any]]:
    postcode = s.postcode.replace(" ", "").upper() if s.postcode else None
    rows = await pool.fetch(
        f"""SELECT {_CASE_COLUMNS} FROM cases
            WHERE ($1::uuid IS NULL OR submission_id = $1)
              AND ($2::text IS NULL OR reference = upper($2))
              AND ($3::text IS NULL OR complainant_name ILIKE $3)
              AND ($4::text IS NULL OR lower(complainant_email) = lower($4))
              AND ($5::text IS NULL OR replace(postcode, ' ', '') = $5)
              AND ($6::text IS NULL OR officer = $6)
              AND ($7::text IS NULL OR lifecycle = $7)
              AND ($8::text IS NULL OR service_area = $8)
              AND ($9::text IS NULL OR ward = $9)
              AND ($10::text IS NULL OR $10 = ANY(flags))
              AND ($11::text IS NULL OR summary ILIKE $11 OR complainant_name ILIKE $11
                   OR reference ILIKE $11)
              AND ($12::text IS NULL OR service_area = $12 OR $12 = ANY(part_services))
            ORDER BY opened_at DESC LIMIT $13""",
        s.submission_id,
        s.reference,
        _like(s.name),
        s.email,
        postcode,
        s.officer,
        s.lifecycle,
        s.service_area,
        s.ward,
        s.flag,
        _like(s.q),
        s.scope,
        s.limit,
    )
    return await _with_deadlines(pool, [dict(r) for r in rows])


async def queue(
    pool: asyncpg.Pool, which: str, officer: str | None, today: date | None
) -> list[dict[str, Any]]:
    """The triage queue, an officer's caseload, or the overdue list."""
    if which == "triage":
        rows = await pool.fetch(
            # with intake's hints (safeguarding, outside the time limit, ...): what the person
            # triaging must look at first
            f"""SELECT {_CASE_COLUMNS},
                   coalesce(state->'triage_hints', '[]'::jsonb) AS triage_hints
                FROM cases WHERE lifecycle = 'new' ORDER BY received_at"""
        )
    elif which == "caseload":
        rows = await pool.fetch(
            f"""SELECT {_CASE_COLUMNS},
                   (SELECT min(d.due_on) FROM case_deadlines d
                    WHERE d.case_id = cases.case_id AND d.stage = cases.stage
                      AND d.state IN ('pending', 'missed')) AS next_due_on
                FROM cases WHERE officer = $1 AND lifecycle <> 'closed'
                ORDER BY next_due_on NULLS LAST, received_at""",
            officer,
        )
    elif which == "overdue":
        rows = await pool.fetch(
            f"""SELECT {_qualified("cases")}, o.kind AS overdue_step, o.due_on AS overdue_since
                FROM cases JOIN LATERAL (
                    SELECT d.kind, d.due_on FROM case_deadlines d
                    WHERE d.case_id = cases.case_id AND d.stage = cases.stage AND d.due_on < $1
                      AND d.state IN ('pending', 'missed')
                      AND d.kind IN ('acknowledgement', 'response', 'panel')
                    ORDER BY d.due_on LIMIT 1) o ON true
                WHERE lifecycle <> 'closed'
                ORDER BY o.due_on, received_at""",
            today,
        )
    else:
        raise ValueError(which)
    return await _with_deadlines(pool, [dict(r) for r in rows])


async def overdue_parts(
    pool: asyncpg.Pool, today: date, service_area: str | None
) -> list[dict[str, Any]]:
    """Services' parts past their due date and not yet answered: who to chase."""
    rows = await pool.fetch(
        """SELECT c.case_id, c.reference, c.officer, (s->>'number')::int AS stage,
                  p->>'part_id' AS part_id, p->>'service_area' AS service_area,
                  p->>'contributor' AS contributor, (p->>'due_on')::date AS due_on,
                  (p->>'chased')::int AS chased
           FROM cases c,
                jsonb_array_elements(c.state->'stages') s,
                jsonb_array_elements(s->'parts') p
           WHERE c.lifecycle <> 'closed' AND p->>'response' IS NULL
             AND (p->>'due_on')::date < $1
             AND ($2::text IS NULL OR p->>'service_area' = $2)
           ORDER BY due_on, c.reference""",
        today,
        service_area,
    )
    return [dict(r) for r in rows]


#: a case's deadlines as `_with_deadlines` lists them, in the case's own row (rows of them)
_DEADLINE_FIELDS = (
    "deadline_id",
    "kind",
    "stage",
    "part_id",
    "due_on",
    "state",
    "provisional",
    "clause",
    "explanation",
)
_GET_CASE_AS = (
    """
SELECT {columns}, {state},
       array(SELECT row("""
    + ", ".join(f"d.{f}" for f in _DEADLINE_FIELDS)
    + """)
             FROM case_deadlines d WHERE d.case_id = cases.case_id
             ORDER BY d.stage, d.due_on NULLS LAST) AS deadline_rows
FROM cases WHERE case_id = $1
"""
)
_GET_CASE = _GET_CASE_AS.format(columns=_CASE_COLUMNS, state="state")
_GET_CASE_TEXT = _GET_CASE_AS.format(columns=_CASE_COLUMNS, state="state::text AS state")


async def get_case(pool: asyncpg.Pool, case_id: uuid.UUID) -> dict[str, Any] | None:
    """The case and its deadlines in one statement: it is read before nearly every staff
    action, so one round trip fewer (and one borrowing of a connection) counts."""
    row = await pool.fetchrow(_GET_CASE, case_id)
    if row is None:
        return None
    case = dict(row)
    case["deadlines"] = [
        dict(zip(_DEADLINE_FIELDS, d, strict=True)) for d in case.pop("deadline_rows")
    ]
    return case


async def get_case_text(
    pool: asyncpg.Pool, case_id: uuid.UUID
) -> tuple[dict[str, Any], str, list[dict[str, Any]]] | None:
    """`get_case` with the view left as the JSON text PostgreSQL keeps: the case's columns,
    that text, and its deadlines. The API answers the text as it is, where decoding it only
    to encode it again was most of a case read's CPU."""
    row = await pool.fetchrow(_GET_CASE_TEXT, case_id)
    if row is None:
        return None
    case = dict(row)
    state: str = case.pop("state") or "null"
    deadlines = [dict(zip(_DEADLINE_FIELDS, d, strict=True)) for d in case.pop("deadline_rows")]
    return case, state, deadlines


async def _with_deadlines(pool: asyncpg.Pool, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not cases:
        return cases
    rows = await pool.fetch(
        """SELECT case_id, deadline_id, kind, stage, part_id, due_on, state, provisional,
                  clause, explanation
           FROM case_deadlines WHERE case_id = ANY($1::uuid[])
           ORDER BY stage, due_on NULLS LAST""",
        [c["case_id"] for c in cases],
    )
    by_case: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for r in rows:
        item = dict(r)
        by_case.setdefault(item.pop("case_id"), []).append(item)
    for c in cases:
        c["deadlines"] = by_case.get(c["case_id"], [])
    return cases


async def save_evidence(
    conn: Connection,
    *,
    case_id: uuid.UUID,
    evidence_id: str,
    filename: str,
    content_type: str,
    content: bytes,
    sha256: str,
    uploaded_by: str,
    uploaded_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO evidence_files (case_id, evidence_id, filename, content_type, size_bytes,
               sha256, content, uploaded_by, uploaded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        case_id,
        evidence_id,
        filename,
        content_type,
        len(content),
        sha256,
        content,
        uploaded_by,
        uploaded_at,
    )


async def get_evidence(
    pool: asyncpg.Pool, case_id: uuid.UUID, evidence_id: str
) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT * FROM evidence_files WHERE case_id = $1 AND evidence_id = $2",
        case_id,
        evidence_id,
    )


async def evidence_held(conn: Connection, case_id: uuid.UUID) -> set[str]:
    """The case's files whose bytes casework keeps (officers' uploads)."""
    rows = await conn.fetch("SELECT evidence_id FROM evidence_files WHERE case_id = $1", case_id)
    return {r["evidence_id"] for r in rows}


async def awaiting_approval(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Open cases with an extension or financial redress waiting for a manager, oldest
    first, with what is waiting."""
    rows = await pool.fetch(
        f"""SELECT {_CASE_COLUMNS},
               coalesce((SELECT jsonb_agg(pe) FROM jsonb_array_elements(state->'stages') s,
                         jsonb_array_elements(s->'pending_extensions') pe), '[]')
                   AS pending_extensions,
               coalesce((SELECT jsonb_agg(r) FROM jsonb_array_elements(state->'remedies') r
                         WHERE (r->>'needs_approval')::boolean
                           AND NOT (r->>'approved')::boolean), '[]') AS pending_redress
            FROM cases
            WHERE lifecycle <> 'closed' AND (
                jsonb_path_exists(state, '$.stages[*].pending_extensions[*]')
                OR jsonb_path_exists(
                    state, '$.remedies[*] ? (@.needs_approval == true && @.approved == false)'))
            ORDER BY updated_at"""
    )
    return await _with_deadlines(pool, [dict(r) for r in rows])


async def due_between(pool: asyncpg.Pool, first: date, last: date) -> list[dict[str, Any]]:
    """Open cases whose acknowledgement, response or panel falls due in these days (at risk
    of going late), soonest first."""
    rows = await pool.fetch(
        f"""SELECT {_qualified("cases")}, d.kind AS due_step, d.due_on AS due_step_on
            FROM cases JOIN LATERAL (
                SELECT kind, due_on FROM case_deadlines
                WHERE case_id = cases.case_id AND stage = cases.stage AND state = 'pending'
                  AND kind IN ('acknowledgement', 'response', 'panel')
                  AND due_on BETWEEN $1 AND $2
                ORDER BY due_on LIMIT 1) d ON true
            WHERE lifecycle <> 'closed'
            ORDER BY d.due_on, received_at""",
        first,
        last,
    )
    return await _with_deadlines(pool, [dict(r) for r in rows])


async def flagged(pool: asyncpg.Pool, flag_types: list[str]) -> list[dict[str, Any]]:
    """Open cases carrying any of these flags, newest first."""
    rows = await pool.fetch(
        f"""SELECT {_CASE_COLUMNS} FROM cases
            WHERE lifecycle <> 'closed' AND flags && $1::text[]
            ORDER BY opened_at DESC LIMIT 200""",
        flag_types,
    )
    return await _with_deadlines(pool, [dict(r) for r in rows])


async def open_for_service(pool: asyncpg.Pool, service_area: str) -> list[dict[str, Any]]:
    """Open cases assigned to a service or with a part asked of it, with the case state (the
    parts to answer are in it)."""
    rows = await pool.fetch(
        f"""SELECT {_CASE_COLUMNS}, state FROM cases
            WHERE lifecycle <> 'closed' AND (service_area = $1 OR $1 = ANY(part_services))
            ORDER BY received_at LIMIT 500""",
        service_area,
    )
    return await _with_deadlines(pool, [dict(r) for r in rows])

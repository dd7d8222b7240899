"""The tracking page's side of intake: tokens handed to residents, and the projection of case,
deadline and organisation events it reads. SQL for all of it is here."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from contracts import CaseOpened, DeadlineKind, FeedbackKind, OrganisationConfigured
from redress.consumer import EventContext
from redress.db import Connection
from services.intake.domain.tracking import (
    Deadline,
    DeadlineState,
    Ending,
    Progress,
    Status,
    deadline_change,
    next_due,
    progress_after,
)

#: 256 bits from the OS: a link nobody can guess or walk to from another case's link
_TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return 40 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


async def issue_token(
    conn: Connection | asyncpg.Pool, submission_id: uuid.UUID, now: datetime
) -> str:
    """A new tracking token for a submission. Only its hash is kept; the resident holds the
    token. A resent form (the same submission) gets a token of its own; both work."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    await conn.execute(
        "INSERT INTO tracking_tokens (token_hash, submission_id, issued_at) VALUES ($1, $2, $3)",
        _hash(token),
        submission_id,
        now,
    )
    return token


@dataclass(frozen=True)
class CaseStatus:
    """Everything the tracking page shows; nothing else leaves the database for it."""

    submission_id: uuid.UUID
    kind: FeedbackKind
    received_at: datetime
    reference: str | None
    stage: int | None
    status: Status
    ending: Ending | None
    next_due: Deadline | None


async def status_for(conn: Connection | asyncpg.Pool, token: str) -> CaseStatus | None:
    if not well_formed(token):
        return None
    row = await conn.fetchrow(
        """SELECT s.submission_id, s.kind, s.received_at, c.case_id, c.reference, c.stage,
                  c.status, c.ending
             FROM tracking_tokens t
             JOIN submissions s ON s.submission_id = t.submission_id
             LEFT JOIN tracked_cases c ON c.submission_id = s.submission_id
            WHERE t.token_hash = $1
            ORDER BY c.opened_at
            LIMIT 1""",
        _hash(token),
    )
    if row is None:
        return None
    if row["case_id"] is None:
        return CaseStatus(
            row["submission_id"],
            FeedbackKind(row["kind"]),
            row["received_at"],
            None,
            None,
            Status.RECEIVED,
            None,
            None,
        )
    status = Status(row["status"])
    deadlines = [
        Deadline(DeadlineKind(d["kind"]), d["stage"], DeadlineState(d["state"]), d["due_on"])
        for d in await conn.fetch(
            "SELECT kind, stage, state, due_on FROM tracked_deadlines WHERE case_id = $1",
            row["case_id"],
        )
    ]
    return CaseStatus(
        row["submission_id"],
        FeedbackKind(row["kind"]),
        row["received_at"],
        row["reference"],
        row["stage"],
        status,
        Ending(row["ending"]) if row["ending"] else None,
        next_due(status, deadlines),
    )


# -- the projection ---------------------------------------------------------------------------


#: what a transaction's events left of each case's progress (``ctx.batch``), and the cases whose
#: row it must write as it commits
_PROGRESS = "intake.tracking.progress"
_CHANGED = "intake.tracking.changed"
_DEADLINES = "intake.tracking.deadlines"


async def on_case_event(ctx: EventContext) -> None:
    """A case's progress as a resident sees it. In a batch each case is read once (and
    locked), later events of the batch go on from what the earlier ones left, and every case
    that changed is written with one statement as the batch commits (`EventContext.at_commit`);
    a consumer that holds nothing gets a write per event."""
    event = ctx.payload
    case_id = getattr(event, "case_id", None)
    assert isinstance(case_id, uuid.UUID)
    progress: dict[uuid.UUID, Progress | None] = ctx.batch.setdefault(_PROGRESS, {})
    if isinstance(event, CaseOpened):
        inserted = await ctx.conn.fetchval(
            """INSERT INTO tracked_cases (case_id, submission_id, reference, stage, status,
                   opened_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (case_id) DO NOTHING
               RETURNING true""",
            case_id,
            event.submission_id,
            event.reference,
            event.stage,
            Status.CASE_OPENED.value,
            ctx.envelope.occurred_at,
        )
        if inserted:
            progress[case_id] = Progress(Status.CASE_OPENED, event.stage, None)
        # else opened before: what is stored (and what this batch holds for it) decides
        return
    if case_id in progress:
        current = progress[case_id]
    else:
        row = await ctx.conn.fetchrow(
            "SELECT status, stage, ending FROM tracked_cases WHERE case_id = $1 FOR UPDATE",
            case_id,
        )
        current = (
            Progress(
                Status(row["status"]),
                row["stage"],
                Ending(row["ending"]) if row["ending"] else None,
            )
            if row
            else None
        )
        progress[case_id] = current
    after = progress_after(current, event)
    if after is None:
        if current is None:
            ctx.log.warning("case event for a case not seen opening", case_id=str(case_id))
        return
    progress[case_id] = after
    change = (case_id, after, ctx.envelope.occurred_at)
    changed: dict[uuid.UUID, tuple[uuid.UUID, Progress, datetime]] | None = ctx.batch.get(_CHANGED)
    if changed is None:
        changed = {}
        held = changed
        conn = ctx.conn

        async def write() -> None:
            await _write_progress(conn, list(held.values()))

        if not ctx.at_commit(_CHANGED, write):
            await _write_progress(ctx.conn, [change])
            return
        ctx.batch[_CHANGED] = changed
    changed[case_id] = change


async def _write_progress(
    conn: Connection, changes: list[tuple[uuid.UUID, Progress, datetime]]
) -> None:
    if not changes:
        return
    await conn.execute(
        """UPDATE tracked_cases AS c
              SET status = n.status, stage = n.stage, ending = n.ending, updated_at = n.at
             FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[])
                  AS n(case_id, status, stage, ending, at)
            WHERE c.case_id = n.case_id""",
        [case_id for case_id, _, _ in changes],
        [after.status.value for _, after, _ in changes],
        [after.stage for _, after, _ in changes],
        [after.ending.value if after.ending else None for _, after, _ in changes],
        [at for _, _, at in changes],
    )


_UPSERT_DEADLINE = """INSERT INTO tracked_deadlines AS d
           (deadline_id, case_id, kind, stage, state, due_on)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (deadline_id) DO UPDATE
          SET state = EXCLUDED.state, due_on = COALESCE(EXCLUDED.due_on, d.due_on)"""


async def on_deadline_event(ctx: EventContext) -> None:
    """A deadline as the tracking page shows it; a batch's changes go in one round trip as it
    commits, in their order (a consumer that holds nothing: one statement each)."""
    event = ctx.payload
    change = deadline_change(event)
    if change is None:
        return
    row = (
        change.deadline_id,
        change.case_id,
        change.kind.value,
        change.stage,
        change.state.value,
        change.due_on,
    )
    rows: list[tuple[object, ...]] | None = ctx.batch.get(_DEADLINES)
    if rows is None:
        rows = []
        held = rows
        conn = ctx.conn

        async def write() -> None:
            await conn.executemany(_UPSERT_DEADLINE, held)

        if not ctx.at_commit(_DEADLINES, write):
            await ctx.conn.execute(_UPSERT_DEADLINE, *row)
            return
        ctx.batch[_DEADLINES] = rows
    rows.append(row)


async def on_organisation_configured(ctx: EventContext) -> None:
    org = ctx.payload
    assert isinstance(org, OrganisationConfigured)
    await ctx.conn.execute(
        """INSERT INTO organisations (organisation_id, name, service_areas) VALUES ($1, $2, $3)
           ON CONFLICT (organisation_id) DO UPDATE
              SET name = EXCLUDED.name, service_areas = EXCLUDED.service_areas""",
        org.organisation_id,
        org.name,
        sorted(org.procedures_by_service),
    )


@dataclass(frozen=True)
class Organisation:
    organisation_id: str
    name: str
    service_areas: list[str]


async def organisations(conn: Connection | asyncpg.Pool) -> list[Organisation]:
    rows = await conn.fetch(
        "SELECT organisation_id, name, service_areas FROM organisations ORDER BY name, "
        "organisation_id"
    )
    return [Organisation(r["organisation_id"], r["name"], list(r["service_areas"])) for r in rows]


class KnownOrganisations:
    """The organisations this process has seen in the ``organisations`` table. Nothing ever
    deletes a row there (`on_organisation_configured` only inserts or renames), so once an
    organisation is found it stays found, in every replica, whichever replica consumed its
    event: remembering it saves a query per submission and can never be stale. Anything not
    remembered (an unknown id, or any id while none is configured) is asked of the table."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    async def accepts(self, conn: Connection | asyncpg.Pool, organisation_id: str) -> bool:
        """Whether intake takes submissions for this organisation: one configured in casework
        (its ``OrganisationConfigured`` has reached us), or any at all while none is configured
        yet, so that a fresh install takes complaints before anyone has set it up."""
        if organisation_id in self._known:
            return True
        row = await conn.fetchrow(
            """SELECT EXISTS (SELECT 1 FROM organisations WHERE organisation_id = $1) AS known,
                      NOT EXISTS (SELECT 1 FROM organisations) AS none_configured""",
            organisation_id,
        )
        assert row is not None
        if row["known"]:
            self._known.add(organisation_id)
            return True
        return bool(row["none_configured"])


#: one memory per pool, so per database and schema (tests run several intakes in one process)
_known_by_pool: dict[asyncpg.Pool, KnownOrganisations] = {}


def known_organisations(pool: asyncpg.Pool) -> KnownOrganisations:
    return _known_by_pool.setdefault(pool, KnownOrganisations())


async def organisation(
    conn: Connection | asyncpg.Pool, organisation_id: str
) -> Organisation | None:
    row = await conn.fetchrow(
        "SELECT organisation_id, name, service_areas FROM organisations WHERE organisation_id = $1",
        organisation_id,
    )
    if row is None:
        return None
    return Organisation(row["organisation_id"], row["name"], list(row["service_areas"]))


def due_label(deadline: Deadline) -> str:
    """What the date is a promise of, in the resident's words."""
    if deadline.kind is DeadlineKind.ACKNOWLEDGEMENT:
        return "We will acknowledge your complaint by"
    if deadline.kind is DeadlineKind.PANEL:
        return "The review panel will meet by"
    return "We will send you our response by"


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"

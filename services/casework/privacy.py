"""Casework's part in personal data protection: the admin API to erase a person and to export
what is held about them, the retention job, and scrubbing casework's own tables when a person
is erased.

The sealed fields in the event store need nothing: once the key is gone they read as
placeholders. What casework must scrub are the clear copies it made for search and display (the
``cases`` row and its case view), the letters' addresses and errors, and the evidence files,
which are kept as uploaded.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from contracts import ErasureReason, PersonErased, Role, decode_payload
from contracts.personal import ERASED
from redress import eventstore, privacy
from redress.auth import Identity, require
from redress.consumer import EventContext
from redress.db import Connection
from redress.logging import get_logger
from redress.service import Runtime, poll_forever, runtime_of
from services.casework import settings, store
from services.casework.domain.case import replay, stream_id

log = get_logger(__name__)
router = APIRouter(prefix="/v1", tags=["personal data"])
Admin = Annotated[Identity, Depends(require(Role.ADMIN))]
Exporter = Annotated[Identity, Depends(require(Role.ADMIN, Role.OFFICER))]


# -- scrubbing --------------------------------------------------------------------------------


async def on_person_erased(ctx: EventContext) -> None:
    erased = ctx.payload
    assert isinstance(erased, PersonErased)
    rows = await ctx.conn.fetch(
        "SELECT case_id FROM cases WHERE case_id = ANY($1::uuid[]) OR person_id = $2",
        erased.case_ids,
        erased.person_id,
    )
    for row in rows:
        await scrub_case(ctx.conn, row["case_id"], at=ctx.envelope.occurred_at)
    # letters are kept by case id even for a case not opened here yet, so they go by the ids
    # the event names as well as by the cases found
    await store.scrub_letters(
        ctx.conn, list({*erased.case_ids, *(r["case_id"] for r in rows)}), ERASED
    )
    ctx.log.info("person's cases scrubbed", cases=len(rows))


async def scrub_case(conn: Connection, case_id: uuid.UUID, *, at: datetime) -> None:
    """Rebuild the case view from the log (whose sealed fields now read as placeholders),
    blank the columns kept for search, and delete the evidence files."""
    history = await eventstore.load_stream(conn, stream_id(case_id))
    if history:
        state = replay([decode_payload(e) for e in history])
        await store.save_view(conn, state, updated_at=at)
    await conn.execute(
        """UPDATE cases SET complainant_name = $2, summary = $2, complainant_email = NULL,
               postcode = NULL, erased_at = coalesce(erased_at, $3)
           WHERE case_id = $1""",
        case_id,
        ERASED,
        at,
    )
    await conn.execute("DELETE FROM evidence_files WHERE case_id = $1", case_id)


# -- retention --------------------------------------------------------------------------------


async def people_past_retention(conn: Connection, now: datetime) -> list[uuid.UUID]:
    """People not yet erased, every one of whose cases closed longer ago than its
    organisation's retention period (six years where the organisation is not configured). A
    person with any open case, or any case closed more recently, is kept whole."""
    rows = await conn.fetch(
        """SELECT c.person_id FROM cases c
           LEFT JOIN organisations o USING (organisation_id)
           WHERE c.person_id IS NOT NULL AND c.erased_at IS NULL
           GROUP BY c.person_id
           HAVING bool_and(c.lifecycle = 'closed' AND c.closed_at IS NOT NULL
                           AND c.closed_at < $1::timestamptz - make_interval(
                               years => coalesce(o.retention_years, $2)))
           ORDER BY c.person_id""",
        now,
        settings.current().retention_years,
    )
    return [r["person_id"] for r in rows]


async def run_retention(conn: Connection, now: datetime, *, service: str = "casework") -> list[str]:
    """Erase everyone past retention; returns their person ids. Safe to run at any time and
    on several replicas: an erasure already done is found done and not repeated."""
    erased = []
    for person_id in await people_past_retention(conn, now):
        done = await privacy.erase_person(
            conn,
            str(person_id),
            reason=ErasureReason.RETENTION,
            actor="service:retention",
            now=now,
            service=service,
        )
        if done is not None and done.erased_now:
            erased.append(str(person_id))
        # mark the cases now, so the next run does not pick them again before the event is
        # consumed
        await conn.execute(
            "UPDATE cases SET erased_at = coalesce(erased_at, $2) WHERE person_id = $1",
            person_id,
            now,
        )
    if erased:
        log.info("retention erased people", people=len(erased))
    return erased


async def retention_job(runtime: Runtime) -> None:
    """Runs the retention check every ``REDRESS_RETENTION_POLL_SECONDS`` (default hourly)."""

    async def once() -> None:
        async with runtime.pool.acquire() as conn:
            await run_retention(conn, runtime.clock(), service=runtime.service)

    await poll_forever("retention", settings.current().retention_poll_seconds, once)


# -- the admin API ----------------------------------------------------------------------------


@router.post("/people/{who}/erasure")
async def erase(
    who: str,
    request: Request,
    identity: Admin,
) -> dict[str, Any]:
    """Erase a person (by person id, email or phone): destroy their key so every copy of their
    personal data in events becomes unreadable, and tell every service to scrub its own. Admin
    only. 404 if nobody is known by that; erasing again answers ``erased_now: false``."""
    runtime = runtime_of(request)
    async with runtime.pool.acquire() as conn:
        done = await privacy.erase_person(
            conn,
            who,
            reason=ErasureReason.REQUEST,
            actor=f"{identity.role.value}:{identity.user}",
            now=runtime.clock(),
            service=runtime.service,
        )
    if done is None:
        raise HTTPException(404, detail="no person is known by that id, email or phone")
    return done.as_dict()


@router.get("/people/{who}/subject-access")
async def subject_access(who: str, request: Request, identity: Exporter) -> dict[str, Any]:
    """Everything held about a person (by person id, email or phone), decrypted: their
    submissions, each case's timeline with notes, flags and contacts, deadlines and letters
    sent. Admins and officers only."""
    runtime = runtime_of(request)
    found = await privacy.subject_access(runtime.pool, who, now=runtime.clock())
    if found is None:
        raise HTTPException(404, detail="no person is known by that id, email or phone")
    log.info("subject access export", by=identity.user, person_id=found["person"]["person_id"])
    return found


@router.post("/retention/runs")
async def retention_run(request: Request, identity: Admin) -> dict[str, Any]:
    """Run the retention job now rather than at its next round. Admin only. (It always runs
    as of now: an earlier erasure than the organisation's period is an erasure request.)"""
    runtime = runtime_of(request)
    now = runtime.clock()
    async with runtime.pool.acquire() as conn:
        erased = await run_retention(conn, now, service=runtime.service)
    log.info("retention run on request", by=identity.user, erased=len(erased))
    return {"as_of": now.isoformat(), "erased": erased}

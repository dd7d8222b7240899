"""Running a staff command against a case: load, decide, then append and update the view in
one statement. Optimistic concurrency throughout: of two officers acting on one case at once, one
wins and the other is told the case moved on, with its current version."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from contracts import Envelope, decode_payload, new_envelope
from redress import eventstore
from redress.db import Connection
from services.casework import store
from services.casework.domain.case import Case, evolve, replay, stream_id
from services.casework.domain.commands import Command, Rejection, Triage
from services.casework.domain.decide import decide
from services.casework.organisations import ward_for


class CaseNotFound(Exception):
    pass


@dataclass
class CommandRefused(Exception):
    reason: str
    current_version: int


@dataclass(frozen=True)
class Outcome:
    state: Case
    events: list[Envelope]
    #: the case as stored and shown (`case_view` of ``state``), made once for both
    view: dict[str, Any]


async def load(conn: Connection, case_id: uuid.UUID) -> Case:
    history = await eventstore.load_stream(conn, stream_id(case_id))
    if not history:
        raise CaseNotFound(str(case_id))
    return replay([decode_payload(e) for e in history])


async def execute(
    pool: asyncpg.Pool,
    *,
    service: str,
    case_id: uuid.UUID,
    command: Command,
    expected_version: int | None,
    now: datetime,
    correlation_id: uuid.UUID,
    also: Callable[[Connection], Awaitable[None]] | None = None,
) -> Outcome:
    """``also`` runs in the same transaction, for what must be stored with the events (an
    evidence file, say) or not at all."""
    async with pool.acquire() as conn:
        # Loaded and decided outside any transaction: the append's unique stream version is
        # what refuses a command decided on a case that has moved on, so a transaction
        # around the read would add two round trips (BEGIN, COMMIT) and no safety.
        state = await load(conn, case_id)
        if expected_version is not None and expected_version != state.version:
            raise CommandRefused(
                f"the case has changed since version {expected_version}; reload it",
                state.version,
            )
        command = await _enrich(conn, state, command)
        decision = decide(state, command)
        if isinstance(decision, Rejection):
            raise CommandRefused(decision.reason, state.version)
        actor = f"{command.actor.role.value}:{command.actor.user}"
        stream = stream_id(case_id)
        envelopes = []
        new_state = state
        for i, payload in enumerate(decision, start=1):
            envelopes.append(
                new_envelope(
                    payload,
                    stream_id=stream,
                    stream_version=state.version + i,
                    occurred_at=now,
                    recorded_at=now,
                    actor=actor,
                    correlation_id=correlation_id,
                )
            )
            new_state = evolve(new_state, payload)
        try:
            if also is None:
                # the events, their outbox rows and the case's view in one statement
                sql, args, view = store.view_update(new_state, updated_at=now, first=14)
                await eventstore.append_alone(
                    conn,
                    service,
                    envelopes,
                    expected_version=state.version,
                    also=sql,
                    also_args=args,
                )
            else:
                async with conn.transaction():
                    await eventstore.append(
                        conn, service, envelopes, expected_version=state.version
                    )
                    view = await store.save_view(conn, new_state, updated_at=now)
                    await also(conn)
        except eventstore.ConcurrencyConflict:
            current = await eventstore.stream_version(conn, stream)
            raise CommandRefused(
                "another change to this case was saved first; reload it and try again", current
            ) from None
    return Outcome(new_state, envelopes, view)


async def _enrich(conn: Connection, state: Case, command: Command) -> Command:
    """Fill in what the organisation's reference data knows: the ward of a triaged location,
    looked up once and then kept in the event, so the record never changes under a report."""
    if (
        isinstance(command, Triage)
        and command.location is not None
        and command.location.postcode
        and not command.location.ward
        and state.organisation_id
    ):
        ward = await ward_for(conn, state.organisation_id, command.location.postcode)
        if ward is not None:
            location = command.location.model_copy(update={"ward": ward})
            return replace(command, location=location)
    return command

"""Running a staff command against a case: load, decide, then append and update the view in
one statement. Optimistic concurrency throughout: of two officers acting on one case at once, one
wins and the other is told the case moved on, with its current version."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from contracts import Envelope, decode_payload, new_envelope
from redress import eventstore, vault
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
    #: the case as stored and shown (`store.view_json` of ``state``), made once for both
    view: str


@dataclass(frozen=True)
class _Loaded:
    """A case as loaded, and the vault keys (and what each was) that opened its events."""

    state: Case
    keys: tuple[tuple[uuid.UUID, bytes | None], ...]
    #: its last event, which must still be the one stored at its version: a case kept from
    #: another store (a test's other schema, a database restored) is read again whole
    last: uuid.UUID


#: cases loaded lately, so that a command reads only the events after them: an officer
#: works a case through several commands in a row, and decoding and replaying its whole
#: stream each time was a fifth of casework's CPU per command. Made from what was read from
#: the store, or from a command's own events once the store took them (`_keep_appended`):
#: those are, version for version, what reading them back would give. A stale entry just
#: means more events to read.
_LOADED: OrderedDict[uuid.UUID, _Loaded] = OrderedDict()
_LOADED_SIZE = 1024


def _still_opens(keys: tuple[tuple[uuid.UUID, bytes | None], ...]) -> bool:
    """Whether every key that opened the case's events is still in the vault's cache as it
    was. A key erased (the vault forgets it when this process sees `PersonErased`) or expired
    (a minute, for what another replica erased) fails this, so a kept case never shows what
    reading its stream now would not."""
    cache = vault.current().cache
    return all(cache.get(key_id) == (True, key) for key_id, key in keys)


async def load(conn: Connection, case_id: uuid.UUID) -> Case:
    known = _LOADED.get(case_id)
    if known is not None and not _still_opens(known.keys):
        known = None
    after = 0 if known is None else known.state.version
    at, history, key_ids = await eventstore.load_stream_after(conn, stream_id(case_id), after)
    if known is not None and at != known.last:
        known = None
        at, history, key_ids = await eventstore.load_stream_after(conn, stream_id(case_id), 0)
    if known is None:
        if not history:
            raise CaseNotFound(str(case_id))
        state = replay([decode_payload(e) for e in history])
        keys: dict[uuid.UUID, bytes | None] = {}
    else:
        state = known.state
        for envelope in history:
            state = evolve(state, decode_payload(envelope))
        keys = dict(known.keys)
    cache = vault.current().cache
    for key_id in key_ids:
        if key_id not in keys:
            cached, key = cache.get(key_id)
            if not cached:  # not a key the vault keeps (unknown to it): nothing to check by
                _LOADED.pop(case_id, None)
                return state
            keys[key_id] = key
    last = history[-1].event_id if history else known.last if known is not None else None
    if last is None:
        return state
    _LOADED[case_id] = _Loaded(state, tuple(keys.items()), last)
    _LOADED.move_to_end(case_id)
    while len(_LOADED) > _LOADED_SIZE:
        _LOADED.popitem(last=False)
    return state


def _keep_appended(case_id: uuid.UUID, loaded: Case, state: Case, stored: list[Envelope]) -> None:
    """Keep ``state`` (``loaded`` with ``stored`` applied) after the store took ``stored``,
    so the officer's next command on the case reads nothing back: reading and opening the
    events a command had just written was most of what loading a kept case cost. Kept only
    on top of the entry ``loaded`` came from (not one a concurrent load replaced meanwhile),
    and with the keys that sealed ``stored``, checked as `load` checks the keys that opened
    events: an erasure or a key expired makes the next command read the whole stream. An
    event written with no key (its person erased as it was sealed) is stored without the
    personal fields ``state`` has, so then nothing is kept."""
    known = _LOADED.get(case_id)
    if known is None or known.state is not loaded or not stored:
        return
    keys = dict(known.keys)
    cache = vault.current().cache
    for envelope in stored:
        who = vault.sealed_person(envelope.payload)
        if who is None:
            continue
        key_id = who[1]
        cached, key = (False, None) if key_id is None else cache.get(key_id)
        if key_id is None or not cached or key is None:
            _LOADED.pop(case_id, None)
            return
        keys.setdefault(key_id, key)
    _LOADED[case_id] = _Loaded(state, tuple(keys.items()), stored[-1].event_id)
    _LOADED.move_to_end(case_id)


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
                stored = await eventstore.append_alone(
                    conn,
                    service,
                    envelopes,
                    expected_version=state.version,
                    also=sql,
                    also_args=args,
                )
            else:
                async with conn.transaction():
                    stored = await eventstore.append(
                        conn, service, envelopes, expected_version=state.version
                    )
                    view = await store.save_view(conn, new_state, updated_at=now)
                    await also(conn)
        except eventstore.ConcurrencyConflict:
            current = await eventstore.stream_version(conn, stream)
            raise CommandRefused(
                "another change to this case was saved first; reload it and try again", current
            ) from None
    _keep_appended(case_id, state, new_state, stored)
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

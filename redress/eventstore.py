"""The event store and the transactional outbox, written in one transaction.

Appending checks the stream's expected version (optimistic concurrency): of two writers racing
on one case, one wins and the other gets `ConcurrencyConflict` and retries or answers 409. Every
appended event is also put in the outbox in the same transaction, so an event is either stored
and going to be published, or neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

import asyncpg
from pydantic_core import to_json

from contracts import Envelope, EventPayload, encode_envelope, event_spec, new_envelope
from redress import vault
from redress.db import Connection, after_commit, notify_after_commit, notify_committed
from redress.metrics import EVENTS_APPENDED

OUTBOX_CHANNEL = "redress_outbox"


class ConcurrencyConflict(Exception):
    """Someone else appended to this stream since it was loaded."""

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(f"stream {stream_id} moved past version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


class DuplicateEvent(Exception):
    """An event with this id is already stored: the command that made it already ran."""


async def stream_version(conn: Connection, stream_id: str) -> int:
    version = await conn.fetchval(
        "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id
    )
    return int(version)


async def load_stream(conn: Connection, stream_id: str) -> list[Envelope]:
    """The stream's events, personal fields opened (placeholders where the person is erased)."""
    rows = await conn.fetch(
        "SELECT * FROM events WHERE stream_id = $1 ORDER BY stream_version", stream_id
    )
    the_vault = vault.current()
    return [await the_vault.open(conn, row_to_envelope(r)) for r in rows]


async def load_stream_after(
    conn: Connection, stream_id: str, version: int
) -> tuple[uuid.UUID | None, list[Envelope], list[uuid.UUID]]:
    """The stream's events after ``version``, opened as `load_stream` opens them, with the id
    of the event at ``version`` itself (None when there is none) and the ids of the vault
    keys that opened them: for a caller keeping what it made of the earlier events, which is
    only as good as those keys still are (`vault.KeyCache`) and only this stream's if the
    event it last had is the one stored at ``version``."""
    rows = await conn.fetch(_LOAD_AFTER, stream_id, version)
    at = None
    if rows and rows[0]["stream_version"] == version:
        at = rows[0]["event_id"]
        rows = rows[1:]
    the_vault = vault.current()
    envelopes = []
    keys = []
    for r in rows:
        envelope = row_to_envelope(r)
        who = vault.sealed_person(envelope.payload)
        if who is not None and who[1] is not None:
            keys.append(who[1])
        envelopes.append(await the_vault.open(conn, envelope))
    return at, envelopes, keys


#: the stream from version $2 on; the event at $2 only for its id (its payload not sent)
_LOAD_AFTER = """
SELECT event_id, event_type, schema_version, stream_id, stream_version, occurred_at,
       recorded_at, correlation_id, causation_id, actor,
       CASE WHEN stream_version > $2 THEN payload END AS payload
FROM events WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version"""


def row_to_envelope(row: asyncpg.Record) -> Envelope:
    return Envelope(
        event_id=row["event_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        actor=row["actor"],
        payload=row["payload"],
    )


async def append(
    conn: Connection,
    service: str,
    envelopes: Sequence[Envelope],
    *,
    expected_version: int,
) -> list[Envelope]:
    """Append events to one stream and to the outbox. Must run inside a transaction.

    Personal fields are sealed with the person's key here (`redress.vault`), so the event store
    and the outbox, and so the topics, only ever hold their ciphertext. Returns the events as
    stored (sealed): which keys they were sealed with, for a caller keeping what it made of
    them."""
    if not envelopes:
        return []
    if not conn.is_in_transaction():
        raise RuntimeError("append must run inside a transaction with the change it records")
    _one_stream_after(envelopes, expected_version)
    sealed = await vault.current().seal(conn, envelopes)
    await _write(conn, service, sealed, expected_version)
    return sealed


def _one_stream_after(envelopes: Sequence[Envelope], expected_version: int) -> str:
    """The one stream the envelopes are appended to, each numbered right after the one before
    it from ``expected_version``; a caller's mistake in either is a ValueError, before any
    statement is sent."""
    stream_id = envelopes[0].stream_id
    for offset, env in enumerate(envelopes, start=1):
        if env.stream_id != stream_id:
            raise ValueError("one append writes to one stream")
        if env.stream_version != expected_version + offset:
            raise ValueError(
                f"event {offset} has stream_version {env.stream_version}, "
                f"expected {expected_version + offset}"
            )
    return stream_id


async def append_alone(
    conn: Connection,
    service: str,
    envelopes: Sequence[Envelope],
    *,
    expected_version: int,
    also: str = "",
    also_args: Sequence[object] = (),
) -> list[Envelope]:
    """`append` for a writer outside any transaction, with ``also``: one more data-modifying
    statement that must be stored with the events or not at all (the row of a view, say;
    its parameters numbered from ``$14``). Events, outbox rows and ``also`` go in one
    statement, which is then the whole transaction: one round trip instead of BEGIN, the
    append, the other statement and COMMIT. A racing writer or a stored event id fails the
    statement, so nothing of it is kept; it raises `ConcurrencyConflict` or `DuplicateEvent`
    as `append` does. Sealing (`redress.vault`) runs first, in statements of its own: what it
    records (whose the stream is, a person's new key) is true whether or not the events are
    then stored. Returns the events as stored, as `append` does."""
    if not envelopes:
        return []
    if conn.is_in_transaction():
        raise RuntimeError("append_alone is its own transaction; inside one, use append")
    stream_id = _one_stream_after(envelopes, expected_version)
    sealed = await vault.current().seal(conn, envelopes)
    statement = _APPEND_ALONE.replace("/*also*/", f", also AS ({also})" if also else "")
    try:
        await conn.execute(statement, *_columns(sealed), *also_args)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "events_stream_version_unique":
            raise ConcurrencyConflict(stream_id, expected_version) from None
        if exc.constraint_name in ("events_event_id_key", "outbox_event_id_key"):
            ids = ", ".join(str(e.event_id) for e in sealed)
            raise DuplicateEvent(f"an event among {ids} is already stored") from None
        raise
    await notify_committed(conn, OUTBOX_CHANNEL, stream_id)
    for e in sealed:
        _appended(service, e.event_type).inc()
    return sealed


async def append_streams(
    conn: Connection, service: str, appends: Sequence[tuple[Sequence[Envelope], int]]
) -> None:
    """Several `append`s, ``(envelopes, expected_version)`` each (one stream each, a stream
    possibly more than once, in order), in one statement: what a consumer's handlers appended
    in one transaction (`EventContext.append_at_commit`). All or none are stored; a racing
    writer on any of the streams makes it raise `ConcurrencyConflict` (or `DuplicateEvent`)
    as `append` would. Must run inside a transaction."""
    if not appends:
        return
    if not conn.is_in_transaction():
        raise RuntimeError("append must run inside a transaction with the change it records")
    envelopes: list[Envelope] = []
    for group, expected_version in appends:
        for offset, env in enumerate(group, start=1):
            if env.stream_id != group[0].stream_id:
                raise ValueError("one append writes to one stream")
            if env.stream_version != expected_version + offset:
                raise ValueError(
                    f"event {offset} has stream_version {env.stream_version}, "
                    f"expected {expected_version + offset}"
                )
        envelopes.extend(group)
    if not envelopes:
        return
    # a batch's events are mostly about people known already (cases opened from submissions
    # that name theirs): found all at once where they are, one at a time where not
    sealed = await vault.current().seal(conn, envelopes, at_once=True)
    await _write(conn, service, sealed, appends[0][1])


async def append_each_at_end(
    conn: Connection,
    service: str,
    items: Sequence[tuple[str, EventPayload, uuid.UUID]],
    *,
    now: datetime,
    actor: str,
) -> list[Envelope]:
    """One event on each of several streams (``(stream_id, payload, correlation_id)``), each
    after whatever its stream holds now: `append_at_end` for a batch, in two round trips (the
    streams' versions, then the inserts) and the vault's two for sealing (when the events'
    people are known), instead of three per event.
    All or none are appended; a racing writer on any of the streams makes it raise
    `ConcurrencyConflict` (or `DuplicateEvent`), as `append_at_end` would. Must run inside a
    transaction."""
    if not items:
        return []
    if not conn.is_in_transaction():
        raise RuntimeError("append must run inside a transaction with the change it records")
    streams = [stream_id for stream_id, _, _ in items]
    if len(set(streams)) != len(streams):
        raise ValueError("append_each_at_end writes one event per stream")
    rows = await conn.fetch(_VERSIONS, streams)
    versions = {r["stream_id"]: int(r["version"]) for r in rows}
    envelopes = [
        new_envelope(
            payload,
            stream_id=stream_id,
            stream_version=versions[stream_id] + 1,
            occurred_at=now,
            recorded_at=now,
            actor=actor,
            correlation_id=correlation_id,
        )
        for stream_id, payload, correlation_id in items
    ]
    sealed = await vault.current().seal(conn, envelopes, at_once=True)
    await _write(conn, service, sealed, sealed[0].stream_version - 1)
    return envelopes


async def _write(
    conn: Connection, service: str, sealed: Sequence[Envelope], expected_version: int
) -> None:
    """The events and their outbox rows in one statement; on any conflict, nothing (and why).
    ``expected_version`` is what a conflict is reported against."""
    if len(sealed) == 1:
        # most appends are one event: plain parameters instead of thirteen one-item arrays,
        # which cost both this process (encoding them) and PostgreSQL (unnesting, sorting)
        row = await conn.fetchrow(_APPEND_ONE, *_values(sealed[0]))
        assert row is not None
        inserted_events = [] if row["event"] is None else [row["event"]]
        inserted_outbox = [] if row["outbox"] is None else [row["outbox"]]
    else:
        row = await conn.fetchrow(_APPEND, *_columns(sealed))
        assert row is not None
        inserted_events, inserted_outbox = row["events"], row["outbox"]
    if len(inserted_events) < len(sealed) or len(inserted_outbox) < len(sealed):
        await _undo_and_raise(conn, sealed, inserted_events, inserted_outbox, expected_version)
    await notify_after_commit(conn, OUTBOX_CHANNEL, sealed[-1].stream_id)
    # counted once committed: a consumer's batch that rolls back is applied again, and its
    # events would otherwise be counted twice
    counters = [_appended(service, e.event_type) for e in sealed]
    after_commit(conn, lambda: _count(counters))


def _columns(sealed: Sequence[Envelope]) -> list[list[object]]:
    """The events as the append statements' 13 column arrays."""
    return [
        [e.event_id for e in sealed],
        [e.stream_id for e in sealed],
        [e.stream_version for e in sealed],
        [e.event_type for e in sealed],
        [e.schema_version for e in sealed],
        [e.occurred_at for e in sealed],
        [e.recorded_at for e in sealed],
        [e.correlation_id for e in sealed],
        [e.causation_id for e in sealed],
        [e.actor for e in sealed],
        [_payload_json(e) for e in sealed],
        [event_spec(e.event_type).topic for e in sealed],
        [encode_envelope(e) for e in sealed],
    ]


def _values(e: Envelope) -> list[object]:
    """One event as `_APPEND_ONE`'s 13 parameters (the columns of `_columns`)."""
    return [
        e.event_id,
        e.stream_id,
        e.stream_version,
        e.event_type,
        e.schema_version,
        e.occurred_at,
        e.recorded_at,
        e.correlation_id,
        e.causation_id,
        e.actor,
        _payload_json(e),
        event_spec(e.event_type).topic,
        encode_envelope(e),
    ]


def _payload_json(envelope: Envelope) -> str:
    """The payload as the JSON text PostgreSQL parses into the ``jsonb`` column: pydantic's
    serialiser takes a fifth of `json.dumps`'s time for text that parses the same."""
    return to_json(envelope.payload).decode()


_appended_by_label: dict[tuple[str, str], Any] = {}


def _count(counters: Sequence[Any]) -> None:
    for counter in counters:
        counter.inc()


def _appended(service: str, event_type: str) -> Any:
    """The appended-events counter for one service and event type, labelled once: looking a
    labelled child up again costs a lock and several dict lookups per event."""
    child = _appended_by_label.get((service, event_type))
    if child is None:
        child = EVENTS_APPENDED.labels(service, event_type)
        _appended_by_label[(service, event_type)] = child
    return child


_VERSIONS = """
SELECT s.stream_id, coalesce(max(e.stream_version), 0) AS version
FROM unnest($1::text[]) AS s(stream_id) LEFT JOIN events e ON e.stream_id = s.stream_id
GROUP BY s.stream_id
"""

#: Both inserts in one statement (one round trip), a stream per row (one stream for `append`,
#: several for `append_each_at_end`). ON CONFLICT DO NOTHING instead of a unique violation keeps
#: the caller's transaction usable without a savepoint: a row that conflicts is simply not
#: inserted, and `_write` sees the shortfall in what the statement returns; a stream's next
#: version is taken by the unique index on (stream_id, stream_version), so a racing writer's
#: row makes ours conflict. ORDER BY the position in the append so that ``global_position``
#: and the outbox ``position`` (the relay's publishing order) follow the streams' order.
_APPEND = """
WITH new AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::int[],
                         $6::timestamptz[], $7::timestamptz[], $8::uuid[], $9::uuid[],
                         $10::text[], $11::text[], $12::text[], $13::bytea[])
        WITH ORDINALITY AS n(event_id, stream_id, stream_version, event_type, schema_version,
                             occurred_at, recorded_at, correlation_id, causation_id, actor,
                             payload, topic, message_value, ord)
), ev AS (
    INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                        occurred_at, recorded_at, correlation_id, causation_id, actor, payload)
    SELECT event_id, stream_id, stream_version, event_type, schema_version, occurred_at,
           recorded_at, correlation_id, causation_id, actor, payload::jsonb
    FROM new ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING event_id
), ob AS (
    INSERT INTO outbox (event_id, topic, message_key, message_value)
    SELECT event_id, topic, stream_id, message_value
    FROM new WHERE event_id IN (SELECT event_id FROM ev) ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING event_id, position
), pending AS (
    INSERT INTO outbox_pending (position) SELECT position FROM ob
)
SELECT array(SELECT event_id FROM ev) AS events, array(SELECT event_id FROM ob) AS outbox
"""

#: `_APPEND` for a single event, with plain parameters in the same order: the event's id
#: where its row (and then its outbox row) went in, NULL where it conflicted
_APPEND_ONE = """
WITH ev AS (
    INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                        occurred_at, recorded_at, correlation_id, causation_id, actor, payload)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::jsonb)
    ON CONFLICT DO NOTHING
    RETURNING event_id
), ob AS (
    INSERT INTO outbox (event_id, topic, message_key, message_value)
    SELECT event_id, $12::text, $2, $13::bytea FROM ev
    ON CONFLICT DO NOTHING
    RETURNING event_id, position
), pending AS (
    INSERT INTO outbox_pending (position) SELECT position FROM ob
)
SELECT (SELECT event_id FROM ev) AS event, (SELECT event_id FROM ob) AS outbox
"""


#: `_APPEND` for `append_alone`: no ON CONFLICT, so that a conflict fails the whole statement
#: (there is no transaction around it to undo part of it in), and room for one more CTE
_APPEND_ALONE = _APPEND.replace("    ON CONFLICT DO NOTHING\n", "").replace(
    "\n)\nSELECT array(", "\n)/*also*/\nSELECT array("
)
assert "ON CONFLICT" not in _APPEND_ALONE and "/*also*/" in _APPEND_ALONE


async def _undo_and_raise(
    conn: Connection,
    envelopes: Sequence[Envelope],
    inserted_events: list[uuid.UUID],
    inserted_outbox: list[uuid.UUID],
    expected_version: int,
) -> NoReturn:
    """Some row conflicted: take back the rows this append did insert (all or nothing, as a
    failed statement would be, while the caller's transaction stays usable) and say why. An
    event id already stored is a duplicate whatever else clashed, as it was when the unique
    violation decided: the event id's index is checked before the stream version's."""
    if inserted_outbox:
        await conn.execute(
            """WITH gone AS (DELETE FROM outbox WHERE event_id = ANY($1::uuid[]) RETURNING position)
               DELETE FROM outbox_pending WHERE position IN (SELECT position FROM gone)""",
            inserted_outbox,
        )
    if inserted_events:
        await conn.execute("DELETE FROM events WHERE event_id = ANY($1::uuid[])", inserted_events)
    ids = [e.event_id for e in envelopes]
    duplicate = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM events WHERE event_id = ANY($1::uuid[]))
               OR EXISTS (SELECT 1 FROM outbox WHERE event_id = ANY($1::uuid[]))""",
        ids,
    )
    if duplicate:
        raise DuplicateEvent(f"an event among {', '.join(map(str, ids))} is already stored")
    raise ConcurrencyConflict(envelopes[0].stream_id, expected_version)


async def append_at_end(
    conn: Connection,
    service: str,
    payload: EventPayload,
    *,
    stream_id: str,
    now: datetime,
    actor: str,
    correlation_id: uuid.UUID,
) -> Envelope:
    """Append one event after whatever the stream holds now, for writers that decide from
    rows they have locked rather than from a loaded aggregate (timers, deliveries). A racing
    writer still makes this raise `ConcurrencyConflict` rather than interleave."""
    version = await stream_version(conn, stream_id)
    envelope = new_envelope(
        payload,
        stream_id=stream_id,
        stream_version=version + 1,
        occurred_at=now,
        recorded_at=now,
        actor=actor,
        correlation_id=correlation_id,
    )
    await append(conn, service, [envelope], expected_version=version)
    return envelope

"""The idempotent consumer: apply an event and record its id in one transaction, so a
redelivered event is skipped; send what cannot be parsed or applied to the dead-letter topic
with the cause, and carry on.

Three kinds of failure, three answers:
- the bytes are not a known event (bad JSON, unknown type, invalid payload): dead-letter now,
  retrying cannot help;
- the handler fails on a good event: retry a bounded number of times (a concurrency conflict or
  a transient error may clear), then dead-letter;
- the database or broker is unreachable: raise, so the message is not committed and comes back
  when they return. The event is fine; losing it to a dead-letter topic would be wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from contracts import (
    ContractError,
    Envelope,
    EventPayload,
    dead_letter_topic,
    decode_envelope,
    decode_payload,
    new_envelope,
)
from contracts.events import forget_checked_emails
from redress import eventstore, vault
from redress.db import Connection, is_infrastructure_error
from redress.logging import get_logger
from redress.metrics import DEAD_LETTERED, EVENT_HANDLING_SECONDS, EVENTS_CONSUMED

log = get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass
class EventContext:
    """What a handler gets: the event, and a connection inside the transaction that will also
    record the event as processed. Anything the handler writes, including new events, commits
    or rolls back with that record."""

    conn: Connection
    envelope: Envelope
    payload: EventPayload
    service: str
    now: datetime
    log: structlog.stdlib.BoundLogger = field(repr=False)
    #: shared by the events of one transaction (one event alone, or a batch) and thrown away
    #: with it: what a handler read or wrote for an earlier event of the batch (an aggregate's
    #: state, say) need not be read again
    batch: dict[str, Any] = field(default_factory=dict, repr=False)
    #: appends held for the end of the transaction (`append_at_commit`), when whoever runs
    #: the handler writes them before its commit; None: appends go at once
    pending: list[tuple[Sequence[Envelope], int]] | None = field(default=None, repr=False)
    #: work held for the end of the transaction (`at_commit`), by key; None: none is held
    held: dict[str, Callable[[], Awaitable[None]]] | None = field(default=None, repr=False)

    def at_commit(self, key: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Have ``work`` run just before the transaction commits, after every handler of the
        batch (once per ``key``: the first registration stands), for a handler that gathers
        the writes of many events into one statement. False when whoever runs the handler
        holds nothing: then the handler writes at once."""
        if self.held is None:
            return False
        self.held.setdefault(key, work)
        return True

    def caused_event(
        self,
        payload: EventPayload,
        *,
        stream_id: str,
        stream_version: int,
        event_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope:
        """An event caused by the one being handled: same correlation, causation is this
        event, the actor is this service."""
        return new_envelope(
            payload,
            stream_id=stream_id,
            stream_version=stream_version,
            occurred_at=occurred_at or self.now,
            recorded_at=self.now,
            actor=f"service:{self.service}",
            correlation_id=self.envelope.correlation_id,
            causation_id=self.envelope.event_id,
            event_id=event_id,
        )

    async def append(self, envelopes: Sequence[Envelope], *, expected_version: int) -> None:
        await eventstore.append(
            self.conn, self.service, envelopes, expected_version=expected_version
        )

    async def append_at_commit(
        self, envelopes: Sequence[Envelope], *, expected_version: int
    ) -> None:
        """`append`, written with the transaction's other appends in one statement just before
        it commits (`eventstore.append_streams`): for a handler that never reads back what it
        appended (it keeps the stream's state itself), a batch then costs one append, not one
        per event. A conflict then fails the whole batch, whose events go again one by one."""
        if self.pending is None:
            await self.append(envelopes, expected_version=expected_version)
        else:
            self.pending.append((list(envelopes), expected_version))


Handler = Callable[[EventContext], Awaitable[None]]
#: applies many events at once, as the handlers would one by one in log order (a projection
#: folding a batch into its rows); it gets every event of a batch that has a handler
BatchHandler = Callable[[Connection, Sequence[EventContext]], Awaitable[None]]


@dataclass(frozen=True)
class _Ready:
    """A message of a batch, decoded and opened, with its handler (None: not handled here)."""

    message: RawMessage
    envelope: Envelope
    payload: EventPayload | None
    handler: Handler | None


class DeadLetterSink:
    """Publishes the original bytes and the error to ``<topic>.dlq.<group>`` and keeps a
    durable copy in the service's ``dead_letters`` table (the embedded broker forgets
    everything on restart; the table does not)."""

    def __init__(self, service: str, group: str, pool: asyncpg.Pool) -> None:
        self.service = service
        self.group = group
        self.pool = pool
        self.producer: AIOKafkaProducer | None = None

    async def send(self, message: RawMessage, error: str) -> None:
        """Record, publish, mark published. The same message handed over again (its poll
        retried after an infrastructure error) is published only if the first time did not
        get that far: a bad message reaches its dead-letter topic once."""
        target = dead_letter_topic(message.topic, self.group)
        key = (self.group, message.topic, message.partition, message.offset)
        published = await self.pool.fetchval(
            _RECORD_DEAD_LETTER, *key, target, message.key, message.value, error
        )
        if published:
            return
        if self.producer is None:
            # a rebuild replays history: what was dead-lettered then is already on its topic,
            # so here it is only recorded
            DEAD_LETTERED.labels(self.service, message.topic).inc()
            return
        headers = [
            ("redress-error", error.encode("utf-8", "replace")[:4000]),
            ("redress-source-topic", message.topic.encode()),
            ("redress-source-partition", str(message.partition).encode()),
            ("redress-source-offset", str(message.offset).encode()),
            ("redress-consumer", self.group.encode()),
        ]
        await self.producer.send_and_wait(
            target, value=message.value, key=message.key, headers=headers
        )
        # a crash before this line publishes it again on redelivery: at least once, as the
        # outbox relay
        await self.pool.execute(_MARK_DEAD_LETTER_PUBLISHED, *key)
        DEAD_LETTERED.labels(self.service, message.topic).inc()


#: the dead letter's row (kept if already there) and whether it has been published; the
#: second SELECT sees only a row that was there before this statement
_RECORD_DEAD_LETTER = """
WITH new AS (
    INSERT INTO dead_letters (consumer, source_topic, source_partition, source_offset,
                              dead_letter_topic, message_key, message_value, error)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (consumer, source_topic, source_partition, source_offset) DO NOTHING
    RETURNING published_at
)
SELECT published_at IS NOT NULL FROM new
UNION ALL
SELECT published_at IS NOT NULL FROM dead_letters
WHERE consumer = $1 AND source_topic = $2 AND source_partition = $3 AND source_offset = $4
"""

_MARK_DEAD_LETTER_PUBLISHED = """
UPDATE dead_letters SET published_at = now()
WHERE consumer = $1 AND source_topic = $2 AND source_partition = $3 AND source_offset = $4
"""


class IdempotentConsumer:
    def __init__(
        self,
        *,
        service: str,
        group: str,
        pool: asyncpg.Pool,
        handlers: dict[str, Handler],
        dead_letters: DeadLetterSink,
        clock: Clock = utc_now,
        attempts: int = 3,
        retry_delay: float = 0.05,
        apply_batch: BatchHandler | None = None,
    ) -> None:
        self.service = service
        self.apply_batch = apply_batch
        self.group = group
        self.pool = pool
        self.handlers = handlers
        self.dead_letters = dead_letters
        self.clock = clock
        self.attempts = attempts
        self.retry_delay = retry_delay

    async def process(self, message: RawMessage) -> str:
        """Returns what happened: applied, duplicate, ignored or dead_lettered. Raises only for
        infrastructure failures, which the caller must answer by not committing the offset."""
        try:
            envelope = decode_envelope(message.value)
        except ContractError as exc:
            return await self._dead_letter(message, "unknown", f"unparseable: {exc}")
        if envelope.event_type == "PersonErased":
            # whatever this service does with it, its cached key must go now, and any address
            # remembered from decoding
            forget_checked_emails()
            forget = envelope.payload.get("person_id")
            with contextlib.suppress(ValueError, TypeError):
                vault.current().cache.forget_person(uuid.UUID(str(forget)))
        handler = self.handlers.get(envelope.event_type)
        if handler is None:
            self._count(message, envelope.event_type, "ignored")
            return "ignored"
        try:
            # personal fields are opened here, once, for every service (placeholders for an
            # erased person); a record that does not open with its key is bad input
            envelope = await vault.current().open(self.pool, envelope)
            payload = decode_payload(envelope)
        except ContractError as exc:
            return await self._dead_letter(message, envelope.event_type, f"invalid: {exc}")

        bound = _bound_log(message, envelope, payload)
        for attempt in range(1, self.attempts + 1):
            started = time.perf_counter()
            try:
                result = await self._apply(envelope, payload, handler, bound)
            except Exception as exc:
                if is_infrastructure_error(exc):
                    bound.warning("infrastructure unavailable; will redeliver", error=repr(exc))
                    raise
                if attempt == self.attempts:
                    bound.error("handler failed; dead-lettering", error=repr(exc))
                    return await self._dead_letter(
                        message,
                        envelope.event_type,
                        f"handler failed after {attempt} attempts: {exc!r}",
                    )
                bound.info("handler failed; retrying", attempt=attempt, error=repr(exc))
                await asyncio.sleep(self.retry_delay * attempt)
                continue
            EVENT_HANDLING_SECONDS.labels(self.service, envelope.event_type).observe(
                time.perf_counter() - started
            )
            self._count(message, envelope.event_type, result)
            bound.info("event handled", result=result)
            return result
        raise AssertionError("unreachable")

    async def process_batch(self, messages: Sequence[RawMessage]) -> list[str]:
        """Apply many messages in log order, as many as possible in one transaction with their
        ids recorded as processed in one statement: what `process` does for each, without a
        commit (and its flush to disk) per event. The live subscriber hands each poll here, and
        replays hand their thousands of waiting events.

        The outcome of every message is what `process` would have given it. Idempotency is the
        same: an id already recorded (or twice in the batch) is a duplicate. A message that must
        go alone goes through `process`, with its retries and dead-lettering, and batching goes
        on after it, so one bad message costs one extra transaction, not a whole slow poll:
        - one that would be dead-lettered (unparseable, invalid, not opening);
        - a ``PersonErased``, so that it commits (and the cached keys are forgotten) before
          anything after it is opened;
        - one whose handler fails inside the batch: the batch rolls back, the events before it
          are applied together again, then it alone.
        An infrastructure failure raises, as in `process`: nothing of the transaction in
        progress is kept and the caller must not commit the offsets."""
        results: list[str] = []
        rest = list(messages)
        while rest:
            together = await self._apply_together(rest, fold=self.apply_batch is not None)
            results.extend(together)
            rest = rest[len(together) :]
            if rest:
                results.append(await self.process(rest[0]))
                rest = rest[1:]
        return results

    async def _apply_together(self, messages: Sequence[RawMessage], *, fold: bool) -> list[str]:
        """Apply the longest prefix of ``messages`` that can share a transaction; its outcomes
        (fewer than the messages when the next one must go alone through `process`). With
        ``fold``, `apply_batch` applies the events at once instead of a handler each."""
        decoded: list[tuple[RawMessage, Envelope]] = []
        for message in messages:
            try:
                envelope = decode_envelope(message.value)
            except ContractError:
                break
            if envelope.event_type == "PersonErased":
                break
            decoded.append((message, envelope))
        # the keys of the whole prefix in one query, read through the pool as `process` reads
        # them: the keys events are sealed with were committed by whoever published them,
        # never by a handler of this batch
        await vault.current().prefetch(
            self.pool, [e for _, e in decoded if e.event_type in self.handlers]
        )
        ready: list[_Ready] = []
        for message, envelope in decoded:
            handler = self.handlers.get(envelope.event_type)
            if handler is None:
                ready.append(_Ready(message, envelope, None, None))
                continue
            try:
                opened = await vault.current().open(self.pool, envelope)
                payload = decode_payload(opened)
            except ContractError:
                break
            ready.append(_Ready(message, opened, payload, handler))
        if not any(r.handler is not None for r in ready):
            for r in ready:
                self._count(r.message, r.envelope.event_type, "ignored")
            return ["ignored"] * len(ready)

        outcomes: list[str] = []
        spent: list[float] = []
        failing: int | None = None
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = {
                    r["event_id"]
                    for r in await conn.fetch(
                        """INSERT INTO processed_events (consumer, event_id)
                           SELECT $1, unnest($2::uuid[])
                           ON CONFLICT DO NOTHING RETURNING event_id""",
                        self.group,
                        [r.envelope.event_id for r in ready if r.handler is not None],
                    )
                }
                together: list[EventContext] = []
                shared: dict[str, Any] = {}  # a rolled-back attempt's goes with it
                pending: list[tuple[Sequence[Envelope], int]] = []
                held: dict[str, Callable[[], Awaitable[None]]] = {}
                logs: dict[int, structlog.stdlib.BoundLogger] = {}
                for i, r in enumerate(ready):
                    if r.handler is None or r.payload is None:
                        outcomes.append("ignored")
                        spent.append(0.0)
                        continue
                    if r.envelope.event_id not in fresh:
                        outcomes.append("duplicate")
                        spent.append(0.0)
                        continue
                    fresh.discard(r.envelope.event_id)  # the same id again later is a duplicate
                    ctx = EventContext(
                        conn,
                        r.envelope,
                        r.payload,
                        self.service,
                        self.clock(),
                        _lazy_log(r.message, r.envelope, r.payload),
                        shared,
                        pending,
                        held,
                    )
                    logs[i] = ctx.log
                    outcomes.append("applied")
                    if fold:
                        together.append(ctx)
                        spent.append(0.0)
                        continue
                    failing = i
                    began = time.perf_counter()
                    await r.handler(ctx)
                    spent.append(time.perf_counter() - began)
                if together:
                    assert self.apply_batch is not None
                    await self.apply_batch(conn, together)
                failing = None  # from here on a failure is the commit's, no one event's
                await eventstore.append_streams(conn, self.service, pending)
                for work in held.values():
                    await work()
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise
            if fold:
                # a fold blames no one event: the handlers, one after another, will
                log.info(
                    "batch fold failed; applying it with each event's handler", error=repr(exc)
                )
                return await self._apply_together(messages, fold=False)
            if failing is None:
                # nothing to blame one event for: each goes alone, as it would have
                log.info("batch failed; applying its events one by one", error=repr(exc))
                return [await self.process(r.message) for r in ready]
            blamed = ready[failing]
            assert blamed.payload is not None
            _bound_log(blamed.message, blamed.envelope, blamed.payload).info(
                "handler failed in a batch; the events before it go again together, then it alone",
                error=repr(exc),
                batch=len(ready),
            )
            return await self._apply_together(messages[:failing], fold=False) if failing else []

        # the time outside the handlers (the processed-events insert and the commit) is
        # shared out among the events it was spent for
        handled = [i for i, r in enumerate(ready) if r.handler is not None]
        overhead = (time.perf_counter() - started - sum(spent)) / len(handled)
        # the metrics' children looked up once per kind of event, not once per event; the line
        # per event only where it is logged (a rebuild logs warnings only)
        counted: Counter[tuple[str, str, str]] = Counter()
        timers: dict[str, Any] = {}
        logging_info = _info_enabled()
        for i, (r, outcome) in enumerate(zip(ready, outcomes, strict=True)):
            counted[(r.message.topic, r.envelope.event_type, outcome)] += 1
            if r.handler is None or r.payload is None:
                continue
            timer = timers.get(r.envelope.event_type)
            if timer is None:
                timer = timers[r.envelope.event_type] = EVENT_HANDLING_SECONDS.labels(
                    self.service, r.envelope.event_type
                )
            timer.observe(spent[i] + overhead)
            if logging_info:
                bound = logs.get(i) or _bound_log(r.message, r.envelope, r.payload)
                bound.info("event handled", result=outcome)
        for (topic, event_type, outcome), n in counted.items():
            EVENTS_CONSUMED.labels(self.service, topic, event_type, outcome).inc(n)
        return outcomes

    async def _apply(
        self,
        envelope: Envelope,
        payload: EventPayload,
        handler: Handler,
        bound: structlog.stdlib.BoundLogger,
    ) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await conn.fetchval(
                """INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
                   ON CONFLICT DO NOTHING RETURNING true""",
                self.group,
                envelope.event_id,
            )
            if not fresh:
                return "duplicate"
            pending: list[tuple[Sequence[Envelope], int]] = []
            held: dict[str, Callable[[], Awaitable[None]]] = {}
            await handler(
                EventContext(
                    conn,
                    envelope,
                    payload,
                    self.service,
                    self.clock(),
                    bound,
                    pending=pending,
                    held=held,
                )
            )
            await eventstore.append_streams(conn, self.service, pending)
            for work in held.values():
                await work()
        return "applied"

    async def _dead_letter(self, message: RawMessage, event_type: str, error: str) -> str:
        await self.dead_letters.send(message, error)
        self._count(message, event_type, "dead_lettered")
        log.warning(
            "dead-lettered",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            error=error,
        )
        return "dead_lettered"

    def _count(self, message: RawMessage, event_type: str, result: str) -> None:
        EVENTS_CONSUMED.labels(self.service, message.topic, event_type, result).inc()


def _info_enabled() -> bool:
    is_enabled_for = getattr(log.bind(), "is_enabled_for", None)
    return True if is_enabled_for is None else bool(is_enabled_for(logging.INFO))


class _LazyLog:
    """`_bound_log`, bound when first used: binding costs microseconds, and in a batch most
    events log nothing through their context (a fold, a rebuild logging warnings only)."""

    __slots__ = ("_bound", "_event")

    def __init__(self, message: RawMessage, envelope: Envelope, payload: EventPayload) -> None:
        self._event = (message, envelope, payload)
        self._bound: structlog.stdlib.BoundLogger | None = None

    def __getattr__(self, name: str) -> Any:
        if self._bound is None:
            self._bound = _bound_log(*self._event)
        return getattr(self._bound, name)


def _lazy_log(
    message: RawMessage, envelope: Envelope, payload: EventPayload
) -> structlog.stdlib.BoundLogger:
    return cast(structlog.stdlib.BoundLogger, _LazyLog(message, envelope, payload))


def _bound_log(
    message: RawMessage, envelope: Envelope, payload: EventPayload
) -> structlog.stdlib.BoundLogger:
    """Every line logged while an event is applied names it, its case and where it came from
    (ids only: personal fields never reach the log)."""
    case_id = getattr(payload, "case_id", None)
    return log.bind(
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        case_id=None if case_id is None else str(case_id),
        correlation_id=str(envelope.correlation_id),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )

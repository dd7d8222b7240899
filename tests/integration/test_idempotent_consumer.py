import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import TypeAdapter

from contracts import (
    ErasureReason,
    PersonErased,
    dead_letter_topic,
    encode_envelope,
    events,
    new_envelope,
)
from contracts.events import EmailStr
from redress import eventstore, vault
from redress.consumer import DeadLetterSink, EventContext, IdempotentConsumer, RawMessage
from redress.kafka import ensure_topics
from tests.conftest import Stack
from tests.integration.conftest import TEST_TOPIC, ThingHappened
from tests.support import read_topic


class Recorder:
    """A handler that writes a row, so that 'applied once' is visible in the database, and can
    be told to fail."""

    def __init__(self, fail_times: int = 0, error: Exception | None = None) -> None:
        self.calls = 0
        self.fail_times = fail_times
        self.error = error or RuntimeError("transient")

    async def __call__(self, ctx: EventContext) -> None:
        self.calls += 1
        await ctx.conn.execute(
            "INSERT INTO applied (event_id, name) VALUES ($1, $2)",
            ctx.envelope.event_id,
            getattr(ctx.payload, "name", None),
        )
        if self.calls <= self.fail_times:
            raise self.error


@pytest.fixture
async def group(stack: Stack) -> str:
    name = f"g{uuid.uuid4().hex[:10]}"
    await ensure_topics(
        stack.bootstrap,
        [TEST_TOPIC, dead_letter_topic(TEST_TOPIC, name)],
        partitions=1,
        replication=1,
    )
    return name


@pytest.fixture
async def sink(pool: asyncpg.Pool, group: str, producer: object) -> AsyncIterator[DeadLetterSink]:
    await pool.execute("CREATE TABLE applied (event_id uuid, name text)")
    s = DeadLetterSink("test", group, pool)
    s.producer = producer  # type: ignore[assignment]
    yield s


def consumer(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink, handler: Recorder
) -> IdempotentConsumer:
    return IdempotentConsumer(
        service="test",
        group=group,
        pool=pool,
        handlers={"ThingHappenedForTest": handler},
        dead_letters=sink,
        attempts=3,
        retry_delay=0.01,
    )


def message(value: bytes, offset: int = 0) -> RawMessage:
    return RawMessage(TEST_TOPIC, 0, offset, b"k", value)


def good_event(name: str = "x") -> bytes:
    return encode_envelope(
        new_envelope(
            ThingHappened(name=name),
            stream_id="s",
            stream_version=1,
            occurred_at=datetime.now(UTC),
            actor="test",
            correlation_id=uuid.uuid4(),
        )
    )


async def test_a_redelivered_event_changes_nothing(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink
) -> None:
    handler = Recorder()
    c = consumer(pool, group, sink, handler)
    raw = good_event()
    assert await c.process(message(raw, 0)) == "applied"
    assert await c.process(message(raw, 1)) == "duplicate"
    assert handler.calls == 1
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1


async def test_garbage_goes_to_the_dead_letter_topic_with_the_error(
    stack: Stack, pool: asyncpg.Pool, group: str, sink: DeadLetterSink
) -> None:
    handler = Recorder()
    c = consumer(pool, group, sink, handler)
    garbage = b"\x00 this is not an event"
    assert await c.process(message(garbage, 7)) == "dead_lettered"
    assert await c.process(message(good_event("after"), 8)) == "applied"
    ((_key, value, headers),) = await read_topic(
        stack.bootstrap, dead_letter_topic(TEST_TOPIC, group), count=1
    )
    assert value == garbage
    assert b"unparseable" in headers["redress-error"]
    assert headers["redress-source-offset"] == b"7"
    row = await pool.fetchrow("SELECT * FROM dead_letters")
    assert bytes(row["message_value"]) == garbage
    assert row["source_offset"] == 7
    assert await pool.fetchval("SELECT name FROM applied") == "after"


class _FailsOnce:
    """The real producer, except that its first send fails as a broker away would."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.failed = False

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise KafkaConnectionError("broker away")
        return await self.real.send_and_wait(*args, **kwargs)


async def test_a_dead_letter_handed_over_again_is_published_once_unless_it_was_not(
    stack: Stack, pool: asyncpg.Pool, group: str, sink: DeadLetterSink, producer: object
) -> None:
    """A poll retried after an infrastructure error hands its bad messages to the sink again:
    one already published is not published twice; one whose publishing failed is published
    now."""
    first, second = message(b"\x01 bad", 3), message(b"\x02 bad", 4)
    await sink.send(first, "unparseable: one")
    await sink.send(first, "unparseable: one")
    sink.producer = _FailsOnce(producer)  # type: ignore[assignment]
    with pytest.raises(KafkaConnectionError):
        await sink.send(second, "unparseable: two")
    await sink.send(second, "unparseable: two")
    await sink.send(second, "unparseable: two")
    sink.producer = producer  # type: ignore[assignment]
    third = message(b"\x03 marks the end", 5)
    await sink.send(third, "unparseable: three")
    topic = dead_letter_topic(TEST_TOPIC, group)
    got = await read_topic(stack.bootstrap, topic, count=3)  # a repeat would push out the third
    assert [value for _k, value, _h in got] == [first.value, second.value, third.value]
    rows = await pool.fetch("SELECT source_offset, published_at FROM dead_letters ORDER BY 1")
    assert [(r["source_offset"], r["published_at"] is not None) for r in rows] == [
        (3, True),
        (4, True),
        (5, True),
    ]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(event_type="NoSuchEvent"),
        lambda d: d["payload"].update(name=12345),
        lambda d: d.pop("event_id"),
    ],
    ids=["unknown type", "invalid payload", "missing envelope field"],
)
async def test_unknown_or_invalid_events_are_dead_lettered(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink, mutate: object
) -> None:
    data = json.loads(good_event())
    mutate(data)  # type: ignore[operator]
    c = consumer(pool, group, sink, Recorder())
    assert await c.process(message(json.dumps(data).encode())) == "dead_lettered"
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 1


async def test_a_transient_failure_is_retried_and_applied_once(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink
) -> None:
    handler = Recorder(fail_times=2)
    c = consumer(pool, group, sink, handler)
    assert await c.process(message(good_event())) == "applied"
    assert handler.calls == 3
    # the two failed attempts rolled back with their writes
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_a_handler_that_keeps_failing_is_dead_lettered_and_rolled_back(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink
) -> None:
    handler = Recorder(fail_times=99)
    c = consumer(pool, group, sink, handler)
    raw = good_event()
    assert await c.process(message(raw)) == "dead_lettered"
    assert handler.calls == 3
    assert await pool.fetchval("SELECT count(*) FROM applied") == 0
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 0
    error = await pool.fetchval("SELECT error FROM dead_letters")
    assert "after 3 attempts" in error and "RuntimeError" in error


async def test_infrastructure_failure_is_raised_not_dead_lettered(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink
) -> None:
    handler = Recorder(fail_times=1, error=ConnectionResetError("database went away"))
    c = consumer(pool, group, sink, handler)
    raw = good_event()
    with pytest.raises(ConnectionResetError):
        await c.process(message(raw))
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 0
    # redelivered once the database is back: applied exactly once
    assert await c.process(message(raw)) == "applied"
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1


async def test_events_without_a_handler_are_ignored(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink
) -> None:
    c = IdempotentConsumer(service="test", group=group, pool=pool, handlers={}, dead_letters=sink)
    assert await c.process(message(good_event())) == "ignored"
    assert await pool.fetchval("SELECT count(*) FROM dead_letters") == 0


# -- batches: many events in one transaction (replays), same answers as one at a time --


async def test_a_batch_applies_each_event_once_in_order(
    pool: asyncpg.Pool,
    group: str,
    sink: DeadLetterSink,
) -> None:
    handler = Recorder()
    c = consumer(pool, group, sink, handler)
    first, second, third = good_event("a"), good_event("b"), good_event("c")
    assert await c.process(message(first, 0)) == "applied"
    outcomes = await c.process_batch(
        [message(first, 1), message(second, 2), message(third, 3), message(second, 4)]
    )
    assert outcomes == ["duplicate", "applied", "applied", "duplicate"]
    names = [r["name"] for r in await pool.fetch("SELECT name FROM applied ORDER BY ctid")]
    assert names == ["a", "b", "c"]
    # and a redelivered batch changes nothing
    assert await c.process_batch([message(second, 2), message(third, 3)]) == [
        "duplicate",
        "duplicate",
    ]
    assert await pool.fetchval("SELECT count(*) FROM applied") == 3


async def test_a_bad_message_in_a_batch_is_dead_lettered_and_the_rest_applied(
    pool: asyncpg.Pool,
    group: str,
    sink: DeadLetterSink,
) -> None:
    c = consumer(pool, group, sink, Recorder())
    outcomes = await c.process_batch(
        [message(good_event("a"), 0), message(b"not an event", 1), message(good_event("b"), 2)]
    )
    assert outcomes == ["applied", "dead_lettered", "applied"]
    assert await pool.fetchval("SELECT count(*) FROM applied") == 2
    assert await pool.fetchval("SELECT source_offset FROM dead_letters") == 1


async def test_a_failing_handler_rolls_the_batch_back_then_each_is_retried_alone(
    pool: asyncpg.Pool,
    group: str,
    sink: DeadLetterSink,
) -> None:
    # fails twice: once inside the batch (rolled back, with the others), once alone (retried)
    handler = Recorder(fail_times=2)
    c = consumer(pool, group, sink, handler)
    outcomes = await c.process_batch([message(good_event("a"), 0), message(good_event("b"), 1)])
    assert outcomes == ["applied", "applied"]
    names = sorted(r["name"] for r in await pool.fetch("SELECT name FROM applied"))
    assert names == ["a", "b"]  # the rows the failed attempts wrote were rolled back
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 2


async def test_an_erasure_in_a_batch_commits_alone_between_the_events_around_it(
    pool: asyncpg.Pool,
    group: str,
    sink: DeadLetterSink,
) -> None:
    """The events before it share a transaction, it has its own (so its scrubbing commits and
    the person's cached keys are forgotten before anything after it is opened), and the events
    after it share one again."""
    await pool.execute("CREATE TABLE tx (name text, tx bigint)")

    async def record(ctx: EventContext) -> None:
        name = getattr(ctx.payload, "name", ctx.envelope.event_type)
        await ctx.conn.execute("INSERT INTO tx VALUES ($1, txid_current())", name)

    person, key_id = uuid.uuid4(), uuid.uuid4()
    vault.current().cache.put(key_id, person, b"k" * 32)
    TypeAdapter(EmailStr).validate_python("remembered@example.org")  # an address checked
    assert events._CHECKED
    erased = encode_envelope(
        new_envelope(
            PersonErased(
                person_id=person, erased_on=date(2026, 11, 27), reason=ErasureReason.REQUEST
            ),
            stream_id=f"person-{person}",
            stream_version=1,
            occurred_at=datetime.now(UTC),
            actor="test",
            correlation_id=uuid.uuid4(),
        )
    )
    c = IdempotentConsumer(
        service="test",
        group=group,
        pool=pool,
        handlers={"ThingHappenedForTest": record, "PersonErased": record},
        dead_letters=sink,
    )
    names = ["a", "b", "PersonErased", "c", "d"]
    raws = [good_event("a"), good_event("b"), erased, good_event("c"), good_event("d")]
    outcomes = await c.process_batch([message(raw, i) for i, raw in enumerate(raws)])
    assert outcomes == ["applied"] * 5
    tx = {r["name"]: r["tx"] for r in await pool.fetch("SELECT name, tx FROM tx")}
    assert set(tx) == set(names)
    assert tx["a"] == tx["b"] and tx["c"] == tx["d"]
    assert len({tx["a"], tx["PersonErased"], tx["c"]}) == 3
    assert vault.current().cache.get(key_id) == (False, None)
    assert not events._CHECKED  # nor any address remembered from decoding


async def test_a_fold_that_fails_leaves_the_batch_to_the_handlers_together(
    pool: asyncpg.Pool,
    group: str,
    sink: DeadLetterSink,
) -> None:
    """A service's batch fold (`apply_batch`) that refuses a batch blames no one event: the
    same events are applied again with their handlers, still in one transaction."""
    await pool.execute("CREATE TABLE tx (name text, tx bigint)")
    folds = 0

    async def record(ctx: EventContext) -> None:
        name = getattr(ctx.payload, "name", "")
        await ctx.conn.execute("INSERT INTO tx VALUES ($1, txid_current())", name)

    async def refuse(conn: object, contexts: object) -> None:
        nonlocal folds
        folds += 1
        raise ValueError("this fold cannot take a mix")

    c = IdempotentConsumer(
        service="test",
        group=group,
        pool=pool,
        handlers={"ThingHappenedForTest": record},
        dead_letters=sink,
        apply_batch=refuse,
    )
    outcomes = await c.process_batch([message(good_event(n), i) for i, n in enumerate("abc")])
    assert outcomes == ["applied"] * 3
    assert folds == 1
    rows = await pool.fetch("SELECT name, tx FROM tx ORDER BY ctid")
    assert [r["name"] for r in rows] == ["a", "b", "c"]
    assert len({r["tx"] for r in rows}) == 1
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 3


async def test_a_batch_logs_and_counts_every_event_and_only_at_the_level_asked(
    pool: asyncpg.Pool,
    group: str,
    sink: DeadLetterSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Binding each event's ids to the log is put off until something is logged, and the
    metrics are added up per kind of event: every event still gets its line (at INFO) and its
    count, and a rebuild that logs warnings only binds nothing."""
    import structlog
    from structlog.testing import capture_logs

    from redress import consumer as consumer_module
    from redress.logging import configure_logging
    from redress.metrics import EVENTS_CONSUMED

    def fresh_logger() -> None:
        # a logger is configured on first use, for good: a new one sees the level set now
        monkeypatch.setattr(consumer_module, "log", structlog.get_logger("redress.consumer"))

    class Warner(Recorder):
        async def __call__(self, ctx: EventContext) -> None:
            await super().__call__(ctx)
            if getattr(ctx.payload, "name", None) == "odd":
                ctx.log.warning("an odd one")

    c = consumer(pool, group, sink, Warner())
    values = [good_event("a"), good_event("odd"), good_event("c")]

    def counted(outcome: str) -> float:
        child = EVENTS_CONSUMED.labels("test", TEST_TOPIC, "ThingHappenedForTest", outcome)
        return float(child._value.get())

    before = counted("applied"), counted("duplicate")
    configure_logging("test", "INFO")
    with capture_logs() as lines:
        fresh_logger()
        outcomes = await c.process_batch(
            [message(v, i) for i, v in enumerate([*values, values[0]])]
        )
    assert outcomes == ["applied", "applied", "applied", "duplicate"]
    assert (counted("applied") - before[0], counted("duplicate") - before[1]) == (3, 1)
    handled = [line for line in lines if line["event"] == "event handled"]
    assert [line["result"] for line in handled] == ["applied"] * 3 + ["duplicate"]
    ids = [str(json.loads(v)["event_id"]) for v in values]
    assert [line["event_id"] for line in handled] == [*ids, ids[0]]
    assert all(line["offset"] == i for i, line in enumerate(handled))
    (odd,) = [line for line in lines if line["event"] == "an odd one"]
    assert odd["event_id"] == ids[1] and odd["topic"] == TEST_TOPIC

    configure_logging("test", "WARNING")
    try:
        with capture_logs() as lines:
            fresh_logger()
            again = [good_event("odd"), good_event("e")]
            assert await c.process_batch([message(v, 10 + i) for i, v in enumerate(again)]) == [
                "applied",
                "applied",
            ]
        assert [line["event"] for line in lines] == ["an odd one"]
        assert counted("applied") - before[0] == 5
    finally:
        configure_logging("test", "INFO")


class Appender:
    """Appends one event to its own stream per event, held for the commit; the stream of
    ``clash`` already holds version 1 the first time, so the batch's one append fails."""

    def __init__(self, clash: str) -> None:
        self.clash = clash
        self.calls = 0

    async def __call__(self, ctx: EventContext) -> None:
        self.calls += 1
        name = getattr(ctx.payload, "name", "")
        stream = f"appended-{name}-{ctx.envelope.event_id}"
        # in the batch (the first three calls) it has not seen the racing writer's event and
        # clashes; applied alone afterwards, it has read the stream again and follows it
        version = 1 if name == self.clash and self.calls > 3 else 0
        await ctx.append_at_commit(
            [
                ctx.caused_event(
                    ThingHappened(name=f"after {name}"),
                    stream_id=stream,
                    stream_version=version + 1,
                )
            ],
            expected_version=version,
        )


async def test_appends_held_for_the_commit_go_with_the_batch_or_each_alone_after_a_clash(
    pool: asyncpg.Pool, group: str, sink: DeadLetterSink
) -> None:
    """A batch's held appends are stored as it commits; when one of them clashes, nothing of
    the batch is kept and each event goes again alone, with its own append."""
    values = [good_event(n) for n in ("a", "b", "c")]
    ids = [json.loads(v)["event_id"] for v in values]
    clash_stream = f"appended-b-{ids[1]}"
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(
            conn,
            "test",
            [
                new_envelope(
                    ThingHappened(name="racer"),
                    stream_id=clash_stream,
                    stream_version=1,
                    occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                    actor="test",
                    correlation_id=uuid.uuid4(),
                )
            ],
            expected_version=0,
        )
    handler = Appender(clash="b")
    c = IdempotentConsumer(
        service="test",
        group=group,
        pool=pool,
        handlers={"ThingHappenedForTest": handler},  # type: ignore[dict-item]
        dead_letters=sink,
        attempts=3,
        retry_delay=0.01,
    )
    outcomes = await c.process_batch([message(v, i) for i, v in enumerate(values)])
    assert outcomes == ["applied"] * 3
    rows = await pool.fetch(
        "SELECT stream_id, stream_version FROM events WHERE stream_id LIKE 'appended-%' "
        "AND stream_id = ANY($1::text[]) ORDER BY stream_id, stream_version",
        [f"appended-{n}-{i}" for n, i in zip("abc", ids, strict=True)],
    )
    assert [(r["stream_id"], r["stream_version"]) for r in rows] == sorted(
        [
            (f"appended-a-{ids[0]}", 1),
            (clash_stream, 1),
            (clash_stream, 2),
            (f"appended-c-{ids[2]}", 1),
        ]
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM processed_events WHERE consumer = $1", group) == 3
    )

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from prometheus_client import REGISTRY

from contracts import Envelope, decode_envelope, new_envelope
from redress import eventstore
from tests.conftest import Stack
from tests.integration.conftest import TEST_TOPIC, ThingHappened

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def events(stream: str, start_version: int, count: int) -> list[Envelope]:
    return [
        new_envelope(
            ThingHappened(name=f"e{i}", number=i),
            stream_id=stream,
            stream_version=start_version + i,
            occurred_at=NOW,
            actor="test",
            correlation_id=uuid.uuid4(),
        )
        for i in range(1, count + 1)
    ]


async def test_appended_events_load_back_and_wait_in_the_outbox(pool: asyncpg.Pool) -> None:
    stream = f"s-{uuid.uuid4()}"
    written = events(stream, 0, 3)
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", written, expected_version=0)
    async with pool.acquire() as conn:
        assert await eventstore.load_stream(conn, stream) == written
        assert await eventstore.stream_version(conn, stream) == 3
    rows = await pool.fetch("SELECT * FROM outbox ORDER BY position")
    assert [r["event_id"] for r in rows] == [e.event_id for e in written]
    assert {r["topic"] for r in rows} == {TEST_TOPIC}
    assert {r["message_key"] for r in rows} == {stream}
    assert [decode_envelope(bytes(r["message_value"])) for r in rows] == written
    # each waits for the relay in the pending table, the outbox row itself is never updated
    pending = await pool.fetch("SELECT position FROM outbox_pending ORDER BY position")
    assert [p["position"] for p in pending] == [r["position"] for r in rows]


async def test_append_needs_a_transaction(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await eventstore.append(conn, "test", events("s", 0, 1), expected_version=0)


async def test_versions_must_follow_the_expected_version(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(ValueError, match="stream_version"):
            await eventstore.append(conn, "test", events("s", 1, 1), expected_version=0)


async def test_racing_writers_one_wins_one_conflicts(pool: asyncpg.Pool) -> None:
    stream = f"s-{uuid.uuid4()}"
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", events(stream, 0, 1), expected_version=0)

    async def writer() -> str:
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await eventstore.append(conn, "test", events(stream, 1, 1), expected_version=1)
                    await asyncio.sleep(0.2)  # hold the transaction open so the other overlaps
            except eventstore.ConcurrencyConflict:
                return "conflict"
            return "won"

    results = sorted(await asyncio.gather(writer(), writer()))
    assert results == ["conflict", "won"]
    async with pool.acquire() as conn:
        assert await eventstore.stream_version(conn, stream) == 2
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 2


async def test_same_event_twice_is_a_duplicate(pool: asyncpg.Pool) -> None:
    stream = f"s-{uuid.uuid4()}"
    first = events(stream, 0, 1)
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", first, expected_version=0)
    again = first[0].model_copy(update={"stream_version": 2})
    async with pool.acquire() as conn:
        with pytest.raises(eventstore.DuplicateEvent):
            async with conn.transaction():
                await eventstore.append(conn, "test", [again], expected_version=1)


async def test_rollback_leaves_neither_event_nor_outbox_row(pool: asyncpg.Pool) -> None:
    stream = f"s-{uuid.uuid4()}"

    class Boom(Exception):
        pass

    async with pool.acquire() as conn:
        with pytest.raises(Boom):
            async with conn.transaction():
                await eventstore.append(conn, "test", events(stream, 0, 2), expected_version=0)
                raise Boom
    assert await pool.fetchval("SELECT count(*) FROM events") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_the_relay_is_woken_once_the_append_commits_and_not_for_a_rollback(
    pool: asyncpg.Pool, stack: Stack
) -> None:
    """The wake-up is sent after commit (so writers do not queue on PostgreSQL's notify lock),
    once per transaction, and never for a transaction that rolled back."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(stack.dsn)
    await listener.add_listener(eventstore.OUTBOX_CHANNEL, lambda *a: heard.put_nowait(a[3]))
    try:
        async with pool.acquire() as conn:
            with pytest.raises(RuntimeError, match="changed my mind"):
                async with conn.transaction():
                    await eventstore.append(
                        conn, "t", events("rolled-back", 0, 1), expected_version=0
                    )
                    raise RuntimeError("changed my mind")
            async with conn.transaction():
                await eventstore.append(conn, "t", events("kept-a", 0, 2), expected_version=0)
                async with conn.transaction():  # a savepoint inside: still one wake-up
                    await eventstore.append(conn, "t", events("kept-b", 0, 1), expected_version=0)
        assert await asyncio.wait_for(heard.get(), 30) == "kept-b"
        async with pool.acquire() as conn, conn.transaction():
            await eventstore.append(conn, "t", events("kept-c", 0, 1), expected_version=0)
        assert await asyncio.wait_for(heard.get(), 30) == "kept-c"
        assert heard.empty()
    finally:
        await listener.close()


async def test_a_refused_append_stores_none_of_its_events_and_leaves_the_transaction_usable(
    pool: asyncpg.Pool,
) -> None:
    """The second event of an append clashes: neither event nor outbox row of the append is
    kept (all or nothing), and the caller's transaction carries on to commit its other work."""
    taken = events(f"s-{uuid.uuid4()}", 0, 1)
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", taken, expected_version=0)
    stream = f"s-{uuid.uuid4()}"
    clashing = events(stream, 0, 2)
    clashing[1] = clashing[1].model_copy(update={"event_id": taken[0].event_id})
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(eventstore.DuplicateEvent):
            await eventstore.append(conn, "test", clashing, expected_version=0)
        after = events(f"s-{uuid.uuid4()}", 0, 1)
        await eventstore.append(conn, "test", after, expected_version=0)
    assert await pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", stream) == 0
    stored = await pool.fetch("SELECT event_id FROM outbox ORDER BY position")
    assert [r["event_id"] for r in stored] == [taken[0].event_id, after[0].event_id]


async def test_a_version_clash_is_a_conflict_and_the_transaction_carries_on(
    pool: asyncpg.Pool,
) -> None:
    stream = f"s-{uuid.uuid4()}"
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", events(stream, 0, 2), expected_version=0)
    late = events(stream, 1, 2)  # written from version 1: its first event clashes
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(eventstore.ConcurrencyConflict):
            await eventstore.append(conn, "test", late, expected_version=1)
        assert await eventstore.stream_version(conn, stream) == 2
        await eventstore.append(conn, "test", events(stream, 2, 1), expected_version=2)
    assert await pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", stream) == 3
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE message_key = $1", stream) == 3


async def test_a_refused_single_event_leaves_the_transaction_usable(pool: asyncpg.Pool) -> None:
    """A one-event append (its own statement) refused for a version clash or for an event id
    already stored stores nothing of it, says which, and the caller's transaction commits its
    other work."""
    stream = f"s-{uuid.uuid4()}"
    first = events(stream, 0, 1)
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", first, expected_version=0)
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(eventstore.ConcurrencyConflict) as conflict:
            await eventstore.append(conn, "test", events(stream, 0, 1), expected_version=0)
        assert (conflict.value.stream_id, conflict.value.expected_version) == (stream, 0)
        again = first[0].model_copy(update={"stream_version": 2})
        with pytest.raises(eventstore.DuplicateEvent):
            await eventstore.append(conn, "test", [again], expected_version=1)
        after = events(stream, 1, 1)
        await eventstore.append(conn, "test", after, expected_version=1)
    async with pool.acquire() as conn:
        assert await eventstore.load_stream(conn, stream) == [*first, *after]
    rows = await pool.fetch("SELECT * FROM outbox WHERE message_key = $1 ORDER BY position", stream)
    assert [decode_envelope(bytes(r["message_value"])) for r in rows] == [*first, *after]


async def test_one_event_on_each_of_several_streams_goes_after_what_each_holds(
    pool: asyncpg.Pool,
) -> None:
    old, new = f"s-{uuid.uuid4()}", f"s-{uuid.uuid4()}"
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", events(old, 0, 2), expected_version=0)
    ids = [uuid.uuid4(), uuid.uuid4()]
    async with pool.acquire() as conn, conn.transaction():
        written = await eventstore.append_each_at_end(
            conn,
            "test",
            [
                (old, ThingHappened(name="third"), ids[0]),
                (new, ThingHappened(name="first"), ids[1]),
            ],
            now=NOW,
            actor="test",
        )
    assert [(e.stream_id, e.stream_version, e.correlation_id) for e in written] == [
        (old, 3, ids[0]),
        (new, 1, ids[1]),
    ]
    async with pool.acquire() as conn:
        assert (await eventstore.load_stream(conn, old))[-1] == written[0]
        assert await eventstore.load_stream(conn, new) == [written[1]]
    rows = await pool.fetch("SELECT * FROM outbox ORDER BY position")
    assert [r["message_key"] for r in rows][-2:] == [old, new]
    assert [decode_envelope(bytes(r["message_value"])) for r in rows][-2:] == written


async def test_a_racing_writer_on_one_stream_stores_none_of_the_batch(pool: asyncpg.Pool) -> None:
    calm, raced = f"s-{uuid.uuid4()}", f"s-{uuid.uuid4()}"

    async def batch(conn: asyncpg.Connection) -> None:
        async with conn.transaction():
            with pytest.raises(eventstore.ConcurrencyConflict):
                await eventstore.append_each_at_end(
                    conn,
                    "test",
                    [
                        (calm, ThingHappened(name="calm"), uuid.uuid4()),
                        (raced, ThingHappened(name="late"), uuid.uuid4()),
                    ],
                    now=NOW,
                    actor="test",
                )
            # the transaction carries on, without any of the batch
            assert (
                await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", calm) == 0
            )

    async with pool.acquire() as first, pool.acquire() as second:
        async with first.transaction():
            await eventstore.append(first, "test", events(raced, 0, 1), expected_version=0)
            # the batch reads the raced stream as empty, then its insert waits for this commit
            racing = asyncio.create_task(batch(second))
            pid = second.get_server_pid()
            while not racing.done() and not await pool.fetchval(  # noqa: ASYNC110
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
            ):
                await asyncio.sleep(0.01)
        await racing
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE message_key = $1", calm) == 0
    assert await pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", raced) == 1
    # the calm row's place in the relay's queue went with it: only the raced event waits
    assert await pool.fetchval(
        "SELECT array_agg(o.message_key) FROM outbox_pending JOIN outbox o USING (position)"
    ) == [raced]
    assert await pool.fetchval("SELECT count(*) FROM outbox_pending") == 1


async def test_appends_held_for_the_commit_go_in_order_in_one_statement_or_not_at_all(
    pool: asyncpg.Pool,
) -> None:
    """`append_streams`: several streams' appends (one stream twice) stored as `append` would
    each, in their order; one clashing version stores none of them and the transaction goes
    on."""
    a, b = f"s-{uuid.uuid4()}", f"s-{uuid.uuid4()}"
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", events(a, 0, 1), expected_version=0)
    held = [(events(a, 1, 2), 1), (events(b, 0, 1), 0), (events(a, 3, 1), 3)]
    sent: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        conn.add_query_logger(lambda record: sent.append(record.query))
        await eventstore.append_streams(conn, "test", held)
    assert len([q for q in sent if "INSERT INTO events" in q]) == 1
    expected = [e for group, _ in held for e in group]
    async with pool.acquire() as conn:
        assert (await eventstore.load_stream(conn, a))[1:] == [
            expected[0],
            expected[1],
            expected[3],
        ]
        assert await eventstore.load_stream(conn, b) == [expected[2]]
    rows = await pool.fetch("SELECT message_value FROM outbox ORDER BY position")
    assert [decode_envelope(bytes(r["message_value"])) for r in rows][-4:] == expected

    clash = [(events(b, 1, 1), 1), (events(a, 3, 1), 3)]  # a's version 4 is stored already
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(eventstore.ConcurrencyConflict):
            await eventstore.append_streams(conn, "test", clash)
        assert await eventstore.stream_version(conn, b) == 1
        await eventstore.append_streams(conn, "test", [(events(b, 1, 1), 1)])
    assert await pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", b) == 2
    with pytest.raises(ValueError):
        async with pool.acquire() as conn, conn.transaction():
            await eventstore.append_streams(conn, "test", [(events(b, 5, 1), 2)])


async def test_appended_events_are_counted_once_committed_never_when_rolled_back(
    pool: asyncpg.Pool,
) -> None:
    """A consumer's batch that fails rolls back and is applied again: its events must be
    counted by the one attempt that was kept, as must a savepoint's that was undone."""
    service = f"count-{uuid.uuid4().hex[:8]}"

    def counted() -> float:
        value = REGISTRY.get_sample_value(
            "redress_events_appended_total",
            {"service": service, "event_type": ThingHappened.event_type},
        )
        return value or 0.0

    stream = f"s-{uuid.uuid4()}"
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await eventstore.append(conn, service, events(stream, 0, 2), expected_version=0)
                assert counted() == 0  # not yet: the transaction may still fail
                raise RuntimeError("the batch fails")
        assert counted() == 0
        async with conn.transaction():
            await eventstore.append(conn, service, events(stream, 0, 2), expected_version=0)
            with pytest.raises(RuntimeError):
                async with conn.transaction():  # a savepoint, undone
                    await eventstore.append(conn, service, events(stream, 2, 1), expected_version=2)
                    raise RuntimeError("one event fails")
            await eventstore.append(conn, service, events(stream, 2, 3), expected_version=2)
        assert counted() == 5
    assert await eventstore.stream_version(pool, stream) == 5

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg

from contracts import decode_envelope, new_envelope
from redress import eventstore
from redress.db import Wakeups
from redress.outbox import OutboxRelay
from tests.conftest import Stack
from tests.integration.conftest import ThingHappened
from tests.support import eventually, read_topic


async def append_things(pool: asyncpg.Pool, stream: str, count: int) -> list[uuid.UUID]:
    envs = [
        new_envelope(
            ThingHappened(name=stream, number=i),
            stream_id=stream,
            stream_version=i,
            occurred_at=datetime.now(UTC),
            actor="test",
            correlation_id=uuid.uuid4(),
        )
        for i in range(1, count + 1)
    ]
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", envs, expected_version=0)
    return [e.event_id for e in envs]


def relay_for(stack: Stack, schema: str, pool: asyncpg.Pool) -> OutboxRelay:
    async def no_topics() -> None:
        return None

    return OutboxRelay(
        service="test",
        pool=pool,
        dsn=stack.dsn,
        schema=schema,
        bootstrap_servers=stack.bootstrap,
        ensure_topics=no_topics,
        idle_wait=0.1,
        epoch_check_interval=0.2,
    )


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def keyed(stack: Stack, topic: str, key: str, count: int) -> list[uuid.UUID]:
    messages = await read_topic(stack.bootstrap, topic, count=count, key=key.encode(), timeout=20)
    return [decode_envelope(v).event_id for _, v, _ in messages]


async def test_relay_publishes_in_order_keyed_by_stream(
    stack: Stack, schema_and_pool: tuple[str, asyncpg.Pool], test_topic: str
) -> None:
    schema, pool = schema_and_pool
    stream = f"s-{uuid.uuid4()}"
    ids = await append_things(pool, stream, 5)
    async with running(relay_for(stack, schema, pool)):
        await eventually(
            lambda: pool.fetchval("SELECT NOT EXISTS (SELECT 1 FROM outbox_pending)"),
            what="outbox published",
        )
        more = await append_things(pool, f"{stream}-b", 1)
        await eventually(
            lambda: pool.fetchval("SELECT NOT EXISTS (SELECT 1 FROM outbox_pending)"),
            what="second append published promptly",
        )
    assert await keyed(stack, test_topic, stream, 5) == ids
    assert await keyed(stack, test_topic, f"{stream}-b", 1) == more


async def test_a_new_broker_gets_the_whole_outbox_again(
    stack: Stack, schema_and_pool: tuple[str, asyncpg.Pool], test_topic: str
) -> None:
    """The embedded broker forgets everything on restart and comes back with a new cluster id;
    rows published to the old one must be published again."""
    schema, pool = schema_and_pool
    stream = f"s-{uuid.uuid4()}"
    ids = await append_things(pool, stream, 2)
    # published, to a broker that has since gone
    assert await pool.fetchval("SELECT count(*) FROM outbox_pending") == 2
    await pool.execute("DELETE FROM outbox_pending")
    await pool.execute(
        "INSERT INTO outbox_relay_state (singleton, broker_epoch) VALUES (true, 'gone')"
    )
    async with running(relay_for(stack, schema, pool)):
        await eventually(
            lambda: pool.fetchval(
                """SELECT broker_epoch <> 'gone' AND NOT EXISTS (SELECT 1 FROM outbox_pending)
                   FROM outbox_relay_state"""
            ),
            what="outbox re-published",
        )
    assert await keyed(stack, test_topic, stream, 2) == ids
    epoch = await pool.fetchval("SELECT broker_epoch FROM outbox_relay_state")
    assert epoch not in (None, "gone")


async def test_only_one_relay_per_service_publishes(
    stack: Stack, schema_and_pool: tuple[str, asyncpg.Pool], test_topic: str
) -> None:
    schema, pool = schema_and_pool
    first, second = relay_for(stack, schema, pool), relay_for(stack, schema, pool)
    async with running(first):
        await eventually(lambda: _true(first.is_leader), what="first relay leads")
        async with running(second) as second_task:
            await asyncio.sleep(1.5)
            assert first.is_leader and not second.is_leader
            await append_things(pool, f"s-{uuid.uuid4()}", 1)
            await eventually(
                lambda: pool.fetchval("SELECT NOT EXISTS (SELECT 1 FROM outbox_pending)"),
                what="published by the leader",
            )
            assert not second_task.done()
    # the leader has gone: the other takes over
    async with running(second):
        await eventually(lambda: _true(second.is_leader), what="second relay takes over")


async def _true(value: bool) -> bool:
    return value


async def test_appends_beside_the_leading_relay_wake_it_without_a_notify(
    stack: Stack, schema_and_pool: tuple[str, asyncpg.Pool], test_topic: str
) -> None:
    """While this process's relay leads, its appends wake it directly: the relay publishes and
    PostgreSQL's notification queue hears nothing of them. Once it has stopped, appends notify
    again, for a relay in another process."""
    schema, pool = schema_and_pool
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(stack.dsn)
    await listener.add_listener(eventstore.OUTBOX_CHANNEL, lambda *a: heard.put_nowait(a[3]))
    try:
        relay = relay_for(stack, schema, pool)
        relay.idle_wait = 60  # only a wake-up gets it to publish promptly
        quiet = f"quiet-{uuid.uuid4()}"
        async with running(relay):
            await eventually(lambda: _true(relay.connected), what="relay leads")
            await asyncio.sleep(0.2)  # past its first look at the (empty) outbox
            ids = await append_things(pool, quiet, 1)
            await eventually(
                lambda: pool.fetchval("SELECT NOT EXISTS (SELECT 1 FROM outbox_pending)"),
                what="published on the local wake-up",
            )
        assert await keyed(stack, test_topic, quiet, 1) == ids
        loud = f"loud-{uuid.uuid4()}"
        await append_things(pool, loud, 1)
        assert await asyncio.wait_for(heard.get(), 30) == loud
    finally:
        await listener.close()


async def test_the_relay_stops_when_cancelled_as_it_is_woken(
    stack: Stack, schema_and_pool: tuple[str, asyncpg.Pool]
) -> None:
    """A service stopping cancels its relay; if a commit wakes the relay in the same moment,
    the relay must still stop (Python 3.11's wait_for dropped such a cancellation, and a
    service's shutdown, or a test's teardown, then waited for ever). Tried with the cancel
    landing 0 to 3 turns of the event loop after the wake-up."""
    schema, pool = schema_and_pool
    for turns in range(4):
        relay = relay_for(stack, schema, pool)
        relay.idle_wait = relay.epoch_check_interval = 60
        task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda r=relay: _true(r.connected), what="relay leads")
            await asyncio.sleep(0.2)  # idle, waiting to be woken
            await Wakeups(schema).committed(None, eventstore.OUTBOX_CHANNEL, "s")
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=10)
            assert done, f"the relay ignored a cancel {turns} turns after a wake-up"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task], timeout=10)

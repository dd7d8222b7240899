"""`eventstore.append_alone`: an append that is its own transaction, with one more statement
that must be stored with the events or not at all (casework's staff commands use it for the
case's view row)."""

import asyncio
import uuid

import asyncpg
import pytest

from redress import eventstore
from tests.conftest import Stack
from tests.integration.test_eventstore import events

#: the test's stand-in for a view: the stream's latest version, written with its events
VIEW = "INSERT INTO alone_view (stream_id, version) VALUES ($14, $15)"


@pytest.fixture
async def view_pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute(
        "CREATE TABLE IF NOT EXISTS alone_view (stream_id text, version int, UNIQUE (stream_id))"
    )
    return pool


async def test_events_outbox_rows_and_the_other_statement_are_stored_together(
    view_pool: asyncpg.Pool,
) -> None:
    stream = f"s-{uuid.uuid4()}"
    written = events(stream, 0, 2)
    async with view_pool.acquire() as conn:
        await eventstore.append_alone(
            conn, "test", written, expected_version=0, also=VIEW, also_args=[stream, 2]
        )
        assert not conn.is_in_transaction()
        assert await eventstore.load_stream(conn, stream) == written
    outbox = await view_pool.fetch("SELECT event_id FROM outbox ORDER BY position")
    assert [r["event_id"] for r in outbox] == [e.event_id for e in written]
    view = await view_pool.fetchrow("SELECT * FROM alone_view WHERE stream_id = $1", stream)
    assert view is not None and view["version"] == 2


async def test_a_racing_writer_leaves_nothing_of_the_append_not_even_its_later_events(
    view_pool: asyncpg.Pool,
) -> None:
    """Another writer took version 1 only: the append's version 2 does not clash, yet it must
    not be stored (nor published, nor the other statement's row) without version 1."""
    stream = f"s-{uuid.uuid4()}"
    async with view_pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "test", events(stream, 0, 1), expected_version=0)
    async with view_pool.acquire() as conn:
        with pytest.raises(eventstore.ConcurrencyConflict):
            await eventstore.append_alone(
                conn,
                "test",
                events(stream, 0, 2),
                expected_version=0,
                also=VIEW,
                also_args=[stream, 2],
            )
        assert await eventstore.stream_version(conn, stream) == 1
    assert await view_pool.fetchval("SELECT count(*) FROM outbox") == 1
    assert await view_pool.fetchval("SELECT count(*) FROM alone_view") == 0


async def test_racing_alone_writers_one_wins_one_conflicts(view_pool: asyncpg.Pool) -> None:
    stream = f"s-{uuid.uuid4()}"

    async def writer() -> str:
        async with view_pool.acquire() as conn:
            try:
                await eventstore.append_alone(
                    conn, "test", events(stream, 0, 3), expected_version=0
                )
            except eventstore.ConcurrencyConflict:
                return "conflict"
            return "won"

    assert sorted(await asyncio.gather(writer(), writer(), writer())) == [
        "conflict",
        "conflict",
        "won",
    ]
    assert await view_pool.fetchval("SELECT count(*) FROM events") == 3
    assert await view_pool.fetchval("SELECT count(*) FROM outbox") == 3


async def test_an_event_stored_already_is_a_duplicate(view_pool: asyncpg.Pool) -> None:
    stream = f"s-{uuid.uuid4()}"
    first = events(stream, 0, 1)
    async with view_pool.acquire() as conn:
        await eventstore.append_alone(conn, "test", first, expected_version=0)
        with pytest.raises(eventstore.DuplicateEvent):
            await eventstore.append_alone(conn, "test", first, expected_version=0)
        again = first[0].model_copy(update={"stream_version": 2})
        with pytest.raises(eventstore.DuplicateEvent):
            await eventstore.append_alone(conn, "test", [again], expected_version=1)
    assert await view_pool.fetchval("SELECT count(*) FROM events") == 1


async def test_a_failing_other_statement_stores_no_event(view_pool: asyncpg.Pool) -> None:
    stream = f"s-{uuid.uuid4()}"
    await view_pool.execute("INSERT INTO alone_view VALUES ($1, 0)", stream)
    async with view_pool.acquire() as conn:
        with pytest.raises(asyncpg.UniqueViolationError):
            await eventstore.append_alone(
                conn,
                "test",
                events(stream, 0, 1),
                expected_version=0,
                also=VIEW,
                also_args=[stream, 1],
            )
    assert await view_pool.fetchval("SELECT count(*) FROM events") == 0
    assert await view_pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_it_refuses_to_run_inside_a_transaction(view_pool: asyncpg.Pool) -> None:
    async with view_pool.acquire() as conn, conn.transaction():
        with pytest.raises(RuntimeError, match="transaction"):
            await eventstore.append_alone(conn, "test", events("s", 0, 1), expected_version=0)


async def test_the_relay_is_woken_after_the_statement(
    view_pool: asyncpg.Pool, stack: Stack
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(stack.dsn)
    await listener.add_listener(eventstore.OUTBOX_CHANNEL, lambda *a: heard.put_nowait(a[3]))
    try:
        async with view_pool.acquire() as conn:
            await eventstore.append_alone(conn, "t", events("woken", 0, 1), expected_version=0)
        async with asyncio.timeout(30):
            assert await heard.get() == "woken"
    finally:
        await listener.close()

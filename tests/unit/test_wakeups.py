"""How commits turn into wake-ups (`redress.db.Wakeups`): the coalescing rule on its own, with a
clock the test moves and a connection that records what it is asked to send."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redress.db import Wakeups, listen_locally


class Recorder:
    """Stands in for a connection and for a pool lending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def execute(self, _query: str, channel: str, payload: str) -> None:
        self.sent.append((channel, payload))

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator["Recorder"]:
        yield self


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def wakeups(window: float = 0.01) -> tuple[Wakeups, Recorder, Clock]:
    clock = Clock()
    recorder = Recorder()
    w = Wakeups("s", window=window, clock=clock)
    w.pool = recorder  # type: ignore[assignment]
    return w, recorder, clock


async def settle(w: Wakeups) -> None:
    while w._timers:
        await asyncio.gather(*w._timers.values())


async def test_the_first_commit_after_a_quiet_spell_notifies_at_once() -> None:
    w, conn, clock = wakeups()
    await w.committed(conn, "ch", "a")
    assert conn.sent == [("ch", "a")]
    clock.now += 1
    await w.committed(conn, "ch", "b")
    assert conn.sent == [("ch", "a"), ("ch", "b")]
    assert not w._timers


async def test_commits_within_the_window_share_one_later_notify_with_the_latest_payload() -> None:
    w, conn, clock = wakeups()
    await w.committed(conn, "ch", "a")
    for payload in "bcd":
        clock.now += 0.001
        await w.committed(conn, "ch", payload)
    assert conn.sent == [("ch", "a")]  # nothing more yet: one is owed
    await settle(w)
    assert conn.sent == [("ch", "a"), ("ch", "d")]


async def test_a_commit_after_the_window_sends_what_is_owed_without_waiting_for_the_pool() -> None:
    """While every connection of the pool is busy, the owed NOTIFY cannot borrow one: the next
    commit after the window sends it from its own connection, and nothing more goes out."""
    w, conn, clock = wakeups(window=0.01)
    busy = asyncio.Lock()
    await busy.acquire()

    @contextlib.asynccontextmanager
    async def exhausted() -> AsyncIterator[Recorder]:
        async with busy:
            yield conn

    conn.acquire = exhausted  # type: ignore[method-assign]
    await w.committed(conn, "ch", "a")
    clock.now += 0.001
    await w.committed(conn, "ch", "b")
    await asyncio.sleep(0.05)  # the window has passed: the owed one waits for a connection
    assert conn.sent == [("ch", "a")]
    clock.now += 1
    await w.committed(conn, "ch", "c")
    assert conn.sent == [("ch", "a"), ("ch", "c")]
    busy.release()
    await settle(w)
    assert conn.sent == [("ch", "a"), ("ch", "c")]


async def test_channels_are_coalesced_separately() -> None:
    w, conn, _ = wakeups()
    await w.committed(conn, "one", "a")
    await w.committed(conn, "two", "b")
    assert conn.sent == [("one", "a"), ("two", "b")]


async def test_a_listener_in_this_process_is_called_instead_of_notifying() -> None:
    w, conn, _ = wakeups()
    woken = asyncio.Event()
    elsewhere = asyncio.Event()
    stop = listen_locally("ch", "s", woken.set)
    stop_other = listen_locally("ch", "another-schema", elsewhere.set)
    try:
        await w.committed(conn, "ch", "a")
        assert woken.is_set()
        assert not elsewhere.is_set()
        assert conn.sent == []
    finally:
        stop()
        stop_other()
    await w.committed(conn, "ch", "b")  # nobody here listens any more: PostgreSQL is told
    assert conn.sent == [("ch", "b")]


def test_a_listener_on_another_threads_loop_is_woken_on_its_own_loop() -> None:
    woken: list[Any] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def wake() -> None:
            woken.append(asyncio.get_running_loop())
            done.set()

        stop = listen_locally("ch", "s", wake)
        try:
            w, conn, _ = wakeups()
            await asyncio.to_thread(asyncio.run, w.committed(conn, "ch", "a"))
            await asyncio.wait_for(done.wait(), 30)
            assert woken == [loop]
        finally:
            stop()

    asyncio.run(main())

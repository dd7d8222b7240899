"""A service's shutdown stops its background tasks even when one of them loses a cancel (as
Python 3.11's wait_for, in a library's code, can make it do)."""

from __future__ import annotations

import asyncio

from redress.service import stop_task


async def test_a_task_that_swallows_a_cancel_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed == 2:
                    raise
                swallowed += 1  # lost, as a library's wait_for may lose it

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(stop_task(task, every=0.01), 5)
    assert task.cancelled() and swallowed == 2


async def test_a_task_that_ends_at_once_is_awaited_and_its_error_kept() -> None:
    async def fails() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("could not close cleanly") from None

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    try:
        await stop_task(task)
    except RuntimeError as exc:
        assert "cleanly" in str(exc)
    else:
        raise AssertionError("the task's error was lost")

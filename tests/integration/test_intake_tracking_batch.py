"""Intake's tracking projection in batches ends where it ends one event at a time: a case is
read once per batch, later events go on from what earlier ones left, and the changed cases
and deadlines are written as the batch commits."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from redress.bench.replay import synthetic_log
from redress.consumer import IdempotentConsumer, RawMessage
from redress.rebuild import compare
from services.intake.app import service
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.support import in_random_batches

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


async def _consumer(stack: Stack) -> tuple[str, asyncpg.Pool, IdempotentConsumer]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("intake", service.migrations)])
    return schema, pool, service.consumer(pool, clock=lambda: NOW)


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_batch_tracks_cases_as_one_event_at_a_time_does(stack: Stack, seed: int) -> None:
    log = list(synthetic_log(1200, seed=seed))
    log.extend(log[300:360])  # redelivered
    messages = [RawMessage(t, 0, i, None, v) for i, (t, v) in enumerate(log)]
    one_schema, one_pool, one = await _consumer(stack)
    many_schema, many_pool, many = await _consumer(stack)
    try:
        singly = [await one.process(m) for m in messages]
        batched = await in_random_batches(many, messages, seed, [1, 7, 50, 200])
        assert batched == singly
        assert singly.count("applied") > 500 and "dead_lettered" not in singly
        states = await one_pool.fetch(
            "SELECT status, count(*) FROM tracked_cases GROUP BY status ORDER BY status"
        )
        assert len(states) > 2  # cases got further than opened
        assert await one_pool.fetchval("SELECT count(*) FROM tracked_deadlines") > 100
        for t in await compare(one_pool, many_pool):
            assert (t.only_live, t.only_rebuilt) == (0, 0), t
    finally:
        for schema, pool in ((one_schema, one_pool), (many_schema, many_pool)):
            await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await pool.close()

"""Notifications' consumer in batches queues exactly the letters it queues one event at a time:
a batch's letters are inserted together as it commits (`compose.HeldLetters`), and a later
event of the batch about the same case sees the letters the earlier ones held."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from contracts import OrganisationConfigured
from redress.bench.replay import synthetic_log
from redress.consumer import IdempotentConsumer, RawMessage
from redress.rebuild import compare
from services.notifications.app import service
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.support import in_random_batches, message

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


async def _consumer(stack: Stack) -> tuple[str, asyncpg.Pool, IdempotentConsumer]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("notifications", service.migrations)])
    return schema, pool, service.consumer(pool, clock=lambda: NOW)


async def _letters(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch(
        """SELECT notification_id, case_id, template, channel, recipient, status, subject,
               text_body FROM notifications ORDER BY notification_id"""
    )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_batch_queues_the_letters_one_event_at_a_time_queues(
    stack: Stack, seed: int
) -> None:
    log = list(synthetic_log(1200, seed=seed))
    # a case whose deadline arrives before the case itself: its row is made by the deadline's
    # write and completed (organisation name and all) by the opening later in the batch
    opened = next(i for i, (_, v) in enumerate(log) if json.loads(v)["event_type"] == "CaseOpened")
    case_id = json.loads(log[opened][1])["payload"]["case_id"]
    early = next(
        i
        for i, (_, v) in enumerate(log)
        if i > opened
        and json.loads(v)["event_type"] == "DeadlineSet"
        and json.loads(v)["payload"]["case_id"] == case_id
    )
    log.insert(opened, log.pop(early))
    named = {
        json.loads(v)["payload"]["organisation_id"]
        for _, v in log
        if json.loads(v)["event_type"] == "CaseOpened"
    }
    log[0:0] = [
        message(
            OrganisationConfigured.model_validate(
                {
                    "organisation_id": org,
                    "name": f"{org} homes",
                    "nation": "ENG",
                    "default_procedure": "lgsco",
                }
            ),
            NOW,
            f"organisation-{org}",
        )
        for org in sorted(named)
    ]
    log.extend(log[200:260])  # redelivered: their letters are there already
    messages = [RawMessage(t, 0, i, None, v) for i, (t, v) in enumerate(log)]
    one_schema, one_pool, one = await _consumer(stack)
    many_schema, many_pool, many = await _consumer(stack)
    try:
        singly = [await one.process(m) for m in messages]
        batched = await in_random_batches(many, messages, seed, [1, 7, 50, 200])
        assert batched == singly
        assert "dead_lettered" not in singly
        letters = await _letters(one_pool)
        assert len(letters) > 100
        assert "homes" in " ".join(str(letter[-1]) for letter in letters)
        assert await _letters(many_pool) == letters
        for t in await compare(one_pool, many_pool):
            assert (t.only_live, t.only_rebuilt) == (0, 0), t
    finally:
        for schema, pool in ((one_schema, one_pool), (many_schema, many_pool)):
            await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await pool.close()

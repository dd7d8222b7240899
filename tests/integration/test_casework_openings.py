"""Casework opening a batch's cases together (`handlers.open_cases`): numbers as one at a time
gives them, and the awkward batches (the same submission twice, a case open already) end as
one at a time ends them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from contracts import FeedbackSubmitted
from redress.consumer import IdempotentConsumer, RawMessage
from services.casework.app import service
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.support import message
from tests.unit.casework.scenario import submission

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.fixture
async def casework(stack: Stack) -> AsyncIterator[tuple[asyncpg.Pool, IdempotentConsumer]]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("casework", service.migrations)])
    try:
        yield pool, service.consumer(pool, clock=lambda: NOW)
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()


def raw(payloads: list[FeedbackSubmitted], first: int = 0) -> list[RawMessage]:
    return [
        RawMessage(topic, 0, first + i, None, value)
        for i, (topic, value) in enumerate(message(p, NOW) for p in payloads)
    ]


async def opened(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT c.submission_id, c.reference, c.version,
                  (SELECT count(*) FROM events e
                   WHERE e.stream_id = 'case-' || c.case_id
                     AND e.event_type = 'CaseOpened') AS openings
           FROM cases c ORDER BY c.reference"""
    )


async def test_a_batch_of_submissions_opens_a_case_each_numbered_in_order(
    casework: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    pool, consumer = casework
    subs = [submission() for _ in range(5)]
    assert await consumer.process_batch(raw(subs)) == ["applied"] * 5
    cases = await opened(pool)
    assert [c["submission_id"] for c in cases] == [s.submission_id for s in subs]
    assert [c["reference"] for c in cases] == [f"CMP-2026-{n:06d}" for n in range(1, 6)]
    assert all(c["openings"] == 1 for c in cases)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 5


async def test_the_same_submission_twice_in_a_batch_opens_one_case(
    casework: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    """Two events of one submission (intake's, sent twice under new ids): the batch clashes
    at its commit and goes again event by event, where the second finds the case open."""
    pool, consumer = casework
    twice, other = submission(), submission()
    outcomes = await consumer.process_batch(raw([twice, other, twice]))
    assert outcomes == ["applied"] * 3
    cases = await opened(pool)
    assert sorted(c["submission_id"] for c in cases) == sorted(
        [twice.submission_id, other.submission_id]
    )
    assert all(c["openings"] == 1 for c in cases)


async def test_a_case_open_already_takes_no_new_number(
    casework: tuple[asyncpg.Pool, IdempotentConsumer],
) -> None:
    pool, consumer = casework
    first = submission()
    assert await consumer.process_batch(raw([first, submission()])) == ["applied"] * 2
    again = first.model_copy(update={"summary": "sent again"})
    later = submission()
    assert await consumer.process_batch(raw([again, later], first=2)) == ["applied"] * 2
    cases = await opened(pool)
    assert len(cases) == 3 and all(c["openings"] == 1 for c in cases)
    by_submission = {c["submission_id"]: c["reference"] for c in cases}
    assert by_submission[first.submission_id] == "CMP-2026-000001"
    assert by_submission[later.submission_id] == "CMP-2026-000003"

"""Integration fixtures: each test gets its own PostgreSQL schema on the session's embedded
server, so tests never see each other's rows and never depend on order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import asyncpg
import pytest

from contracts.registry import EventPayload, register_event
from redress.db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from redress.kafka import ensure_topics, new_producer
from tests.conftest import Stack

TEST_TOPIC = "redress.test.v1"


@register_event
class ThingHappened(EventPayload):
    """A throwaway event on its own topic, so runtime tests never feed the real services."""

    event_type: ClassVar[str] = "ThingHappenedForTest"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = TEST_TOPIC

    name: str
    number: int = 0


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


async def schema_pool(
    stack: Stack, extra: list[tuple[str, Path]] | None = None
) -> tuple[str, asyncpg.Pool]:
    schema = new_schema()
    pool = await create_pool(stack.dsn, schema, max_size=6)
    await apply_migrations(pool, schema, [("runtime", RUNTIME_MIGRATIONS), *(extra or [])])
    return schema, pool


@pytest.fixture
async def schema_and_pool(stack: Stack) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    schema, pool = await schema_pool(stack)
    try:
        yield schema, pool
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()


@pytest.fixture
async def pool(schema_and_pool: tuple[str, asyncpg.Pool]) -> asyncpg.Pool:
    return schema_and_pool[1]


@pytest.fixture(scope="session")
async def test_topic(stack: Stack) -> str:
    await ensure_topics(stack.bootstrap, [TEST_TOPIC], partitions=3, replication=1)
    return TEST_TOPIC


@pytest.fixture
async def producer(stack: Stack) -> AsyncIterator[object]:
    p = new_producer(stack.bootstrap, "test")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()

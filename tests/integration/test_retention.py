"""Who the retention job picks, against real PostgreSQL: people all of whose cases closed
longer ago than their organisation's retention period, at a time of the test's choosing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.casework.app import service
from services.casework.privacy import people_past_retention
from tests.conftest import Stack
from tests.integration.conftest import schema_pool

CLOSED = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
async def casework_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("casework", service.migrations)])
    yield pool
    await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


async def case(pool: asyncpg.Pool, person: uuid.UUID, org: str, closed_at: datetime | None) -> None:
    case_id = uuid.uuid4()
    await pool.execute(
        """INSERT INTO cases (case_id, reference, submission_id, kind, channel, organisation_id,
               procedure, stage, status, received_at, opened_at, complainant_name, summary,
               version, updated_at, lifecycle, person_id, closed_at)
           VALUES ($1, $2, $3, 'complaint', 'web', $4, 'lgsco', 1, 'x', $5, $5, 'n', 's', 1,
               $5, $6, $7, $8)""",
        case_id,
        f"CMP-2026-{uuid.uuid4().int % 10**9:09d}",
        uuid.uuid4(),
        org,
        CLOSED,
        "closed" if closed_at else "open",
        person,
        closed_at,
    )


async def test_only_people_whose_every_case_closed_long_enough_ago(
    casework_pool: asyncpg.Pool,
) -> None:
    await casework_pool.execute(
        """INSERT INTO organisations (organisation_id, name, nation, default_procedure,
               version, updated_at, retention_years)
           VALUES ('brief', 'Brief', 'ENG', 'lgsco', 1, now(), 1)"""
    )
    amy, ben, cat, dan = (uuid.uuid4() for _ in range(4))
    await case(casework_pool, amy, "brief", CLOSED)
    await case(casework_pool, ben, "brief", CLOSED)
    await case(casework_pool, ben, "brief", None)  # still open
    await case(casework_pool, cat, "unconfigured", CLOSED)  # the default six years
    await case(casework_pool, dan, "brief", CLOSED)
    await case(casework_pool, dan, "unconfigured", CLOSED)
    async with casework_pool.acquire() as conn:
        assert await people_past_retention(conn, datetime(2026, 12, 1, tzinfo=UTC)) == []
        assert await people_past_retention(conn, datetime(2027, 3, 3, tzinfo=UTC)) == [amy]
        assert set(await people_past_retention(conn, datetime(2032, 3, 3, tzinfo=UTC))) == {
            amy,
            cat,
            dan,
        }

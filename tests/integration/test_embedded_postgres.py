"""Settings the embedded PostgreSQL runs with (`redress.embedded.postgres.SERVER_OPTIONS`)."""

from __future__ import annotations

import asyncpg


async def test_fresh_tables_get_statistics_within_seconds_not_a_minute(pool: asyncpg.Pool) -> None:
    # every embedded database starts empty; pooled connections keep the plans they made for
    # empty tables until autovacuum's first ANALYZE, so it must come round often
    assert await pool.fetchval("SHOW autovacuum") == "on"
    assert await pool.fetchval("SHOW autovacuum_naptime") == "10s"

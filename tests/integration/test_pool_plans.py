"""The pool's connections plan a prepared statement once, not on every call: PostgreSQL
otherwise keeps planning afresh any statement whose plan for the actual values looks cheaper
than its generic plan, as most of ours do (redress.db.GENERIC_PLANS)."""

from __future__ import annotations

import asyncpg

from redress.db import create_pool
from tests.conftest import Stack

#: a statement PostgreSQL would plan for every call: once $1 is known the subquery is dropped
#: from the plan, so each custom plan looks cheaper than the generic one
COSTLIER_WHEN_GENERIC = (
    "SELECT coalesce($1::bigint, (SELECT count(*) FROM pg_class a, pg_class b WHERE a.oid < b.oid))"
)

PLANS = "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1"


async def test_a_pooled_connection_reuses_the_generic_plan(stack: Stack) -> None:
    pool = await create_pool(stack.dsn, "public", max_size=1)
    try:
        async with pool.acquire() as conn:
            for n in range(12):
                assert await conn.fetchval(COSTLIER_WHEN_GENERIC, n) == n
            generic, custom = await conn.fetchrow(PLANS, COSTLIER_WHEN_GENERIC)
        assert (generic, custom) == (12, 0)
    finally:
        await pool.close()


async def test_without_the_setting_the_same_statement_is_planned_on_every_call(
    stack: Stack,
) -> None:
    """What the setting is for: a plain connection plans that statement anew each time."""
    conn = await asyncpg.connect(stack.dsn)
    try:
        for n in range(12):
            assert await conn.fetchval(COSTLIER_WHEN_GENERIC, n) == n
        generic, custom = await conn.fetchrow(PLANS, COSTLIER_WHEN_GENERIC)
        assert custom == 12 and generic == 0
    finally:
        await conn.close()

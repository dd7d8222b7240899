"""The pool's connections go back without a reset statement (one round trip fewer per
transaction), and still come back clean: nothing of an unfinished transaction survives."""

from __future__ import annotations

import asyncpg

from redress.db import create_pool
from tests.conftest import Stack


async def test_a_released_connection_costs_no_statement_and_keeps_no_open_transaction(
    stack: Stack,
) -> None:
    pool = await create_pool(stack.dsn, "public", max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMP TABLE released (n integer)")
            conn.add_query_logger(lambda record: sent.append(record.query))
            async with conn.transaction():
                await conn.execute("INSERT INTO released VALUES (1)")
        assert sent == ["BEGIN;", "INSERT INTO released VALUES (1)", "COMMIT;"]

        conn = await pool.acquire()
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO released VALUES (2)")
        await pool.release(conn)  # left open: the pool must roll it back
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT array_agg(n) FROM released") == [1]
    finally:
        await pool.close()


async def test_a_plain_connection_still_resets_as_asyncpg_does(stack: Stack) -> None:
    """Only the pool's own connection class skips the reset: others keep asyncpg's."""
    conn = await asyncpg.connect(stack.dsn)
    try:
        assert "RESET ALL" in conn.get_reset_query()
    finally:
        await conn.close()


async def test_a_prelude_goes_with_the_begin_and_belongs_to_the_transaction(
    stack: Stack,
) -> None:
    """``transaction(prelude=...)``: the prelude is sent in the BEGIN's own message, its
    effects commit or roll back with the transaction, and a prelude that fails leaves the
    connection usable, with nothing of it kept."""
    pool = await create_pool(stack.dsn, "public", max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMP TABLE preluded (n integer)")
            conn.add_query_logger(lambda record: sent.append(record.query))
            async with conn.transaction(prelude="INSERT INTO preluded VALUES (1);"):
                assert await conn.fetchval("SELECT array_agg(n) FROM preluded") == [1]
            assert sent[0] == "BEGIN; INSERT INTO preluded VALUES (1);"

            class Undone(Exception):
                pass

            try:
                async with conn.transaction(prelude="INSERT INTO preluded VALUES (2);"):
                    raise Undone
            except Undone:
                pass
            try:
                async with conn.transaction(prelude="INSERT INTO preluded VALUES (1/0);"):
                    raise AssertionError("a failed prelude must not start the transaction")
            except asyncpg.DivisionByZeroError:
                pass
            # a later transaction has no prelude left over, and sees only what committed
            sent.clear()
            async with conn.transaction():
                assert await conn.fetchval("SELECT array_agg(n) FROM preluded") == [1]
            assert "BEGIN;" in sent and not any("INSERT" in query for query in sent)
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT array_agg(n) FROM preluded") == [1]
    finally:
        await pool.close()

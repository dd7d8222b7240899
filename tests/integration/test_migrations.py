import asyncio
from pathlib import Path

from redress.db import (
    REBUILDABLE,
    RUNTIME_MIGRATIONS,
    apply_migrations,
    create_pool,
    read_migrations,
)
from tests.conftest import Stack
from tests.integration.conftest import new_schema


async def test_migrations_apply_once_even_when_replicas_race(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "001_widgets.sql").write_text("CREATE TABLE widgets (id int PRIMARY KEY);")
    (tmp_path / "002_more.sql").write_text("INSERT INTO widgets VALUES (1);")
    schema = new_schema()
    pools = [await create_pool(stack.dsn, schema, max_size=2) for _ in range(3)]
    try:
        sources = [("runtime", RUNTIME_MIGRATIONS), ("svc", tmp_path)]
        results = await asyncio.gather(*(apply_migrations(p, schema, sources) for p in pools))
        applied = sorted(name for r in results for name in r)
        runtime = [
            f"runtime:{m.version:03d}_{m.name}"
            for m in read_migrations("runtime", RUNTIME_MIGRATIONS)
        ]
        assert "runtime:001_event_log" in runtime
        assert applied == sorted([*runtime, "svc:001_widgets", "svc:002_more"])
        assert await pools[0].fetchval("SELECT count(*) FROM widgets") == 1
        assert await apply_migrations(pools[0], schema, sources) == []
        (tmp_path / "003_later.sql").write_text("INSERT INTO widgets VALUES (3);")
        assert await apply_migrations(pools[0], schema, sources) == ["svc:003_later"]
        assert await pools[1].fetchval("SELECT count(*) FROM widgets") == 2
    finally:
        await pools[0].execute(f'DROP SCHEMA "{schema}" CASCADE')
        for p in pools:
            await p.close()


async def test_a_rebuild_pool_does_not_wait_for_the_disk_and_the_live_pools_do(
    stack: Stack,
) -> None:
    """A rebuild's shadow schema can be made again from the log, so its commits need not wait
    for their WAL to be flushed; every other pool keeps PostgreSQL's durable default."""
    shadow = await create_pool(stack.dsn, "reporting_rebuild", max_size=1, settings=REBUILDABLE)
    live = await create_pool(stack.dsn, "reporting", max_size=1)
    try:
        assert await shadow.fetchval("SHOW synchronous_commit") == "off"
        assert await live.fetchval("SHOW synchronous_commit") == "on"
    finally:
        await shadow.close()
        await live.close()

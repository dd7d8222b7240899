"""PostgreSQL access: one pool per service, pinned to the service's own schema, and numbered
SQL migrations applied at start-up.

Each service owns one schema. Connections set ``search_path`` to it, so service SQL (and the
runtime's shared tables) never spell the schema and the same files work whether services share
a database or each has its own.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import asyncpg.pool

#: a connection as handlers and stores see it: a plain connection or one borrowed from a pool
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class _Transaction:
    """asyncpg's transaction, plus notifications sent once the outermost one has committed."""

    def __init__(self, inner: Any, conn: NotifyingConnection) -> None:
        self._inner = inner
        self._conn = conn

    async def __aenter__(self) -> Any:
        self._conn._depth += 1
        try:
            return await self._inner.__aenter__()
        except BaseException:
            self._conn._depth -= 1
            raise

    async def __aexit__(self, *exc: Any) -> Any:
        committed = False
        try:
            result = await self._inner.__aexit__(*exc)
            committed = exc[0] is None
        finally:
            self._conn._depth -= 1
            pending: dict[str, str] = {}
            if self._conn._depth == 0:
                pending, self._conn._pending = self._conn._pending, {}
        if committed and pending:
            # the data is committed whatever happens here; a lost wake-up costs the listener
            # one poll interval, never an event
            with contextlib.suppress(Exception):
                for channel, payload in pending.items():
                    await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        return result


class NotifyingConnection(asyncpg.Connection):
    """Sends a transaction's NOTIFYs after it commits rather than inside it. PostgreSQL makes
    transactions that notify commit one at a time (they take a global lock to queue the
    notification), which halved the event store's append rate under concurrent writers."""

    _depth = 0
    _pending: dict[str, str] = {}  # noqa: RUF012 (replaced per instance before any write)

    def transaction(self, **kwargs: Any) -> Any:
        return _Transaction(super().transaction(**kwargs), self)

    def notify_after_commit(self, channel: str, payload: str) -> bool:
        """Queue a notification for the commit of the transaction in progress; False when
        there is none of ours to wait for (then notify now)."""
        if self._depth == 0:
            return False
        if not self._pending:
            self._pending = {}
        self._pending[channel] = payload
        return True


async def notify_after_commit(conn: Connection, channel: str, payload: str) -> None:
    defer = getattr(conn, "notify_after_commit", None)
    if defer is None or not defer(channel, payload):
        await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Migration:
    source: str
    version: int
    name: str
    sql: str


def read_migrations(source: str, directory: Path) -> list[Migration]:
    """Numbered files ``NNN_name.sql`` in order; anything else in the folder is an error, so a
    misnamed migration is never silently skipped."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path} is not named NNN_name.sql")
        found.append(Migration(source, int(match[1]), match[2], path.read_text("utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return found


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


async def create_pool(dsn: str, schema: str, *, max_size: int = 10) -> asyncpg.Pool:
    check_schema_name(schema)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": f"redress-{schema}"},
        command_timeout=60,
        init=_init_connection,
        connection_class=NotifyingConnection,
    )
    assert pool is not None
    return pool


async def apply_migrations(
    pool: asyncpg.Pool, schema: str, sources: list[tuple[str, Path]]
) -> list[str]:
    """Apply what is not yet applied, each file in its own transaction, under an advisory lock
    so that replicas starting together do not race. Returns the names applied."""
    check_schema_name(schema)
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                    source text NOT NULL, version integer NOT NULL, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (source, version))"""
        )
        done = {
            (r["source"], r["version"])
            for r in await conn.fetch(f'SELECT source, version FROM "{schema}".schema_migrations')
        }
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        for source, directory in sources:
            for migration in read_migrations(source, directory):
                if (migration.source, migration.version) in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (source, version, name) '
                        "VALUES ($1, $2, $3)",
                        migration.source,
                        migration.version,
                        migration.name,
                    )
                applied.append(f"{migration.source}:{migration.version:03d}_{migration.name}")
    return applied


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
    )


def is_infrastructure_error(exc: BaseException) -> bool:
    """Errors that say the database (or network) is unavailable, not that the event is bad.

    Such failures are retried until the database comes back; they never send an event to the
    dead-letter topic, because the event itself is fine.
    """
    return isinstance(
        exc,
        OSError
        | ConnectionError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError
        | asyncpg.AdminShutdownError,
    )

"""PostgreSQL access: one pool per service, pinned to the service's own schema, and numbered
SQL migrations applied at start-up.

Each service owns one schema. Connections set ``search_path`` to it, so service SQL (and the
runtime's shared tables) never spell the schema and the same files work whether services share
a database or each has its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import asyncpg.pool

#: a connection as handlers and stores see it: a plain connection or one borrowed from a pool
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class _Transaction:
    """asyncpg's transaction, plus notifications sent once the outermost one has committed."""

    def __init__(self, inner: Any, conn: NotifyingConnection, prelude: str = "") -> None:
        self._inner = inner
        self._conn = conn
        self._prelude = prelude

    async def __aenter__(self) -> Any:
        self._conn._depth += 1
        self._conn._prelude = self._prelude
        try:
            return await self._inner.__aenter__()
        except BaseException:
            self._conn._depth -= 1
            if self._prelude:
                await self._conn._end_failed_start(self._inner)
            raise
        finally:
            self._conn._prelude = ""

    async def __aexit__(self, *exc: Any) -> Any:
        committed = False
        level = self._conn._depth
        try:
            result = await self._inner.__aexit__(*exc)
            committed = exc[0] is None
        finally:
            self._conn._depth -= 1
            pending: dict[str, str] = {}
            callbacks = self._conn._after_commit
            if not committed and callbacks:
                # what this (sub)transaction did is undone: so are its callbacks
                callbacks[:] = [(at, call) for at, call in callbacks if at < level]
            due: list[Callable[[], None]] = []
            if self._conn._depth == 0:
                pending, self._conn._pending = self._conn._pending, {}
                due = [call for _, call in callbacks]
                callbacks.clear()
        for call in due:
            call()
        if committed and pending:
            # the data is committed whatever happens here; a lost wake-up costs the listener
            # one poll interval, never an event
            with contextlib.suppress(Exception):
                wakeups = self._conn._wakeups
                for channel, payload in pending.items():
                    if wakeups is None:
                        await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)
                    else:
                        await wakeups.committed(self._conn, channel, payload)
        return result


#: in-process listeners that stand in for LISTEN: (channel, schema) -> wake-up callbacks
_local_listeners: dict[tuple[str, str], list[Callable[[], None]]] = {}


def listen_locally(channel: str, schema: str, wake: Callable[[], None]) -> Callable[[], None]:
    """Have commits in this process that notify ``channel`` from ``schema``'s pools call
    ``wake`` instead of sending a NOTIFY; returns the function that stops it.

    For a listener that is the only one that acts on the schema's notifications (the outbox
    relay while it holds its schema's leader lock): it is woken without a round trip, and
    PostgreSQL's notification queue, whose lock makes notifying commits queue behind each
    other, is left alone."""
    loop = asyncio.get_running_loop()

    def call() -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake()
        else:  # a commit on another thread's loop
            loop.call_soon_threadsafe(wake)

    key = (channel, schema)
    _local_listeners.setdefault(key, []).append(call)

    def stop() -> None:
        with contextlib.suppress(KeyError, ValueError):
            _local_listeners[key].remove(call)
            if not _local_listeners[key]:
                del _local_listeners[key]

    return stop


class Wakeups:
    """One pool's wake-ups after commit. A listener in this process (`listen_locally`) is
    called directly. Otherwise a NOTIFY goes out, but at most one per channel per ``window``
    seconds: a commit more than a window after the last NOTIFY sends one at once (no added
    latency); a commit within the window is owed one, sent by the first commit after the
    window or, if none comes, from a connection borrowed from the pool when it ends. Borrowing
    can wait while every connection is busy, so the committing connections come first: under
    load they are the ones that keep the wake-ups flowing."""

    def __init__(
        self, schema: str, window: float = 0.02, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.schema = schema
        self.window = window
        self.clock = clock
        self.pool: asyncpg.Pool | None = None
        self._last_sent: dict[str, float] = {}
        self._owed: dict[str, str] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}

    async def committed(self, conn: Any, channel: str, payload: str) -> None:
        listeners = _local_listeners.get((channel, self.schema))
        if listeners:
            for wake in list(listeners):
                wake()
            return
        since = self.clock() - self._last_sent.get(channel, -self.window)
        if since >= self.window or self.pool is None:
            await self._send(conn, channel, payload)
            return
        self._owed[channel] = payload
        if channel not in self._timers:
            task = asyncio.get_running_loop().create_task(self._later(channel, self.window - since))
            self._timers[channel] = task
            task.add_done_callback(lambda _: self._timers.pop(channel, None))

    async def _send(self, conn: Any, channel: str, payload: str) -> None:
        self._last_sent[channel] = self.clock()
        self._owed.pop(channel, None)
        await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def _later(self, channel: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if channel not in self._owed:  # a commit after the window has sent it already
            return
        assert self.pool is not None
        with contextlib.suppress(Exception):  # the pool closed: the listener's poll covers it
            async with self.pool.acquire() as conn:
                payload = self._owed.get(channel)
                if payload is not None:
                    await self._send(conn, channel, payload)


class NotifyingConnection(asyncpg.Connection):
    """Sends a transaction's NOTIFYs after it commits rather than inside it. PostgreSQL makes
    transactions that notify commit one at a time (they take a global lock to queue the
    notification), which halved the event store's append rate under concurrent writers."""

    _depth = 0
    _pending: dict[str, str] = {}  # noqa: RUF012 (replaced per instance before any write)
    #: callbacks for the outermost commit, with the depth they were queued at
    _after_commit: list[tuple[int, Callable[[], None]]] = []  # noqa: RUF012 (as _pending)
    _wakeups: Wakeups | None = None  # set by `create_pool`
    _prelude = ""  # set while a transaction with one starts (`transaction`)

    def transaction(self, *, prelude: str = "", **kwargs: Any) -> Any:
        """``prelude``: SQL without parameters (several statements allowed) run right after the
        BEGIN (or SAVEPOINT), in the same round trip: a transaction whose first step needs no
        parameters, such as taking advisory locks, saves one round trip. If it fails, the
        transaction fails to start (and is rolled back like any failed one)."""
        return _Transaction(super().transaction(**kwargs), self, prelude)

    async def _end_failed_start(self, xact: Any) -> None:
        """The BEGIN went through and its prelude failed: the server holds an aborted
        transaction that asyncpg still counts as ours, so that the connection's next
        transaction would start as a savepoint inside it. End it here (a failed prelude of a
        savepoint is left to the outer transaction, which fails as it ends)."""
        if getattr(self, "_top_xact", None) is not xact:
            return
        self._top_xact = None
        if self.is_in_transaction():
            with contextlib.suppress(Exception):  # the pool's release rolls it back anyway
                await super().execute("ROLLBACK;")

    async def execute(
        self,
        query: str,
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 (asyncpg's own signature)
    ) -> str:
        if self._prelude and not args:
            # the BEGIN (or SAVEPOINT) of a transaction starting with a prelude: asyncpg sends
            # it as a simple query, which may carry more statements
            query, self._prelude = f"{query} {self._prelude}", ""
        return str(await super().execute(query, *args, timeout=timeout))

    def get_reset_query(self) -> str:
        """Nothing to send when the pool takes the connection back. asyncpg's default (release
        session advisory locks, close cursors, UNLISTEN, RESET ALL) is one more round trip per
        transaction, a fifth of a small event's; pooled connections here take only
        transaction-scoped locks, open cursors only inside transactions, set only LOCAL
        settings, and listen only on connections of their own. A transaction left open is
        still rolled back (asyncpg sends that apart from this query)."""
        return ""

    def after_commit(self, callback: Callable[[], None]) -> bool:
        """Queue ``callback`` for the commit of the transaction in progress (dropped if it, or
        the savepoint it was queued in, rolls back); False when there is none of ours."""
        if self._depth == 0:
            return False
        if not self._after_commit:
            self._after_commit = []
        self._after_commit.append((self._depth, callback))
        return True

    def notify_after_commit(self, channel: str, payload: str) -> bool:
        """Queue a notification for the commit of the transaction in progress; False when
        there is none of ours to wait for (then notify now)."""
        if self._depth == 0:
            return False
        if not self._pending:
            self._pending = {}
        self._pending[channel] = payload
        return True


def transaction_with_prelude(conn: Connection, prelude: str) -> Any:
    """``conn.transaction(prelude=...)`` (`NotifyingConnection.transaction`), typed for any
    connection of the services' pools."""
    start: Callable[..., Any] = conn.transaction
    return start(prelude=prelude)


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction in progress on ``conn`` commits, never if it rolls
    back (now, when there is none of ours to wait for): for what must count only what was
    kept, such as metrics of a batch that may be rolled back and applied again."""
    defer = getattr(conn, "after_commit", None)
    if defer is None or not defer(callback):
        callback()


async def notify_after_commit(conn: Connection, channel: str, payload: str) -> None:
    defer = getattr(conn, "notify_after_commit", None)
    if defer is None or not defer(channel, payload):
        await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


async def notify_committed(conn: Connection, channel: str, payload: str) -> None:
    """Wake ``channel``'s listeners for a statement that committed on its own (no transaction
    around it), as a transaction's commit would: through the pool's wake-ups where it has them
    (in-process listeners called directly, NOTIFYs coalesced)."""
    wakeups = getattr(conn, "_wakeups", None)
    if wakeups is None:
        await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
        return
    with contextlib.suppress(Exception):  # committed already: a lost wake-up costs one poll
        await wakeups.committed(conn, channel, payload)


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


#: for a pool that writes only what can be made again from the log (a rebuild's shadow schema,
#: a replay): a commit does not wait for its WAL to reach the disk. A crash may lose the last
#: few commits, never consistency, and a rebuild that crashed starts again from the beginning
REBUILDABLE = {"synchronous_commit": "off"}


async def create_pool(
    dsn: str, schema: str, *, max_size: int = 10, settings: Mapping[str, str] | None = None
) -> asyncpg.Pool:
    check_schema_name(schema)
    wakeups = Wakeups(schema)

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if isinstance(conn, NotifyingConnection):
            conn._wakeups = wakeups

    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        server_settings={
            "search_path": schema,
            "application_name": f"redress-{schema}",
            **(settings or {}),
        },
        command_timeout=60,
        init=init,
        connection_class=NotifyingConnection,
    )
    assert pool is not None
    wakeups.pool = pool
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

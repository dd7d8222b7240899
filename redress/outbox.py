"""The outbox relay: publishes what the event store committed, in commit order, keyed by stream.

One relay per service publishes at a time (a PostgreSQL advisory lock elects it), so per-stream
order holds even with several replicas; the others wait to take over. A crash between publishing
and marking rows re-publishes them: a duplicate, never a loss, and consumers de-duplicate.

The relay remembers the broker cluster id it last published to. The embedded broker keeps
nothing on disk and comes back from a restart as a new cluster (the supervisor gives it a fresh
id), so on meeting a new cluster id the relay marks the whole outbox unpublished and sends it
again: PostgreSQL is the source of truth, and every consumer converges.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from redress.db import listen_locally
from redress.eventstore import OUTBOX_CHANNEL
from redress.kafka import cluster_id, new_producer
from redress.logging import get_logger
from redress.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISHED,
    OUTBOX_REPUBLISHES,
)

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        pool: asyncpg.Pool,
        dsn: str,
        schema: str,
        bootstrap_servers: str,
        ensure_topics: Callable[[], Awaitable[object]],
        batch_size: int = 500,
        idle_wait: float = 0.5,
        epoch_check_interval: float = 5.0,
    ) -> None:
        self.service = service
        self.pool = pool
        self.dsn = dsn
        self.schema = schema
        self.bootstrap_servers = bootstrap_servers
        self.ensure_topics = ensure_topics
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.epoch_check_interval = epoch_check_interval
        self.is_leader = False
        self.connected = False

    async def run(self) -> None:
        """Run until cancelled, surviving broker and database outages."""
        while True:
            try:
                await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.is_leader = False
                self.connected = False
                log.warning("outbox relay restarting", error=repr(exc))
                await asyncio.sleep(1.0)

    async def _lead(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        try:
            lock_key = f"outbox:{self.schema}"
            # polling a database lock: no in-process event can say when another replica lets go
            while not await conn.fetchval(  # noqa: ASYNC110
                "SELECT pg_try_advisory_lock(hashtext($1))", lock_key
            ):
                await asyncio.sleep(1.0)
            self.is_leader = True
            wake = asyncio.Event()
            # appends in other processes (replicas) wake it over LISTEN; this process's own
            # appends call it directly and send no NOTIFY while it leads (`listen_locally`)
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: wake.set())
            stop_local = listen_locally(OUTBOX_CHANNEL, self.schema, wake.set)
            try:
                producer = new_producer(self.bootstrap_servers, f"redress-{self.service}-relay")
                await producer.start()
                self.connected = True
                try:
                    await self._relay(producer, wake)
                finally:
                    self.connected = False
                    await producer.stop()
            finally:
                stop_local()
        finally:
            self.is_leader = False
            with contextlib.suppress(Exception):
                await conn.close()

    async def _relay(self, producer: AIOKafkaProducer, wake: asyncio.Event) -> None:
        last_check = 0.0
        while True:
            if time.monotonic() - last_check >= self.epoch_check_interval:
                await self._check_broker_epoch()
                await self._measure_age()
                last_check = time.monotonic()
            wake.clear()
            sent = await self.publish_batch(producer)
            if sent < self.batch_size:
                OUTBOX_BACKLOG.labels(self.service).set(0)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation
                # that lands as the wake-up does, and the relay then never stops
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_wait):
                        await wake.wait()

    async def _measure_age(self) -> None:
        age = await self.pool.fetchval(
            """SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)
               FROM outbox_pending JOIN outbox USING (position)"""
        )
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(age))

    async def _check_broker_epoch(self) -> None:
        epoch = await cluster_id(self.bootstrap_servers)
        async with self.pool.acquire() as conn, conn.transaction():
            known = await conn.fetchval(
                "SELECT broker_epoch FROM outbox_relay_state WHERE singleton FOR UPDATE"
            )
            if known == epoch:
                return
            await self.ensure_topics()
            reset = await conn.execute(
                """INSERT INTO outbox_pending (position) SELECT position FROM outbox
                   ON CONFLICT DO NOTHING"""
            )
            await conn.execute(
                """INSERT INTO outbox_relay_state (singleton, broker_epoch, changed_at)
                   VALUES (true, $1, now())
                   ON CONFLICT (singleton) DO UPDATE SET broker_epoch = $1, changed_at = now()""",
                epoch,
            )
        if known is not None:
            OUTBOX_REPUBLISHES.labels(self.service).inc()
            log.info("broker changed; re-publishing outbox", old=known, new=epoch, rows=reset)

    async def publish_batch(self, producer: AIOKafkaProducer) -> int:
        rows = await self.pool.fetch(
            """SELECT position, topic, message_key, message_value
               FROM outbox_pending JOIN outbox USING (position) ORDER BY position LIMIT $1""",
            self.batch_size,
        )
        if not rows:
            return 0
        futures = [
            await producer.send(
                r["topic"], value=bytes(r["message_value"]), key=r["message_key"].encode()
            )
            for r in rows
        ]
        await asyncio.gather(*futures)
        await self.pool.execute(
            "DELETE FROM outbox_pending WHERE position = ANY($1::bigint[])",
            [r["position"] for r in rows],
        )
        for r in rows:
            OUTBOX_PUBLISHED.labels(self.service, r["topic"]).inc()
        if len(rows) == self.batch_size:
            backlog = await self.pool.fetchval("SELECT count(*) FROM outbox_pending")
            OUTBOX_BACKLOG.labels(self.service).set(backlog)
        return len(rows)

"""Rebuild a service's read models from the log and compare them with the live ones.

The service's handlers replay every message of the topics it subscribes to, from the first
offset up to the end offsets seen when the rebuild starts, into a shadow schema
(``<service>_rebuild``) created with the same migrations. Then each projection table is
compared row for row with the live one. Live tables keep changing while this runs, so rows that
differ only because of events that arrived after the rebuild's end offsets can show up; run it
when the service is idle (or stopped) for an exact comparison.
"""

from __future__ import annotations

import importlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from redress import vault
from redress.consumer import IdempotentConsumer, RawMessage
from redress.db import REBUILDABLE, RUNTIME_MIGRATIONS, apply_migrations, create_pool
from redress.service import Service
from redress.settings import RuntimeSettings

#: the runtime's own tables: they describe plumbing, not the read model
PLUMBING = {
    "events",
    "outbox",
    "outbox_pending",
    "processed_events",
    "dead_letters",
    "schema_migrations",
    "outbox_relay_state",
    "rate_limits",
}


@dataclass
class TableDifference:
    table: str
    live_rows: int
    rebuilt_rows: int
    only_live: int
    only_rebuilt: int
    examples: list[str] = field(default_factory=list)  # a few differing rows, to look at


@dataclass
class RebuildReport:
    service: str
    messages: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    tables: list[TableDifference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(t.only_live == 0 and t.only_rebuilt == 0 for t in self.tables)


def load_service(name: str) -> Service:
    module = importlib.import_module(f"services.{name}.app")
    service: Service = module.service
    return service


async def rebuild(name: str, settings: RuntimeSettings) -> RebuildReport:
    service = load_service(name)
    vault.configure(settings.data_dir)  # the master key that opens the log's sealed fields
    shadow = f"{name}_rebuild"
    admin = await create_pool(settings.dsn, name, max_size=2)
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{shadow}" CASCADE')
    finally:
        await admin.close()
    pool = await create_pool(settings.dsn, shadow, max_size=4, settings=REBUILDABLE)
    live = await create_pool(settings.dsn, name, max_size=2)
    report = RebuildReport(name)
    try:
        sources = [("runtime", RUNTIME_MIGRATIONS)]
        if service.migrations is not None:
            sources.append((name, service.migrations))
        await apply_migrations(pool, shadow, sources)
        consumer = service.consumer(pool, group=f"{name}-rebuild")
        await _replay(settings, [s.topic for s in service.subscriptions], consumer, report)
        report.tables = await compare(live, pool)
    finally:
        await pool.close()
        await live.close()
    return report


async def _replay(
    settings: RuntimeSettings,
    topics: list[str],
    consumer: IdempotentConsumer,
    report: RebuildReport,
) -> None:
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await reader.start()
    try:
        partitions = [
            TopicPartition(t, p) for t in topics for p in (reader.partitions_for_topic(t) or ())
        ]
        if not partitions:
            await reader._client.force_metadata_update()
            partitions = [
                TopicPartition(t, p) for t in topics for p in (reader.partitions_for_topic(t) or ())
            ]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        # Read until every partition has passed the end offset seen at the start and a poll
        # comes back empty: some brokers report the end of a multi-record batch one short, so
        # the end offset alone is not trusted to mean "nothing more".
        reached_at: float | None = None
        while True:
            batch = await reader.getmany(timeout_ms=500)
            for records in batch.values():
                # each partition's records in one transaction: a commit per event would make
                # a rebuild of years of history take hours
                outcomes = await consumer.process_batch(
                    [
                        RawMessage(r.topic, r.partition, r.offset, r.key, r.value or b"")
                        for r in records
                    ]
                )
                report.messages += len(outcomes)
                report.applied.update(outcomes)
            caught_up = all([await reader.position(tp) >= end for tp, end in ends.items()])
            if caught_up and reached_at is None:
                reached_at = time.monotonic()
            if caught_up and (not batch or time.monotonic() - reached_at > 10):  # type: ignore[operator]
                break
    finally:
        await reader.stop()


async def compare(live: asyncpg.Pool, rebuilt: asyncpg.Pool) -> list[TableDifference]:
    live_schema = await live.fetchval("SELECT current_schema()")
    tables = await live.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
        "ORDER BY table_name",
        live_schema,
    )
    out = []
    for t in (r["table_name"] for r in tables):
        if t in PLUMBING:
            continue
        a = await _rows(live, t)
        b = await _rows(rebuilt, t)
        out.append(
            TableDifference(
                t,
                sum(a.values()),
                sum(b.values()),
                sum((a - b).values()),
                sum((b - a).values()),
                [f"live: {r}" for r in list(a - b)[:2]]
                + [f"rebuilt: {r}" for r in list(b - a)[:2]],
            )
        )
    return out


async def _rows(pool: asyncpg.Pool, table: str) -> Counter[str]:
    rows = await pool.fetch(f'SELECT to_jsonb(t) AS row FROM "{table}" t')
    return Counter(json.dumps(r["row"], sort_keys=True, default=str) for r in rows)

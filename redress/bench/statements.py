"""How many statements a service sends PostgreSQL per event, by event type: the round trips
that bound the services (BENCHMARKS.md, "Where the time goes"), counted rather than timed.

One run starts its own PostgreSQL (free loopback port, a throwaway directory), configures the
replay log's three organisations, then hands ``N`` events of the synthetic log to the
service's real `IdempotentConsumer` and handlers, one transaction per event (as a consumer
with a batch size of 1) or ``--batch`` events per transaction, with every statement of the
service's pool counted by asyncpg's query logger. It prints statements per applied event by
type, the statements sent most often, and this process's CPU per 1,000 events.

    .venv/bin/python -m redress.bench.statements --service deadlines --events 3000
    .venv/bin/python -m redress.bench.statements --service casework --batch 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from contracts import OrganisationConfigured, decode_envelope, encode_envelope, new_envelope
from redress import db
from redress.bench.replay import synthetic_log
from redress.bench.stack import free_port
from redress.consumer import IdempotentConsumer, RawMessage
from redress.embedded.postgres import EmbeddedPostgres
from redress.rebuild import load_service

#: the organisations the replay log's cases belong to, as an admin would configure them
ORGANISATIONS = [
    OrganisationConfigured(
        organisation_id=org,
        name=org,
        nation=nation,
        default_procedure=procedure,
        procedures_by_service={"housing repairs": procedure},
    )
    for org, nation, procedure in (
        ("bench-homes", "ENG", "housing_ombudsman"),
        ("bench-council", "ENG", "lgsco"),
        ("bench-scotland", "SCT", "spso"),
    )
]


@dataclass
class Counts:
    """Statements counted while events of each type were applied."""

    current: str = "setup"
    statements: Counter[str] = field(default_factory=Counter)
    texts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def heard(self, record: Any) -> None:
        self.statements[self.current] += 1
        self.texts[(self.current, " ".join(str(record.query).split())[:100])] += 1


@dataclass
class Result:
    service: str
    batch: int
    events: int
    applied: Counter[str]
    counts: Counts
    cpu_seconds: float


async def _configure_organisations(
    service: str, pool: asyncpg.Pool, consumer: IdempotentConsumer
) -> None:
    now = datetime.now(UTC)
    if service == "casework":  # casework keeps the configuration it is the source of
        from services.casework.organisations import save

        async with pool.acquire() as conn:
            for version, org in enumerate(ORGANISATIONS, start=1):
                await save(conn, org, version, now)
        return
    for offset, org in enumerate(ORGANISATIONS):
        envelope = new_envelope(
            org,
            stream_id=f"organisation-{org.organisation_id}",
            stream_version=1,
            occurred_at=now,
            recorded_at=now,
            actor="bench",
            correlation_id=uuid.uuid4(),
        )
        await consumer.process(
            RawMessage(org.topic, 0, -1 - offset, None, encode_envelope(envelope))
        )


async def count(dsn: str, service: str, events: int, batch: int) -> Result:
    """Apply ``events`` messages of the synthetic log to ``service`` in a fresh schema,
    counting what its pool sends; ``batch`` events per transaction (1: one per event)."""
    counts = Counts()
    schema = f"bench_statements_{service}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await admin.close()
    pool = await db.create_pool(dsn, schema, max_size=2)
    try:
        migrations = load_service(service).migrations
        sources = [("runtime", db.RUNTIME_MIGRATIONS)]
        if migrations is not None:
            sources.append((service, migrations))
        await db.apply_migrations(pool, schema, sources)
        consumer = load_service(service).consumer(pool, group=f"{service}-statements", fold=False)
        await _configure_organisations(service, pool, consumer)
        log = [
            (decode_envelope(value).event_type, RawMessage(topic, 0, offset, None, value))
            for offset, (topic, value) in enumerate(synthetic_log(events))
        ]
        # both connections the pool may hold report to `counts` (loggers outlive a release)
        held = [await pool.acquire(), await pool.acquire()]
        for conn in held:
            conn.add_query_logger(counts.heard)
        for conn in held:
            await pool.release(conn)
        applied: Counter[str] = Counter()
        started = time.process_time()
        if batch <= 1:
            for event_type, message in log:
                counts.current = event_type
                if await consumer.process(message) == "applied":
                    applied[event_type] += 1
        else:
            counts.current = "batch"
            for at in range(0, len(log), batch):
                chunk = log[at : at + batch]
                outcomes = await consumer.process_batch([m for _, m in chunk])
                for (event_type, _), outcome in zip(chunk, outcomes, strict=True):
                    if outcome == "applied":
                        applied[event_type] += 1
        cpu = time.process_time() - started
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await pool.close()
    return Result(service, batch, len(log), applied, counts, cpu)


def report(result: Result) -> str:
    applied = sum(result.applied.values())
    total = sum(v for k, v in result.counts.statements.items() if k != "setup")
    lines = [
        f"{result.service}: {result.events} events, {applied} applied, "
        f"{'one transaction per event' if result.batch <= 1 else f'{result.batch} a batch'}",
        f"statements per applied event: {total / max(applied, 1):.2f}; "
        f"CPU of this process per 1,000 events: {1000 * result.cpu_seconds / result.events:.3f} s",
    ]
    if result.batch <= 1:
        lines.append("by event type (statements per event, events applied):")
        for event_type, n in sorted(result.applied.items()):
            per = result.counts.statements[event_type] / n
            lines.append(f"  {event_type:32} {per:6.2f} {n:7}")
    lines.append("sent most often:")
    for (event_type, text), n in result.counts.texts.most_common(25):
        if event_type != "setup":
            lines.append(f"  {n:7}  {event_type:24} {text}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", default="deadlines", help="casework, deadlines, ...")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=1, help="events per transaction")
    parser.add_argument("--dsn", help="a PostgreSQL to use instead of starting one")
    args = parser.parse_args()
    os.environ.setdefault(
        "REDRESS_MASTER_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    if args.dsn:
        print(report(asyncio.run(count(args.dsn, args.service, args.events, args.batch))))
        return
    data_dir = Path(tempfile.mkdtemp(prefix="redress-statements-"))
    data_dir.chmod(0o755)  # as root, PostgreSQL's own user must traverse it
    postgres = EmbeddedPostgres(data_dir, free_port())
    try:
        postgres.start()
        print(report(asyncio.run(count(postgres.dsn, args.service, args.events, args.batch))))
    finally:
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The live consumer's rate, one transaction per event against one per poll, side by side.

One run starts its own PostgreSQL and broker (free loopback ports, a throwaway directory),
publishes ``N`` case events of the synthetic log once (keyed by case, so each case's events
keep their order), then drains that topic again and again with a service's real subscriber
(FastStream, `IdempotentConsumer`, the service's own handlers), each round in a fresh consumer
group and a fresh schema, alternating ``REDRESS_CONSUMER_BATCH_MAX=1`` with the batched size.
It prints each round, the medians and their ratio.

    .venv/bin/python -m redress.bench.live --events 20000 --rounds 3 --service reporting
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from prometheus_client import REGISTRY

from contracts import CASE_TOPIC
from redress.bench.replay import synthetic_log
from redress.bench.stack import free_port
from redress.consumer import DeadLetterSink
from redress.db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from redress.embedded.broker import EmbeddedBroker
from redress.embedded.postgres import EmbeddedPostgres
from redress.kafka import ensure_topics, new_producer
from redress.logging import configure_logging
from redress.rebuild import load_service
from redress.service import Service, Subscription
from redress.settings import RuntimeSettings


@dataclass
class Round:
    batch_max: int
    events: int
    seconds: float
    commits: int

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def consumed(service: str) -> float:
    """Messages the named service's consumer has given an outcome (this process's registry)."""
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if (
                sample.name == "redress_events_consumed_total"
                and sample.labels.get("service") == service
            ):
                total += sample.value
    return total


async def _reached(service: str, count: int, pause: float) -> float:
    """Polls the counter (a metric of this process: nothing to wake anyone with)."""
    while True:
        found = consumed(service)
        if found >= count:
            return found
        await asyncio.sleep(pause)


def _data_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="redress-bench-live-"))
    path.chmod(0o755)
    return path


async def commits(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        )
    finally:
        await conn.close()


async def drain(
    dsn: str, bootstrap: str, real: Service, topic: str, events: int, batch_max: int, n: int
) -> Round:
    """One round: a fresh group and schema read the whole topic; timed from the first message
    handled to the last (joining the group is not the consumer's rate)."""
    handlers = next(s.handlers for s in real.subscriptions if s.topic == CASE_TOPIC)
    svc = dataclasses.replace(
        real, name=f"{real.name}_live{n}", subscriptions=[Subscription(topic, handlers)]
    )
    pool = await create_pool(dsn, svc.name, max_size=4)
    sources = [("runtime", RUNTIME_MIGRATIONS)]
    if real.migrations is not None:
        sources.append((real.name, real.migrations))
    await apply_migrations(pool, svc.name, sources)
    settings = RuntimeSettings(
        database_url=dsn,
        kafka_bootstrap_servers=bootstrap,
        consumer_batch_max=batch_max,
        log_level="WARNING",
    )
    broker = svc._broker(settings, pool, DeadLetterSink(svc.name, svc.group, pool))
    try:
        await broker.start()
        await _reached(svc.name, 1, 0.005)
        started, before, first = time.perf_counter(), await commits(dsn), consumed(svc.name)
        done = await _reached(svc.name, events, 0.02)
        seconds = time.perf_counter() - started
        return Round(batch_max, int(done - first), seconds, await commits(dsn) - before)
    finally:
        await broker.stop()
        await pool.execute(f'DROP SCHEMA "{svc.name}" CASCADE')
        await pool.close()


async def run(events: int, rounds: int, service: str, batch_max: int) -> list[Round]:
    os.environ.setdefault(
        "REDRESS_MASTER_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    data_dir = _data_dir()
    postgres = EmbeddedPostgres(data_dir, free_port())
    broker = EmbeddedBroker(free_port(), data_dir / "logs" / "broker.log")
    try:
        postgres.start()
        broker.start()
        topic = f"{CASE_TOPIC}.live{uuid.uuid4().hex[:6]}"
        await ensure_topics(broker.bootstrap_servers, [topic], partitions=3, replication=1)
        producer = new_producer(broker.bootstrap_servers, "bench-live")
        await producer.start()
        try:
            sent = 0
            for t, value in synthetic_log(events * 4):
                if t != CASE_TOPIC:
                    continue
                key = json.loads(value)["stream_id"].encode()
                await producer.send(topic, value=value, key=key)
                sent += 1
                if sent == events:
                    break
            await producer.flush()
        finally:
            await producer.stop()
        real = load_service(service)  # which makes its app, logging at INFO
        configure_logging(service, "WARNING")  # as the benchmark's services run
        results = []
        for n in range(rounds * 2):
            size = 1 if n % 2 == 0 else batch_max
            result = await drain(postgres.dsn, broker.bootstrap_servers, real, topic, sent, size, n)
            print(
                f"round {n + 1}: batch max {size:>4}: {result.per_s:8.0f} events/s, "
                f"{result.commits / max(result.events, 1):.3f} commits/event "
                f"({result.events} events in {result.seconds:.1f} s)",
                flush=True,
            )
            results.append(result)
        return results
    finally:
        broker.stop()
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode, alternating")
    parser.add_argument("--service", default="reporting", choices=["reporting", "deadlines"])
    parser.add_argument("--batch-max", type=int, default=200)
    args = parser.parse_args()
    results = asyncio.run(run(args.events, args.rounds, args.service, args.batch_max))
    one = statistics.median(r.per_s for r in results if r.batch_max == 1)
    many = statistics.median(r.per_s for r in results if r.batch_max != 1)
    tx_one = statistics.median(r.commits / r.events for r in results if r.batch_max == 1)
    tx_many = statistics.median(r.commits / r.events for r in results if r.batch_max != 1)
    print(
        f"{args.service}, {args.events} case events, medians of {args.rounds}: "
        f"one per transaction {one:.0f}/s ({tx_one:.3f} commits/event), "
        f"batched (max {args.batch_max}) {many:.0f}/s ({tx_many:.3f} commits/event), "
        f"ratio {many / one:.2f}x"
    )


if __name__ == "__main__":
    main()

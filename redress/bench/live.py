"""The live consumer's rate, one transaction per event against one per poll, side by side.

One run starts its own PostgreSQL and broker (free loopback ports, a throwaway directory),
publishes ``N`` case events of the synthetic log once (keyed by case, so each case's events
keep their order), then drains that topic again and again with a service's real subscriber
(FastStream, `IdempotentConsumer`, the service's own handlers), each round in a fresh consumer
group and a fresh schema, alternating ``REDRESS_CONSUMER_BATCH_MAX=1`` with the batched size.
It prints each round, the medians and their ratio.

    .venv/bin/python -m redress.bench.live --events 20000 --rounds 3 --service reporting

With ``--trickle K`` it also publishes K events one at a time, 50 ms apart, on an idle
consumer of each kind, and prints how long each took from publication to handled.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
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


@contextlib.asynccontextmanager
async def subscribed(
    dsn: str, bootstrap: str, real: Service, topic: str, batch_max: int, n: int
) -> AsyncIterator[str]:
    """The service's real subscriber on ``topic`` in a fresh group and schema (named after
    the round); yields the name its metrics carry."""
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
        yield svc.name
    finally:
        await broker.stop()
        await pool.execute(f'DROP SCHEMA "{svc.name}" CASCADE')
        await pool.close()


async def drain(
    dsn: str, bootstrap: str, real: Service, topic: str, events: int, batch_max: int, n: int
) -> Round:
    """One round: a fresh group and schema read the whole topic; timed from the first message
    handled to the last (joining the group is not the consumer's rate)."""
    async with subscribed(dsn, bootstrap, real, topic, batch_max, n) as name:
        await _reached(name, 1, 0.005)
        started, before, first = time.perf_counter(), await commits(dsn), consumed(name)
        done = await _reached(name, events, 0.02)
        seconds = time.perf_counter() - started
        return Round(batch_max, int(done - first), seconds, await commits(dsn) - before)


async def latency(
    dsn: str,
    bootstrap: str,
    real: Service,
    messages: list[tuple[bytes, bytes]],
    batch_max: int,
    n: int,
) -> list[float]:
    """One round at a trickle: each message published alone on a fresh topic, 50 ms apart,
    timed from before its publication until the consumer has handled it (the first is only
    a warm-up: it waits for the group to form)."""
    topic = f"{CASE_TOPIC}.trickle{n}.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [topic], partitions=3, replication=1)
    producer = new_producer(bootstrap, "bench-live-trickle")
    await producer.start()
    seconds: list[float] = []
    try:
        async with subscribed(dsn, bootstrap, real, topic, batch_max, n) as name:
            for i, (key, value) in enumerate(messages):
                await asyncio.sleep(0.05)
                started = time.perf_counter()
                await producer.send_and_wait(topic, value=value, key=key)
                await _reached(name, i + 1, 0.0005)
                if i:
                    seconds.append(time.perf_counter() - started)
    finally:
        await producer.stop()
    return seconds


async def run(
    events: int, rounds: int, service: str, batch_max: int, trickle: int
) -> tuple[list[Round], dict[int, list[float]]]:
    os.environ.setdefault(
        "REDRESS_MASTER_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    data_dir = _data_dir()
    postgres = EmbeddedPostgres(data_dir, free_port())
    broker = EmbeddedBroker(free_port(), data_dir / "logs" / "broker.log")
    try:
        postgres.start()
        broker.start()
        bootstrap = broker.bootstrap_servers
        case_events = [
            (json.loads(value)["stream_id"].encode(), value)
            for t, value in synthetic_log(max(events, trickle + 1) * 4)
            if t == CASE_TOPIC
        ]
        real = load_service(service)  # which makes its app, logging at INFO
        configure_logging(service, "WARNING")  # as the benchmark's services run
        results: list[Round] = []
        if events:
            topic = f"{CASE_TOPIC}.live{uuid.uuid4().hex[:6]}"
            await ensure_topics(bootstrap, [topic], partitions=3, replication=1)
            producer = new_producer(bootstrap, "bench-live")
            await producer.start()
            try:
                for key, value in case_events[:events]:
                    await producer.send(topic, value=value, key=key)
                await producer.flush()
            finally:
                await producer.stop()
            sent = min(events, len(case_events))
            for n in range(rounds * 2):
                size = 1 if n % 2 == 0 else batch_max
                result = await drain(postgres.dsn, bootstrap, real, topic, sent, size, n)
                print(
                    f"round {n + 1}: batch max {size:>4}: {result.per_s:8.0f} events/s, "
                    f"{result.commits / max(result.events, 1):.3f} commits/event "
                    f"({result.events} events in {result.seconds:.1f} s)",
                    flush=True,
                )
                results.append(result)
        waits: dict[int, list[float]] = {1: [], batch_max: []}
        if trickle:
            for n in range(rounds * 2):
                size = 1 if n % 2 == 0 else batch_max
                found = await latency(
                    postgres.dsn, bootstrap, real, case_events[: trickle + 1], size, 100 + n
                )
                waits[size].extend(found)
                print(
                    f"trickle {n + 1}: batch max {size:>4}: publish to handled "
                    f"p50 {_ms(found, 0.5)} ms, p95 {_ms(found, 0.95)} ms",
                    flush=True,
                )
        return results, waits
    finally:
        broker.stop()
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _ms(seconds: list[float], q: float) -> str:
    ordered = sorted(seconds)
    return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="0: no throughput rounds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode, alternating")
    parser.add_argument("--service", default="reporting", choices=["reporting", "deadlines"])
    parser.add_argument("--batch-max", type=int, default=200)
    parser.add_argument(
        "--trickle", type=int, default=0, help="also time this many events one at a time"
    )
    args = parser.parse_args()
    results, waits = asyncio.run(
        run(args.events, args.rounds, args.service, args.batch_max, args.trickle)
    )
    if results:
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
    if args.trickle:
        for size, found in waits.items():
            print(
                f"{args.service}, one event at a time, batch max {size}: publish to handled "
                f"p50 {_ms(found, 0.5)} ms, p95 {_ms(found, 0.95)} ms, "
                f"max {_ms(found, 1.0)} ms ({len(found)} events)"
            )


if __name__ == "__main__":
    main()

"""The machine's own limits, measured before the pipeline so that every pipeline figure can be
read as a share of what the broker and PostgreSQL can do here at all.

Broker: aiokafka producing and then consuming messages the size of a real envelope, with the
producer settings the outbox relay uses. PostgreSQL: one small insert per transaction from one
connection and from 16, then many rows per transaction, then COPY.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer

from contracts import FeedbackSubmitted, encode_envelope, new_envelope
from redress.kafka import ensure_topics, new_producer

LIMITS_TOPIC = "bench.limits"
SCHEMA = "bench_limits"


def sample_envelope() -> bytes:
    """A `FeedbackSubmitted` envelope as intake writes it: the size every limit is measured at."""
    submission_id = uuid.uuid4()
    payload = FeedbackSubmitted.model_validate(
        {
            "submission_id": submission_id,
            "kind": "complaint",
            "channel": "web",
            "organisation_id": "bench-homes",
            "service_area": "housing repairs",
            "received_at": datetime.now(UTC),
            "summary": "My boiler repair was booked three times and nobody came.",
            "outcome_sought": "Fix the boiler and explain what went wrong",
            "complainant": {
                "name": "Ada Resident",
                "email": "ada@example.org",
                "postcode": "SW1A 1AA",
            },
            "triage_hints": [],
        }
    )
    env = new_envelope(
        payload,
        stream_id=f"submission-{submission_id}",
        stream_version=1,
        occurred_at=datetime.now(UTC),
        actor="channel:web",
        correlation_id=uuid.uuid4(),
    )
    return encode_envelope(env)


async def broker_limits(bootstrap: str, messages: int) -> dict[str, float]:
    """Produce ``messages`` envelopes (3 partitions, keyed), then consume them all."""
    value = sample_envelope()
    await ensure_topics(bootstrap, [LIMITS_TOPIC], partitions=3, replication=1)
    producer = new_producer(bootstrap, "redress-bench-limits")
    await producer.start()
    try:
        # warm up: metadata and connections
        await (await producer.send(LIMITS_TOPIC, value=value, key=b"warm"))
        started = time.perf_counter()
        window: list[asyncio.Future[object]] = []
        for i in range(messages):
            window.append(await producer.send(LIMITS_TOPIC, value=value, key=str(i).encode()))
            if len(window) >= 2000:
                await asyncio.gather(*window)
                window.clear()
        await asyncio.gather(*window)
        produce_seconds = time.perf_counter() - started
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        LIMITS_TOPIC,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        deadline = started + 120
        while seen < messages + 1 and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batch.values():
                seen += len(records)
        consume_seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {
        "message_bytes": float(len(value)),
        "produce_per_s": messages / produce_seconds,
        "consume_per_s": seen / consume_seconds,
    }


async def postgres_limits(
    dsn: str, seconds: float, writers: int = 16, batch: int = 1000, copy_rows: int = 200_000
) -> dict[str, float]:
    """Transactions per second with one small insert each (1 and ``writers`` connections), and
    rows per second in ``batch``-row transactions and by COPY."""
    row = sample_envelope()[:200].decode("utf-8", "replace")
    setup = await asyncpg.connect(dsn)
    try:
        await setup.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        await setup.execute(
            f"""CREATE TABLE {SCHEMA}.rows (id bigserial PRIMARY KEY, key uuid NOT NULL,
                    body text NOT NULL, at timestamptz NOT NULL DEFAULT now())"""
        )
    finally:
        await setup.close()
    pool = await asyncpg.create_pool(dsn, min_size=writers, max_size=writers)
    assert pool is not None
    insert = f"INSERT INTO {SCHEMA}.rows (key, body) VALUES ($1, $2)"
    try:

        async def one_per_transaction(connections: int) -> float:
            count = 0
            stop_at = time.perf_counter() + seconds

            async def writer() -> None:
                nonlocal count
                async with pool.acquire() as conn:
                    while time.perf_counter() < stop_at:
                        async with conn.transaction():
                            await conn.execute(insert, uuid.uuid4(), row)
                        count += 1

            started = time.perf_counter()
            await asyncio.gather(*(writer() for _ in range(connections)))
            return count / (time.perf_counter() - started)

        single = await one_per_transaction(1)
        concurrent = await one_per_transaction(writers)

        async with pool.acquire() as conn:
            rows = 0
            stop_at = time.perf_counter() + seconds
            started = time.perf_counter()
            while time.perf_counter() < stop_at:
                async with conn.transaction():
                    await conn.executemany(insert, [(uuid.uuid4(), row) for _ in range(batch)])
                rows += batch
            batched = rows / (time.perf_counter() - started)

            records = [(uuid.uuid4(), row) for _ in range(copy_rows)]
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "rows", schema_name=SCHEMA, records=records, columns=["key", "body"]
            )
            copied = copy_rows / (time.perf_counter() - started)
    finally:
        await pool.close()
    return {
        "tx_per_s_1_writer": single,
        "tx_per_s_16_writers": concurrent,
        "batched_rows_per_s": batched,
        "copy_rows_per_s": copied,
    }

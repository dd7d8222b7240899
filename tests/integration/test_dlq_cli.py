"""Draining a dead-letter topic with ``redress dlq`` on the real broker: a consumer gives up on
two bad messages; the operator lists the dead-letter topics, reads the causes, fixes one and
publishes it back, and the consumer then applies it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from typer.testing import CliRunner

from contracts import dead_letter_topic, encode_envelope, new_envelope
from redress.cli import app
from redress.consumer import DeadLetterSink, EventContext, IdempotentConsumer, RawMessage
from redress.deadletters import REPLAYED_FROM
from redress.kafka import ensure_topics, new_producer
from tests.conftest import Stack
from tests.integration.conftest import TEST_TOPIC, ThingHappened
from tests.support import read_topic


async def cli(stack: Stack, *argv: str) -> tuple[int, str]:
    """Run ``redress <argv>`` in a thread (it runs its own event loop) against the stack."""
    runner = CliRunner()
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap, "COLUMNS": "250"}
    result = await asyncio.to_thread(runner.invoke, app, list(argv), env=env)
    return result.exit_code, result.output


def event_bytes(name: str, number: object) -> tuple[bytes, str]:
    envelope = new_envelope(
        ThingHappened(name=name),
        stream_id=f"case-{name}",
        stream_version=1,
        occurred_at=datetime.now(UTC),
        actor="test",
        correlation_id=uuid.uuid4(),
    )
    body = json.loads(encode_envelope(envelope))
    body["payload"]["number"] = number
    return json.dumps(body).encode(), str(envelope.event_id)


async def test_list_show_fix_and_replay_a_dead_letter(
    stack: Stack, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    group = f"g{uuid.uuid4().hex[:10]}"
    dlq = dead_letter_topic(TEST_TOPIC, group)
    await ensure_topics(stack.bootstrap, [TEST_TOPIC, dlq], partitions=1, replication=1)
    await pool.execute("CREATE TABLE applied (event_id uuid, number int)")

    async def record(ctx: EventContext) -> None:
        await ctx.conn.execute(
            "INSERT INTO applied VALUES ($1, $2)",
            ctx.envelope.event_id,
            ctx.payload.number,  # type: ignore[attr-defined]
        )

    producer = new_producer(stack.bootstrap, "test-dlq")
    await producer.start()
    try:
        sink = DeadLetterSink("test", group, pool)
        sink.producer = producer
        consumer = IdempotentConsumer(
            service="test",
            group=group,
            pool=pool,
            handlers={"ThingHappenedForTest": record},
            dead_letters=sink,
        )
        key = f"case-{uuid.uuid4().hex[:8]}".encode()
        invalid, event_id = event_bytes("bad-number", "not a number")
        assert await consumer.process(RawMessage(TEST_TOPIC, 0, 41, key, invalid)) == (
            "dead_lettered"
        )
        assert await consumer.process(RawMessage(TEST_TOPIC, 0, 42, key, b"{not json")) == (
            "dead_lettered"
        )

        code, out = await cli(stack, "dlq", "list")
        assert code == 0, out
        line = next(row for row in out.splitlines() if dlq in row)
        assert line.split("│")[2].strip() == "2"

        code, out = await cli(stack, "dlq", "show", dlq, "--json")
        assert code == 0, out
        letters = [json.loads(row) for row in out.splitlines()]
        assert [(d["partition"], d["offset"]) for d in letters] == [(0, 0), (0, 1)]
        first, second = letters
        assert first["headers"]["redress-error"].startswith("invalid:")
        assert first["headers"]["redress-source-topic"] == TEST_TOPIC
        assert first["headers"]["redress-source-offset"] == "41"
        assert first["headers"]["redress-consumer"] == group
        assert second["headers"]["redress-error"].startswith("unparseable:")
        assert second["value"] == "{not json"

        code, out = await cli(stack, "dlq", "show", dlq)
        assert code == 0 and "ThingHappenedForTest" in out and event_id in out, out

        # refusals: nothing chosen, a place that is not there, a fix for many at once
        assert (await cli(stack, "dlq", "replay", dlq))[0] == 2
        assert (await cli(stack, "dlq", "replay", dlq, "--at", "0:7"))[0] == 1
        fixed_file = tmp_path / "fixed.json"
        fixed = json.loads(first["value"])
        fixed["payload"]["number"] = 7
        fixed_file.write_text(json.dumps(fixed))
        many = await cli(stack, "dlq", "replay", dlq, "--all", "--value-file", str(fixed_file))
        assert many[0] == 2
        code, out = await cli(stack, "dlq", "replay", dlq, "--all", "--dry-run")
        assert code == 0 and out.count(f"to {TEST_TOPIC}") == 2, out

        code, out = await cli(
            stack, "dlq", "replay", dlq, "--at", "0:0", "--value-file", str(fixed_file)
        )
        assert code == 0 and f"replayed 0:0 to {TEST_TOPIC} (fixed)" in out, out

        # the fixed message is back on the source topic with its key, marked as a replay
        ((got_key, value, headers),) = await read_topic(
            stack.bootstrap, TEST_TOPIC, count=1, key=key
        )
        assert got_key == key and headers[REPLAYED_FROM] == f"{dlq}:0:0".encode()
        assert await consumer.process(RawMessage(TEST_TOPIC, 0, 43, key, value)) == "applied"
        row = await pool.fetchrow("SELECT event_id, number FROM applied")
        assert row is not None and (str(row["event_id"]), row["number"]) == (event_id, 7)
    finally:
        await producer.stop()

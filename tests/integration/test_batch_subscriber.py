"""The live subscriber over the real broker, batched (each poll applied by `process_batch`) and
one message at a time: every message gets the same outcome either way, and a database that
goes away in the middle of a poll loses nothing and applies nothing twice."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from contracts import dead_letter_topic, encode_envelope, new_envelope
from redress.consumer import DeadLetterSink, EventContext
from redress.kafka import ensure_topics, new_producer
from redress.service import Service, Subscription
from redress.settings import RuntimeSettings
from tests.conftest import Stack
from tests.integration.conftest import ThingHappened, schema_pool
from tests.support import eventually, read_topic


class Handler:
    """Writes a row per call with the transaction it ran in. Names say how it behaves:
    ``flaky`` fails the first time only, ``broken`` every time, ``down`` says the database
    went away the first time it is reached."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def __call__(self, ctx: EventContext) -> None:
        name = getattr(ctx.payload, "name", "")
        self.calls[name] += 1
        await ctx.conn.execute(
            "INSERT INTO applied (event_id, name, tx) VALUES ($1, $2, txid_current())",
            ctx.envelope.event_id,
            name,
        )
        if name == "broken" or (name == "flaky" and self.calls[name] == 1):
            raise RuntimeError(f"{name} handler failed")
        if name == "down" and self.calls[name] == 1:
            raise ConnectionResetError("the database went away")


def event(name: str) -> bytes:
    return encode_envelope(
        new_envelope(
            ThingHappened(name=name),
            stream_id=f"thing-{name}",
            stream_version=1,
            occurred_at=datetime.now(UTC),
            actor="test",
            correlation_id=uuid.uuid4(),
        )
    )


class Running:
    """One service's subscriber on a topic of its own, with its own schema and group."""

    def __init__(self, stack: Stack, batch_max: int) -> None:
        self.stack = stack
        self.batch_max = batch_max
        run = uuid.uuid4().hex[:10]
        self.topic = f"redress.batchtest{run}.v1"
        self.handler = Handler()
        self.service = Service(
            f"batch_{run}",
            subscriptions=[Subscription(self.topic, {ThingHappened.event_type: self.handler})],
        )

    async def start(self, messages: list[bytes]) -> None:
        """Publish every message first, so the subscriber finds them waiting and a batched one
        gets them in one poll, then start it."""
        await ensure_topics(
            self.stack.bootstrap,
            [self.topic, *self.service.dead_letter_topics()],
            partitions=1,
            replication=1,
        )
        self.producer = new_producer(self.stack.bootstrap, "batch-test")
        await self.producer.start()
        for raw in messages:
            await self.producer.send_and_wait(self.topic, value=raw, key=b"one-partition")
        self.schema, self.pool = await schema_pool(self.stack)
        await self.pool.execute("CREATE TABLE applied (event_id uuid, name text, tx bigint)")
        sink = DeadLetterSink(self.service.name, self.service.group, self.pool)
        sink.producer = self.producer
        settings = RuntimeSettings(
            database_url=self.stack.dsn,
            kafka_bootstrap_servers=self.stack.bootstrap,
            consumer_batch_max=self.batch_max,
        )
        self.broker = self.service._broker(settings, self.pool, sink)
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()
        await self.producer.stop()
        await self.pool.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        await self.pool.close()

    async def wait_until_consumed(self, count: int) -> None:
        """Every message has an outcome (the counter counts each message once it has one)."""

        async def done() -> bool:
            return sum(self.outcomes().values()) >= count

        await eventually(done, timeout=60, what=f"{self.service.name} consumes {count} messages")

    def outcomes(self) -> dict[tuple[str, str], float]:
        """The consumed-events counter of this service: (event type, result) -> count."""
        found: dict[tuple[str, str], float] = {}
        for metric in REGISTRY.collect():
            for sample in metric.samples:
                labels = sample.labels
                if (
                    sample.name == "redress_events_consumed_total"
                    and labels.get("service") == self.service.name
                ):
                    found[(labels["event_type"], labels["result"])] = sample.value
        return found

    async def state(self) -> dict[str, Any]:
        rows = await self.pool.fetch("SELECT name, tx FROM applied")
        dead = await self.pool.fetch(
            "SELECT source_offset, error FROM dead_letters ORDER BY source_offset"
        )
        return {
            "applied": sorted(r["name"] for r in rows),
            "processed": await self.pool.fetchval("SELECT count(*) FROM processed_events"),
            "dead": [(r["source_offset"], r["error"].split(":")[0]) for r in dead],
            "outcomes": self.outcomes(),
        }


@pytest.fixture
async def started(stack: Stack) -> AsyncIterator[list[Running]]:
    running: list[Running] = []
    try:
        yield running
    finally:
        for r in running:
            await r.stop()


async def test_a_batch_gives_every_message_the_outcome_it_gets_one_at_a_time(
    stack: Stack, started: list[Running]
) -> None:
    a = event("a")
    messages = [
        a,
        event("b"),
        a,  # delivered twice
        b"\x00 not an event",  # poison
        event("c"),
        event("flaky"),  # fails once, then applies
        event("d"),
        event("broken"),  # fails every time: dead-lettered with the cause
        event("e"),
        event("f"),
    ]
    one_at_a_time, batched = Running(stack, batch_max=1), Running(stack, batch_max=50)
    for r in (one_at_a_time, batched):
        await r.start(messages)
        started.append(r)
    for r in (one_at_a_time, batched):
        await r.wait_until_consumed(len(messages))

    alone, together = await one_at_a_time.state(), await batched.state()
    # rows the rolled-back attempts wrote are gone; what is left is each event applied once
    want_applied = ["a", "b", "c", "d", "e", "f", "flaky"]
    for state in (alone, together):
        assert state["applied"] == want_applied
        assert state["processed"] == len(want_applied)
        assert state["dead"] == [(3, "unparseable"), (7, "handler failed after 3 attempts")]
    assert together["outcomes"] == alone["outcomes"]
    assert alone["outcomes"] == {
        (ThingHappened.event_type, "applied"): 7,
        (ThingHappened.event_type, "duplicate"): 1,
        (ThingHappened.event_type, "dead_lettered"): 1,
        ("unknown", "dead_lettered"): 1,
    }
    dead = await read_topic(
        stack.bootstrap,
        dead_letter_topic(batched.topic, batched.service.group),
        count=2,
    )
    assert [value for _k, value, _h in dead] == [messages[3], messages[7]]
    assert dead[1][2]["redress-error"].startswith(b"handler failed after 3 attempts")
    # one at a time, a transaction per event; batched, the good ones around the bad ones
    # shared transactions (the transactions differ, the outcomes do not)
    alone_tx = await one_at_a_time.pool.fetchval("SELECT count(DISTINCT tx) FROM applied")
    together_tx = await batched.pool.fetchval("SELECT count(DISTINCT tx) FROM applied")
    assert alone_tx == len(want_applied)
    assert together_tx < len(want_applied)
    assert batched.handler.calls["broken"] == one_at_a_time.handler.calls["broken"] + 1
    assert (
        REGISTRY.get_sample_value(
            "redress_consumer_lag",
            {"service": batched.service.name, "topic": batched.topic, "partition": "0"},
        )
        == 0
    )


async def test_the_database_going_away_mid_batch_redelivers_the_poll_and_loses_nothing(
    stack: Stack, started: list[Running]
) -> None:
    messages = [
        event("g0"),
        event("g1"),
        b"not an event either",
        event("g2"),
        event("down"),  # the database is unreachable the first time this is applied
        event("g3"),
    ]
    batched = Running(stack, batch_max=50)
    await batched.start(messages)
    started.append(batched)

    async def all_applied() -> bool:
        return bool(await batched.pool.fetchval("SELECT count(*) FROM processed_events") == 5)

    await eventually(all_applied, timeout=60, what="every good event applied")
    await batched.wait_until_consumed(len(messages) + 3)  # the redelivered part counted again
    state = await batched.state()
    assert state["applied"] == ["down", "g0", "g1", "g2", "g3"]  # each exactly once
    assert state["dead"] == [(2, "unparseable")]  # dead-lettered once, though seen twice
    assert batched.handler.calls["down"] == 2
    # the poll came again from its first message: what was committed of it is a duplicate now,
    # what was rolled back with the failure is applied the second time round
    assert batched.handler.calls["g0"] == 1 and batched.handler.calls["g2"] == 2
    assert state["outcomes"][(ThingHappened.event_type, "applied")] == 5
    assert state["outcomes"][(ThingHappened.event_type, "duplicate")] == 2

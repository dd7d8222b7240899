"""Hypothesis-made bad messages on every topic every service subscribes to, read by the real
subscribers (FastStream on the embedded broker, the idempotent consumer, the services' own
handlers): each bad message lands in the group's dead-letter topic with its cause, and a good
message behind them is still applied.

Each subscription is mirrored on a topic of this test's own (same handlers, same consumer
code, only the topic name differs), so the services a later e2e test starts on the real topics
never see this batch.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import Any

import asyncpg
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contracts import dead_letter_topic, decode_envelope
from redress.consumer import DeadLetterSink
from redress.kafka import ensure_topics, new_producer
from redress.service import Service, Subscription
from redress.settings import RuntimeSettings
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.integration.test_service_handlers import _service, submission
from tests.support import eventually, read_topic

SERVICES = ("casework", "deadlines", "notifications", "reporting")
PER_SUBSCRIPTION = 8


def bad_messages(valid: dict[str, Any], handled: list[str]) -> st.SearchStrategy[bytes]:
    """Messages no consumer may apply: each is broken by construction, not by luck."""
    raw = json.dumps(valid).encode()
    junk_json = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    )

    def envelope(**changes: Any) -> bytes:
        return json.dumps({**valid, **changes}).encode()

    return st.one_of(
        # random bytes (JSON objects with an envelope's fields cannot come out of this)
        st.binary(max_size=300).filter(lambda b: b"event_id" not in b),
        # a valid message cut short
        st.integers(0, len(raw) - 1).map(lambda n: raw[:n]),
        # a type this build does not know
        st.text(min_size=1, max_size=30).map(lambda t: envelope(event_type=f"Unknown{t}")),
        # a version newer than this build, of a type the group handles
        st.tuples(st.sampled_from(handled), st.integers(2, 10**9)).map(
            lambda tv: envelope(event_type=tv[0], schema_version=tv[1])
        ),
        # a handled type whose payload has fields the contract forbids
        st.tuples(
            st.sampled_from(handled), st.dictionaries(st.text(max_size=10), junk_json, max_size=4)
        ).map(
            lambda tp: envelope(
                event_type=tp[0], payload={**{f"zz_{k}": v for k, v in tp[1].items()}, "zz": 1}
            )
        ),
        # an envelope of a handled type with a field of the wrong shape
        st.tuples(
            st.sampled_from(handled),
            st.sampled_from(["event_id", "correlation_id", "payload"]),
            junk_json.filter(lambda v: not isinstance(v, dict)),
        ).map(lambda tfv: envelope(event_type=tfv[0], **{tfv[1]: tfv[2]})),
        # huge: hundreds of kilobytes of a field that is never that long
        st.integers(100_000, 600_000).map(lambda n: envelope(actor="a" * n, payload=[])),
    )


def corpus(strategy: st.SearchStrategy[bytes], n: int) -> list[bytes]:
    """``n`` distinct examples drawn by hypothesis (generation only: nothing to shrink here)."""
    out: list[bytes] = []

    @settings(
        max_examples=n * 3,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(raw: bytes) -> None:
        if raw not in out and len(out) < n:
            out.append(raw)

    collect()
    return out


def mirrored(svc: Service, run: str) -> tuple[Service, dict[str, str]]:
    """The service with its own group and every subscription on a topic of this test's."""
    topics = {s.topic: f"{s.topic}.fuzz{run}.{svc.name}" for s in svc.subscriptions}
    copy = dataclasses.replace(
        svc,
        name=f"{svc.name}_fz{run}",
        subscriptions=[Subscription(topics[s.topic], s.handlers) for s in svc.subscriptions],
    )
    return copy, topics


async def test_every_bad_message_on_every_subscribed_topic_is_dead_lettered_and_work_goes_on(
    stack: Stack,
) -> None:
    run = uuid.uuid4().hex[:8]
    settings_ = RuntimeSettings(database_url=stack.dsn, kafka_bootstrap_servers=stack.bootstrap)
    good_submission = submission()
    valid = json.loads(good_submission)
    producer = new_producer(stack.bootstrap, "fuzz")
    await producer.start()
    started: list[tuple[Any, DeadLetterSink, asyncpg.Pool, str]] = []
    published: dict[tuple[str, str], list[bytes]] = {}
    try:
        plans = []
        for name in SERVICES:
            real = _service(name)
            assert real.migrations is not None
            svc, topics = mirrored(real, run)
            schema, pool = await schema_pool(stack, [(name, real.migrations)])
            await ensure_topics(
                stack.bootstrap,
                [*topics.values(), *svc.dead_letter_topics()],
                partitions=1,
                replication=1,
            )
            sink = DeadLetterSink(svc.name, svc.group, pool)
            sink.producer = producer
            broker = svc._broker(settings_, pool, sink)
            await broker.start()
            started.append((broker, sink, pool, schema))
            plans.append((name, svc, topics, pool))

        for name, svc, _topics, _pool in plans:
            for sub in svc.subscriptions:
                batch = corpus(bad_messages(valid, sorted(sub.handlers)), PER_SUBSCRIPTION)
                published[(name, sub.topic)] = batch
                for i, raw in enumerate(batch):
                    await producer.send_and_wait(sub.topic, value=raw, key=f"{run}-{i}".encode())

        # every bad message is in each group's dead-letter table and topic, with its cause
        for name, svc, _topics, pool in plans:
            for sub in svc.subscriptions:
                batch = published[(name, sub.topic)]

                async def all_there(
                    pool: asyncpg.Pool = pool, topic: str = sub.topic, want: int = len(batch)
                ) -> bool:
                    n = await pool.fetchval(
                        "SELECT count(*) FROM dead_letters WHERE source_topic = $1", topic
                    )
                    return bool(n == want)

                await eventually(all_there, timeout=60, what=f"{name} dead-letters {sub.topic}")
                rows = await pool.fetch(
                    "SELECT message_value, error FROM dead_letters WHERE source_topic = $1",
                    sub.topic,
                )
                assert sorted(bytes(r["message_value"]) for r in rows) == sorted(batch)
                for r in rows:
                    assert r["error"].startswith(("unparseable: ", "invalid: ")), r["error"]
                dlq = await read_topic(
                    stack.bootstrap, dead_letter_topic(sub.topic, svc.group), count=len(batch)
                )
                assert sorted(value for _k, value, _h in dlq) == sorted(batch)
                for _k, _value, headers in dlq:
                    assert headers["redress-error"].startswith((b"unparseable: ", b"invalid: "))
                    assert headers["redress-source-topic"] == sub.topic.encode()
                    assert headers["redress-consumer"] == svc.group.encode()

        # a good message behind the bad ones is still applied by every group
        by_name = {name: (svc, topics, pool) for name, svc, topics, pool in plans}
        casework_pool = by_name["casework"][2]
        for name in ("casework", "reporting"):
            _svc, topics, _pool = by_name[name]
            await producer.send_and_wait(
                topics["redress.intake.v1"], value=good_submission, key=b"good"
            )

        async def opened() -> bytes | None:
            row = await casework_pool.fetchval(
                "SELECT message_value FROM outbox WHERE topic = 'redress.case.v1'"
            )
            return None if row is None else bytes(row)

        case_opened = await eventually(opened, what="casework opens the good complaint's case")
        for name in ("deadlines", "notifications"):
            _svc, topics, _pool = by_name[name]
            await producer.send_and_wait(topics["redress.case.v1"], value=case_opened, key=b"good")

        good = {
            "casework": decode_envelope(good_submission).event_id,
            "reporting": decode_envelope(good_submission).event_id,
            "deadlines": decode_envelope(case_opened).event_id,
            "notifications": decode_envelope(case_opened).event_id,
        }
        for name, event_id in good.items():
            svc, _topics, pool = by_name[name]

            async def applied(pool: asyncpg.Pool = pool, event_id: Any = event_id) -> bool:
                return bool(
                    await pool.fetchval(
                        "SELECT count(*) FROM processed_events WHERE event_id = $1", event_id
                    )
                )

            await eventually(applied, timeout=60, what=f"{name} applies the good message")
        deadlines_pool = by_name["deadlines"][2]
        assert await deadlines_pool.fetchval("SELECT count(*) FROM outbox") == 2  # both due dates
    finally:
        for broker, _sink, pool, schema in started:
            await broker.stop()
            await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await pool.close()
        await producer.stop()

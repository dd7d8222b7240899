"""Helpers the test layers share: free ports, waiting for a condition without sleeping a fixed
time, reading a topic from the start."""

from __future__ import annotations

import asyncio
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer

from contracts import EventPayload, encode_envelope, new_envelope

T = TypeVar("T")


def message(payload: EventPayload, at: datetime, stream: str | None = None) -> tuple[str, bytes]:
    """An event as it arrives on its topic: the topic and the encoded envelope (first of its
    stream, a fresh stream unless one is named), for feeding a consumer a log of its own."""
    env = new_envelope(
        payload,
        stream_id=stream or f"s-{uuid.uuid4()}",
        stream_version=1,
        occurred_at=at,
        actor="test",
        correlation_id=uuid.uuid4(),
    )
    return type(payload).topic, encode_envelope(env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


async def read_topic(
    bootstrap: str, topic: str, *, count: int, key: bytes | None = None, timeout: float = 30.0
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """The first ``count`` messages of a topic (with this key, if given), as (key, value,
    headers), in each partition's order."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,  # no group to join: reads every partition from the start at once
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if key is not None and r.key != key:
                        continue
                    out.append((r.key, r.value or b"", dict(r.headers or ())))
    finally:
        await consumer.stop()
    if len(out) < count:
        raise AssertionError(f"{topic}: wanted {count} messages, got {len(out)}")
    return out


async def in_random_batches(
    consumer: Any, messages: Sequence[Any], seed: int, sizes: Sequence[int]
) -> list[str]:
    """The messages handed to ``consumer.process_batch`` in order, in batches of sizes drawn
    (reproducibly, from ``seed``) among ``sizes``: each outcome, as the batch tests compare
    with one event at a time."""
    rnd = random.Random(seed)
    outcomes: list[str] = []
    at = 0
    while at < len(messages):
        size = rnd.choice(list(sizes))
        outcomes += await consumer.process_batch(messages[at : at + size])
        at += size
    return outcomes

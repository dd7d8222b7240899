"""Draining dead-letter topics: list them, read what is on one with the cause each consumer
recorded, and publish chosen messages (as they were, or fixed by an operator) back onto the
topic they came from.

Publishing back is safe for every consumer of that topic: each one records the event ids it has
applied, so a group that had already applied the event skips it, and only the group that
dead-lettered it (or a fixed message) gets a new chance. The key is kept, so the message lands
on the same partition as the rest of its case.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from redress.kafka import new_producer

#: a dead-letter topic is ``<topic>.dlq.<group>`` (contracts.dead_letter_topic)
MARKER = ".dlq."
REPLAYED_FROM = "redress-replayed-from"


@dataclass(frozen=True)
class DeadLetter:
    """One message on a dead-letter topic and what the consumer that gave up on it recorded."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str:
        return self.headers.get("redress-error", "(no cause recorded)")

    @property
    def source_topic(self) -> str:
        """Where it came from: the recorded header, else the dead-letter topic's own name."""
        return self.headers.get("redress-source-topic") or self.topic.split(MARKER, 1)[0]

    @property
    def consumer(self) -> str:
        return self.headers.get("redress-consumer") or self.topic.rsplit(MARKER, 1)[-1]

    @property
    def where(self) -> str:
        """``partition:offset`` on the dead-letter topic: how an operator picks it."""
        return f"{self.partition}:{self.offset}"

    @property
    def source(self) -> str:
        partition = self.headers.get("redress-source-partition", "?")
        offset = self.headers.get("redress-source-offset", "?")
        return f"{self.source_topic}[{partition}]@{offset}"

    def event(self) -> dict[str, str]:
        """The event type and id if the bytes are JSON that says so; empty if they are not
        (which is often why it was dead-lettered)."""
        try:
            parsed = json.loads(self.value)
        except (ValueError, UnicodeDecodeError):
            return {}
        if not isinstance(parsed, dict):
            return {}
        return {k: str(parsed[k]) for k in ("event_type", "event_id", "stream_id") if k in parsed}

    def as_json(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
            "headers": self.headers,
            "value": self.value.decode("utf-8", "replace"),
        }


def is_dead_letter_topic(name: str) -> bool:
    return MARKER in name


async def dead_letter_counts(bootstrap_servers: str) -> dict[str, int]:
    """Every dead-letter topic on the cluster and how many messages it holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if is_dead_letter_topic(t))
    finally:
        await admin.close()
    if not names:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        counts = {}
        for name in names:
            partitions = [
                TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or set()
            ]
            if not partitions:
                await consumer.topics()  # refresh metadata once, then ask again
                partitions = [
                    TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or set()
                ]
            first = await consumer.beginning_offsets(partitions)
            end = await consumer.end_offsets(partitions)
            counts[name] = sum(end[tp] - first[tp] for tp in partitions)
        return counts
    finally:
        await consumer.stop()


async def read_dead_letters(
    bootstrap_servers: str, topic: str, *, limit: int | None = None, patience: float = 30.0
) -> list[DeadLetter]:
    """What is on the topic now, oldest first in each partition (without joining any consumer
    group, so nothing is committed and nobody's position moves)."""
    if not is_dead_letter_topic(topic):
        raise ValueError(f"{topic} is not a dead-letter topic (<topic>{MARKER}<group>)")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            await consumer.topics()
            ids = consumer.partitions_for_topic(topic)
        if not ids:
            raise ValueError(f"no topic {topic}")
        partitions = [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        out: list[DeadLetter] = []
        deadline = time.monotonic() + patience

        async def behind() -> bool:
            for tp in partitions:
                if await consumer.position(tp) < end[tp]:
                    return True
            return False

        while await behind():
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end in {patience}s")
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if r.offset >= end[TopicPartition(r.topic, r.partition)]:
                        continue
                    headers = {k: v.decode("utf-8", "replace") for k, v in r.headers or ()}
                    out.append(
                        DeadLetter(r.topic, r.partition, r.offset, r.key, r.value or b"", headers)
                    )
        out.sort(key=lambda d: (d.partition, d.offset))
        return out[:limit] if limit is not None else out
    finally:
        await consumer.stop()


async def replay(
    bootstrap_servers: str, letters: list[DeadLetter], *, value: bytes | None = None
) -> list[tuple[DeadLetter, str]]:
    """Publish each message back onto its source topic with its key, marked with where it was
    replayed from. ``value`` replaces the bytes (an operator's fix) and is allowed only for
    one message at a time. Returns each message and the topic it went to."""
    if value is not None and len(letters) != 1:
        raise ValueError("a fixed value replaces one message at a time")
    producer = new_producer(bootstrap_servers, "redress-dlq-replay")
    await producer.start()
    sent: list[tuple[DeadLetter, str]] = []
    try:
        for letter in letters:
            target = letter.source_topic
            if is_dead_letter_topic(target):
                raise ValueError(
                    f"{letter.where}: its source {target} is itself a dead-letter topic"
                )
            headers = [(REPLAYED_FROM, f"{letter.topic}:{letter.where}".encode())]
            await producer.send_and_wait(
                target,
                value=letter.value if value is None else value,
                key=letter.key,
                headers=headers,
            )
            sent.append((letter, target))
    finally:
        await producer.stop()
    return sent

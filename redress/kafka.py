"""Broker plumbing: producers configured the one way Redress publishes, topic creation, and the
cluster id that tells the outbox relay whether the broker it talks to is the one it last
published to."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts import ALL_TOPICS, dead_letter_topic

# Kafka error code for "Topic with this name already exists."
_TOPIC_ALREADY_EXISTS = 36


def new_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """acks=all without the idempotent producer: the embedded broker does not implement
    InitProducerId, and consumers de-duplicate by event id anyway, which a real cluster needs
    too (a relay crash between publish and mark re-publishes)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        request_timeout_ms=15_000,
    )


def topics_for(consumers: dict[str, Iterable[str]]) -> list[str]:
    """Every base topic plus each consuming group's dead-letter topic for what it reads."""
    names = list(ALL_TOPICS)
    for group, topics in consumers.items():
        names.extend(dead_letter_topic(t, group) for t in topics)
    return names


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication: int,
    configs: dict[str, str] | None = None,
) -> list[str]:
    """Create whatever is missing; returns what it created. Safe to call from several
    processes at once: 'already exists' is success. ``configs`` are topic configs (say
    ``min.insync.replicas``) given to every topic it creates; existing topics are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted({t for t in topics if t not in existing})
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(name, partitions, replication, topic_configs=dict(configs or {}))
                for name in missing
            ]
        )
        created = []
        for topic, code, message in (e[:3] for e in response.topic_errors):
            if code == 0:
                created.append(topic)
            elif code != _TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"could not create topic {topic}: {message} (code {code})")
        return created
    finally:
        await admin.close()


async def cluster_id(bootstrap_servers: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_cluster()
        return str(described["cluster_id"])
    finally:
        await admin.close()


def cluster_topic_configs(replication: int) -> dict[str, str]:
    """What a replicated cluster's topics need: the log is the system of record (projections
    are rebuilt from it), so it is kept forever; and a write counts only once a majority of
    replicas has it (with replication 3, two)."""
    configs = {"retention.ms": "-1"}
    if replication > 1:
        configs["min.insync.replicas"] = str(max(1, min(2, replication - 1)))
    return configs


async def describe_topics(bootstrap_servers: str, topics: Iterable[str]) -> dict[str, int]:
    """Each topic's partition count, for operators checking what exists."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
        return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}
    finally:
        await admin.close()

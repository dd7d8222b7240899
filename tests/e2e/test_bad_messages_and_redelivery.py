"""Poison on every topic lands in each consuming group's dead-letter topic and the services go
on; an event delivered again through the broker changes nothing."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx

from contracts import ALL_TOPICS, Role, dead_letter_topic
from redress.kafka import new_producer
from tests.e2e.conftest import System
from tests.e2e.convergence import assert_read_models_match_their_events
from tests.e2e.test_flow import COMPLAINT, case_for, submit
from tests.support import eventually, read_topic

CONSUMERS = {
    "redress.intake.v1": ["casework", "reporting"],
    "redress.case.v1": ["deadlines", "notifications", "reporting", "intake"],
    "redress.deadline.v1": ["casework", "notifications", "reporting", "intake"],
    "redress.notification.v1": ["casework", "reporting"],
    "redress.organisation.v1": ["deadlines", "intake"],
    "redress.person.v1": ["casework", "notifications", "intake"],
}


async def test_garbage_on_every_topic_is_dead_lettered_and_the_next_message_flows(
    system: System,
) -> None:
    assert set(CONSUMERS) == set(ALL_TOPICS)
    marker = uuid.uuid4().hex
    producer = new_producer(system.stack.bootstrap, "e2e-poison")
    await producer.start()
    try:
        for topic in ALL_TOPICS:
            await producer.send_and_wait(
                topic, value=f"garbage {marker} {{not json".encode(), key=marker.encode()
            )
    finally:
        await producer.stop()

    conn = await asyncpg.connect(system.stack.dsn)
    try:
        for topic, groups in CONSUMERS.items():
            for group in groups:

                async def landed(group: str = group, topic: str = topic) -> str | None:
                    return await conn.fetchval(
                        f"SELECT error FROM {group}.dead_letters "
                        "WHERE source_topic = $1 AND message_key = $2",
                        topic,
                        marker.encode(),
                    )

                error = await eventually(landed, what=f"{group} dead-letters {topic}")
                assert error.startswith("unparseable")
                ((_key, value, headers),) = await read_topic(
                    system.stack.bootstrap,
                    dead_letter_topic(topic, group),
                    count=1,
                    key=marker.encode(),
                )
                assert marker.encode() in value
                assert headers["redress-consumer"] == group.encode()
    finally:
        await conn.close()

    async with httpx.AsyncClient(timeout=10, headers=system.auth(Role.AUDITOR, "reader")) as client:
        receipt = await submit(client, system, COMPLAINT)
        await case_for(client, system, receipt["submission_id"])
        for service in ("casework", "deadlines", "notifications", "reporting"):
            ready = await client.get(system.url(service, "/readyz"))
            assert ready.status_code == 200
    # the poison changed no read model: each still equals what its events say
    compared = await assert_read_models_match_their_events(
        system.stack.dsn, system.stack.bootstrap, system.data_dir
    )
    assert compared["cases"] >= 1, compared


def duplicates(metrics: str, service: str, event_type: str) -> float:
    pattern = (
        rf'redress_events_consumed_total\{{event_type="{event_type}",result="duplicate",'
        rf'service="{service}",topic="[^"]+"\}} ([0-9.e+]+)'
    )
    match = re.search(pattern, metrics)
    return float(match.group(1)) if match else 0.0


async def test_events_delivered_again_through_the_broker_change_nothing(system: System) -> None:
    async with httpx.AsyncClient(timeout=10, headers=system.auth(Role.AUDITOR, "reader")) as client:
        receipt = await submit(client, system, COMPLAINT)
        case = await case_for(client, system, receipt["submission_id"])
        conn = await asyncpg.connect(system.stack.dsn)
        try:
            submitted = await conn.fetchrow(
                "SELECT o.topic, o.message_key, o.message_value FROM intake.outbox o "
                "JOIN intake.events e USING (event_id) WHERE e.stream_id = $1",
                f"submission-{receipt['submission_id']}",
            )
            opened = await conn.fetchrow(
                "SELECT topic, message_key, message_value FROM casework.outbox "
                "WHERE message_key = $1",
                f"case-{case['case_id']}",
            )
        finally:
            await conn.close()

        before = {
            s: (await client.get(system.url(s, "/metrics"))).text for s in ("casework", "deadlines")
        }
        producer = new_producer(system.stack.bootstrap, "e2e-redeliver")
        await producer.start()
        try:
            for row in (submitted, opened):
                await producer.send_and_wait(
                    row["topic"],
                    value=bytes(row["message_value"]),
                    key=row["message_key"].encode(),
                )
        finally:
            await producer.stop()

        async def skipped(service: str, event_type: str) -> bool:
            text = (await client.get(system.url(service, "/metrics"))).text
            return duplicates(text, service, event_type) > duplicates(
                before[service], service, event_type
            )

        await eventually(
            lambda: skipped("casework", "FeedbackSubmitted"),
            what="casework skips the redelivered submission",
        )
        await eventually(
            lambda: skipped("deadlines", "CaseOpened"), what="deadlines skips the redelivered case"
        )
        cases = (
            await client.get(
                system.url("casework", "/v1/cases"),
                params={"submission_id": receipt["submission_id"]},
                headers=system.auth(),
            )
        ).json()
        assert len(cases["cases"]) == 1
        assert cases["cases"][0]["reference"] == case["reference"]
        deadlines = (
            await client.get(
                system.url("deadlines", "/v1/deadlines"), params={"case_id": case["case_id"]}
            )
        ).json()
        assert len(deadlines["deadlines"]) == 2

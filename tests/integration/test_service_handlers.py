"""Every service's real handlers against real PostgreSQL: a complaint flows through casework,
deadlines, notifications and reporting by handing each the events the previous one put in its
outbox; every event is delivered twice, and the second delivery must change nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from contracts import (
    FeedbackSubmitted,
    Nation,
    OrganisationConfigured,
    Procedure,
    decode_envelope,
    encode_envelope,
    new_envelope,
)
from redress.consumer import RawMessage
from redress.service import Service
from services.casework import organisations
from services.notifications.channels import PrintChannel
from services.notifications.delivery import deliver_due
from services.notifications.settings import NotificationSettings
from tests.conftest import Stack
from tests.integration.conftest import schema_pool


def _service(name: str) -> Service:
    module = __import__(f"services.{name}.app", fromlist=["service"])
    service: Service = module.service
    return service


class Harness:
    def __init__(self, name: str, schema: str, pool: asyncpg.Pool) -> None:
        self.service = _service(name)
        self.schema = schema
        self.pool = pool
        # its dead-letter sink is never reached: no bad input here
        self.consumer = self.service.consumer(pool, fold=False)
        self.offset = 0

    async def deliver_twice(self, raw: bytes, topic: str) -> str:
        first = await self._deliver(raw, topic)
        before = await self.snapshot()
        second = await self._deliver(raw, topic)
        assert second == "duplicate", f"{self.service.name}: redelivery gave {second}"
        assert await self.snapshot() == before, f"{self.service.name}: redelivery changed state"
        return first

    async def _deliver(self, raw: bytes, topic: str) -> str:
        self.offset += 1
        return await self.consumer.process(RawMessage(topic, 0, self.offset, b"k", raw))

    async def outbox(self) -> list[tuple[str, bytes]]:
        rows = await self.pool.fetch("SELECT topic, message_value FROM outbox ORDER BY position")
        return [(r["topic"], bytes(r["message_value"])) for r in rows]

    async def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        tables = await self.pool.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
            self.schema,
        )
        out = {}
        for t in sorted(r["table_name"] for r in tables):
            rows = await self.pool.fetch(f'SELECT * FROM "{self.schema}"."{t}"')
            out[t] = sorted((dict(r) for r in rows), key=repr)
        return out


@pytest.fixture
async def harnesses(stack: Stack):  # type: ignore[no-untyped-def]
    made = {}
    for name in ("casework", "deadlines", "notifications", "reporting"):
        svc = _service(name)
        assert svc.migrations is not None
        schema, pool = await schema_pool(stack, [(name, svc.migrations)])
        made[name] = Harness(name, schema, pool)
    yield made
    for h in made.values():
        await h.pool.execute(f'DROP SCHEMA "{h.schema}" CASCADE')
        await h.pool.close()


def submission() -> bytes:
    payload = FeedbackSubmitted.model_validate(
        {
            "submission_id": uuid.uuid4(),
            "kind": "complaint",
            "channel": "letter",
            "organisation_id": "north-housing",
            "service_area": "repairs",
            "received_at": datetime(2025, 12, 19, 10, tzinfo=UTC),
            "summary": "The communal door has been broken for a month",
            "complainant": {
                "name": "Jo Tenant",
                "address": "Flat 2, 10 Mill Lane",
                "postcode": "M1 1AE",
                "preferred_contact": "letter",
            },
        }
    )
    env = new_envelope(
        payload,
        stream_id=f"submission-{payload.submission_id}",
        stream_version=1,
        occurred_at=payload.received_at,
        actor="channel:letter",
        correlation_id=uuid.uuid4(),
    )
    return encode_envelope(env)


async def test_a_complaint_flows_through_every_handler_and_redelivery_changes_nothing(
    harnesses: dict[str, Harness], tmp_path: Path
) -> None:
    casework, deadlines = harnesses["casework"], harnesses["deadlines"]
    notifications, reporting = harnesses["notifications"], harnesses["reporting"]
    submitted = submission()

    assert await casework.deliver_twice(submitted, "redress.intake.v1") == "applied"
    assert await reporting.deliver_twice(submitted, "redress.intake.v1") == "applied"
    ((topic, opened),) = await casework.outbox()
    assert topic == "redress.case.v1"
    opened_env = decode_envelope(opened)
    assert opened_env.event_type == "CaseOpened"
    assert opened_env.payload["reference"] == "CMP-2025-000001"
    assert opened_env.causation_id == decode_envelope(submitted).event_id
    assert opened_env.correlation_id == decode_envelope(submitted).correlation_id

    for h in (deadlines, notifications, reporting):
        assert await h.deliver_twice(opened, topic) == "applied"
    deadline_events = await deadlines.outbox()
    assert [decode_envelope(v).payload["kind"] for _, v in deadline_events] == [
        "acknowledgement",
        "response",
    ]
    assert [decode_envelope(v).payload["due_on"] for _, v in deadline_events] == [
        "2025-12-30",
        "2026-01-14",
    ]
    for t, raw in deadline_events:
        for h in (casework, notifications, reporting):
            assert await h.deliver_twice(raw, t) == "applied"

    case = await casework.pool.fetchrow("SELECT * FROM cases")
    assert case["reference"] == "CMP-2025-000001"
    due = await casework.pool.fetch("SELECT kind, due_on FROM case_deadlines ORDER BY kind")
    assert [(r["kind"], str(r["due_on"])) for r in due] == [
        ("acknowledgement", "2025-12-30"),
        ("response", "2026-01-14"),
    ]

    letter = await notifications.pool.fetchrow("SELECT * FROM notifications")
    assert letter["template"] == "receipt" and letter["status"] == "queued"
    assert letter["channel"] == "letter"  # the resident asked for post
    assert letter["recipient"] == "Flat 2, 10 Mill Lane, M1 1AE"
    assert "Wednesday 14 January 2026" in letter["text_body"]
    assert bytes(letter["pdf"]).startswith(b"%PDF")
    # the delivery worker posts it (to the print queue) and records that it went, once
    print_queue = tmp_path / "print"
    channels = {"letter": PrintChannel(print_queue)}
    settings = NotificationSettings()
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert await deliver_due(notifications.pool, "notifications", channels, settings, now) == 1
    assert await deliver_due(notifications.pool, "notifications", channels, settings, now) == 0
    assert [p.name for p in print_queue.iterdir()] == [f"{letter['notification_id']}.pdf"]
    ((t, sent),) = await notifications.outbox()
    assert decode_envelope(sent).payload["notification_id"] == str(letter["notification_id"])

    assert await reporting.deliver_twice(sent, t) == "applied"
    facts = await reporting.pool.fetchrow("SELECT * FROM case_facts")
    assert facts["reference"] == "CMP-2025-000001"
    assert facts["acknowledgement_sent_at"] is not None
    assert facts["notifications_sent"] == 1


async def test_references_count_up_per_year_without_gaps(harnesses: dict[str, Harness]) -> None:
    casework = harnesses["casework"]
    for _ in range(3):
        await casework.deliver_twice(submission(), "redress.intake.v1")
    refs = [r["reference"] for r in await casework.pool.fetch("SELECT reference FROM cases")]
    assert sorted(refs) == ["CMP-2025-000001", "CMP-2025-000002", "CMP-2025-000003"]


async def test_a_compliment_is_thanked_without_deadlines(harnesses: dict[str, Harness]) -> None:
    casework, deadlines = harnesses["casework"], harnesses["deadlines"]
    notifications = harnesses["notifications"]
    env = decode_envelope(submission())
    data = env.model_dump(mode="json")
    data["payload"]["kind"] = "compliment"
    raw = encode_envelope(type(env).model_validate(data))
    await casework.deliver_twice(raw, "redress.intake.v1")
    ((topic, opened),) = await casework.outbox()
    assert decode_envelope(opened).payload["reference"].startswith("CPL-")
    await deadlines.deliver_twice(opened, topic)
    assert await deadlines.outbox() == []
    await notifications.deliver_twice(opened, topic)
    letter = await notifications.pool.fetchrow("SELECT template FROM notifications")
    assert letter["template"] == "thanks"


def submission_for(organisation_id: str, service_area: str) -> bytes:
    env = decode_envelope(submission())
    data = env.model_dump(mode="json")
    data["payload"].update(organisation_id=organisation_id, service_area=service_area)
    return encode_envelope(type(env).model_validate(data))


async def test_a_case_follows_its_organisations_procedure_as_configured_now(
    harnesses: dict[str, Harness],
) -> None:
    """The procedure is read with the reference number, in the same statement, so a change an
    admin made through any replica counts from the next case on."""
    casework = harnesses["casework"]
    org = OrganisationConfigured(
        organisation_id="north-housing",
        name="North Housing",
        nation=Nation.ENGLAND,
        default_procedure=Procedure.HOUSING_OMBUDSMAN,
        procedures_by_service={"adult social care": Procedure.LGSCO},
    )
    async with casework.pool.acquire() as conn:
        await organisations.save(conn, org, 1, datetime(2026, 1, 1, tzinfo=UTC))
    for raw in (
        submission_for("north-housing", "adult social care"),
        submission_for("north-housing", "repairs"),
        submission_for("unconfigured", "repairs"),
    ):
        await casework.deliver_twice(raw, "redress.intake.v1")
    await casework.pool.execute(
        """UPDATE organisations SET procedures_by_service = '{"repairs": "spso"}'
           WHERE organisation_id = 'north-housing'"""
    )
    await casework.deliver_twice(submission_for("north-housing", "repairs"), "redress.intake.v1")
    rows = await casework.pool.fetch(
        """SELECT reference, procedure, lifecycle, status, version, postcode, person_id,
                  state->>'reference' AS state_reference
           FROM cases ORDER BY reference"""
    )
    assert [(r["reference"], r["procedure"]) for r in rows] == [
        ("CMP-2025-000001", "lgsco"),
        ("CMP-2025-000002", "housing_ombudsman"),
        ("CMP-2025-000003", "housing_ombudsman"),  # the service's default
        ("CMP-2025-000004", "spso"),
    ]
    for r in rows:  # the view row is whole from the first statement
        assert (r["lifecycle"], r["status"], r["version"]) == ("new", "new", 1)
        assert r["postcode"] == "M1 1AE" and r["state_reference"] == r["reference"]


async def test_submissions_applied_in_one_transaction_take_consecutive_references(
    harnesses: dict[str, Harness],
) -> None:
    casework = harnesses["casework"]
    raws = [submission(), submission(), submission()]
    messages = [RawMessage("redress.intake.v1", 0, i, None, raw) for i, raw in enumerate(raws)]
    assert await casework.consumer.process_batch([*messages, messages[0]]) == [
        "applied",
        "applied",
        "applied",
        "duplicate",
    ]
    refs = [r["reference"] for r in await casework.pool.fetch("SELECT reference FROM cases")]
    assert sorted(refs) == ["CMP-2025-000001", "CMP-2025-000002", "CMP-2025-000003"]
    assert [decode_envelope(v).event_type for _, v in await casework.outbox()] == ["CaseOpened"] * 3


async def test_a_submission_sent_again_as_a_new_event_opens_no_second_case(
    harnesses: dict[str, Harness],
) -> None:
    """Idempotency by event id does not catch a submission re-sent under a new event id: the
    case's stream does, and no reference number is spent on it."""
    casework = harnesses["casework"]
    raw = submission()
    again = decode_envelope(raw).model_copy(update={"event_id": uuid.uuid4()})
    assert await casework.deliver_twice(raw, "redress.intake.v1") == "applied"
    assert await casework.deliver_twice(encode_envelope(again), "redress.intake.v1") == "applied"
    await casework.deliver_twice(submission(), "redress.intake.v1")
    refs = [r["reference"] for r in await casework.pool.fetch("SELECT reference FROM cases")]
    assert sorted(refs) == ["CMP-2025-000001", "CMP-2025-000002"]
    assert len(await casework.outbox()) == 2

"""Casework's list of letters per case, from the notification topic, through its real consumer
wiring and handlers against real PostgreSQL: a letter sent, a letter given up on, the same event
delivered again, a letter for a case casework has not opened yet, and an erased person."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import pytest

from contracts import (
    NOTIFICATION_TOPIC,
    PERSON_TOPIC,
    ErasureReason,
    EventPayload,
    NotificationFailed,
    NotificationSent,
    PersonErased,
    encode_envelope,
    new_envelope,
)
from contracts.personal import ERASED
from redress.consumer import IdempotentConsumer, RawMessage
from services.casework import store
from services.casework.app import service
from tests.conftest import Stack
from tests.integration.conftest import schema_pool

SENT_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@dataclass
class Casework:
    pool: asyncpg.Pool
    consumer: IdempotentConsumer
    offset: int = 0

    async def deliver(self, raw: bytes, topic: str = NOTIFICATION_TOPIC) -> str:
        self.offset += 1
        return await self.consumer.process(RawMessage(topic, 0, self.offset, b"k", raw))


@pytest.fixture
async def casework(stack: Stack) -> AsyncIterator[Casework]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("casework", service.migrations)])
    # the app's own wiring, so a missing subscription fails
    consumer = service.consumer(pool, fold=False)
    try:
        yield Casework(pool, consumer)
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()


def raw(payload: EventPayload, *, at: datetime = SENT_AT, stream: str | None = None) -> bytes:
    nid = getattr(payload, "notification_id", uuid.uuid4())
    return encode_envelope(
        new_envelope(
            payload,
            stream_id=stream or f"notification-{nid}",
            stream_version=1,
            occurred_at=at,
            actor="service:notifications",
            correlation_id=uuid.uuid4(),
        )
    )


def sent(case_id: uuid.UUID, template: str = "acknowledgement") -> NotificationSent:
    return NotificationSent(
        notification_id=uuid.uuid4(),
        case_id=case_id,
        template=template,
        channel="email",
        recipient="ada@example.org",
        sent_at=SENT_AT,
    )


async def test_a_sent_letter_is_listed_once_however_often_it_is_delivered(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()  # casework has never heard of this case: stored all the same
    assert await casework.pool.fetchval("SELECT count(*) FROM cases") == 0
    letter = sent(case_id)
    message = raw(letter)
    assert await casework.deliver(message) == "applied"
    assert await casework.deliver(message) == "duplicate"
    assert await casework.deliver(message) == "duplicate"
    (row,) = await store.letters(casework.pool, case_id)
    assert row == {
        "notification_id": letter.notification_id,
        "template": "acknowledgement",
        "channel": "email",
        "recipient": "ada@example.org",
        "status": "sent",
        "attempts": None,
        "error": None,
        "happened_at": SENT_AT,
    }
    # a projection, not part of the case: nothing appended to casework's log or outbox
    assert await casework.pool.fetchval("SELECT count(*) FROM events") == 0
    assert await casework.pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await store.letters(casework.pool, uuid.uuid4()) == []


async def test_a_failed_letter_keeps_its_attempts_and_error_and_a_late_old_word_changes_nothing(
    casework: Casework,
) -> None:
    case_id = uuid.uuid4()
    receipt = sent(case_id, "receipt")
    failed = NotificationFailed(
        notification_id=uuid.uuid4(),
        case_id=case_id,
        template="acknowledgement",
        channel="letter",
        recipient="Flat 2, 10 Mill Lane, M1 1AE",
        attempts=5,
        error="no PDF to print",
    )
    later = datetime(2026, 3, 4, 16, tzinfo=UTC)
    assert await casework.deliver(raw(receipt)) == "applied"
    assert await casework.deliver(raw(failed, at=later)) == "applied"
    newest, oldest = await store.letters(casework.pool, case_id)
    assert oldest["template"] == "receipt" and oldest["status"] == "sent"
    assert newest["notification_id"] == failed.notification_id
    assert (newest["status"], newest["attempts"], newest["error"]) == (
        "failed",
        5,
        "no PDF to print",
    )
    assert newest["channel"] == "letter" and newest["happened_at"] == later
    # an older event about the same notification (another event id, arriving late) does not
    # turn the failure back into something else
    stale = NotificationSent(
        notification_id=failed.notification_id,
        case_id=case_id,
        template="acknowledgement",
        channel="letter",
        recipient="Flat 2, 10 Mill Lane, M1 1AE",
        sent_at=SENT_AT,
    )
    assert await casework.deliver(raw(stale)) == "applied"
    rows = await store.letters(casework.pool, case_id)
    assert len(rows) == 2 and rows[0]["status"] == "failed"


async def test_erasing_the_person_scrubs_their_address_from_the_letters(
    casework: Casework,
) -> None:
    theirs, someone_else = uuid.uuid4(), uuid.uuid4()
    failed = NotificationFailed(
        notification_id=uuid.uuid4(),
        case_id=theirs,
        template="receipt",
        channel="email",
        recipient="zelda@example.org",
        attempts=3,
        error="SMTP refused zelda@example.org",
    )
    await casework.deliver(raw(failed))
    await casework.deliver(raw(sent(theirs)))
    await casework.deliver(raw(sent(someone_else)))
    erased = PersonErased(
        person_id=uuid.uuid4(),
        case_ids=[theirs],
        submission_ids=[],
        erased_on=date(2026, 3, 5),
        reason=ErasureReason.REQUEST,
    )
    assert await casework.deliver(raw(erased, stream="person-x"), PERSON_TOPIC) == "applied"
    rows = await store.letters(casework.pool, theirs)
    assert {r["recipient"] for r in rows} == {ERASED}
    assert {r["error"] for r in rows} == {ERASED, None}  # a sent letter has no error to scrub
    assert {r["status"] for r in rows} == {"sent", "failed"}  # what happened stays
    (other,) = await store.letters(casework.pool, someone_else)
    assert other["recipient"] == "ada@example.org"

"""Notifications end to end below HTTP: every event of a case delivered three times, the
service restarted half way, and the SMTP sink holds each letter once; a mail server that
refuses is retried, then reported; restrictions suppress or redirect."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from contracts import (
    CaseOpened,
    DeadlineChanged,
    DeadlineSet,
    EventPayload,
    encode_envelope,
    new_envelope,
)
from contracts import case_events as ev
from redress.consumer import IdempotentConsumer, RawMessage
from redress.db import Wakeups, create_pool
from redress.embedded.smtp_sink import read_mailbox
from services.notifications.app import service
from services.notifications.channels import (
    Channel,
    EmailChannel,
    FileSmsProvider,
    Outgoing,
    SmsChannel,
)
from services.notifications.compose import DUE_CHANNEL
from services.notifications.delivery import deliver_due, run
from services.notifications.settings import NotificationSettings
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.support import free_port


def consumer_for(pool: asyncpg.Pool) -> IdempotentConsumer:
    return service.consumer(pool)


@pytest.fixture
async def schema(stack: Stack) -> AsyncIterator[str]:
    assert service.migrations is not None
    name, pool = await schema_pool(stack, [("notifications", service.migrations)])
    await pool.close()
    yield name
    cleanup = await create_pool(stack.dsn, name)
    await cleanup.execute(f'DROP SCHEMA "{name}" CASCADE')
    await cleanup.close()


def case_events(case_id: uuid.UUID, email: str, **complainant: Any) -> list[EventPayload]:
    d = uuid.uuid5
    ack_id, resp_id = d(case_id, "ack"), d(case_id, "resp")
    points = [{"point_id": "1", "text": "Boiler not fixed"}]
    return [
        CaseOpened.model_validate(
            {
                "case_id": case_id,
                "reference": "CMP-2026-004242",
                "submission_id": uuid.uuid4(),
                "kind": "complaint",
                "channel": "web",
                "organisation_id": "org",
                "procedure": "housing_ombudsman",
                "stage": 1,
                "received_at": datetime(2026, 3, 2, 10, tzinfo=UTC),
                "summary": "x",
                "complainant": {"name": "Ada", "email": email, **complainant},
            }
        ),
        DeadlineSet(
            deadline_id=ack_id,
            case_id=case_id,
            kind="acknowledgement",
            stage=1,  # type: ignore[arg-type]
            procedure="housing_ombudsman",
            counts_from=date(2026, 3, 2),  # type: ignore[arg-type]
            working_days=5,
            due_on=date(2026, 3, 9),
            clause="6.2",
            explanation="e",
        ),
        DeadlineSet(
            deadline_id=resp_id,
            case_id=case_id,
            kind="response",
            stage=1,  # type: ignore[arg-type]
            procedure="housing_ombudsman",
            counts_from=date(2026, 3, 9),  # type: ignore[arg-type]
            working_days=10,
            due_on=date(2026, 3, 23),
            provisional=True,
            clause="6.3",
            explanation="e",
        ),
        ev.CaseAcknowledged(
            case_id=case_id,
            stage=1,
            acknowledged_on=date(2026, 3, 4),
            points=points,
            outcomes_sought=["Fix it"],
        ),  # type: ignore[arg-type]
        DeadlineChanged(
            deadline_id=resp_id,
            case_id=case_id,
            kind="response",
            stage=1,  # type: ignore[arg-type]
            due_on=date(2026, 3, 18),
            previous_due_on=date(2026, 3, 23),
            provisional=False,
            reason="the response clock starts at acknowledgement",
            explanation="e",
        ),
        ev.ExtensionGranted(
            case_id=case_id,
            stage=1,
            extension_id="E1",
            working_days=5,
            reason="we are waiting for the contractor's report",
            resident_told_on=date(2026, 3, 10),
        ),
        DeadlineChanged(
            deadline_id=resp_id,
            case_id=case_id,
            kind="response",
            stage=1,  # type: ignore[arg-type]
            due_on=date(2026, 3, 25),
            previous_due_on=date(2026, 3, 18),
            provisional=False,
            reason="extension E1",
            explanation="e",
            extension_days=5,
        ),
        ev.RemedyRecorded(
            case_id=case_id,
            remedy_id="R1",
            remedy_type="financial",  # type: ignore[arg-type]
            description="time and trouble",
            amount="50.00",
            needs_approval=True,
        ),  # type: ignore[arg-type]
        ev.ResponseIssued(
            case_id=case_id,
            stage=1,
            draft=1,
            issued_on=date(2026, 3, 20),
            point_outcomes=[
                {
                    "point_id": "1",
                    "outcome": "upheld",  # type: ignore[list-item]
                    "reasons": "We were too slow",
                }
            ],
            overall="upheld",
            final=False,
        ),  # type: ignore[arg-type]
    ]


async def deliver(
    consumer: IdempotentConsumer, events: list[EventPayload], case_id: uuid.UUID, offset: int
) -> int:
    for payload in events:
        env = new_envelope(
            payload,
            stream_id=f"case-{case_id}",
            stream_version=1,
            occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
            actor="test",
            correlation_id=uuid.uuid4(),
        )
        offset += 1
        topic = (
            "redress.deadline.v1"
            if payload.event_type.startswith("Deadline")
            else ("redress.case.v1")
        )
        await consumer.process(RawMessage(topic, 0, offset, b"k", encode_envelope(env)))
    return offset


def settings(stack: Stack, tmp: Any, **changes: Any) -> NotificationSettings:
    return NotificationSettings.model_validate(
        {
            "REDRESS_SMTP_PORT": stack.smtp_port,
            "REDRESS_DATA_DIR": str(tmp),
            "REDRESS_DELIVERY_RETRY_SECONDS": 1,
            **changes,
        }
    )


async def test_every_event_three_times_with_a_restart_sends_each_letter_once(
    stack: Stack, schema: str, tmp_path: Any
) -> None:
    case_id = uuid.uuid4()
    email = f"ada-{case_id.hex[:8]}@example.org"
    events = case_events(case_id, email)
    cfg = settings(stack, tmp_path)
    later = datetime.now(UTC) + timedelta(minutes=1)
    offset = 0
    for round_ in range(3):
        pool = await create_pool(stack.dsn, schema)  # a fresh process each round: a restart
        try:
            consumer = consumer_for(pool)
            half = len(events) // 2 if round_ == 0 else len(events)
            offset = await deliver(consumer, events[:half], case_id, offset)
            channels = {"email": EmailChannel("127.0.0.1", stack.smtp_port, cfg.mail_from)}
            await deliver_due(pool, "notifications", channels, cfg, later)
            if round_ == 0:
                continue  # the service stops half way through the case
            offset = await deliver(consumer, events, case_id, offset)
            await deliver_due(pool, "notifications", channels, cfg, later)
        finally:
            await pool.close()
    mine = [m for m in read_mailbox(stack.mail_dir) if m["To"] == email]
    templates = sorted(m["Subject"].split(" (")[0] for m in mine)
    assert templates == sorted(
        [
            "We have received your message",  # receipt
            "We have received your complaint",  # acknowledgement
            "We need more time to answer your complaint",  # delay notice
            "Our response to your complaint",  # stage 1 outcome
        ]
    )
    assert len({m["Message-ID"] for m in mine}) == len(mine)
    outcome = next(m for m in mine if m["Subject"].startswith("Our response"))
    text = outcome.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "£50.00" in text and "stage 2" in text


async def test_a_refusing_mail_server_is_retried_then_reported(
    stack: Stack, schema: str, tmp_path: Any
) -> None:
    pool = await create_pool(stack.dsn, schema)
    try:
        case_id = uuid.uuid4()
        await deliver(consumer_for(pool), case_events(case_id, "bob@example.org")[:3], case_id, 0)
        dead = {"email": EmailChannel("127.0.0.1", free_port(), "x@y", timeout=2)}
        cfg = settings(stack, tmp_path, REDRESS_DELIVERY_ATTEMPTS=3)
        now = datetime.now(UTC) + timedelta(minutes=1)
        for step in range(3):
            assert await deliver_due(pool, "notifications", dead, cfg, now) == 0
            row = await pool.fetchrow("SELECT * FROM notifications WHERE template = 'receipt'")
            assert row["attempts"] == step + 1
            now += timedelta(seconds=2**step + 1)  # past the growing pause
        assert row["status"] == "failed" and "SMTP" in row["last_error"]
        attempts = await pool.fetch(
            "SELECT outcome FROM delivery_attempts WHERE notification_id = $1",
            row["notification_id"],
        )
        assert [a["outcome"] for a in attempts] == ["failed", "failed", "failed"]
        alert = await pool.fetchrow(
            "SELECT * FROM notifications WHERE template = 'delivery_failed'"
        )
        # the managers' alert is itself a notification, retried like any other
        assert alert["audience"] == "staff" and alert["status"] == "queued"
        failed = await pool.fetchval(
            "SELECT count(*) FROM events WHERE event_type = 'NotificationFailed'"
        )
        assert failed == 1
    finally:
        await pool.close()


@dataclass
class StopsPartWay:
    """The real mail channel, until a stop (or a bug) interrupts the ``after``-th send."""

    inner: EmailChannel
    after: int
    interruption: BaseException
    sent: int = 0

    async def send(self, message: Outgoing) -> None:
        if self.sent == self.after:
            raise self.interruption
        await self.inner.send(message)
        self.sent += 1


@pytest.mark.parametrize("interruption", [asyncio.CancelledError(), RuntimeError("a bug")])
async def test_a_batch_stopped_part_way_keeps_what_went_and_sends_the_rest_once(
    stack: Stack, schema: str, tmp_path: Any, interruption: BaseException
) -> None:
    pool = await create_pool(stack.dsn, schema)
    try:
        consumer = consumer_for(pool)
        emails = []
        for n in range(5):
            case_id = uuid.uuid4()
            emails.append(f"batch-{n}-{case_id.hex[:8]}@example.org")
            await deliver(consumer, case_events(case_id, emails[-1])[:3], case_id, 10 * n)
        cfg = settings(stack, tmp_path, REDRESS_DELIVERY_BATCH=2)
        later = datetime.now(UTC) + timedelta(minutes=1)
        email = EmailChannel("127.0.0.1", stack.smtp_port, cfg.mail_from)
        # the first batch of two commits; the second is stopped after its first letter went
        stopping: dict[str, Channel] = {"email": StopsPartWay(email, 3, interruption)}
        with pytest.raises(type(interruption)):
            await deliver_due(pool, "notifications", stopping, cfg, later)
        marked = await pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'")
        assert marked == 3
        assert await pool.fetchval("SELECT count(*) FROM delivery_attempts") == 3
        assert (
            await pool.fetchval("SELECT count(*) FROM events WHERE event_type = 'NotificationSent'")
            == 3
        )
        assert await deliver_due(pool, "notifications", {"email": email}, cfg, later) == 2
        mine = [m for m in read_mailbox(stack.mail_dir) if m["To"] in emails]
        assert sorted(m["To"] for m in mine) == sorted(emails)  # each letter once
        sent_events = await pool.fetch(
            "SELECT stream_id, stream_version FROM events WHERE event_type = 'NotificationSent'"
        )
        ids = await pool.fetch("SELECT notification_id FROM notifications WHERE status = 'sent'")
        assert sorted(r["stream_id"] for r in sent_events) == sorted(
            f"notification-{r['notification_id']}" for r in ids
        )
        assert {r["stream_version"] for r in sent_events} == {1}
    finally:
        await pool.close()


async def test_queueing_a_letter_wakes_the_worker_without_waiting_for_its_poll(
    stack: Stack, schema: str, tmp_path: Any
) -> None:
    pool = await create_pool(stack.dsn, schema)
    # a poll far longer than the waits below: only the wake-up after the commit sends in time
    cfg = settings(stack, tmp_path, REDRESS_DELIVERY_POLL_SECONDS=600)
    channels: dict[str, Channel] = {
        "email": EmailChannel("127.0.0.1", stack.smtp_port, cfg.mail_from)
    }
    worker = asyncio.create_task(
        run(pool, "notifications", channels, cfg, lambda: datetime.now(UTC), schema)
    )
    try:
        consumer = consumer_for(pool)
        for n in range(2):  # the second comes while the worker waits, whatever the first met
            case_id = uuid.uuid4()
            await deliver(consumer, case_events(case_id, "wake@example.org")[:3], case_id, 10 * n)
            for _ in range(600):
                status = await pool.fetchval(
                    "SELECT status FROM notifications WHERE case_id = $1", case_id
                )
                if status == "sent":
                    break
                await asyncio.sleep(0.05)
            assert status == "sent"
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await pool.close()


async def test_the_worker_stops_when_cancelled_as_it_is_woken(
    stack: Stack, schema: str, tmp_path: Any
) -> None:
    """Stopping the service cancels the worker; a queueing commit in the same moment must not
    keep it running (Python 3.11's wait_for dropped such a cancellation). The cancel is tried
    0 to 3 turns of the event loop after the wake-up."""
    pool = await create_pool(stack.dsn, schema)
    cfg = settings(stack, tmp_path, REDRESS_DELIVERY_POLL_SECONDS=600)
    try:
        for turns in range(4):
            worker = asyncio.create_task(
                run(pool, "notifications", {}, cfg, lambda: datetime.now(UTC), schema)
            )
            try:
                await asyncio.sleep(0.3)  # past its first round, waiting to be woken
                await Wakeups(schema).committed(None, DUE_CHANNEL, "")
                for _ in range(turns):
                    await asyncio.sleep(0)
                worker.cancel()
                done, _ = await asyncio.wait([worker], timeout=10)
                assert done, f"the worker ignored a cancel {turns} turns after a wake-up"
            finally:
                worker.cancel()
                await asyncio.wait([worker], timeout=10)
    finally:
        await pool.close()


async def test_letters_queued_soon_after_a_round_wait_and_go_together(
    stack: Stack, schema: str, tmp_path: Any
) -> None:
    """Under load every queueing commit wakes the worker: the round gap makes the letters
    of the commits that come soon after a round wait for one round (one transaction)."""
    pool = await create_pool(stack.dsn, schema)
    cfg = settings(
        stack,
        tmp_path,
        REDRESS_DELIVERY_POLL_SECONDS=600,
        REDRESS_DELIVERY_ROUND_GAP_SECONDS=3,  # longer than queueing the four takes
    )
    channels: dict[str, Channel] = {
        "email": EmailChannel("127.0.0.1", stack.smtp_port, cfg.mail_from)
    }
    worker = asyncio.create_task(
        run(pool, "notifications", channels, cfg, lambda: datetime.now(UTC), schema)
    )
    try:
        consumer = consumer_for(pool)
        for n in range(4):
            case_id = uuid.uuid4()
            await deliver(consumer, case_events(case_id, f"g{n}@example.org")[:3], case_id, 9 * n)
        for _ in range(600):
            if not await pool.fetchval("SELECT count(*) FROM notifications WHERE status <> 'sent'"):
                break
            await asyncio.sleep(0.05)
        rounds = await pool.fetchval("SELECT count(DISTINCT sent_at) FROM notifications")
        sent = await pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'sent'")
        assert sent == 4
        # the first letter may have had a round of its own; the rest waited for one
        assert rounds <= 2
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await pool.close()


async def test_restrictions_suppress_or_redirect(stack: Stack, schema: str, tmp_path: Any) -> None:
    pool = await create_pool(stack.dsn, schema)
    try:
        consumer = consumer_for(pool)
        restricted, redirected = uuid.uuid4(), uuid.uuid4()
        for case_id, flag in (
            (restricted, {"allowed_channels": []}),
            (redirected, {"contact_via": "advocate@advice.example", "allowed_channels": None}),
        ):
            events = case_events(case_id, "carol@example.org", phone="07700 900123")
            raised = ev.FlagRaised(
                case_id=case_id,
                flag_id="F1",
                flag_type="unreasonable_behaviour",
                detail="x",  # type: ignore[arg-type]
                contact_restriction="see policy",
                review_on=date(2026, 9, 1),
                **flag,
            )
            await deliver(consumer, [events[0], raised, *events[1:4]], case_id, 0)
        rows = await pool.fetch(
            "SELECT case_id, template, channel, recipient, status, note "
            "FROM notifications ORDER BY created_at"
        )
        suppressed = [r for r in rows if r["case_id"] == restricted]
        assert {r["status"] for r in suppressed} == {"suppressed"}
        assert all("unreasonable-behaviour" in r["note"] for r in suppressed)
        sent_via = [r for r in rows if r["case_id"] == redirected]
        assert {r["recipient"] for r in sent_via} == {"advocate@advice.example"}
        # lifting the restriction restores normal contact for later letters
        await deliver(
            consumer,
            [
                ev.FlagLifted(case_id=restricted, flag_id="F1", reason="review"),
                case_events(restricted, "carol@example.org")[-1],
            ],
            restricted,
            100,
        )
        outcome = await pool.fetchrow(
            "SELECT * FROM notifications WHERE case_id = $1 AND template = 'outcome'", restricted
        )
        assert outcome["status"] == "queued" and outcome["recipient"] == "carol@example.org"
    finally:
        await pool.close()


async def test_staff_are_reminded_and_managers_told_of_breaches(
    stack: Stack, schema: str, tmp_path: Any
) -> None:
    from contracts import DeadlineApproaching, DeadlineMissed

    pool = await create_pool(stack.dsn, schema)
    try:
        case_id = uuid.uuid4()
        events = case_events(
            case_id, "dan@example.org", phone="07700 900456", preferred_contact="phone"
        )
        part_due = date(2026, 3, 12)
        staff_events: list[EventPayload] = [
            ev.CaseAssigned(case_id=case_id, stage=1, officer="olivia"),
            ev.ServiceResponseRequested(
                case_id=case_id,
                stage=1,
                part_id="A",
                service_area="repairs",
                contributor="ravi",
                due_on=part_due,
                request="Why the delay?",
            ),
            DeadlineApproaching(
                deadline_id=uuid.uuid4(),
                case_id=case_id,
                kind="service_part",  # type: ignore[arg-type]
                stage=1,
                due_on=part_due,
                working_days_left=2,
            ),
            DeadlineApproaching(
                deadline_id=uuid.uuid4(),
                case_id=case_id,
                kind="response",  # type: ignore[arg-type]
                stage=1,
                due_on=date(2026, 3, 18),
                working_days_left=2,
            ),
            DeadlineMissed(
                deadline_id=uuid.uuid4(),
                case_id=case_id,
                kind="response",  # type: ignore[arg-type]
                stage=1,
                due_on=date(2026, 3, 18),
            ),
            ev.OmbudsmanEnquiryReceived(
                case_id=case_id,
                body="housing_ombudsman",  # type: ignore[arg-type]
                ombudsman_reference="H1",
                stage="enquiry",  # type: ignore[arg-type]
                received_on=date(2026, 4, 1),
                information_due_on=date(2026, 4, 15),
            ),
            DeadlineApproaching(
                deadline_id=uuid.uuid4(),
                case_id=case_id,
                kind="ombudsman_information",
                stage=1,  # type: ignore[arg-type]
                due_on=date(2026, 4, 15),
                working_days_left=2,
            ),
        ]
        await deliver(consumer_for(pool), [*events[:3], *staff_events], case_id, 0)
        rows = await pool.fetch(
            "SELECT template, channel, recipient, audience FROM notifications ORDER BY created_at"
        )
        got = {(r["template"], r["recipient"]) for r in rows}
        cfg = settings(stack, tmp_path)
        assert ("responder_reminder", f"ravi@{cfg.staff_email_domain}") in got
        assert ("deadline_warning", f"olivia@{cfg.staff_email_domain}") in got
        assert ("breach_alert", cfg.managers_email) in got
        assert ("ombudsman_alert", f"olivia@{cfg.staff_email_domain}") in got
        receipt = next(r for r in rows if r["template"] == "receipt")
        assert receipt["channel"] == "sms"  # the resident asked for a phone call or text
        channels = {
            "sms": SmsChannel(FileSmsProvider(cfg.sms_file)),
            "email": EmailChannel("127.0.0.1", stack.smtp_port, cfg.mail_from),
        }
        sent = await deliver_due(
            pool, "notifications", channels, cfg, datetime.now(UTC) + timedelta(minutes=1)
        )
        assert sent == len(rows)
        texts = cfg.sms_file.read_text().splitlines()
        assert len(texts) == 1 and "07700900456" in texts[0]
        warning = next(
            m
            for m in read_mailbox(stack.mail_dir)
            if m["To"] == f"olivia@{cfg.staff_email_domain}"
            and m["Subject"].startswith("Deadline approaching")
        )
        assert "CMP-2026-004242" in warning["Subject"]
    finally:
        await pool.close()

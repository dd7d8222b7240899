"""Deadlines' real handlers and timer scheduler against real PostgreSQL, with the clock in the
test's hands: timers survive a restart and fire once, across replicas too."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from contracts import (
    CaseOpened,
    EventPayload,
    Nation,
    OrganisationConfigured,
    decode_envelope,
    encode_envelope,
    new_envelope,
)
from contracts import case_events as ev
from redress.consumer import RawMessage
from redress.db import create_pool
from services.deadlines import scheduler
from services.deadlines.app import service
from services.deadlines.domain.calendar import LONDON
from tests.conftest import Stack
from tests.integration.conftest import schema_pool


class Deadlines:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.consumer = service.consumer(pool)
        self.offset = 0

    async def deliver(self, payload: EventPayload, stream: str, at: datetime) -> str:
        env = new_envelope(
            payload,
            stream_id=stream,
            stream_version=1,
            occurred_at=at,
            actor="test",
            correlation_id=uuid.uuid4(),
        )
        self.offset += 1
        raw = RawMessage("redress.case.v1", 0, self.offset, stream.encode(), encode_envelope(env))
        return await self.consumer.process(raw)

    async def events(self, case_id: uuid.UUID) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version",
            f"deadlines-{case_id}",
        )
        return [r["event_type"] for r in rows]


@pytest.fixture
async def deadlines(stack: Stack) -> AsyncIterator[Deadlines]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("deadlines", service.migrations)])
    yield Deadlines(pool)
    await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


def london(y: int, m: int, d: int, hh: int = 10) -> datetime:
    return datetime(y, m, d, hh, tzinfo=LONDON)


def opened(case_id: uuid.UUID, received: datetime) -> CaseOpened:
    return CaseOpened.model_validate(
        {
            "case_id": case_id,
            "reference": "CMP-2026-000009",
            "submission_id": uuid.uuid4(),
            "kind": "complaint",
            "channel": "web",
            "organisation_id": "org",
            "procedure": "housing_ombudsman",
            "stage": 1,
            "received_at": received,
            "summary": "x",
            "complainant": {"name": "n"},
        }
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextlib.asynccontextmanager
async def running(pool: asyncpg.Pool, clock: Clock) -> AsyncIterator[None]:
    task = asyncio.create_task(scheduler.run(pool, "deadlines", clock, 0.05))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle() -> None:
    await asyncio.sleep(0.4)


async def test_a_timer_missed_while_down_fires_once_on_return(deadlines: Deadlines) -> None:
    case_id = uuid.uuid4()
    # received Mon 2 Mar 2026: acknowledge by Mon 9 Mar; reminder from Thu 5 Mar
    await deadlines.deliver(
        opened(case_id, london(2026, 3, 2)), f"case-{case_id}", london(2026, 3, 2)
    )
    timers = await deadlines.pool.fetch("SELECT kind, fire_at FROM timers ORDER BY fire_at")
    assert [(t["kind"], t["fire_at"].astimezone(LONDON).date().isoformat()) for t in timers] == [
        ("approaching", "2026-03-05"),
        ("missed", "2026-03-10"),
        ("approaching", "2026-03-19"),
        ("missed", "2026-03-24"),
    ]
    clock = Clock(london(2026, 3, 4))
    async with running(deadlines.pool, clock):
        await settle()
    assert await deadlines.events(case_id) == ["DeadlineSet", "DeadlineSet"]

    clock.now = london(2026, 3, 11, 9)  # the service was down from the 4th to the 11th
    async with running(deadlines.pool, clock):
        await settle()
    assert await deadlines.events(case_id) == ["DeadlineSet", "DeadlineSet", "DeadlineMissed"]
    state = await deadlines.pool.fetchval(
        "SELECT state FROM deadlines WHERE kind = 'acknowledgement'"
    )
    assert state == "missed"
    async with running(deadlines.pool, clock):  # and again: nothing fires twice
        await settle()
    assert (await deadlines.events(case_id)).count("DeadlineMissed") == 1
    # the reminder that was due while it was down was not sent late
    assert await deadlines.pool.fetchval(
        "SELECT cancelled_at IS NOT NULL FROM timers WHERE kind = 'approaching' "
        "AND due_on = '2026-03-09'"
    )
    # every fired event is in the outbox, once, for casework and notifications to hear
    outbox = [
        decode_envelope(bytes(r["message_value"])).event_type
        for r in await deadlines.pool.fetch("SELECT message_value FROM outbox")
    ]
    assert outbox.count("DeadlineMissed") == 1


async def test_reminder_fires_before_the_due_day_and_acknowledging_stops_the_breach(
    deadlines: Deadlines,
) -> None:
    case_id = uuid.uuid4()
    await deadlines.deliver(
        opened(case_id, london(2026, 3, 2)), f"case-{case_id}", london(2026, 3, 2)
    )
    clock = Clock(london(2026, 3, 5, 9))
    async with running(deadlines.pool, clock):
        await settle()
    assert (await deadlines.events(case_id))[-1] == "DeadlineApproaching"
    ack = ev.CaseAcknowledged(
        case_id=case_id,
        stage=1,
        acknowledged_on=london(2026, 3, 6).date(),
        points=[{"point_id": "1", "text": "x"}],  # type: ignore[list-item]
        outcomes_sought=["y"],
    )
    await deadlines.deliver(ack, f"case-{case_id}", london(2026, 3, 6))
    clock.now = london(2026, 3, 12)
    async with running(deadlines.pool, clock):
        await settle()
    events = await deadlines.events(case_id)
    assert "DeadlineMissed" not in events
    assert events[-2:] == ["DeadlineMet", "DeadlineChanged"]
    response_due = await deadlines.pool.fetchval(
        "SELECT due_on FROM deadlines WHERE kind = 'response'"
    )
    assert response_due.isoformat() == "2026-03-20"  # 10 working days from Fri 6 Mar


async def test_two_replicas_fire_each_timer_once_between_them(
    deadlines: Deadlines, stack: Stack
) -> None:
    cases = [uuid.uuid4() for _ in range(25)]
    for case_id in cases:
        await deadlines.deliver(
            opened(case_id, london(2026, 3, 2)), f"case-{case_id}", london(2026, 3, 2)
        )
    schema = await deadlines.pool.fetchval("SELECT current_schema()")
    second = await create_pool(stack.dsn, schema)  # another replica, its own connections
    try:
        clock = Clock(london(2026, 4, 1))  # everything is past due
        fired = await asyncio.gather(
            scheduler.fire_due(deadlines.pool, "deadlines", clock()),
            scheduler.fire_due(second, "deadlines", clock()),
        )
        assert sum(fired) == 50  # acknowledgement and response missed, for each case
        assert min(fired) > 0, "both replicas should have taken a share"
    finally:
        await second.close()
    missed = await deadlines.pool.fetchval(
        "SELECT count(*) FROM events WHERE event_type = 'DeadlineMissed'"
    )
    assert missed == 50
    assert await scheduler.fire_due(deadlines.pool, "deadlines", london(2026, 5, 1)) == 0


async def test_a_case_event_before_its_case_is_parked_not_dropped(deadlines: Deadlines) -> None:
    case_id = uuid.uuid4()
    ack = ev.CaseAcknowledged(
        case_id=case_id,
        stage=1,
        acknowledged_on=london(2026, 3, 3).date(),
        points=[{"point_id": "1", "text": "Missed visit to Mrs Hughes"}],  # type: ignore[list-item]
        outcomes_sought=["y"],
    )
    assert await deadlines.deliver(ack, f"case-{case_id}", london(2026, 3, 3)) == "applied"
    assert await deadlines.events(case_id) == []
    parked = await deadlines.pool.fetchval("SELECT envelope::text FROM parked_case_events")
    assert "Hughes" not in parked  # kept sealed
    await deadlines.deliver(
        opened(case_id, london(2026, 3, 2)), f"case-{case_id}", london(2026, 3, 2)
    )
    assert await deadlines.events(case_id) == [
        "DeadlineSet",
        "DeadlineSet",
        "DeadlineMet",
        "DeadlineChanged",
    ]
    assert await deadlines.pool.fetchval("SELECT count(*) FROM parked_case_events") == 0


async def timers(pool: asyncpg.Pool, case_id: uuid.UUID) -> list[tuple[str, str, str, bool]]:
    """(deadline kind, timer kind, due date, live) of each timer of the case."""
    rows = await pool.fetch(
        """SELECT d.kind, t.kind AS timer, t.due_on::text AS due_on,
                  t.cancelled_at IS NULL AND t.fired_at IS NULL AS live
           FROM timers t JOIN deadlines d USING (deadline_id)
           WHERE t.case_id = $1 ORDER BY 1, 2, 3""",
        case_id,
    )
    return [(r["kind"], r["timer"], r["due_on"], r["live"]) for r in rows]


async def test_settings_changed_elsewhere_count_for_the_next_case(deadlines: Deadlines) -> None:
    """Another replica may have applied the organisation's change (a consumer group splits the
    organisation topic between replicas): the next case must count on it all the same."""
    org = OrganisationConfigured(
        organisation_id="org", name="Org", nation=Nation.ENGLAND, default_procedure="lgsco"
    )
    assert await deadlines.deliver(org, "organisation-org", london(2026, 3, 1)) == "applied"
    first, second = uuid.uuid4(), uuid.uuid4()
    await deadlines.deliver(opened(first, london(2026, 3, 2)), f"case-{first}", london(2026, 3, 2))
    assert await timers(deadlines.pool, first) == [
        ("acknowledgement", "approaching", "2026-03-09", True),
        ("acknowledgement", "missed", "2026-03-09", True),
        ("response", "approaching", "2026-03-23", True),
        ("response", "missed", "2026-03-23", True),
    ]
    # what the other replica's handler wrote: no reminders, and closed on Monday 9 March
    await deadlines.pool.execute(
        """UPDATE organisation_calendars SET reminder_working_days = 0,
               closure_days = '{2026-03-09}' WHERE organisation_id = 'org'"""
    )
    await deadlines.deliver(
        opened(second, london(2026, 3, 2)), f"case-{second}", london(2026, 3, 2)
    )
    assert await timers(deadlines.pool, second) == [
        ("acknowledgement", "missed", "2026-03-10", True),  # 5 working days, skipping the 9th
        ("response", "missed", "2026-03-24", True),
    ]
    # the first case's reminder fires on the calendar as it is now: Friday the 6th is the one
    # working day left before the due date, the 9th being a closure day
    assert await scheduler.fire_due(deadlines.pool, "deadlines", london(2026, 3, 5, 9)) == 1
    reminder = await deadlines.pool.fetchval(
        "SELECT payload FROM events WHERE event_type = 'DeadlineApproaching'"
    )
    assert reminder["case_id"] == str(first) and reminder["working_days_left"] == 1


async def test_a_case_opened_and_acknowledged_in_one_transaction(deadlines: Deadlines) -> None:
    """A poll's events applied in one transaction (`process_batch`) see each other's writes:
    the acknowledgement meets the deadline its CaseOpened set a moment before."""
    case_id = uuid.uuid4()
    messages = []
    for payload, at in (
        (opened(case_id, london(2026, 3, 2)), london(2026, 3, 2)),
        (
            ev.CaseAcknowledged(
                case_id=case_id,
                stage=1,
                acknowledged_on=london(2026, 3, 3).date(),
                points=[{"point_id": "1", "text": "x"}],  # type: ignore[list-item]
                outcomes_sought=["y"],
            ),
            london(2026, 3, 3),
        ),
    ):
        env = new_envelope(
            payload,
            stream_id=f"case-{case_id}",
            stream_version=len(messages) + 1,
            occurred_at=at,
            actor="test",
            correlation_id=uuid.uuid4(),
        )
        messages.append(RawMessage("redress.case.v1", 0, len(messages), None, encode_envelope(env)))
    assert await deadlines.consumer.process_batch(messages) == ["applied", "applied"]
    assert await deadlines.events(case_id) == [
        "DeadlineSet",
        "DeadlineSet",
        "DeadlineMet",
        "DeadlineChanged",
    ]
    assert await timers(deadlines.pool, case_id) == [
        ("acknowledgement", "approaching", "2026-03-09", False),
        ("acknowledgement", "missed", "2026-03-09", False),
        # the response's clock now runs from the acknowledgement: the first date's timers go
        ("response", "approaching", "2026-03-17", True),
        ("response", "approaching", "2026-03-23", False),
        ("response", "missed", "2026-03-17", True),
        ("response", "missed", "2026-03-23", False),
    ]

"""Durable timers: reminders before a due date and breaches at the end of it.

A timer is a row. Any replica may fire it: each claims due rows with ``FOR UPDATE SKIP LOCKED``,
so two replicas never take the same one, and marks it fired in the transaction that records the
event, so it fires at most once. A service that was down fires, on its first poll back, what
fell due meanwhile, once. The clock is injected, so tests move time rather than wait for it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from contracts import (
    DeadlineApproaching,
    DeadlineKind,
    DeadlineMissed,
    EventPayload,
    new_envelope,
)
from redress import eventstore
from redress.clock import london_today
from redress.consumer import Clock
from redress.logging import get_logger
from redress.metrics import TIMERS_FIRED
from redress.service import poll_forever
from services.deadlines import settings as deadline_settings
from services.deadlines import store

log = get_logger(__name__)


async def fire_one(pool: asyncpg.Pool, service: str, now: datetime) -> str | None:
    """Fire the earliest due timer, if any. Returns what happened."""
    async with pool.acquire() as conn, conn.transaction():
        # the deadline, its organisation's settings and the version of the case's deadlines
        # stream come with the claim: one round trip before the event is appended
        row = await conn.fetchrow(
            """SELECT t.timer_id, t.deadline_id, t.case_id, t.kind AS timer, t.due_on,
                      d.kind, d.stage, d.state, d.due_on AS current_due,
                      o.organisation_id, o.nation, o.closure_days, o.reminder_working_days,
                      o.stricter_timescales,
                      (SELECT coalesce(max(e.stream_version), 0) FROM events e
                       WHERE e.stream_id = 'deadlines-' || t.case_id) AS stream_version
               FROM timers t JOIN deadlines d USING (deadline_id)
               LEFT JOIN organisation_calendars o ON o.organisation_id = d.organisation_id
               WHERE t.fired_at IS NULL AND t.cancelled_at IS NULL AND t.fire_at <= $1
               ORDER BY t.fire_at, t.timer_id
               LIMIT 1
               FOR UPDATE OF t SKIP LOCKED""",
            now,
        )
        if row is None:
            return None
        due_day_over = now >= store.end_of_day(row["due_on"])
        stale = row["state"] != "pending" or row["current_due"] != row["due_on"]
        if stale or (row["timer"] == "approaching" and due_day_over):
            # done, moved, or a reminder for a day already gone (the service was down): the
            # breach timer, not a late reminder, says what matters now
            await conn.execute(
                "UPDATE timers SET cancelled_at = $2 WHERE timer_id = $1", row["timer_id"], now
            )
            return "stale"
        kind = DeadlineKind(row["kind"])
        payload: EventPayload
        if row["timer"] == "missed":
            payload = DeadlineMissed(
                deadline_id=row["deadline_id"],
                case_id=row["case_id"],
                kind=kind,
                stage=row["stage"],
                due_on=row["due_on"],
            )
        else:
            settings = store.settings_from(
                None
                if row["organisation_id"] is None
                else (
                    row["nation"],
                    row["closure_days"],
                    row["reminder_working_days"],
                    row["stricter_timescales"],
                ),
                deadline_settings.current().default_nation,
            )
            left = settings.calendar.working_days_between(london_today(now), row["due_on"])
            payload = DeadlineApproaching(
                deadline_id=row["deadline_id"],
                case_id=row["case_id"],
                kind=kind,
                stage=row["stage"],
                due_on=row["due_on"],
                working_days_left=left,
            )
        version = row["stream_version"]
        envelope = new_envelope(
            payload,
            stream_id=f"deadlines-{row['case_id']}",
            stream_version=version + 1,
            occurred_at=now,
            recorded_at=now,
            actor=f"service:{service}:timer",
            correlation_id=uuid.uuid5(uuid.NAMESPACE_URL, f"timer:{row['timer_id']}"),
        )
        # a handler that wrote to the case's deadlines meanwhile makes this raise
        # ConcurrencyConflict, and the timer is claimed again
        await eventstore.append(conn, service, [envelope], expected_version=version)
        await conn.execute(
            """WITH missed AS (
                   UPDATE deadlines SET state = 'missed', updated_at = $2
                   WHERE deadline_id = $3 AND $4)
               UPDATE timers SET fired_at = $2 WHERE timer_id = $1""",
            row["timer_id"],
            now,
            row["deadline_id"],
            isinstance(payload, DeadlineMissed),
        )
        TIMERS_FIRED.labels(row["timer"], row["kind"]).inc()
        log.info(
            "timer fired",
            timer=row["timer"],
            case_id=str(row["case_id"]),
            deadline_id=str(row["deadline_id"]),
            due_on=str(row["due_on"]),
        )
        return row["timer"]  # type: ignore[no-any-return]


async def fire_due(pool: asyncpg.Pool, service: str, now: datetime, limit: int = 500) -> int:
    """Fire everything due at ``now``; returns how many fired."""
    fired = 0
    for _ in range(limit):
        try:
            outcome = await fire_one(pool, service, now)
        except eventstore.ConcurrencyConflict:
            continue  # a handler wrote to the case's deadlines at the same moment: try again
        if outcome is None:
            break
        if outcome != "stale":
            fired += 1
    return fired


async def run(pool: asyncpg.Pool, service: str, clock: Clock, poll_seconds: float) -> None:
    await poll_forever("timer poll", poll_seconds, lambda: fire_due(pool, service, clock()))

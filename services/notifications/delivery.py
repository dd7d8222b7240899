"""The delivery worker: sends queued notifications, retries failures with a growing pause, and
gives up (and tells a manager) after the configured number of tries. Every attempt is logged.

A notification is claimed with ``FOR UPDATE SKIP LOCKED`` and marked sent in the transaction
that holds the claim, so replicas never send the same one and a redelivered event (which finds
it already queued) never sends it again. The one gap is a crash after the mail server accepted
a message and before the mark commits: that message goes again, carrying the same Message-ID.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from contracts import NotificationFailed, NotificationSent
from redress import eventstore
from redress.consumer import Clock
from redress.db import Connection
from redress.logging import get_logger
from redress.metrics import NOTIFICATIONS
from redress.service import poll_forever
from services.notifications.channels import Channel, Closable, DeliveryError, Outgoing
from services.notifications.compose import Route, queue
from services.notifications.settings import NotificationSettings

log = get_logger(__name__)


async def deliver_one(
    conn: Connection,
    service: str,
    channels: dict[str, Channel],
    settings: NotificationSettings,
    now: datetime,
) -> str | None:
    """Claim, send and mark one notification, in a transaction of its own: a crash resends at
    most the one letter whose sending it interrupted."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """SELECT * FROM notifications
               WHERE status = 'queued' AND next_attempt_at <= $1
               ORDER BY next_attempt_at, created_at LIMIT 1
               FOR UPDATE SKIP LOCKED""",
            now,
        )
        if row is None:
            return None
        attempt = row["attempts"] + 1
        channel = channels.get(row["channel"])
        try:
            if channel is None:
                raise DeliveryError(f"no {row['channel']} channel is configured")
            await channel.send(
                Outgoing(
                    notification_id=str(row["notification_id"]),
                    recipient=row["recipient"],
                    subject=row["subject"],
                    html=row["html"],
                    text=row["text_body"],
                    pdf=None if row["pdf"] is None else bytes(row["pdf"]),
                )
            )
        except DeliveryError as exc:
            await _failed(conn, service, row, attempt, str(exc), settings, now)
            final = attempt >= settings.max_attempts
            NOTIFICATIONS.labels(row["channel"], "failed" if final else "retry").inc()
            return "retry"
        # marked sent and the attempt logged in one round trip
        await conn.execute(
            """WITH marked AS (
                   UPDATE notifications SET status = 'sent', attempts = $2, sent_at = $3,
                       last_error = NULL WHERE notification_id = $1)
               INSERT INTO delivery_attempts (notification_id, attempt, attempted_at, outcome)
               VALUES ($1, $2, $3, 'sent')""",
            row["notification_id"],
            attempt,
            now,
        )
        await _record(
            conn,
            service,
            row["notification_id"],
            now,
            NotificationSent(
                notification_id=row["notification_id"],
                case_id=row["case_id"],
                template=row["template"],
                channel=row["channel"],
                recipient=row["recipient"],
                sent_at=now,
            ),
        )
        NOTIFICATIONS.labels(row["channel"], "sent").inc()
        log.info(
            "notification sent",
            notification_id=str(row["notification_id"]),
            case_id=str(row["case_id"]),
            template=row["template"],
            channel=row["channel"],
        )
        return "sent"


async def _failed(
    conn: Connection,
    service: str,
    row: asyncpg.Record,
    attempt: int,
    error: str,
    settings: NotificationSettings,
    now: datetime,
) -> None:
    await _attempt(conn, row["notification_id"], attempt, now, "failed", error)
    if attempt < settings.max_attempts:
        pause = settings.retry_base_seconds * 2 ** (attempt - 1)
        await conn.execute(
            """UPDATE notifications SET attempts = $2, last_error = $3, next_attempt_at = $4
               WHERE notification_id = $1""",
            row["notification_id"],
            attempt,
            error,
            now + timedelta(seconds=pause),
        )
        log.warning(
            "delivery failed; will retry",
            notification_id=str(row["notification_id"]),
            attempt=attempt,
            error=error,
        )
        return
    await conn.execute(
        "UPDATE notifications SET status = 'failed', attempts = $2, last_error = $3 "
        "WHERE notification_id = $1",
        row["notification_id"],
        attempt,
        error,
    )
    await _record(
        conn,
        service,
        row["notification_id"],
        now,
        NotificationFailed(
            notification_id=row["notification_id"],
            case_id=row["case_id"],
            template=row["template"],
            channel=row["channel"],
            recipient=row["recipient"],
            attempts=attempt,
            error=error,
        ),
    )
    log.error("delivery failed for good", notification_id=str(row["notification_id"]), error=error)
    if row["audience"] == "resident":
        reference = await conn.fetchval(
            "SELECT reference FROM case_contacts WHERE case_id = $1", row["case_id"]
        )
        await queue(
            conn,
            case_id=row["case_id"],
            cause=f"failed:{row['notification_id']}",
            template="delivery_failed",
            route=Route("email", settings.managers_email),
            context={
                "organisation": "Complaints team",
                "reference": reference or "a case",
                "failed_template": row["template"],
                "failed_recipient": row["recipient"],
                "failed_channel": row["channel"],
                "attempts": attempt,
                "error": error,
            },
            audience="staff",
            now=now,
        )


async def _attempt(
    conn: Connection, nid: uuid.UUID, attempt: int, now: datetime, outcome: str, error: str | None
) -> None:
    await conn.execute(
        """INSERT INTO delivery_attempts (notification_id, attempt, attempted_at, outcome, error)
           VALUES ($1, $2, $3, $4, $5)""",
        nid,
        attempt,
        now,
        outcome,
        error,
    )


async def _record(
    conn: Connection,
    service: str,
    nid: uuid.UUID,
    now: datetime,
    payload: NotificationSent | NotificationFailed,
) -> None:
    """Each notification is its own stream, so replicas sending different notifications of
    one case never contend."""
    await eventstore.append_at_end(
        conn,
        service,
        payload,
        stream_id=f"notification-{nid}",
        now=now,
        actor=f"service:{service}",
        correlation_id=nid,
    )


async def deliver_due(
    pool: asyncpg.Pool,
    service: str,
    channels: dict[str, Channel],
    settings: NotificationSettings,
    now: datetime,
    limit: int = 200,
) -> int:
    sent = 0
    outcome: str | None = None
    # one connection for the poll: a pool's connection is reset (a round trip) each time it
    # goes back, which per letter was one round trip in ten
    async with pool.acquire() as conn:
        for _ in range(limit):
            outcome = await deliver_one(conn, service, channels, settings, now)
            if outcome is None:
                break
            sent += outcome == "sent"
    if outcome is None:
        # nothing more due: let go of kept connections rather than leave them idle
        for channel in channels.values():
            if isinstance(channel, Closable):
                await channel.close()
    return sent


async def run(
    pool: asyncpg.Pool,
    service: str,
    channels: dict[str, Channel],
    settings: NotificationSettings,
    clock: Clock,
) -> None:
    await poll_forever(
        "delivery poll",
        settings.poll_seconds,
        lambda: deliver_due(pool, service, channels, settings, clock()),
    )

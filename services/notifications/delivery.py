"""The delivery worker: sends queued notifications, retries failures with a growing pause, and
gives up (and tells a manager) after the configured number of tries. Every attempt is logged.

A batch of due notifications is claimed with ``FOR UPDATE SKIP LOCKED`` and marked sent in the
transaction that holds the claim, so replicas never send the same one and a redelivered event
(which finds it already queued) never sends it again. The batch's letters are sent one after
another and marked sent together, with their ``NotificationSent`` events, in two statements
before the one commit: per letter that is the SMTP exchange and about one database round trip
instead of seven. The gap this leaves is a crash (the process killed, the database connection
lost) after the mail server accepted a letter and before the batch's commit: the letters of
the batch accepted so far go again, at most ``REDRESS_DELIVERY_BATCH`` of them, each carrying
the same Message-ID so a mail system can tell the resend. A stop (cancellation) or an
unexpected error part way through commits what went before giving up, so neither resends.
Queueing a notification wakes the worker after the queueing transaction commits; the poll
interval is only the fallback (retries, letters queued by another replica).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from contracts import NotificationFailed, NotificationSent
from redress import eventstore
from redress.consumer import Clock
from redress.db import Connection, listen_locally
from redress.logging import get_logger
from redress.metrics import NOTIFICATIONS
from services.notifications.channels import Channel, Closable, DeliveryError, Outgoing
from services.notifications.compose import DUE_CHANNEL, Route, queue
from services.notifications.settings import NotificationSettings

log = get_logger(__name__)

_CLAIM = """SELECT * FROM notifications
            WHERE status = 'queued' AND next_attempt_at <= $1
            ORDER BY next_attempt_at, created_at LIMIT $2
            FOR UPDATE SKIP LOCKED"""

#: marked sent and the attempts logged in one statement for the whole batch
_MARK_SENT = """
WITH sent AS (
    SELECT * FROM unnest($1::uuid[], $2::int[]) AS s(notification_id, attempt)
), marked AS (
    UPDATE notifications n SET status = 'sent', attempts = sent.attempt, sent_at = $3,
        last_error = NULL
    FROM sent WHERE n.notification_id = sent.notification_id
)
INSERT INTO delivery_attempts (notification_id, attempt, attempted_at, outcome)
SELECT notification_id, attempt, $3, 'sent' FROM sent
"""


def _outgoing(row: asyncpg.Record) -> Outgoing:
    return Outgoing(
        notification_id=str(row["notification_id"]),
        recipient=row["recipient"],
        subject=row["subject"],
        html=row["html"],
        text=row["text_body"],
        pdf=None if row["pdf"] is None else bytes(row["pdf"]),
    )


async def deliver_batch(
    conn: Connection,
    service: str,
    channels: dict[str, Channel],
    settings: NotificationSettings,
    now: datetime,
    limit: int,
) -> tuple[int, int]:
    """Claim up to ``limit`` due notifications, send them and mark them, in one transaction;
    returns how many were claimed and how many sent."""
    problem: BaseException | None = None
    async with conn.transaction():
        rows = await conn.fetch(_CLAIM, now, limit)
        sent: list[tuple[asyncpg.Record, int]] = []
        for row in rows:
            attempt = row["attempts"] + 1
            channel = channels.get(row["channel"])
            try:
                if channel is None:
                    raise DeliveryError(f"no {row['channel']} channel is configured")
                await channel.send(_outgoing(row))
            except DeliveryError as exc:
                await _failed(conn, service, row, attempt, str(exc), settings, now)
                final = attempt >= settings.max_attempts
                NOTIFICATIONS.labels(row["channel"], "failed" if final else "retry").inc()
                continue
            except BaseException as exc:  # a stop or a bug: keep the marks of what went
                problem = exc
                break
            sent.append((row, attempt))
        await _mark_sent(conn, service, sent, now)
    if problem is not None:
        raise problem
    return len(rows), len(sent)


async def _mark_sent(
    conn: Connection, service: str, sent: Sequence[tuple[asyncpg.Record, int]], now: datetime
) -> None:
    if not sent:
        return
    await conn.execute(
        _MARK_SENT, [r["notification_id"] for r, _ in sent], [a for _, a in sent], now
    )
    # each notification is its own stream, so replicas sending different notifications of
    # one case never contend
    await eventstore.append_each_at_end(
        conn,
        service,
        [
            (
                f"notification-{row['notification_id']}",
                NotificationSent(
                    notification_id=row["notification_id"],
                    case_id=row["case_id"],
                    template=row["template"],
                    channel=row["channel"],
                    recipient=row["recipient"],
                    sent_at=now,
                ),
                row["notification_id"],
            )
            for row, _ in sent
        ],
        now=now,
        actor=f"service:{service}",
    )
    for row, _ in sent:
        NOTIFICATIONS.labels(row["channel"], "sent").inc()
        log.info(
            "notification sent",
            notification_id=str(row["notification_id"]),
            case_id=str(row["case_id"]),
            template=row["template"],
            channel=row["channel"],
        )


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
    *,
    close_when_done: bool = True,
) -> int:
    """Send what is due, a batch per transaction, until a batch comes back short (nothing
    more due) or ``limit`` letters were claimed; returns how many were sent."""
    sent = claimed_all = 0
    # one connection for the poll: a pool's connection is reset (a round trip) each time it
    # goes back, which per letter was one round trip in ten
    async with pool.acquire() as conn:
        while claimed_all < limit:
            size = min(settings.batch_size, limit - claimed_all)
            claimed, went = await deliver_batch(conn, service, channels, settings, now, size)
            claimed_all += claimed
            sent += went
            if claimed < size:
                break
    if close_when_done and claimed_all < limit:
        await close_channels(channels)
    return sent


async def close_channels(channels: dict[str, Channel]) -> None:
    """Let go of kept connections rather than leave them idle for a server to time out."""
    for channel in channels.values():
        if isinstance(channel, Closable):
            await channel.close()


async def run(
    pool: asyncpg.Pool,
    service: str,
    channels: dict[str, Channel],
    settings: NotificationSettings,
    clock: Clock,
    schema: str,
) -> None:
    """Deliver whenever this process queues a notification (woken after the queueing commit,
    without a round trip: `listen_locally`) and at least every ``poll_seconds`` (retries, and
    letters another replica queued). A failure (the database away, say) is logged and the next
    round tries again. Kept connections are closed when a poll interval passes with nothing
    queued, not after every burst: under load letters come a few at a time, and reconnecting
    to the mail server for each few cost more than the letters."""
    wake = asyncio.Event()
    stop = listen_locally(DUE_CHANNEL, schema, wake.set)
    loop = asyncio.get_running_loop()
    started = -settings.round_gap_seconds
    try:
        while True:
            since = loop.time() - started
            if since < settings.round_gap_seconds:
                await asyncio.sleep(settings.round_gap_seconds - since)
            started = loop.time()
            wake.clear()
            try:
                await deliver_due(pool, service, channels, settings, clock(), close_when_done=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery poll failed; will try again", error=repr(exc))
            try:
                async with asyncio.timeout(settings.poll_seconds):  # not wait_for: see outbox
                    await wake.wait()
            except TimeoutError:
                await close_channels(channels)
    finally:
        stop()
        await close_channels(channels)

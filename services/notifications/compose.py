"""Deciding who gets what, how: the resident's preferred channel, reasonable adjustments, and
contact restrictions under the unreasonable-behaviour policy; then queueing the notification
exactly once, rendered and ready for the delivery worker."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Final

from redress.clock import london_today
from redress.db import Connection, notify_after_commit
from services.notifications import letters

#: notified after a transaction that queued a notification commits: wakes the delivery worker
DUE_CHANNEL: Final = "redress_notifications_due"
NOTIFICATION_NAMESPACE: Final = uuid.UUID("9e2d4c6b-8a1f-4e3d-b5c7-1a2b3c4d5e6f")


def notification_id(case_id: uuid.UUID, cause: str, template: str, recipient: str) -> uuid.UUID:
    """Deterministic: the same case, cause, template and recipient is the same notification,
    however often the event that caused it is delivered."""
    return uuid.uuid5(NOTIFICATION_NAMESPACE, f"{case_id}:{cause}:{template}:{recipient}")


@lru_cache(maxsize=4096)
def long_date(d: date | str | None) -> str | None:
    """ "Monday 2 March 2026". Remembered: a case's letters name the same few dates again and
    again (every event of a case re-decides its letters), and formatting one costs microseconds
    a time."""
    if d is None:
        return None
    value = date.fromisoformat(d) if isinstance(d, str) else d
    return f"{value:%A} {value.day} {value:%B %Y}"


@dataclass(frozen=True)
class Route:
    channel: str  # email, sms, letter, none
    recipient: str
    note: str | None = None


def resident_route(contact: dict[str, Any]) -> Route:
    """Where a letter to the resident goes. Restrictions win over preferences."""
    email, address, phone = contact.get("email"), contact.get("address"), contact.get("phone")
    via = contact.get("contact_via")
    allowed = contact.get("allowed_channels")
    if via:
        channel = "email" if "@" in via else "letter"
        return Route(channel, via, "sent to the named contact under the contact restriction")
    options = {"email": email, "letter": address, "sms": phone}
    preferred = {"email": "email", "letter": "letter", "phone": "sms"}.get(
        contact.get("preferred_contact") or "email", "email"
    )
    order = [preferred, *(c for c in ("email", "letter", "sms") if c != preferred)]
    if allowed is not None:
        permitted = {"phone": "sms"}.get
        allowed_channels = {permitted(a, a) for a in allowed}
        order = [c for c in order if c in allowed_channels]
        if not order:
            return Route(
                "none",
                contact.get("recipient_name") or "resident",
                "suppressed: no contact allowed under the unreasonable-behaviour policy",
            )
    for channel in order:
        if options.get(channel):
            note = None if channel == preferred else f"{preferred} not possible; sent by {channel}"
            if allowed is not None and channel != preferred:
                note = f"sent by {channel}, the only way allowed under the contact restriction"
            return Route(channel, str(options[channel]), note)
    return Route(
        "none",
        contact.get("recipient_name") or "resident",
        "suppressed: no way to reach the resident on file",
    )


async def queue(
    conn: Connection,
    *,
    case_id: uuid.UUID,
    cause: str,
    template: str,
    route: Route,
    context: dict[str, Any],
    audience: str,
    now: datetime,
    adjustments: list[str] | None = None,
    made: set[uuid.UUID] | None = None,
    held: HeldLetters | None = None,
) -> bool:
    """Render and queue one notification; False if it already exists. A template that cannot
    be rendered is queued as failed with the reason, so it is seen, not silently dropped.

    ``made`` is the case's notifications already queued (read with the case): one found there
    is not rendered again only to be thrown away by the insert, which is what every later
    event of a case, and every replayed one, would otherwise do. Only a letter that goes by
    post gets its PDF now; other letters to residents get theirs when asked
    (`pdf_for`).

    ``held``: the letter is inserted with the transaction's other letters as it commits
    (`HeldLetters`), not by a statement of its own."""
    nid = notification_id(case_id, cause, template, route.recipient)
    if (made is not None and nid in made) or (held is not None and nid in held.ids):
        return False
    adjustments = adjustments or []
    large_print = "large_print" in adjustments
    status, error, pdf = "queued", None, None
    printable = audience == "resident" and route.channel in ("letter", "email")
    try:
        rendered = letters.render(
            template,
            {"today": long_date(london_today(now)), **context},
            easy_read="easy_read" in adjustments,
            large_print=large_print,
        )
        subject, html, text = rendered.subject, rendered.html, rendered.text
        if printable and route.channel == "letter":
            pdf = letters.to_pdf(rendered, created=now)
    except Exception as exc:  # a template bug must not stop the consumer
        status, error = "failed", f"template {template} could not be rendered: {exc!r}"
        subject, html, text = f"[unrendered {template}]", "", ""
        printable = False
    if route.channel == "none":
        status = "suppressed"
    row = (
        nid,
        case_id,
        template,
        route.channel,
        route.recipient,
        audience,
        subject,
        html,
        text,
        pdf,
        status,
        route.note,
        now,
        error,
        printable,
        large_print,
    )
    if made is not None:
        made.add(nid)
    if held is not None:
        held.add(row, queued=status == "queued")
        return True
    made_now = await conn.fetchval(_INSERT + " RETURNING true", *row)
    if made_now and status == "queued":
        await notify_after_commit(conn, DUE_CHANNEL, "")
    return bool(made_now)


_INSERT = """INSERT INTO notifications (notification_id, case_id, template, channel, recipient,
       audience, subject, html, text_body, pdf, status, note, next_attempt_at, last_error,
       created_at, printable, large_print)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $13, $15, $16)
   ON CONFLICT (notification_id) DO NOTHING"""


@dataclass
class HeldLetters:
    """The letters a consumer's transaction queued, inserted together just before it commits
    (`EventContext.at_commit`): one round trip for a batch's letters instead of one each.
    ``ids`` answers, for a later event of the batch, what the case's ``letters_made`` read
    from the table cannot see yet."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    ids: set[uuid.UUID] = field(default_factory=set)
    queued: bool = False

    def add(self, row: tuple[Any, ...], *, queued: bool) -> None:
        self.rows.append(row)
        self.ids.add(row[0])
        self.queued = self.queued or queued

    async def insert(self, conn: Connection) -> None:
        """All of them in one round trip (asyncpg sends the rows of ``executemany`` in one
        go); one already stored (a redelivery) is left as it is, as one at a time would."""
        if not self.rows:
            return
        await conn.executemany(_INSERT, self.rows)
        if self.queued:
            await notify_after_commit(conn, DUE_CHANNEL, "")


def pdf_for(row: Mapping[str, Any]) -> bytes | None:
    """A notification's PDF: the one made when it was queued for post, or made now from the
    letter's own text, exactly as it would have been then. None for what has no PDF (a staff
    alert, a text message, a suppressed, unrendered or erased letter)."""
    if row["pdf"] is not None:
        return bytes(row["pdf"])
    if not row["printable"]:
        return None
    return letters.pdf_of(
        row["text_body"], large_print=row["large_print"], created=row["created_at"]
    )

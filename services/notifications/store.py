"""Notifications' SQL, in one place."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from contracts import CaseOpened
from redress.db import Connection


async def remember_case(conn: Connection, opened: CaseOpened) -> None:
    c = opened.complainant
    await conn.execute(
        """INSERT INTO case_contacts (case_id, reference, kind, recipient_name, email, address,
               preferred_contact)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (case_id) DO UPDATE SET reference = $2, kind = $3, recipient_name = $4,
               email = $5, address = $6, preferred_contact = $7""",
        opened.case_id,
        opened.reference,
        opened.kind.value,
        c.name,
        c.email,
        ", ".join(p for p in (c.address, c.postcode) if p) or None,
        c.preferred_contact.value,
    )


async def remember_response_due(conn: Connection, case_id: uuid.UUID, due: date) -> None:
    await conn.execute(
        """INSERT INTO case_contacts (case_id, response_due_on) VALUES ($1, $2)
           ON CONFLICT (case_id) DO UPDATE SET response_due_on = $2""",
        case_id,
        due,
    )


async def contact(conn: Connection, case_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM case_contacts WHERE case_id = $1", case_id)
    return dict(row) if row else None


async def record_delivery(
    conn: Connection,
    *,
    notification_id: uuid.UUID,
    case_id: uuid.UUID,
    template: str,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    created_at: datetime,
) -> bool:
    """True if this notification is new; False if it was already made."""
    made = await conn.fetchval(
        """INSERT INTO deliveries (notification_id, case_id, template, channel, recipient,
               subject, body, status, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'recorded', $8)
           ON CONFLICT (notification_id) DO NOTHING RETURNING true""",
        notification_id,
        case_id,
        template,
        channel,
        recipient,
        subject,
        body,
        created_at,
    )
    return bool(made)


async def deliveries(
    pool: asyncpg.Pool, case_id: uuid.UUID | None, limit: int
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """SELECT notification_id, case_id, template, channel, recipient, subject, body, status,
                  created_at
           FROM deliveries WHERE ($1::uuid IS NULL OR case_id = $1)
           ORDER BY created_at DESC LIMIT $2""",
        case_id,
        limit,
    )
    return [dict(r) for r in rows]

"""Notifications' SQL, in one place: what it knows of each case, and the notification log."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from contracts import CaseOpened
from redress.db import Connection

#: what the upserts below return: the case's row as it now is, as `contact_and_letters` reads
#: it, so that the event's write and the read deciding its letters are one round trip. The
#: upsert holds the row's lock to the end of the transaction, as the read's FOR UPDATE did.
_RETURNING = """RETURNING case_contacts.*,
    (SELECT o.name FROM organisations o
     WHERE o.organisation_id = case_contacts.organisation_id) AS organisation_name,
    ARRAY(SELECT n.notification_id FROM notifications n
          WHERE n.case_id = case_contacts.case_id) AS letters_made"""


def _contact(row: asyncpg.Record | None) -> dict[str, Any]:
    assert row is not None  # an upsert always returns its row
    out = dict(row)
    out["letters_made"] = set(out["letters_made"])
    return out


async def remember_case(conn: Connection, opened: CaseOpened) -> dict[str, Any]:
    c = opened.complainant
    row = await conn.fetchrow(
        f"""INSERT INTO case_contacts (case_id, reference, kind, recipient_name, email, address,
               preferred_contact, phone, organisation_id, procedure, received_at, adjustments)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (case_id) DO UPDATE SET reference = $2, kind = $3, recipient_name = $4,
               email = $5, address = $6, preferred_contact = $7, phone = $8,
               organisation_id = $9, procedure = $10, received_at = $11, adjustments = $12
           {_RETURNING}""",
        opened.case_id,
        opened.reference,
        opened.kind.value,
        c.name,
        c.email,
        ", ".join(p for p in (c.address, c.postcode) if p) or None,
        c.preferred_contact.value,
        c.phone,
        opened.organisation_id,
        opened.procedure.value,
        opened.received_at,
        [a.value for a in c.adjustments],
    )
    return _contact(row)


async def update(conn: Connection, case_id: uuid.UUID, **columns: Any) -> dict[str, Any]:
    """Set plain columns of a case's contact row (creating it if an event came first)."""
    names = list(columns)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    row = await conn.fetchrow(
        f"""INSERT INTO case_contacts (case_id, {", ".join(names)})
            VALUES ($1, {", ".join(f"${i}" for i in range(2, len(names) + 2))})
            ON CONFLICT (case_id) DO UPDATE SET {sets}
            {_RETURNING}""",
        case_id,
        *columns.values(),
    )
    return _contact(row)


async def merge(
    conn: Connection, case_id: uuid.UUID, column: str, key: str, value: Any
) -> dict[str, Any]:
    """Set ``column[key] = value`` in one of the jsonb maps (stages, parts, deadlines)."""
    assert column in ("stages", "parts", "deadlines")
    row = await conn.fetchrow(
        f"""INSERT INTO case_contacts (case_id, {column})
            VALUES ($1, jsonb_build_object($2::text, $3::jsonb))
            ON CONFLICT (case_id) DO UPDATE SET {column} =
                case_contacts.{column} || jsonb_build_object($2::text,
                    coalesce(case_contacts.{column} -> $2, '{{}}'::jsonb) || $3::jsonb)
            {_RETURNING}""",
        case_id,
        key,
        value,
    )
    return _contact(row)


async def append(conn: Connection, case_id: uuid.UUID, column: str, item: Any) -> dict[str, Any]:
    assert column in ("remedies", "learning")
    row = await conn.fetchrow(
        f"""INSERT INTO case_contacts (case_id, {column}) VALUES ($1, jsonb_build_array($2::jsonb))
            ON CONFLICT (case_id) DO UPDATE SET {column} = case_contacts.{column} || $2::jsonb
            {_RETURNING}""",
        case_id,
        item,
    )
    return _contact(row)


async def contact(conn: Connection, case_id: uuid.UUID) -> dict[str, Any] | None:
    """The case's row, locked: two handlers for one case (replicas on different topics) see
    each other's writes instead of both deciding to send."""
    row = await conn.fetchrow(
        """SELECT c.*, o.name AS organisation_name FROM case_contacts c
           LEFT JOIN organisations o USING (organisation_id)
           WHERE c.case_id = $1 FOR UPDATE OF c""",
        case_id,
    )
    return dict(row) if row else None


async def contact_and_letters(conn: Connection, case_id: uuid.UUID) -> dict[str, Any] | None:
    """The case's row, locked as `contact` does, with ``letters_made``: the ids of the
    notifications already queued for it, in the same round trip, so that the letters an
    event calls for are rendered only when they are new."""
    row = await conn.fetchrow(
        """SELECT c.*, o.name AS organisation_name,
                  ARRAY(SELECT n.notification_id FROM notifications n
                        WHERE n.case_id = c.case_id) AS letters_made
           FROM case_contacts c
           LEFT JOIN organisations o USING (organisation_id)
           WHERE c.case_id = $1 FOR UPDATE OF c""",
        case_id,
    )
    return None if row is None else _contact(row)


async def save_organisation(conn: Connection, organisation_id: str, name: str) -> None:
    await conn.execute(
        """INSERT INTO organisations (organisation_id, name) VALUES ($1, $2)
           ON CONFLICT (organisation_id) DO UPDATE SET name = $2""",
        organisation_id,
        name,
    )


_LIST = """notification_id, case_id, template, channel, recipient, audience, subject, status,
    note, attempts, last_error, created_at, sent_at, next_attempt_at"""


async def notifications(
    pool: asyncpg.Pool, case_id: uuid.UUID | None, limit: int
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"""SELECT {_LIST} FROM notifications WHERE ($1::uuid IS NULL OR case_id = $1)
            ORDER BY created_at, notification_id LIMIT $2""",
        case_id,
        limit,
    )
    return [dict(r) for r in rows]


async def letter_for_pdf(pool: asyncpg.Pool, nid: uuid.UUID) -> dict[str, Any] | None:
    """What `compose.pdf_for` needs, and not the rest of the row."""
    row = await pool.fetchrow(
        """SELECT pdf, printable, text_body, large_print, created_at FROM notifications
           WHERE notification_id = $1""",
        nid,
    )
    return None if row is None else dict(row)


async def notification(pool: asyncpg.Pool, nid: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM notifications WHERE notification_id = $1", nid)
    if row is None:
        return None
    attempts = await pool.fetch(
        "SELECT attempt, attempted_at, outcome, error FROM delivery_attempts "
        "WHERE notification_id = $1 ORDER BY attempt",
        nid,
    )
    out = {k: v for k, v in dict(row).items() if k not in ("pdf", "printable", "large_print")}
    # made when posted, or on request at /pdf for a letter that went another way
    out["has_pdf"] = row["pdf"] is not None or row["printable"]
    out["attempt_log"] = [dict(a) for a in attempts]
    return out

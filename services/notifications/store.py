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


#: every column an event's write can change, in the order `CaseRows.write` sets them
_WRITABLE = (
    "reference",
    "kind",
    "recipient_name",
    "email",
    "address",
    "preferred_contact",
    "phone",
    "organisation_id",
    "procedure",
    "received_at",
    "adjustments",
    "officer",
    "allowed_channels",
    "contact_via",
    "restriction_flag",
    "stages",
    "parts",
    "deadlines",
    "remedies",
    "learning",
)
_WRITE = "UPDATE case_contacts SET {} WHERE case_id = $1".format(
    ", ".join(f"{c} = ${i}" for i, c in enumerate(_WRITABLE, start=2))
)


def _jsonb(value: Any) -> Any:
    """A JSON value as PostgreSQL's jsonb gives it back: object keys shortest first, then in
    byte order (what iterating a row read from the table sees)."""
    if isinstance(value, dict):
        return {
            k: _jsonb(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        }
    if isinstance(value, list):
        return [_jsonb(v) for v in value]
    return value


class CaseRows:
    """The case rows one transaction works on. A case's first write or read goes to the
    table (and locks its row, as before); with ``held``, the transaction's later events about
    the same case change the row kept here, as the statements above would have changed it,
    and every row so changed is written with one statement per batch as it commits
    (`write`, registered with `EventContext.at_commit`). Without ``held`` every call is its
    statement."""

    def __init__(self, conn: Connection, *, held: bool) -> None:
        self.conn = conn
        self.held = held
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.dirty: set[uuid.UUID] = set()

    def _kept(self, case_id: uuid.UUID) -> dict[str, Any] | None:
        return self.rows.get(case_id) if self.held else None

    def _keep(self, case_id: uuid.UUID, row: dict[str, Any]) -> dict[str, Any]:
        if self.held:
            self.rows[case_id] = row
        return row

    def _set(self, case_id: uuid.UUID, row: dict[str, Any], **columns: Any) -> dict[str, Any]:
        row.update(columns)
        self.dirty.add(case_id)
        return row

    async def remember_case(self, opened: CaseOpened) -> dict[str, Any]:
        row = self._kept(opened.case_id)
        if row is None:
            return self._keep(opened.case_id, await remember_case(self.conn, opened))
        c = opened.complainant
        if row.get("organisation_id") != opened.organisation_id:
            row["organisation_name"] = await self.conn.fetchval(
                "SELECT name FROM organisations WHERE organisation_id = $1",
                opened.organisation_id,
            )
        return self._set(
            opened.case_id,
            row,
            reference=opened.reference,
            kind=opened.kind.value,
            recipient_name=c.name,
            email=c.email,
            address=", ".join(p for p in (c.address, c.postcode) if p) or None,
            preferred_contact=c.preferred_contact.value,
            phone=c.phone,
            organisation_id=opened.organisation_id,
            procedure=opened.procedure.value,
            received_at=opened.received_at,
            adjustments=[a.value for a in c.adjustments],
        )

    async def update(self, case_id: uuid.UUID, **columns: Any) -> dict[str, Any]:
        row = self._kept(case_id)
        if row is None:
            return self._keep(case_id, await update(self.conn, case_id, **columns))
        return self._set(case_id, row, **columns)

    async def merge(self, case_id: uuid.UUID, column: str, key: str, value: Any) -> dict[str, Any]:
        row = self._kept(case_id)
        if row is None:
            return self._keep(case_id, await merge(self.conn, case_id, column, key, value))
        assert column in ("stages", "parts", "deadlines")
        current = dict(row[column])
        current[key] = {**(current.get(key) or {}), **value}
        return self._set(case_id, row, **{column: _jsonb(current)})

    async def append(self, case_id: uuid.UUID, column: str, item: Any) -> dict[str, Any]:
        row = self._kept(case_id)
        if row is None:
            return self._keep(case_id, await append(self.conn, case_id, column, item))
        assert column in ("remedies", "learning")
        return self._set(case_id, row, **{column: [*row[column], _jsonb(item)]})

    async def contact(self, case_id: uuid.UUID) -> dict[str, Any] | None:
        row = self._kept(case_id)
        if row is not None:
            return row
        found = await contact_and_letters(self.conn, case_id)
        return None if found is None else self._keep(case_id, found)

    async def contact_and_letters(self, case_id: uuid.UUID) -> dict[str, Any] | None:
        return await self.contact(case_id)

    def organisation_named(self, organisation_id: str, name: str) -> None:
        """An organisation's name changed in this transaction: the rows kept show it too."""
        for row in self.rows.values():
            if row.get("organisation_id") == organisation_id:
                row["organisation_name"] = name

    async def write(self) -> None:
        if self.dirty:
            await self.conn.executemany(
                _WRITE,
                [
                    (case_id, *(self.rows[case_id][c] for c in _WRITABLE))
                    for case_id in sorted(self.dirty)
                ],
            )
            self.dirty.clear()

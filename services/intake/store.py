"""Intake's SQL, in one place."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from contracts import FeedbackSubmitted
from redress.db import Connection
from redress.vault import PendingClaim, claim_ctes
from services.intake.attachments import KeptFile


async def find_by_idempotency_key(conn: Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM submissions WHERE idempotency_key = $1", key)


async def get(conn: Connection | asyncpg.Pool, submission_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM submissions WHERE submission_id = $1", submission_id)


async def insert(
    conn: Connection,
    payload: FeedbackSubmitted,
    *,
    idempotency_key: str | None,
    recorded_at: object,
    correlation_id: uuid.UUID,
    request_hash: str | None = None,
    contact_keys: Iterable[str] = (),
    text_keys: Iterable[str] = (),
    look_back: tuple[datetime, datetime] | None = None,
    claim: PendingClaim | None = None,
) -> Stored:
    """Store a submission as a first one (its contact keys go to the duplicate check's lookup)
    and, with ``look_back`` (since, until), return in the same statement the first submissions
    (never duplicates themselves) from the same person, of the same kind, to the same
    organisation, received in that window; the statement does not see its own row. Found by
    their contact keys in ``first_submissions_by_contact``, so the cost does not grow with the
    table. Take the person's locks (`lock_contacts`) in an earlier statement, so that this one's
    snapshot sees what they waited for. If it repeats one of them, `mark_duplicate` it.

    With ``claim`` (`redress.vault.Vault.claim`), the same statement also claims the person
    the contact details belong to (`redress.vault.claim_ctes`) and says whom it chose
    (`Stored.person_id`, for `Vault.settle`): no round trip of its own."""
    keys = sorted(contact_keys)
    args = (
        payload.submission_id,
        idempotency_key,
        payload.kind.value,
        payload.channel.value,
        payload.organisation_id,
        payload.service_area,
        payload.received_at,
        recorded_at,
        correlation_id,
        request_hash,
        keys,
        sorted(text_keys),
    )
    if claim is None:
        if look_back is None or not keys:
            await conn.execute(_INSERT, *args)
            return Stored(None, [])
        return Stored(None, await conn.fetch(_INSERT_AND_FIND, *args, *look_back))
    if look_back is None or not keys:
        return Stored(await conn.fetchval(_INSERT_AND_CLAIM, *args, *claim.args), [])
    rows = await conn.fetch(_INSERT_CLAIM_AND_FIND, *args, *look_back, *claim.args)
    # one row, with no earlier submission, when there is none
    return Stored(
        rows[0]["person_id"] if rows else None,
        [r for r in rows if r["submission_id"] is not None],
    )


@dataclass(frozen=True)
class Stored:
    #: whom `insert`'s claim chose (None without a claim, or when a racing one won)
    person_id: uuid.UUID | None
    #: the earlier first submissions this one may repeat
    earlier: Sequence[asyncpg.Record]


_STORE = """
INSERT INTO submissions (submission_id, idempotency_key, kind, channel, organisation_id,
    service_area, received_at, recorded_at, correlation_id, request_hash, contact_keys,
    text_keys)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
_INDEX = """
INSERT INTO first_submissions_by_contact
    (organisation_id, kind, contact_key, received_at, submission_id)
SELECT $5, $3, k, $7, $1 FROM unnest($11::text[]) AS k
"""
_INSERT = f"WITH submission AS ({_STORE}) {_INDEX}"
_EARLIER = """
SELECT submission_id, organisation_id, kind, contact_keys, text_keys, received_at
FROM submissions
WHERE submission_id IN (
        SELECT submission_id FROM first_submissions_by_contact
        WHERE organisation_id = $5 AND kind = $3 AND contact_key = ANY($11::text[])
          AND received_at BETWEEN $13 AND $14)
  AND duplicate_of IS NULL
"""
_INSERT_AND_FIND = f"WITH submission AS ({_STORE}), indexed AS ({_INDEX}) {_EARLIER}"
_INSERT_AND_CLAIM = "WITH submission AS ({}), indexed AS ({}), {} SELECT {}".format(
    _STORE, _INDEX, *claim_ctes(13)
)
_INSERT_CLAIM_AND_FIND = """
WITH submission AS ({}), indexed AS ({}), {}
SELECT person.person_id, earlier.* FROM (SELECT {} AS person_id) AS person
LEFT JOIN ({}) AS earlier ON true
""".format(_STORE, _INDEX, *claim_ctes(15), _EARLIER)


async def mark_duplicate(
    conn: Connection,
    payload: FeedbackSubmitted,
    contact_keys: Iterable[str],
    original: uuid.UUID,
) -> asyncpg.Record:
    """Link a submission just stored to the first one it repeats, take its keys out of the
    lookup (a duplicate is never anyone's original), and return the first one's row."""
    row = await conn.fetchrow(
        """WITH linked AS (
               UPDATE submissions SET duplicate_of = $2 WHERE submission_id = $1
           ), unindexed AS (
               DELETE FROM first_submissions_by_contact
               WHERE organisation_id = $3 AND kind = $4 AND contact_key = ANY($5::text[])
                 AND received_at = $6 AND submission_id = $1
           )
           SELECT * FROM submissions WHERE submission_id = $2""",
        payload.submission_id,
        original,
        payload.organisation_id,
        payload.kind.value,
        sorted(contact_keys),
        payload.received_at,
    )
    assert row is not None
    return row


def contact_locks(organisation_id: str, keys: Iterable[str]) -> str:
    """Two copies of one complaint arriving together (a double click) must not both pass the
    duplicate check: each takes the person's locks, in one order, until its transaction ends.
    This is the SQL that takes them all, one after the other in sorted order, sent with the
    transaction's BEGIN (``transaction(prelude=...)``: no round trip of its own); the
    duplicate check is a later statement, whose snapshot sees what the lock waited for.
    Empty when there are no keys. The names go in as hex (the organisation's id is the
    client's text), decoded by the server, so nothing in them can end the literal."""
    held = [f"{organisation_id}:{key}".encode().hex() for key in sorted(keys)]
    if not held:
        return ""
    names = ", ".join(f"convert_from(decode('{h}', 'hex'), 'UTF8')" for h in held)
    return (
        "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) "
        f"FROM unnest(ARRAY[{names}]) AS k;"
    )


async def save_attachments(
    conn: Connection,
    files: Sequence[KeptFile],
    *,
    received_at: datetime,
    submission_id: uuid.UUID | None = None,
    correspondence_id: uuid.UUID | None = None,
) -> None:
    if not files:
        return  # most submissions: no statement at all
    await conn.executemany(
        """INSERT INTO attachments (attachment_id, submission_id, correspondence_id, filename,
               content_type, size_bytes, sha256, content, received_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        [
            (
                f.attachment_id,
                submission_id,
                correspondence_id,
                f.filename,
                f.content_type,
                len(f.content),
                f.sha256,
                f.content,
                received_at,
            )
            for f in files
        ],
    )


async def get_attachment(pool: asyncpg.Pool, attachment_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM attachments WHERE attachment_id = $1", attachment_id)


async def case_by_reference(conn: Connection, reference: str) -> asyncpg.Record | None:
    """A case casework has opened, as the tracking projection learnt it from `CaseOpened`."""
    return await conn.fetchrow(
        "SELECT case_id, reference FROM tracked_cases WHERE reference = $1", reference
    )


async def case_of_submission(conn: Connection, submission_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT case_id, reference FROM tracked_cases WHERE submission_id = $1 "
        "ORDER BY opened_at LIMIT 1",
        submission_id,
    )


async def find_correspondence(conn: Connection, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM correspondence WHERE idempotency_key = $1", key)


async def insert_correspondence(
    conn: Connection,
    *,
    correspondence_id: uuid.UUID,
    idempotency_key: str | None,
    request_hash: str,
    case_id: uuid.UUID,
    reference: str,
    received_at: datetime,
    recorded_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO correspondence (correspondence_id, idempotency_key, request_hash, case_id,
               reference, received_at, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        correspondence_id,
        idempotency_key,
        request_hash,
        case_id,
        reference,
        received_at,
        recorded_at,
    )

"""The duplicate check's lookup against real PostgreSQL: a person's first submissions are found
by any of their contact keys, only of the same kind, organisation and window, never a duplicate
itself; erasure forgets the keys; and the migration that made the lookup table filled it from
the submissions already there."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
import structlog

from contracts import FeedbackSubmitted, PersonErased, new_envelope
from contracts.people import ErasureReason
from redress.consumer import EventContext
from services.intake import privacy, store
from services.intake.app import service
from services.intake.domain.duplicates import contact_keys, text_keys
from tests.conftest import Stack
from tests.integration.conftest import schema_pool

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
MIGRATIONS = service.migrations
assert MIGRATIONS is not None


@pytest.fixture
async def pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    assert MIGRATIONS is not None
    schema, pool = await schema_pool(stack, [("intake", MIGRATIONS)])
    yield pool
    await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


def payload(email: str, phone: str | None = None, **more: object) -> FeedbackSubmitted:
    return FeedbackSubmitted.model_validate(
        {
            "submission_id": uuid.uuid4(),
            "kind": "complaint",
            "channel": "web",
            "organisation_id": "north",
            "summary": "The bins were not collected.",
            "complainant": {"name": "Ola Resident", "email": email, "phone": phone},
            "received_at": AT,
            **more,
        }
    )


async def submit(
    conn: asyncpg.Connection, p: FeedbackSubmitted, duplicate_of: uuid.UUID | None = None
) -> uuid.UUID:
    keys = contact_keys(p.complainant.email, p.complainant.phone)
    await store.insert(
        conn,
        p,
        idempotency_key=None,
        recorded_at=p.received_at,
        correlation_id=uuid.uuid4(),
        contact_keys=keys,
        text_keys=text_keys(p.summary),
    )
    if duplicate_of is not None:
        first = await store.mark_duplicate(conn, p, keys, duplicate_of)
        assert first["submission_id"] == duplicate_of
    return p.submission_id


class Probed(Exception):
    """Rolls a probe's transaction back, so that what it stored is not there for the next."""


async def candidates(
    conn: asyncpg.Connection,
    keys: frozenset[str],
    *,
    kind: str = "complaint",
    at: datetime = AT,
    window: timedelta = DAY,
) -> set[uuid.UUID]:
    """What a new submission with these keys is compared with (as `store.insert` stores it)."""
    probe = payload("probe@example.org", kind=kind, received_at=at)
    found: set[uuid.UUID] = set()
    with pytest.raises(Probed):
        async with conn.transaction():
            stored = await store.insert(
                conn,
                probe,
                idempotency_key=None,
                recorded_at=at,
                correlation_id=uuid.uuid4(),
                contact_keys=keys,
                look_back=(at - window, at + window),
            )
            found = {r["submission_id"] for r in stored.earlier}
            raise Probed
    return found


async def test_first_submissions_are_found_by_any_contact_key_within_the_window(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        ada = await submit(conn, payload("ada@example.org", "07700 900123"))
        repeat = await submit(conn, payload("ada@example.org"), duplicate_of=ada)
        await submit(conn, payload("ada@example.org", received_at=AT - 3 * DAY))
        await submit(conn, payload("ada@example.org", kind="compliment"))
        await submit(conn, payload("ada@example.org", organisation_id="south"))
        bo = await submit(conn, payload("bo@example.org"))

        by_phone = contact_keys(None, "+44 7700 900123")
        assert await candidates(conn, by_phone) == {ada}
        assert await candidates(conn, contact_keys("ADA@example.org ", None)) == {ada}
        assert repeat not in await candidates(conn, contact_keys("ada@example.org", None))
        assert await candidates(conn, contact_keys("bo@example.org", "07700 900123")) == {ada, bo}
        assert await candidates(conn, by_phone, kind="comment") == set()
        assert await candidates(conn, by_phone, at=AT + 2 * DAY) == set()
        assert await candidates(conn, contact_keys("cy@example.org", None)) == set()


async def test_erasure_forgets_the_keys_the_lookup_holds(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        ada = await submit(conn, payload("ada@example.org", "07700 900123"))
        bo = await submit(conn, payload("bo@example.org"))
        erased = PersonErased(
            person_id=uuid.uuid4(),
            submission_ids=[ada],
            erased_on=date(2026, 3, 3),
            reason=ErasureReason.REQUEST,
        )
        envelope = new_envelope(
            erased,
            stream_id=f"person-{erased.person_id}",
            stream_version=1,
            occurred_at=AT,
            actor="test",
            correlation_id=uuid.uuid4(),
        )
        async with conn.transaction():
            await privacy.on_person_erased(
                EventContext(conn, envelope, erased, "intake", AT, structlog.get_logger())
            )
        assert await candidates(conn, contact_keys("ada@example.org", "07700 900123")) == set()
        assert await candidates(conn, contact_keys("bo@example.org", None)) == {bo}
        kept = await conn.fetch("SELECT submission_id FROM first_submissions_by_contact")
        assert [r["submission_id"] for r in kept] == [bo]


async def test_the_migration_fills_the_lookup_from_earlier_submissions(
    stack: Stack, tmp_path: Path
) -> None:
    assert MIGRATIONS is not None
    before = tmp_path / "before"
    before.mkdir()
    for sql in MIGRATIONS.glob("*.sql"):
        if sql.name < "012":
            shutil.copy(sql, before)
    schema, pool = await schema_pool(stack, [("intake", before)])
    try:
        async with pool.acquire() as conn:
            ada = payload("ada@example.org", "07700 900123")
            await conn.execute(
                """INSERT INTO submissions (submission_id, kind, channel, organisation_id,
                       received_at, recorded_at, correlation_id, contact_keys, duplicate_of)
                   VALUES ($1, 'complaint', 'web', 'north', $2, $2, $3, $4, $5)""",
                ada.submission_id,
                AT,
                uuid.uuid4(),
                sorted(contact_keys("ada@example.org", "07700 900123")),
                None,
            )
            await conn.execute(
                """INSERT INTO submissions (submission_id, kind, channel, organisation_id,
                       received_at, recorded_at, correlation_id, contact_keys, duplicate_of)
                   VALUES ($1, 'complaint', 'web', 'north', $2, $2, $3, $4, $5)""",
                uuid.uuid4(),
                AT,
                uuid.uuid4(),
                sorted(contact_keys("ada@example.org", None)),
                ada.submission_id,
            )
            async with conn.transaction():
                await conn.execute(
                    (MIGRATIONS / "012_first_submissions_by_contact.sql").read_text()
                )
            assert await candidates(conn, contact_keys(None, "07700900123")) == {ada.submission_id}
            assert await conn.fetchval("SELECT count(*) FROM first_submissions_by_contact") == 2
    finally:
        await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await pool.close()

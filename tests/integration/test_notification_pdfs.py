"""A letter's PDF is made when it is posted or asked for: a letter by post has its PDF from the
start and the print queue gets exactly it; an email receipt has none stored and goes without
an attachment, yet `/pdf` serves one, the same bytes each time, made by the same recipe as a
posted one; staff alerts and erased letters have none."""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from contracts import PERSON_TOPIC, ErasureReason, PersonErased, Role, encode_envelope
from contracts import new_envelope as envelope_of
from redress.auth import mint
from redress.consumer import RawMessage
from redress.embedded.smtp_sink import read_mailbox
from redress.service import Service
from redress.settings import RuntimeSettings
from services.notifications import letters
from services.notifications.api import router
from services.notifications.app import service as notifications
from services.notifications.channels import EmailChannel, PrintChannel
from services.notifications.delivery import deliver_due
from tests.conftest import Stack
from tests.integration.test_notifications_delivery import (
    case_events,
    consumer_for,
    deliver,
    settings,
)


@pytest.fixture
async def app(stack: Stack) -> AsyncIterator[FastAPI]:
    """Notifications' routes over a schema of their own, with no subscribers."""
    name = f"notifications_pdf_{uuid.uuid4().hex[:8]}"
    made = Service(name, migrations=notifications.migrations, router=router).create_app(
        RuntimeSettings(
            database_url=stack.dsn,
            kafka_bootstrap_servers=stack.bootstrap,
            data_dir=stack.data_dir / name,
        )
    )
    async with made.router.lifespan_context(made):
        yield made
    conn = await asyncpg.connect(stack.dsn)
    try:
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


def _client(app: FastAPI) -> httpx.AsyncClient:
    token = mint(app.state.token_key, user="olivia", role=Role.OFFICER)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://notifications.test",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _pool(app: FastAPI) -> asyncpg.Pool:
    pool: asyncpg.Pool = app.state.runtime.pool
    return pool


def _page_text(pdf: bytes) -> str:
    """The text drawn on the PDF's page (fpdf compresses the page's content stream)."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    return b"".join(zlib.decompress(s) for s in streams if s[:1] == b"x").decode("latin-1")


async def test_a_letter_by_post_has_its_pdf_and_the_print_queue_gets_it(
    app: FastAPI, stack: Stack, tmp_path: Path
) -> None:
    pool = _pool(app)
    case_id = uuid.uuid4()
    events = case_events(
        case_id,
        "post@example.org",
        address="Flat 2, 10 Mill Lane",
        postcode="M1 1AE",
        preferred_contact="letter",
    )
    await deliver(consumer_for(pool), events[:3], case_id, 0)
    row = await pool.fetchrow("SELECT * FROM notifications WHERE template = 'receipt'")
    assert row["channel"] == "letter" and row["printable"]
    stored = bytes(row["pdf"])
    assert stored.startswith(b"%PDF")
    # the posted PDF is the letter's own text, made by the recipe `/pdf` uses on request
    assert stored == letters.pdf_of(row["text_body"], large_print=False, created=row["created_at"])
    assert "CMP-2026-004242" in _page_text(stored)
    async with _client(app) as client:
        served = await client.get(f"/v1/notifications/{row['notification_id']}/pdf")
        assert served.status_code == 200 and served.content == stored
    channels = {"letter": PrintChannel(tmp_path / "print")}
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await deliver_due(pool, "notifications", channels, settings(stack, tmp_path), later) == 1
    assert (tmp_path / "print" / f"{row['notification_id']}.pdf").read_bytes() == stored


async def test_an_email_receipt_has_no_pdf_until_asked_and_asking_makes_the_letter(
    app: FastAPI, stack: Stack, tmp_path: Path
) -> None:
    pool = _pool(app)
    case_id = uuid.uuid4()
    email = f"ada-{case_id.hex[:8]}@example.org"
    await deliver(consumer_for(pool), case_events(case_id, email)[:3], case_id, 0)
    row = await pool.fetchrow("SELECT * FROM notifications WHERE template = 'receipt'")
    assert row["channel"] == "email" and row["pdf"] is None and row["printable"]
    cfg = settings(stack, tmp_path)
    channels = {"email": EmailChannel("127.0.0.1", stack.smtp_port, cfg.mail_from)}
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await deliver_due(pool, "notifications", channels, cfg, later) == 1
    (mail,) = [m for m in read_mailbox(stack.mail_dir) if m["To"] == email]
    assert [p.get_content_type() for p in mail.iter_attachments()] == []  # type: ignore[attr-defined]
    async with _client(app) as client:
        nid = row["notification_id"]
        detail = (await client.get(f"/v1/notifications/{nid}")).json()
        assert detail["has_pdf"] is True and "pdf" not in detail
        first = await client.get(f"/v1/notifications/{nid}/pdf")
        again = await client.get(f"/v1/notifications/{nid}/pdf")
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert first.content == again.content  # made on request, the same each time
    # what a posted letter with this text would have carried, and nothing stored meanwhile
    sent_text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert sent_text.replace("\r\n", "\n").strip() == row["text_body"].strip()
    assert first.content == letters.to_pdf(
        letters.Rendered("receipt", row["subject"], row["html"], row["text_body"], False),
        created=row["created_at"],
    )
    page = _page_text(first.content)
    assert "CMP-2026-004242" in page and "Monday 23 March 2026" in page
    assert (
        await pool.fetchval("SELECT pdf FROM notifications WHERE notification_id = $1", nid) is None
    )


async def test_large_print_is_kept_for_the_pdf_made_on_request(app: FastAPI) -> None:
    pool = _pool(app)
    case_id = uuid.uuid4()
    events = case_events(case_id, "lp@example.org", adjustments=["large_print"])
    await deliver(consumer_for(pool), events[:3], case_id, 0)
    row = await pool.fetchrow("SELECT * FROM notifications WHERE template = 'receipt'")
    assert row["large_print"] and row["pdf"] is None
    async with _client(app) as client:
        served = await client.get(f"/v1/notifications/{row['notification_id']}/pdf")
    normal = letters.pdf_of(row["text_body"], large_print=False, created=row["created_at"])
    large = letters.pdf_of(row["text_body"], large_print=True, created=row["created_at"])
    assert served.content == large != normal


async def test_staff_alerts_and_erased_letters_have_no_pdf(app: FastAPI) -> None:
    from contracts import DeadlineMissed

    pool = _pool(app)
    case_id = uuid.uuid4()
    consumer = consumer_for(pool)
    offset = await deliver(consumer, case_events(case_id, "eve@example.org")[:3], case_id, 0)
    missed = DeadlineMissed(
        deadline_id=uuid.uuid5(case_id, "ack"),
        case_id=case_id,
        kind="acknowledgement",  # type: ignore[arg-type]
        stage=1,
        due_on=date(2026, 3, 9),
    )
    await deliver(consumer, [missed], case_id, offset)
    alert = await pool.fetchval(
        "SELECT notification_id FROM notifications WHERE audience = 'staff'"
    )
    receipt = await pool.fetchval(
        "SELECT notification_id FROM notifications WHERE template = 'receipt'"
    )
    async with _client(app) as client:
        assert (await client.get(f"/v1/notifications/{alert}/pdf")).status_code == 404
        assert (await client.get(f"/v1/notifications/{uuid.uuid4()}/pdf")).status_code == 404
        assert (await client.get(f"/v1/notifications/{receipt}/pdf")).status_code == 200
        erased = PersonErased(
            person_id=uuid.uuid4(),
            case_ids=[case_id],
            erased_on=date(2026, 3, 5),
            reason=ErasureReason.REQUEST,
        )
        env = envelope_of(
            erased,
            stream_id="person-x",
            stream_version=1,
            occurred_at=datetime(2026, 3, 5, tzinfo=UTC),
            actor="test",
            correlation_id=uuid.uuid4(),
        )
        raw: Any = RawMessage(PERSON_TOPIC, 0, 999, b"k", encode_envelope(env))
        assert await consumer.process(raw) == "applied"
        gone = await client.get(f"/v1/notifications/{receipt}/pdf")
        assert gone.status_code == 404
        assert (await client.get(f"/v1/notifications/{receipt}")).json()["has_pdf"] is False

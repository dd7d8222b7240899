"""Which organisations intake takes submissions for, against real PostgreSQL with intake's own
routes: any while none is configured (a fresh install), then only configured ones, on the API,
the agent's screen, letters and the shared mailbox alike."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from contracts import Role
from redress.auth import mint, token_key
from redress.ratelimit import RateLimitSettings
from services.intake import letters, settings
from services.intake.mailbox import ComplaintsMailbox
from tests.conftest import Stack
from tests.integration.test_rate_limits import _app, _client, _drop


def body(organisation_id: str) -> dict[str, Any]:
    return {
        "organisation_id": organisation_id,
        "summary": f"The bins were not collected ({uuid.uuid4().hex}).",
        "complainant": {"name": "Ola Resident", "email": f"ola.{uuid.uuid4().hex[:8]}@example.org"},
    }


@pytest.fixture
async def intake(stack: Stack) -> AsyncIterator[tuple[FastAPI, str]]:
    name = f"intake_org_{uuid.uuid4().hex[:8]}"
    app = _app(stack, name, RateLimitSettings(submit_per_minute=0, read_per_minute=0))
    app.include_router(letters.router)
    async with app.router.lifespan_context(app):
        yield app, name
    await _drop(stack, name)


async def _configure(stack: Stack, schema: str, organisation_id: str) -> None:
    conn = await asyncpg.connect(stack.dsn)
    try:
        await conn.execute(
            f'INSERT INTO "{schema}".organisations (organisation_id, name) VALUES ($1, $2)',
            organisation_id,
            organisation_id.title(),
        )
    finally:
        await conn.close()


def _refused_for_organisation(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [e["field"] for e in errors] == ["organisation_id"]
    assert "not an organisation we take submissions for" in errors[0]["reason"]


async def test_only_configured_organisations_once_any_is(
    intake: tuple[FastAPI, str], stack: Stack
) -> None:
    app, schema = intake
    agent = {
        "Authorization": "Bearer "
        + mint(token_key(stack.data_dir / schema), user="agent-ann", role=Role.AGENT)
    }
    async with _client(app, "203.0.113.40") as client:
        # a fresh install: nothing configured, so any organisation is taken
        fresh = await client.post("/v1/submissions", json=body("anything-at-all"))
        assert fresh.status_code == 202, fresh.text
        assert (await client.get("/v1/organisations/north", headers=agent)).status_code == 404

        await _configure(stack, schema, "north")
        known = await client.get("/v1/organisations/north", headers=agent)
        assert known.json() == {"organisation_id": "north", "name": "North", "service_areas": []}
        assert (await client.get("/v1/organisations/north")).status_code == 401

        _refused_for_organisation(await client.post("/v1/submissions", json=body("south")))
        good = await client.post("/v1/submissions", json=body("north"))
        assert good.status_code == 202, good.text

        call = {
            **body("south"),
            "call_time": "2026-03-02T10:00:00+00:00",
            "read_back_confirmed": True,
        }
        _refused_for_organisation(
            await client.post("/v1/agent/submissions", json=call, headers=agent)
        )
        letter = {**body("south"), "date_stamped": "2026-03-02"}
        scan = ("scan.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n", "application/pdf")
        _refused_for_organisation(
            await client.post(
                "/v1/agent/letters",
                data={"letter": json.dumps(letter)},
                files={"scans": scan},
                headers=agent,
            )
        )
        letter["organisation_id"] = "north"
        taken = await client.post(
            "/v1/agent/letters",
            data={"letter": json.dumps(letter)},
            files={"scans": scan},
            headers=agent,
        )
        assert taken.status_code == 202, taken.text

    conn = await asyncpg.connect(stack.dsn)
    try:
        organisations = await conn.fetch(
            f'SELECT organisation_id FROM "{schema}".submissions ORDER BY recorded_at'
        )
    finally:
        await conn.close()
    assert [r[0] for r in organisations] == ["anything-at-all", "north", "north"]


def _email(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ola Resident <ola@example.org>"
    msg["To"] = "complaints@redress.localhost"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    msg.set_content(f"The bins were not collected again ({uuid.uuid4().hex}).")
    return msg.as_bytes()


async def test_the_mailbox_defers_mail_until_its_organisation_is_configured(
    intake: tuple[FastAPI, str], stack: Stack
) -> None:
    app, schema = intake
    config = settings.IntakeSettings(REDRESS_MAILBOX_ORGANISATION="town-hall")
    mailbox = ComplaintsMailbox(app.state.runtime, config)
    await _configure(stack, schema, "north")
    deferred = await mailbox.receive(_email("Bins"))
    assert deferred.startswith("451 4.3.0"), deferred

    await _configure(stack, schema, "town-hall")
    taken = await mailbox.receive(_email("Bins"))
    assert taken.startswith("250 2.0.0 Received as submission"), taken

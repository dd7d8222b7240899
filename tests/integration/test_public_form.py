"""The public form's edges, against real PostgreSQL with intake's own routes: a double click
is one submission, a form from elsewhere (no CSRF token) is refused, an organisation not on the
list is refused with a message, an oversized form is refused, and tracking tokens are stored
only as hashes."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from redress.ratelimit import RateLimitSettings
from tests.conftest import Stack
from tests.integration.test_rate_limits import _app, _client, _drop

FIELDS = {
    "kind": "complaint",
    "summary": "The lift has been out of order for a fortnight.",
    "name": "Lee Tenant",
    "preferred_contact": "email",
    "email": "lee@example.org",
}


@pytest.fixture
async def intake(stack: Stack) -> AsyncIterator[tuple[FastAPI, str]]:
    name = f"intake_pf_{uuid.uuid4().hex[:8]}"
    app = _app(stack, name, RateLimitSettings(submit_per_minute=0, read_per_minute=0))
    async with app.router.lifespan_context(app):
        yield app, name
    await _drop(stack, name)


async def _form(client: httpx.AsyncClient) -> dict[str, str]:
    page = await client.get("/")
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]+)"', page.text))
    assert set(hidden) == {"csrf_token", "submission_key"}
    return hidden


async def test_the_same_form_sent_twice_is_one_submission(
    intake: tuple[FastAPI, str], stack: Stack
) -> None:
    app, schema = intake
    async with _client(app, "203.0.113.1") as client:
        hidden = await _form(client)
        first = await client.post("/", data={**hidden, **FIELDS})
        second = await client.post("/", data={**hidden, **FIELDS})
        assert first.status_code == second.status_code == 303
        links = [r.headers["location"] for r in (first, second)]
        assert links[0] != links[1]  # each answer has a token of its own...
        receipts = set()
        for link in links:
            page = await client.get(link)
            found = re.search(r'id="receipt">([^<]+)<', page.text)
            assert found is not None
            receipts.add(found[1])
        assert len(receipts) == 1  # ...for one and the same submission

        another = await _form(client)  # a fresh form is a new complaint
        third = await client.post("/", data={**another, **FIELDS})
        assert third.status_code == 303

    conn = await asyncpg.connect(stack.dsn)
    try:
        count = await conn.fetchval(f'SELECT count(*) FROM "{schema}".submissions')
        assert count == 2
        hashes = {
            r[0] for r in await conn.fetch(f'SELECT token_hash FROM "{schema}".tracking_tokens')
        }
    finally:
        await conn.close()
    tokens = [link.removeprefix("/submitted/") for link in links]
    assert hashes >= {hashlib.sha256(t.encode()).hexdigest() for t in tokens}
    assert not any(t in hashes for t in tokens)  # the tokens themselves are not kept


async def test_a_form_without_its_token_is_refused(intake: tuple[FastAPI, str]) -> None:
    app, _ = intake
    async with _client(app, "203.0.113.2") as client:
        hidden = await _form(client)
        refused = await client.post("/", data={**FIELDS, "csrf_token": "x" * 43})
        assert refused.status_code == 403
        # a page from another site cannot read the cookie, so cannot echo it
        client.cookies.clear()
        refused = await client.post("/", data={**hidden, **FIELDS})
        assert refused.status_code == 403


async def test_an_organisation_not_on_the_list_is_refused(
    intake: tuple[FastAPI, str], stack: Stack
) -> None:
    app, schema = intake
    conn = await asyncpg.connect(stack.dsn)
    try:
        await conn.execute(
            f'INSERT INTO "{schema}".organisations (organisation_id, name) VALUES ($1, $2)',
            "north-council",
            "North Council",
        )
    finally:
        await conn.close()
    async with _client(app, "203.0.113.3") as client:
        hidden = await _form(client)
        page = await client.post(
            "/", data={**hidden, **FIELDS, "organisation_id": "somewhere-else"}
        )
        assert page.status_code == 400
        assert '<a href="#organisation_id">Select an organisation from the list</a>' in page.text
        assert '<option value="north-council">North Council</option>' in page.text
        good = await client.post("/", data={**hidden, **FIELDS, "organisation_id": "north-council"})
        assert good.status_code == 303


async def test_an_oversized_form_is_refused(intake: tuple[FastAPI, str]) -> None:
    app, _ = intake
    async with _client(app, "203.0.113.4") as client:
        hidden = await _form(client)
        r = await client.post("/", data={**hidden, **FIELDS, "summary": "x" * 200_000})
        assert r.status_code == 413


async def test_markup_comes_back_escaped(intake: tuple[FastAPI, str]) -> None:
    app, _ = intake
    async with _client(app, "203.0.113.5") as client:
        hidden = await _form(client)
        markup = '<script>alert(1)</script><img src=x onerror="alert(2)">'
        page = await client.post("/", data={**hidden, **FIELDS, "name": "", "summary": markup})
        assert page.status_code == 400
        assert markup not in page.text
        assert (
            "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#34;alert(2)&#34;&gt;"
            in page.text
        )


async def test_a_form_changed_and_sent_again_under_its_key_is_a_submission_of_its_own(
    intake: tuple[FastAPI, str],
) -> None:
    """The resident went back and changed their answers: the key that makes a double click
    one submission must not swallow the changed one (nor fail on it)."""
    app, _ = intake
    async with _client(app, "203.0.113.9") as client:
        hidden = await _form(client)
        first = await client.post("/", data={**hidden, **FIELDS})
        changed = {**FIELDS, "summary": "The bins were not collected from Mill Lane this week."}
        second = await client.post("/", data={**hidden, **changed})
        assert first.status_code == second.status_code == 303
        receipts = set()
        for answer in (first, second):
            page = await client.get(answer.headers["location"])
            found = re.search(r'id="receipt">([^<]+)<', page.text)
            assert found is not None
            receipts.add(found[1])
        assert len(receipts) == 2

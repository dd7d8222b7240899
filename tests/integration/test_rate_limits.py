"""Rate limits on intake's public endpoints, against real PostgreSQL: a flood from one address
gets 429 with Retry-After and a reason, while another address carries on; the buckets are rows,
so two app instances (replicas) share one count; X-Forwarded-For counts only from a trusted
proxy."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from contracts import Role
from redress.auth import mint
from redress.ratelimit import Limit, RateLimitSettings, take
from redress.service import Service
from redress.settings import RuntimeSettings
from services.intake import web
from services.intake.api import router
from tests.conftest import Stack

ORG = "ratelimit-test-council"
BODY = {
    "kind": "complaint",
    "organisation_id": ORG,
    "summary": "Nobody collected the bins for three weeks.",
    "complainant": {"name": "Flo Oder", "email": "flo@example.org"},
}


async def test_a_bucket_refills_with_time_and_never_beyond_its_burst(
    pool: asyncpg.Pool,
) -> None:
    limit = Limit("submit", per_minute=6, burst=2)  # one token every 10 seconds
    t0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
    async with pool.acquire() as conn:
        assert (await take(conn, limit, "a", t0)).allowed
        assert (await take(conn, limit, "a", t0)).allowed
        refused = await take(conn, limit, "a", t0)
        assert not refused.allowed and refused.retry_after == 10
        assert (await take(conn, limit, "b", t0)).allowed  # another client, its own bucket
        later = await take(conn, limit, "a", t0 + timedelta(seconds=4))
        assert not later.allowed and later.retry_after == 6  # refusals do not cost a token
        assert (await take(conn, limit, "a", t0 + timedelta(seconds=10))).allowed
        # an hour idle fills the bucket to its burst, no further
        rested = t0 + timedelta(hours=1)
        assert [(await take(conn, limit, "a", rested)).allowed for _ in range(3)] == [
            True,
            True,
            False,
        ]
        # a clock that steps back (another replica's) neither refills nor breaks the bucket
        assert not (await take(conn, limit, "a", rested - timedelta(minutes=5))).allowed


def _app(stack: Stack, name: str, settings: RateLimitSettings) -> FastAPI:
    """Intake's routes under a schema of their own, with no subscribers, so the session's
    running intake (the e2e system) is not disturbed."""
    service = Service(name, migrations=Path(web.__file__).parent / "migrations", router=router)
    app = service.create_app(
        RuntimeSettings(
            database_url=stack.dsn,
            kafka_bootstrap_servers=stack.bootstrap,
            data_dir=stack.data_dir / name,
        )
    )
    app.include_router(web.router)
    app.state.rate_limit_settings = settings
    return app


def _client(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://intake.test", timeout=30)


@pytest.fixture
async def replicas(stack: Stack) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two instances of intake over one schema: two replicas behind one load balancer."""
    name = f"intake_rl_{uuid.uuid4().hex[:8]}"
    settings = RateLimitSettings(
        submit_per_minute=1, submit_burst=3, read_per_minute=1, read_burst=2
    )
    one, two = _app(stack, name, settings), _app(stack, name, settings)
    async with one.router.lifespan_context(one), two.router.lifespan_context(two):
        yield one, two
    await _drop(stack, name)


async def test_a_flood_from_one_address_is_refused_and_another_address_carries_on(
    replicas: tuple[FastAPI, FastAPI],
) -> None:
    one, two = replicas
    async with (
        _client(one, "203.0.113.7") as flooder,
        _client(two, "203.0.113.7") as same_flooder_other_replica,
        _client(one, "198.51.100.20") as neighbour,
    ):
        codes = []
        for i in range(6):
            client = flooder if i % 2 == 0 else same_flooder_other_replica
            r = await client.post("/v1/submissions", json=BODY)
            codes.append(r.status_code)
        assert codes == [202, 202, 202, 429, 429, 429]  # one bucket across both replicas
        assert int(r.headers["Retry-After"]) >= 1
        assert "Too many requests" in r.json()["detail"]
        # even a malformed flood is counted, and refused before it is parsed
        assert (await flooder.post("/v1/submissions", content=b"{")).status_code == 429

        r = await neighbour.post("/v1/submissions", json=BODY)
        assert r.status_code == 202, r.text

        # staff with a valid token are accountable and not counted; a made-up token is
        token = mint(one.state.token_key, user="kim", role=Role.AGENT)
        staff = {"Authorization": f"Bearer {token}"}
        r = await flooder.post("/v1/submissions", json=BODY, headers=staff)
        assert r.status_code == 202, r.text
        forged = {"Authorization": f"Bearer {mint('not-our-key' * 4, user='x', role=Role.AGENT)}"}
        r = await flooder.post("/v1/submissions", json=BODY, headers=forged)
        assert r.status_code == 429


async def test_the_form_and_the_tracking_page_are_limited_too(
    replicas: tuple[FastAPI, FastAPI],
) -> None:
    one, _ = replicas
    async with _client(one, "192.0.2.50") as flooder, _client(one, "192.0.2.51") as neighbour:
        form = await flooder.get("/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        fields = {
            "csrf_token": token[1],
            "kind": "comment",
            "summary": "The new library opening hours suit me well.",
            "name": "Flo Oder",
            "preferred_contact": "email",
            "email": "flo@example.org",
        }
        codes = [
            (await flooder.post("/", data=fields, follow_redirects=False)).status_code
            for _ in range(4)
        ]
        assert codes == [303, 303, 303, 429]
        refused = await flooder.post("/", data=fields)
        assert refused.headers["Retry-After"] and "Please wait" in refused.text
        assert refused.headers["content-type"].startswith("text/html")

        tracking = [(await neighbour.get(f"/track/{'x' * 43}")).status_code for _ in range(3)]
        assert tracking == [404, 404, 429]  # guessing tokens is slowed down as well


async def test_forwarded_for_counts_only_from_a_trusted_proxy(stack: Stack) -> None:
    name = f"intake_rl_{uuid.uuid4().hex[:8]}"
    settings = RateLimitSettings(submit_per_minute=1, submit_burst=1, trusted_proxies="127.0.0.9")
    app = _app(stack, name, settings)
    try:
        async with (
            app.router.lifespan_context(app),
            _client(app, "127.0.0.9") as proxy,
            _client(app, "203.0.113.99") as stranger,
        ):

            async def via_proxy(resident: str) -> int:
                r = await proxy.post(
                    "/v1/submissions", json=BODY, headers={"X-Forwarded-For": resident}
                )
                return r.status_code

            assert await via_proxy("198.51.100.1") == 202
            assert await via_proxy("198.51.100.1") == 429
            assert await via_proxy("198.51.100.2") == 202  # a different resident behind it

            # from anyone else the header is ignored: they cannot pick a fresh address each time
            for fake in ("10.1.1.1", "10.1.1.2"):
                r = await stranger.post(
                    "/v1/submissions", json=BODY, headers={"X-Forwarded-For": fake}
                )
                last = r.status_code
            assert last == 429
    finally:
        await _drop(stack, name)


async def test_the_table_keeps_no_addresses(pool: asyncpg.Pool) -> None:
    from redress.ratelimit import client_key

    async with pool.acquire() as conn:
        await take(conn, Limit("read", 60, 5), client_key("203.0.113.7", "secret"))
        stored = await conn.fetchval("SELECT client FROM rate_limits")
    assert "203.0.113" not in stored and len(stored) == 32


async def _drop(stack: Stack, schema: str) -> None:
    conn = await asyncpg.connect(stack.dsn)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()

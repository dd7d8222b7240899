"""`redress demo` loads data through the real APIs, and the reports count it."""

from __future__ import annotations

import asyncio

import httpx

from contracts import Role
from redress.demo import load
from tests.e2e.conftest import System


async def test_demo_data_is_counted_by_the_reports(system: System) -> None:
    counts = await load(lambda s: system.urls[s], system.token_key, 24, "demo-council", seed=3)
    assert counts["submitted"] == 24 and counts["answered"] > 0
    reader = system.auth(Role.AUDITOR, "audrey")
    async with httpx.AsyncClient(timeout=15) as client:
        for _ in range(150):
            r = await client.get(
                system.url("reporting", "/v1/reports/volumes"),
                params={"organisation_id": "demo-council", "by": "year"},
                headers=reader,
            )
            rows = r.json()["rows"]
            received = sum(row["complaints"] + row["compliments"] + row["comments"] for row in rows)
            t = await client.get(
                system.url("reporting", "/v1/reports/timeliness"),
                params={"organisation_id": "demo-council"},
                headers=reader,
            )
            answered = sum(row["responses"] for row in t.json()["rows"])
            if received == 24 and answered == counts["answered"]:
                break
            await asyncio.sleep(0.2)
    assert received == 24
    assert answered == counts["answered"]

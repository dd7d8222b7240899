"""Deadlines through its public API: the calculator, a case's clocks moving with casework, and
an organisation's due-soon and overdue lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import Role
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System
from tests.support import eventually


async def test_the_calculator_answers_with_its_reasons(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.get(
            system.url("deadlines", "/v1/calculate"),
            params={
                "procedure": "housing-ombudsman",
                "stage": 1,
                "step": "acknowledge",
                "received": "2025-12-19T18:30:00Z",
                "nation": "england",
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["due_on"] == "2025-12-31"
        assert body["explanation"] == (
            "received Fri 19 Dec 2025 at 18:30, after the 17:00 cut-off → treated as received "
            "Mon 22 Dec 2025; 5 working days after it (HOS Code 2024 6.2), skipping the "
            "weekend, 25 Dec (Christmas Day) and 26 Dec (Boxing Day) → due Wed 31 Dec 2025"
        )
        r = await client.get(
            system.url("deadlines", "/v1/calculate"),
            params={
                "procedure": "lgsco",
                "step": "respond",
                "received": "2025-12-19T10:00:00Z",
                "nation": "ENG",
                "acknowledged": "2025-12-30",
            },
        )
        assert r.json()["due_on"] == "2026-01-14" and r.json()["provisional"] is False
        r = await client.get(
            system.url("deadlines", "/v1/calculate"),
            params={
                "procedure": "spso",
                "stage": 1,
                "step": "respond",
                "received": "2026-06-10T11:00:00Z",
                "nation": "scotland",
            },
        )
        assert r.json()["due_on"] == "2026-06-18"  # past Scotland's 15 June 2026 holiday


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"procedure": "star-chamber"}, "procedure"),
        ({"nation": "atlantis"}, "nation"),
        ({"received": "19/12/2025"}, "received"),
        ({"received": "2025-12-19T10:00:00"}, "received"),
        ({"stage": 3}, "stage"),
        ({"procedure": "spso", "step": "acknowledge"}, "step"),
        ({"step": "dance"}, "step"),
    ],
)
async def test_calculator_refuses_what_it_does_not_know(
    system: System, params: dict[str, Any], field: str
) -> None:
    query = {
        "procedure": "housing-ombudsman",
        "stage": 1,
        "step": "acknowledge",
        "received": "2025-12-19T10:00:00Z",
        "nation": "england",
        **params,
    }
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.get(system.url("deadlines", "/v1/calculate"), params=query)
    assert r.status_code == 422, r.text
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()


async def test_clocks_follow_the_case(system: System) -> None:
    org = "clockwork-council"
    async with httpx.AsyncClient(timeout=15, headers=system.auth(Role.AUDITOR, "reader")) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        late = await new_case(
            client,
            system,
            organisation_id=org,
            channel="letter",
            received_at=(datetime.now(UTC) - timedelta(days=40)).isoformat(),
        )
        case = await new_case(client, system, organisation_id=org)
        cid = case["case_id"]
        await officer.do(
            cid,
            "triage",
            {
                "kind": "complaint",
                "procedure": "housing_ombudsman",
                "service_area": "repairs",
                "category": "x",
            },
        )
        await officer.do(
            cid,
            "acknowledge",
            {"points": [{"point_id": "1", "text": "x"}], "outcomes_sought": ["y"]},
        )

        async def clocks() -> list[dict[str, Any]] | None:
            r = await client.get(system.url("deadlines", "/v1/deadlines"), params={"case_id": cid})
            rows = r.json()["deadlines"]
            states = {d["kind"]: d for d in rows}
            ack, response = states.get("acknowledgement"), states.get("response")
            done = ack and ack["state"] == "met" and response and not response["provisional"]
            return rows if done else None

        rows = await eventually(clocks, what="acknowledgement met, response clock started")
        response = next(d for d in rows if d["kind"] == "response")
        assert response["explanation"].startswith("acknowledged ")

        async def shown_on_case() -> dict[str, Any] | None:
            view = await officer.get(f"/v1/cases/{cid}")
            kinds = {d["kind"]: d for d in view["deadlines"]}
            met = kinds["acknowledgement"]["state"] == "met"
            return view if met and not kinds["response"]["provisional"] else None

        await eventually(shown_on_case, what="casework shows the deadline states")

        async def listed(path: str, case_id: str) -> dict[str, Any] | None:
            r = await client.get(system.url("deadlines", path), params={"organisation_id": org})
            rows = [d for d in r.json()["deadlines"] if d["case_id"] == case_id]
            return rows[0] if rows else None

        async def missed() -> dict[str, Any] | None:
            row = await listed("/v1/deadlines/overdue", late["case_id"])
            return row if row and row["state"] == "missed" else None

        # the breach timer fires within a poll or two of the case arriving
        overdue = await eventually(missed, what="the month-old letter is overdue and missed")
        assert overdue["kind"] == "acknowledgement" and overdue["state"] == "missed"
        fresh = await new_case(client, system, organisation_id=org)
        soon = await eventually(
            lambda: listed("/v1/deadlines/due-soon", fresh["case_id"]),
            what="a new case's acknowledgement is due soon",
        )
        assert soon["kind"] == "acknowledgement" and soon["state"] == "pending"
        # an acknowledged case's 10-working-day response clock is not due within 5 days
        assert await listed("/v1/deadlines/due-soon", cid) is None
        explain = await client.get(
            system.url("deadlines", f"/v1/deadlines/{overdue['deadline_id']}/explain")
        )
        assert explain.json()["state"] == "missed"

"""Organisations as configured data: the procedure a case follows, the nation and closure days
its deadlines count on, and the ward its location falls in."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from contracts import Role
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System
from tests.support import eventually


async def test_an_organisation_shapes_its_cases(system: System) -> None:
    org = f"glen-ha-{uuid.uuid4().hex[:6]}"
    config = {
        "name": "Glen Housing Association",
        "nation": "SCT",
        "default_procedure": "spso",
        "procedures_by_service": {"care": "adult_social_care"},
        "closure_days": ["2026-12-29", "2026-12-30"],
    }
    async with httpx.AsyncClient(timeout=15, headers=system.auth(Role.AUDITOR, "reader")) as client:
        admin = system.auth(Role.ADMIN, "ada-admin")
        url = system.url("casework", f"/v1/organisations/{org}")
        r = await client.put(url, json=config, headers=system.auth(Role.MANAGER))
        assert r.status_code == 403
        r = await client.put(url, json=config, headers=admin)
        assert r.status_code == 200 and r.json()["changed"] is True
        r = await client.put(url, json=config, headers=admin)
        assert r.json() == {"organisation_id": org, "version": 1, "changed": False}
        bad = await client.put(url, json={**config, "nation": "FR"}, headers=admin)
        assert bad.status_code == 422

        wards = "postcode,ward\nEH1 1,Old Town\nEH1 2NG,Castle\nEH2,New Town\n"
        r = await client.put(f"{url}/wards", content=wards, headers=admin)
        assert r.json()["postcodes"] == 3

        async def calendar() -> dict[str, Any] | None:
            r = await client.get(system.url("deadlines", f"/v1/calendars/{org}"))
            return r.json() if r.status_code == 200 else None

        known = await eventually(calendar, what="deadlines learns the calendar")
        assert known["nation"] == "SCT"
        assert known["closure_days"] == ["2026-12-29", "2026-12-30"]

        # 2 January is a Scottish bank holiday: a complaint on 31 Dec counts past it
        case = await new_case(
            client,
            system,
            organisation_id=org,
            service_area="repairs",
            deadlines=1,  # SPSO frontline: one 5-day response, no separate acknowledgement
            received_at=datetime(2025, 12, 31, 10, tzinfo=UTC).isoformat(),
        )
        assert case["procedure"] == "spso"
        (response,) = case["deadlines"]
        assert response["kind"] == "response" and response["due_on"] == "2026-01-09"
        assert "2 Jan (" in response["explanation"]

        care = await new_case(client, system, organisation_id=org, service_area="care")
        assert care["procedure"] == "adult_social_care"

        officer = Staff(client, system, "olivia", Role.OFFICER)
        triaged = await officer.do(
            case["case_id"],
            "triage",
            {
                "kind": "complaint",
                "procedure": "spso",
                "service_area": "repairs",
                "category": "damp",
                "location": {"address": "1 High St", "postcode": "eh12ng"},
            },
        )
        assert triaged["case"]["location"] == {
            "address": "1 High St",
            "postcode": "EH1 2NG",
            "ward": "Castle",
        }
        found = await officer.get("/v1/cases", ward="Castle")
        assert case["case_id"] in [c["case_id"] for c in found["cases"]]
        listed = await officer.get(f"/v1/organisations/{org}")
        assert listed["ward_postcodes"] == 3 and listed["nation"] == "SCT"


async def test_the_same_new_organisation_configured_at_once_is_configured_once(
    system: System,
) -> None:
    """Several admins' tools (or retries) configuring a new organisation at the same moment all
    succeed: one makes the change, the others find it made."""
    body = {"name": "Concurrent Council", "nation": "ENG", "default_procedure": "lgsco"}
    url = system.url("casework", "/v1/organisations/concurrent-council")
    async with httpx.AsyncClient(timeout=30) as client:
        replies = await asyncio.gather(
            *(client.put(url, json=body, headers=system.auth(Role.ADMIN)) for _ in range(8))
        )
    assert [r.status_code for r in replies] == [200] * 8, [r.text for r in replies]
    assert sum(r.json()["changed"] for r in replies) == 1
    assert {r.json()["version"] for r in replies} == {1}

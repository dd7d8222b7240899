"""The contact-centre agent's channel: a call keyed in with the agent's id, the call time and a
read-back summary; member enquiries with the member's details and the resident's consent; and
triage hints carried through to the case for an officer to confirm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from contracts import Role
from tests.e2e.casework_client import Staff
from tests.e2e.conftest import System
from tests.e2e.test_flow import case_for

CALL = {
    "kind": "member_enquiry",
    "channel": "phone",
    "organisation_id": "agent-council",
    "service_area": "housing repairs",
    "summary": "Damp in the bedroom for six months; the resident's child is unwell",
    "outcome_sought": "Repair and a visit",
    "call_time": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
    "complainant": {"name": "Pat Resident", "phone": "07700 900777"},
    "location": {"address": "Flat 4, 2 Mill Lane", "postcode": "m1 1ae"},
    "read_back_confirmed": True,
    "member": {
        "name": "Sam Jones",
        "role": "councillor",
        "email": "cllr.jones@example.gov.uk",
        "constituency_or_ward": "Ancoats",
    },
    "consent_given": True,
}


async def post(
    client: httpx.AsyncClient, system: System, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await client.post(
        system.url("intake", "/v1/agent/submissions"), json=body, headers=headers
    )


async def test_an_agent_logs_a_member_enquiry(system: System) -> None:
    agent = system.auth(Role.AGENT, "agent-ali")
    async with httpx.AsyncClient(timeout=15) as client:
        r = await post(client, system, CALL, agent)
        assert r.status_code == 202, r.text
        receipt = r.json()
        assert "Councillor Sam Jones has raised this for Pat Resident" in receipt["read_back"]
        case = await case_for(client, system, receipt["submission_id"])
        assert case["reference"].startswith("MEQ-")
        assert case["channel"] == "phone"
        history = await Staff(client, system, "audrey", Role.AUDITOR).get(
            f"/v1/cases/{case['case_id']}/history"
        )
        opened = history["events"][0]["payload"]
        assert opened["member"]["name"] == "Sam Jones"
        assert opened["location"] == {"address": "Flat 4, 2 Mill Lane", "postcode": "M1 1AE"}


async def test_agent_rules_and_roles(system: System) -> None:
    agent = system.auth(Role.AGENT, "agent-ali")
    async with httpx.AsyncClient(timeout=15) as client:
        for changes, reason in (
            ({"read_back_confirmed": False}, "read the summary back"),
            ({"consent_given": None}, "resident's consent"),
            ({"member": None}, "MP's or councillor's details"),
            ({"channel": "web"}, "phone calls and face-to-face"),
            ({"kind": "complaint"}, "member details belong to a member enquiry"),
            ({"location": {"postcode": "nowhere"}}, "UK postcode"),
        ):
            r = await post(client, system, {**CALL, **changes}, agent)
            assert r.status_code == 422, (changes, r.text)
            assert any(reason in e["reason"] for e in r.json()["errors"]), r.json()
        assert (await post(client, system, CALL, {})).status_code == 401
        auditor = system.auth(Role.AUDITOR, "audrey")
        assert (await post(client, system, CALL, auditor)).status_code == 403


async def test_triage_hints_reach_the_case(system: System) -> None:
    body = {
        "summary": "My neighbour is being neglected and I have told the local newspaper",
        "complainant": {"name": "Lee", "email": "lee@example.org"},
        "organisation_id": "agent-council",
    }
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.post(system.url("intake", "/v1/submissions"), json=body)
        case = await case_for(client, system, r.json()["submission_id"])
        view = await Staff(client, system, "olivia", Role.OFFICER).get(
            f"/v1/cases/{case['case_id']}"
        )
        assert view["state"]["triage_hints"] == ["safeguarding", "media_or_legal_risk"]

"""Regression tests for what schemathesis found: each request here once made a service answer
500, or answer in a shape its OpenAPI document did not describe."""

from __future__ import annotations

import json

import httpx
import pytest

from contracts import Role
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System
from tests.e2e.test_flow import COMPLAINT


def refused_as_unstorable(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["detail"] == "invalid request"
    if body["errors"][0]["field"] == "summary":  # the JSON parser itself refused the surrogate
        assert "unicode" in body["errors"][0]["reason"]
        return
    assert body["errors"] == [
        {
            "field": "(request)",
            "reason": "text may not contain NUL characters or unpaired surrogates",
        }
    ]


@pytest.mark.parametrize("text", ["boiler\u0000broken", "boiler \ud800 broken"])
async def test_a_submission_with_unstorable_text_is_a_422_not_a_500(
    system: System, text: str
) -> None:
    body = json.dumps({**COMPLAINT, "summary": text}).encode()  # escaped: \u0000, \ud800
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.post(
            system.url("intake", "/v1/submissions"),
            content=body,
            headers={"content-type": "application/json"},
        )
    refused_as_unstorable(r)


async def test_a_staff_command_with_a_nul_character_is_refused_and_changes_nothing(
    system: System,
) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        case = await new_case(client, system, organisation_id="bad-requests-council")
        officer = Staff(client, system, "olivia", Role.OFFICER)
        before = (await officer.get(f"/v1/cases/{case['case_id']}"))["version"]
        r = await client.post(
            system.url("casework", f"/v1/cases/{case['case_id']}/contacts"),
            json={
                "contact_id": "C1",
                "contact_kind": "call",
                "occurred_at": "2026-03-03T10:15:00Z",
                "with_whom": "resident",
                "summary": "Spoke to the resident\u0000",
            },
            headers=officer.headers,
        )
        refused_as_unstorable(r)
        assert (await officer.get(f"/v1/cases/{case['case_id']}"))["version"] == before
        form = await client.post(
            system.url("intake", "/"),
            content=b"summary=leak%00&kind=complaint",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        refused_as_unstorable(form)


async def test_a_search_for_a_nul_character_is_a_422_not_a_500(system: System) -> None:
    async with httpx.AsyncClient(timeout=15, headers=system.auth()) as client:
        r = await client.get(system.url("casework", "/v1/cases"), params={"q": "leak\u0000"})
    refused_as_unstorable(r)


async def test_an_invalid_organisation_is_a_422_with_each_field_and_reason(system: System) -> None:
    async with httpx.AsyncClient(timeout=15, headers=system.auth(Role.ADMIN, "ada")) as client:
        r = await client.put(
            system.url("casework", "/v1/organisations/bad-requests-council"),
            json={
                "name": "Bad Requests Council",
                "nation": "ENG",
                "default_procedure": "housing_ombudsman",
                # looser than the Code allows: the contract's own validator refuses it
                "stricter_timescales": [
                    {
                        "procedure": "housing_ombudsman",
                        "stage": 1,
                        "kind": "response",
                        "working_days": 99,
                    }
                ],
            },
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"] == "invalid request"
        assert all({"field", "reason"} == set(e) for e in r.json()["errors"])
        wards = await client.put(
            system.url("casework", "/v1/organisations/bad-requests-council/wards"),
            content=b"not,a,csv\n",
        )
        assert wards.status_code == 422
        assert wards.json()["errors"][0]["field"] == "(body)"


async def test_the_openapi_documents_say_what_comes_back(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        for service in ("intake", "casework", "reporting"):
            doc = (await client.get(system.url(service, "/openapi.json"))).json()
            metrics = doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
            assert list(metrics) == ["text/plain"]
            invalid = doc["components"]["schemas"].get("HTTPValidationError")
            if invalid is not None:
                assert invalid["required"] == ["detail", "errors"]
        reporting = (await client.get(system.url("reporting", "/openapi.json"))).json()
        volumes = reporting["paths"]["/v1/reports/volumes"]["get"]["responses"]["200"]
        assert set(volumes["content"]) == {"application/json", "text/csv"}

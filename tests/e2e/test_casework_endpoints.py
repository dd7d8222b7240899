"""Every staff endpoint against the running system: what it allows, what it refuses and why,
who may call it, and what happens when two officers act on one case at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from contracts import Role
from redress.clock import london_today
from services.casework.command_routes import ROUTES
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System

TODAY = london_today(datetime.now(UTC))


def soon(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


TRIAGE = {
    "kind": "complaint",
    "procedure": "housing_ombudsman",
    "service_area": "repairs",
    "category": "repairs",
}
ACK = {"points": [{"point_id": "1", "text": "x"}], "outcomes_sought": ["y"]}


async def test_every_command_endpoint_needs_a_token_and_a_role(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        case = await new_case(client, system)
        auditor = system.auth(Role.AUDITOR, "audrey")
        for route in ROUTES:
            url = system.url("casework", f"/v1/cases/{case['case_id']}/{route.path}")
            r = await client.post(url, json=route.example or None)
            assert r.status_code == 401, (route.path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            r = await client.post(url, json=route.example or None, headers=auditor)
            assert r.status_code == 403, (route.path, r.text)


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-token", "Basic b2xpdmlhOnNlY3JldA=="],
    ids=["garbage token", "wrong scheme"],
)
async def test_bad_credentials_are_401(system: System, header: str) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.get(system.url("casework", "/v1/cases"), headers={"Authorization": header})
    assert r.status_code == 401


async def test_expired_and_forged_tokens_are_401(system: System) -> None:
    from redress.auth import mint

    expired = mint(
        system.token_key, user="o", role=Role.OFFICER, now=datetime.now(UTC) - timedelta(hours=9)
    )
    forged = mint("some other key entirely, not the one", user="o", role=Role.ADMIN)
    async with httpx.AsyncClient(timeout=15) as client:
        for token, reason in ((expired, "expired"), (forged, "not valid")):
            r = await client.get(
                system.url("casework", "/v1/cases"), headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 401 and reason in r.json()["detail"]


async def test_unknown_case_is_404_and_bad_body_is_422(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        missing = "00000000-0000-4000-8000-000000000000"
        await officer.do(missing, "triage", TRIAGE, expect=404)
        await officer.get(f"/v1/cases/{missing}", expect=404)
        case = await new_case(client, system)
        bad = await officer.do(
            case["case_id"], "triage", {**TRIAGE, "priority": "asap"}, expect=422
        )
        assert bad["errors"][0]["field"] == "priority"
        await officer.do(case["case_id"], "triage", {**TRIAGE, "mood": "x"}, expect=422)


async def test_two_officers_at_once_one_wins_the_other_gets_409(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        case = await new_case(client, system)
        cid = case["case_id"]
        olivia = Staff(client, system, "olivia", Role.OFFICER)
        oscar = Staff(client, system, "oscar", Role.OFFICER)
        await olivia.do(cid, "triage", TRIAGE)
        version = (await olivia.get(f"/v1/cases/{cid}"))["version"]
        results = await asyncio.gather(
            olivia.do(cid, "assign", {"officer": "olivia"}, if_match=version, expect=None),  # type: ignore[arg-type]
            oscar.do(cid, "assign", {"officer": "oscar"}, if_match=version, expect=None),  # type: ignore[arg-type]
            return_exceptions=True,
        )
        statuses = sorted(_status(r) for r in results)
        assert statuses == [200, 409], results
        latest = await olivia.get(f"/v1/cases/{cid}")
        assert latest["version"] == version + 1
        history = await olivia.get(f"/v1/cases/{cid}/history")
        assert [e["event_type"] for e in history["events"]].count("CaseAssigned") == 1
        # a stale If-Match is refused with the current version, not applied
        stale = await oscar.do(cid, "assign", {"officer": "oscar"}, if_match=version, expect=409)
        assert stale["current_version"] == version + 1
        moved = await oscar.do(cid, "assign", {"officer": "omar"}, if_match=version + 1)
        assert moved["version"] == version + 2


def _status(result: object) -> int:
    if isinstance(result, AssertionError):
        text = str(result)
        return int(text.split(": ", 1)[1].split(" ", 1)[0])
    return 200


async def test_triage_alternatives(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        a = await new_case(client, system)
        done = await officer.do(
            a["case_id"],
            "not-accepted",
            {
                "reason": "legal_proceedings",
                "explanation": "A claim is before the court.",
                "signposting": "You may contact the Housing Ombudsman.",
            },
        )
        assert done["case"]["resolution"] == "not_accepted"
        b = await new_case(client, system)
        done = await officer.do(
            b["case_id"],
            "redirect",
            {
                "target": "freedom_of_information",
                "destination": "FOI team",
            },
        )
        assert done["case"]["resolution"] == "redirected"
        c = await new_case(client, system)
        done = await officer.do(
            c["case_id"],
            "reclassify-as-service-request",
            {
                "service_area": "repairs",
                "note": "First report of a leak",
            },
        )
        assert done["case"]["resolution"] == "service_request"
        d = await new_case(client, system, kind="compliment")
        assert d["reference"].startswith("CPL-")
        done = await officer.do(d["case_id"], "pass-to-service", {"service_area": "parks"})
        assert done["case"]["lifecycle"] == "closed"
        reopened = await officer.do(d["case_id"], "reopen", {"reason": "Sent to wrong team"})
        assert reopened["case"]["lifecycle"] == "new"
        withdrawn = await officer.do(d["case_id"], "withdraw", {"reason": "Duplicate"})
        assert withdrawn["case"]["resolution"] == "withdrawn"


async def test_consent_extensions_pauses_parts_flags_contacts(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        manager = Staff(client, system, "maya", Role.MANAGER)
        case = await new_case(client, system)
        cid = case["case_id"]
        await officer.do(cid, "triage", {**TRIAGE, "procedure": "spso"})
        await officer.do(
            cid,
            "representative",
            {
                "name": "Cllr Jones",
                "role": "councillor",
                "consent_received": False,
            },
        )
        held = await officer.do(cid, "acknowledge", ACK, expect=409)
        assert "consent" in held["detail"]
        await officer.do(cid, "consent", {"note": "Form received"})
        await officer.do(cid, "acknowledge", ACK)
        requested = await officer.do(
            cid,
            "extensions",
            {
                "extension_id": "E1",
                "working_days": 3,
                "reason": "Awaiting the surveyor",
            },
        )
        assert requested["events"] == ["ExtensionRequested"]  # SPSO: a manager authorises
        await officer.do(cid, "extension-approvals", {"extension_id": "E1"}, expect=403)
        granted = await manager.do(cid, "extension-approvals", {"extension_id": "E1"})
        assert granted["events"] == ["ExtensionGranted"]
        await officer.do(
            cid,
            "extensions",
            {
                "extension_id": "E2",
                "working_days": 2,
                "reason": "More",
            },
        )
        await manager.do(cid, "extension-refusals", {"extension_id": "E2", "reason": "No"})
        over = await manager.do(
            cid, "extensions", {"extension_id": "E3", "working_days": 3, "reason": "x"}, expect=409
        )
        assert "at most 5 working days" in over["detail"]
        paused = await officer.do(cid, "pause", {"reason": "x"}, expect=409)
        assert "does not allow the clock to stop" in paused["detail"]
        await officer.do(
            cid,
            "service-requests",
            {
                "part_id": "A",
                "service_area": "rents",
                "due_on": soon(3),
                "request": "Rent?",
            },
        )
        chased = await officer.do(cid, "service-chasers", {"part_id": "A"})
        assert chased["case"]["stages"][0]["parts"][0]["chased"] == 1
        repairs = Staff(client, system, "ravi", Role.SERVICE_RESPONDER, "repairs")
        await repairs.get(f"/v1/cases/{cid}", expect=200)  # the case is repairs'
        rents = Staff(client, system, "rhea", Role.SERVICE_RESPONDER, "rents")
        await rents.do(cid, "service-responses", {"part_id": "A", "response": "Paid up"})
        outsider = Staff(client, system, "sam", Role.SERVICE_RESPONDER, "parks")
        await outsider.get(f"/v1/cases/{cid}", expect=403)
        flagged = await officer.do(
            cid,
            "flags",
            {
                "flag_id": "F1",
                "flag_type": "risk",
                "detail": "Local paper asking",
                "risk_kind": "media",
            },
        )
        assert flagged["case"]["active_flags"][0]["risk_kind"] == "media"
        found = await officer.get("/v1/cases", flag="risk")
        assert cid in [c["case_id"] for c in found["cases"]]
        await officer.do(cid, "flag-lifts", {"flag_id": "F1", "reason": "Story dropped"})
        await officer.do(
            cid,
            "contacts",
            {
                "contact_id": "C1",
                "contact_kind": "meeting",
                "occurred_at": datetime.now(UTC).isoformat(),
                "with_whom": "resident and Cllr",
                "summary": "Agreed the points",
                "minutes": "Present: ...",
            },
        )
        await officer.do(
            cid,
            "remedies",
            {
                "remedy_id": "R2",
                "remedy_type": "action",
                "description": "Replace the door",
                "due_on": soon(10),
            },
        )
        await officer.do(cid, "remedy-completions", {"remedy_id": "R2", "note": "Done"})
        await officer.do(
            cid,
            "learning-actions",
            {
                "action_id": "L1",
                "description": "x",
                "owner": "y",
                "due_on": soon(30),
            },
        )
        done = await officer.do(cid, "learning-action-completions", {"action_id": "L1"})
        assert done["case"]["learning_actions"][0]["completed_on"] == TODAY.isoformat()


async def test_adult_social_care_clock_pauses_and_resumes(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        case = await new_case(client, system)
        cid = case["case_id"]
        await officer.do(cid, "triage", {**TRIAGE, "procedure": "adult_social_care"})
        await officer.do(cid, "acknowledge", ACK)
        paused = await officer.do(cid, "pause", {"reason": "Waiting for the GP's letter"})
        assert paused["case"]["current_stage"]["paused"] is True
        resumed = await officer.do(cid, "resume")
        assert resumed["case"]["current_stage"]["paused"] is False


async def test_queues_and_search(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        officer = Staff(client, system, "quinn", Role.OFFICER)
        case = await new_case(
            client,
            system,
            complainant={
                "name": "Zebedee Searchable",
                "email": "zeb@example.org",
                "postcode": "LS1 4AP",
            },
        )
        cid = case["case_id"]
        for params in (
            {"q": "Searchable"},
            {"name": "zebedee"},
            {"email": "ZEB@example.org"},
            {"postcode": "ls14ap"},
            {"reference": case["reference"]},
        ):
            found = await officer.get("/v1/cases", **params)
            assert [c["case_id"] for c in found["cases"]] == [cid], params
        await officer.do(cid, "triage", TRIAGE)
        await officer.do(cid, "assign", {"officer": "quinn"})
        load = await officer.get("/v1/queues/caseload")
        (mine,) = [c for c in load["cases"] if c["case_id"] == cid]
        assert mine["next_due_on"] is not None
        overdue = await officer.get("/v1/queues/overdue")
        assert cid not in [c["case_id"] for c in overdue["cases"]]
        # a letter that sat unopened for a month is overdue for acknowledgement at once
        late = await new_case(
            client,
            system,
            channel="letter",
            received_at=(datetime.now(UTC) - timedelta(days=30)).isoformat(),
        )
        overdue = await officer.get("/v1/queues/overdue")
        (row,) = [c for c in overdue["cases"] if c["case_id"] == late["case_id"]]
        assert row["overdue_step"] == "acknowledgement"
        assert row["overdue_since"] < TODAY.isoformat()
        triage_queue = await officer.get("/v1/queues/triage")
        assert late["case_id"] in [c["case_id"] for c in triage_queue["cases"]]


async def test_evidence_upload_limits(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        case = await new_case(client, system)
        cid = case["case_id"]
        url = system.url("casework", f"/v1/cases/{cid}/evidence")
        headers = system.auth()
        pdf = b"%PDF-1.7\n" + b"x" * 100
        r = await client.post(
            url,
            headers=headers,
            files={"file": ("letter.pdf", pdf, "application/pdf")},
            data={"description": "The resident's letter"},
        )
        assert r.status_code == 201, r.text
        evidence_id = r.json()["evidence_id"]
        got = await client.get(f"{url}/{evidence_id}", headers=headers)
        assert got.content == pdf and got.headers["content-type"] == "application/pdf"
        r = await client.post(
            url,
            headers=headers,
            files={"file": ("x.exe", b"MZ\x90\x00", "application/x-msdownload")},
        )
        assert r.status_code == 415
        r = await client.post(
            url, headers=headers, files={"file": ("fake.pdf", b"MZ\x90\x00", "application/pdf")}
        )
        assert r.status_code == 415
        big = b"%PDF-" + b"0" * (10 * 1024 * 1024)
        r = await client.post(
            url, headers=headers, files={"file": ("big.pdf", big, "application/pdf")}
        )
        assert r.status_code == 413
        view = await Staff(client, system, "a", Role.AUDITOR).get(f"/v1/cases/{cid}")
        assert view["state"]["evidence"] == [evidence_id]

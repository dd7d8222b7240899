"""Retries, duplicates, late complaints and letters, through the public and agent APIs of the
running system: a retry with the same Idempotency-Key or the same complaint from the same
person again is one case; a reused key with another body is refused; a complaint about
something long ago is accepted with a hint; a scanned letter becomes a case with its scans as
evidence."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from contracts import Role
from tests.e2e.casework_client import Staff
from tests.e2e.conftest import ATTACHMENT_MAX_BYTES, System
from tests.e2e.test_flow import COMPLAINT, case_for, fresh, submit
from tests.support import eventually

#: its own organisation, so that reports other tests count never see these cases
ORG = "e2e-intake"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def person(**changes: Any) -> dict[str, Any]:
    """A complaint from a person no other test uses."""
    who = uuid.uuid4().hex[:8]
    body = {**fresh(COMPLAINT), "organisation_id": ORG}
    body["complainant"] = {"name": f"Res {who}", "email": f"res.{who}@example.org", **changes}
    return body


async def cases_matching(client: httpx.AsyncClient, system: System, text: str) -> list[Any]:
    r = await client.get(
        system.url("casework", "/v1/cases"), params={"q": text}, headers=system.auth()
    )
    assert r.status_code == 200, r.text
    return r.json()["cases"]  # type: ignore[no-any-return]


async def test_a_retry_with_the_same_key_gets_the_same_receipt_and_one_case(
    system: System,
) -> None:
    body = person()
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    async with httpx.AsyncClient(timeout=15) as client:
        answers = [await submit(client, system, body, key, unique=False) for _ in range(3)]
        assert answers[0] == answers[1] == answers[2]
        assert answers[0]["status"] == "received"
        await case_for(client, system, answers[0]["submission_id"])
        tag = body["summary"][-20:]
        assert len(await cases_matching(client, system, tag)) == 1

        other = {**body, "summary": "Something else entirely about parking permits."}
        r = await client.post(system.url("intake", "/v1/submissions"), json=other, headers=key)
        assert r.status_code == 422, r.text
        [error] = r.json()["errors"]
        assert error["field"] == "Idempotency-Key"
        assert "already used for a different submission" in error["reason"]


async def test_the_same_complaint_again_is_linked_to_the_first(system: System) -> None:
    body = person(phone="+44 7700 900456")
    async with httpx.AsyncClient(timeout=15) as client:
        first = await submit(client, system, body, unique=False)
        assert first["status"] == "received"
        # a double click: the same body again, without a key
        again = await submit(client, system, body, unique=False)
        # by phone only, written differently, words in another case and order
        by_phone = {
            **body,
            "summary": body["summary"].upper(),
            "complainant": {"name": "R", "phone": "07700 900456"},
        }
        third = await submit(client, system, by_phone, unique=False)
        for linked in (again, third):
            assert linked["status"] == "duplicate"
            assert linked["submission_id"] == first["submission_id"]
            assert linked["received_at"] == first["received_at"]
        case = await case_for(client, system, first["submission_id"])
        tag = body["summary"][-20:]
        assert [c["case_id"] for c in await cases_matching(client, system, tag)] == [
            case["case_id"]
        ]
        # someone else with the same words is not a duplicate
        stranger = {**body, "complainant": {"name": "S", "email": "s@example.org"}}
        assert (await submit(client, system, stranger, unique=False))["status"] == "received"


async def test_a_complaint_about_long_ago_is_accepted_and_marked_for_triage(
    system: System,
) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=800)).date().isoformat()
    recent = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    async with httpx.AsyncClient(timeout=15) as client:
        staff = Staff(client, system, "olivia", Role.OFFICER)
        hints = {}
        late_case = ""
        for when in (long_ago, recent):
            receipt = await submit(client, system, {**person(), "happened_on": when})
            case = await case_for(client, system, receipt["submission_id"])
            view = await staff.get(f"/v1/cases/{case['case_id']}")
            hints[when] = view["state"]["triage_hints"]
            late_case = case["case_id"] if when == long_ago else late_case
        assert "outside_time_limit" in hints[long_ago]
        assert "outside_time_limit" not in hints[recent]
        queue = {c["case_id"]: c for c in (await staff.get("/v1/queues/triage"))["cases"]}
        assert "outside_time_limit" in queue[late_case]["triage_hints"]
        tomorrow = (date.today() + timedelta(days=2)).isoformat()
        r = await client.post(
            system.url("intake", "/v1/submissions"), json={**person(), "happened_on": tomorrow}
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "happened_on"


def letter(**changes: Any) -> dict[str, Any]:
    who = uuid.uuid4().hex[:8]
    return {
        "summary": f"Letter {who}: the lift in our block has been broken for a month.",
        "outcome_sought": "Repair the lift",
        "organisation_id": ORG,
        "service_area": "housing repairs",
        "date_stamped": (date.today() - timedelta(days=3)).isoformat(),
        "complainant": {
            "name": f"Mr L {who}",
            "address": "12 Mill Lane, Manchester",
            "postcode": "M1 1AE",
            "preferred_contact": "letter",
        },
        **changes,
    }


async def post_letter(
    client: httpx.AsyncClient,
    system: System,
    body: dict[str, Any] | str,
    scans: list[tuple[str, bytes, str]],
    headers: dict[str, str],
) -> httpx.Response:
    return await client.post(
        system.url("intake", "/v1/agent/letters"),
        data={"letter": body if isinstance(body, str) else json.dumps(body)},
        files=[("scans", scan) for scan in scans],
        headers=headers,
    )


async def test_an_agent_records_a_scanned_letter(system: System) -> None:
    agent = system.auth(Role.AGENT, "agent-ali")
    body = letter()
    async with httpx.AsyncClient(timeout=15) as client:
        r = await post_letter(
            client,
            system,
            body,
            [("page1.pdf", PDF, "application/pdf"), ("page2.png", PNG, "image/png")],
            agent,
        )
        assert r.status_code == 202, r.text
        receipt = r.json()
        case = await case_for(client, system, receipt["submission_id"])
        assert case["channel"] == "letter"
        assert case["received_at"].startswith(body["date_stamped"])
        history = await Staff(client, system, "audrey", Role.AUDITOR).get(
            f"/v1/cases/{case['case_id']}/history"
        )
        files = {
            e["payload"]["filename"]: e["payload"]
            for e in history["events"]
            if e["event_type"] == "EvidenceAttached"
        }
        assert set(files) == {"page1.pdf", "page2.png"}
        pdf = files["page1.pdf"]
        assert (pdf["content_type"], pdf["size_bytes"]) == ("application/pdf", len(PDF))
        download = system.url("intake", f"/v1/attachments/{pdf['evidence_id']}")
        got = await client.get(download, headers=system.auth(Role.AUDITOR, "audrey"))
        assert got.status_code == 200 and got.content == PDF
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["x-content-sha256"] == pdf["sha256"]
        assert (await client.get(download)).status_code == 401
        missing = system.url("intake", f"/v1/attachments/{'0' * 32}")
        assert (await client.get(missing, headers=system.auth())).status_code == 404

        # an officer's own upload sits beside the scans in the case file, kept by casework
        officer = system.auth()
        up = await client.post(
            system.url("casework", f"/v1/cases/{case['case_id']}/evidence"),
            files={"file": ("reply.txt", b"Called Mr L back", "text/plain")},
            headers=officer,
        )
        assert up.status_code == 201, up.text
        listed = await client.get(
            system.url("casework", f"/v1/cases/{case['case_id']}/evidence"), headers=officer
        )
        where = {e["filename"]: e["download"] for e in listed.json()["evidence"]}
        assert where["page1.pdf"] == {
            "service": "intake",
            "path": f"/v1/attachments/{pdf['evidence_id']}",
        }
        assert where["page2.png"]["service"] == "intake"
        own = await client.get(system.url("casework", where["reply.txt"]["path"]), headers=officer)
        assert where["reply.txt"]["service"] == "casework" and own.content == b"Called Mr L back"

        # the same letter keyed twice with one key is one case; with other scans it is refused
        key = {**agent, "Idempotency-Key": f"letter-{uuid.uuid4()}"}
        scans = [("page1.pdf", PDF, "application/pdf")]
        again = letter()
        twice = [(await post_letter(client, system, again, scans, key)).json() for _ in range(2)]
        assert twice[0] == twice[1] and twice[0]["status"] == "received"
        other_scan = [("page1.png", PNG, "image/png")]
        reused = await post_letter(client, system, again, other_scan, key)
        assert reused.status_code == 422 and "Idempotency-Key" in reused.text


async def test_bad_letters_are_refused_with_reasons(system: System) -> None:
    agent = system.auth(Role.AGENT, "agent-ali")
    pdf = [("scan.pdf", PDF, "application/pdf")]
    async with httpx.AsyncClient(timeout=15) as client:
        exe = await post_letter(
            client,
            system,
            letter(),
            [("scan.pdf", b"MZ\x90\x00" + b"\x00" * 60, "application/pdf")],
            agent,
        )
        assert exe.status_code == 415 and "program" in exe.json()["detail"]
        zipped = await post_letter(
            client, system, letter(), [("a.zip", b"PK\x03\x04..", "application/zip")], agent
        )
        assert zipped.status_code == 415
        big = await post_letter(
            client,
            system,
            letter(),
            [("big.pdf", PDF + b"0" * ATTACHMENT_MAX_BYTES, "application/pdf")],
            agent,
        )
        assert big.status_code == 413
        many = await post_letter(client, system, letter(), pdf * 11, agent)
        assert many.status_code == 422 and many.json()["errors"][0]["field"] == "scans"
        for body, field in (
            (letter(date_stamped=None), "letter.date_stamped"),
            (letter(complainant={"name": "No Way"}), "letter"),
            (
                letter(complainant={"name": "X", "address": "1 Road", "postcode": "nowhere"}),
                "letter.complainant.postcode",
            ),
            ("{not json", "letter"),
        ):
            r = await post_letter(client, system, body, pdf, agent)
            assert r.status_code == 422, r.text
            assert any(e["field"] == field for e in r.json()["errors"]), r.json()
        future = letter(date_stamped=(date.today() + timedelta(days=3)).isoformat())
        r = await post_letter(client, system, future, pdf, agent)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "received_at"
        assert (await post_letter(client, system, letter(), pdf, {})).status_code == 401
        auditor = system.auth(Role.AUDITOR, "audrey")
        assert (await post_letter(client, system, letter(), pdf, auditor)).status_code == 403


async def test_receipts_of_duplicates_are_stable(system: System) -> None:
    """Reading a duplicate's receipt back later gives the first submission again."""
    body = person()
    async with httpx.AsyncClient(timeout=15) as client:
        first = await submit(client, system, body, unique=False)
        key = {"Idempotency-Key": f"dup-{uuid.uuid4()}"}
        dup = await submit(client, system, body, key, unique=False)
        retried = await submit(client, system, body, key, unique=False)
        assert dup == retried and dup["submission_id"] == first["submission_id"]

        async def fetched() -> dict[str, Any] | None:
            r = await client.get(
                system.url("intake", f"/v1/submissions/{first['submission_id']}"),
                headers=system.auth(),
            )
            return r.json() if r.status_code == 200 else None

        assert (await eventually(fetched, what="receipt"))["status"] == "received"


async def test_a_double_click_at_the_same_moment_is_one_submission(system: System) -> None:
    """Two copies racing each other: the person's lock makes one the first and the other
    its duplicate, never two cases; the same with one Idempotency-Key."""
    async with httpx.AsyncClient(timeout=15) as client:
        for headers in ({}, {"Idempotency-Key": f"race-{uuid.uuid4()}"}):
            body = person()
            answers = await asyncio.gather(
                *(submit(client, system, body, headers, unique=False) for _ in range(4))
            )
            assert len({a["submission_id"] for a in answers}) == 1, answers
            statuses = sorted(a["status"] for a in answers)
            if headers:
                assert statuses == ["received"] * 4  # a retry, not a duplicate
            else:
                assert statuses == ["duplicate"] * 3 + ["received"]
            await case_for(client, system, answers[0]["submission_id"])
            assert len(await cases_matching(client, system, body["summary"][-20:])) == 1

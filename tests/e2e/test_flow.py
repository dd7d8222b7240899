"""The first end-to-end flow: a web complaint becomes a case with a reference and due dates, is
acknowledged once, and is counted in reporting; bad input is refused with reasons."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import httpx
import pytest

from contracts import Role
from redress.embedded.smtp_sink import read_mailbox
from tests.e2e.conftest import System
from tests.e2e.organisations import ensure_organisation
from tests.support import eventually

COMPLAINT = {
    "kind": "complaint",
    "channel": "web",
    "organisation_id": "e2e-council",
    "service_area": "housing repairs",
    "summary": "My boiler repair was booked three times and nobody came.",
    "outcome_sought": "Fix the boiler and explain what went wrong",
    "complainant": {"name": "Ada Resident", "email": "ada@example.org", "postcode": "sw1a 1aa"},
}


def fresh(body: dict[str, Any]) -> dict[str, Any]:
    """The body with words no other test's complaint has, so that intake's duplicate rule
    (same person, same words, same day) never links two tests' complaints."""
    tag = " ".join(uuid.uuid4().hex[i : i + 6] for i in range(0, 24, 6))
    return {**body, "summary": f"{body['summary']} (test {tag})"}


async def submit(
    client: httpx.AsyncClient,
    system: System,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    unique: bool = True,
) -> dict[str, Any]:
    """Submit through the public API; ``unique`` (the default) makes it a new complaint even
    when another test sent the same body. Its organisation is configured first."""
    await ensure_organisation(system, body.get("organisation_id", "default"))
    r = await client.post(
        system.url("intake", "/v1/submissions"),
        json=fresh(body) if unique else body,
        headers=headers,
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "received" or not unique, r.text
    return r.json()  # type: ignore[no-any-return]


async def case_for(
    client: httpx.AsyncClient, system: System, submission_id: str, deadlines: int = 2
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await client.get(
            system.url("casework", "/v1/cases"),
            params={"submission_id": submission_id},
            headers=system.auth(),
        )
        cases = r.json()["cases"]
        return cases[0] if cases and len(cases[0]["deadlines"]) == deadlines else None

    return await eventually(probe, what=f"case with deadlines for {submission_id}")


async def test_a_web_complaint_flows_through_all_five_services(system: System) -> None:
    async with httpx.AsyncClient(timeout=10, headers=system.auth(Role.AUDITOR, "reader")) as client:
        before = await client.get(
            system.url("reporting", "/v1/reports/summary"),
            params={"organisation_id": "e2e-council"},
        )
        receipt = await submit(client, system, COMPLAINT)
        case = await case_for(client, system, receipt["submission_id"])

        assert re.fullmatch(r"CMP-\d{4}-\d{6}", case["reference"])
        assert case["lifecycle"] == "new" and case["stage"] == 1
        assert case["procedure"] == "housing_ombudsman"
        kinds = {d["kind"]: d for d in case["deadlines"]}
        assert kinds["acknowledgement"]["due_on"] < kinds["response"]["due_on"]
        assert "working days" in kinds["acknowledgement"]["explanation"]

        deadlines = await client.get(
            system.url("deadlines", "/v1/deadlines"), params={"case_id": case["case_id"]}
        )
        assert {d["due_on"] for d in deadlines.json()["deadlines"]} == {
            d["due_on"] for d in case["deadlines"]
        }

        async def delivered() -> list[dict[str, Any]] | None:
            r = await client.get(
                system.url("notifications", "/v1/notifications"),
                params={"case_id": case["case_id"]},
            )
            rows = r.json()["notifications"]
            return rows if rows and rows[0]["status"] == "sent" else None

        (letter,) = await eventually(delivered, what="the receipt is sent")
        assert letter["template"] == "receipt" and letter["channel"] == "email"
        assert letter["recipient"] == "ada@example.org"
        assert case["reference"] in letter["subject"]
        mail = [
            m
            for m in read_mailbox(system.stack.mail_dir)
            if m["Message-ID"] == f"<{letter['notification_id']}@redress>"
        ]
        assert len(mail) == 1 and mail[0]["To"] == "ada@example.org"

        async def counted() -> dict[str, Any] | None:
            r = await client.get(system.url("reporting", f"/v1/reports/cases/{case['case_id']}"))
            facts = r.json() if r.status_code == 200 else None
            return facts if facts and facts["acknowledgement_sent_at"] else None

        facts = await eventually(counted, what="case counted in reporting")
        assert facts["reference"] == case["reference"]
        assert facts["response_due_on"] == kinds["response"]["due_on"]
        after = await client.get(
            system.url("reporting", "/v1/reports/summary"),
            params={"organisation_id": "e2e-council"},
        )
        assert after.json()["cases_opened"] == before.json()["cases_opened"] + 1
        assert after.json()["submissions_by_channel"]["web"] >= 1

        history = await client.get(
            system.url("casework", f"/v1/cases/{case['case_id']}/history"),
            headers=system.auth(Role.AUDITOR),
        )
        (opened,) = history.json()["events"]
        assert opened["actor"] == "service:casework"
        assert opened["event_type"] == "CaseOpened"
        assert opened["correlation_id"] == receipt["correlation_id"]

        metrics = (await client.get(system.url("reporting", "/metrics"))).text
        assert re.search(
            r'redress_consumer_lag\{partition="\d",service="reporting",'
            r'topic="redress.case.v1"\} \d',
            metrics,
        )
        outbox = (await client.get(system.url("casework", "/metrics"))).text
        assert 'redress_outbox_oldest_age_seconds{service="casework"}' in outbox
        sent = (await client.get(system.url("notifications", "/metrics"))).text
        assert re.search(
            r'redress_notifications_total\{channel="email",outcome="sent"\} [1-9]', sent
        )
        assert re.search(
            r'redress_events_consumed_total\{event_type="CaseOpened",result="applied",'
            r'service="reporting",topic="redress.case.v1"\} [1-9]',
            metrics,
        ), metrics[:2000]


async def test_the_same_idempotency_key_never_makes_a_second_case(system: System) -> None:
    key = f"retry-{uuid.uuid4()}"
    async with httpx.AsyncClient(timeout=10, headers=system.auth(Role.AUDITOR, "reader")) as client:
        body = fresh(COMPLAINT)
        first = await submit(client, system, body, {"Idempotency-Key": key}, unique=False)
        second = await submit(client, system, body, {"Idempotency-Key": key}, unique=False)
        assert first == second
        await case_for(client, system, first["submission_id"])
        fetched = await client.get(
            system.url("intake", f"/v1/submissions/{first['submission_id']}")
        )
        assert fetched.json()["submission_id"] == first["submission_id"]


def without(path: str) -> dict[str, Any]:
    body = copy.deepcopy(COMPLAINT)
    *parents, leaf = path.split(".")
    target: dict[str, Any] = body
    for p in parents:
        target = target[p]
    del target[leaf]
    return body


def with_(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(COMPLAINT)
    *parents, leaf = path.split(".")
    target: dict[str, Any] = body
    for p in parents:
        target = target[p]
    target[leaf] = value
    return body


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (without("summary"), "summary", "Field required"),
        (with_("summary", ""), "summary", "at least 1 character"),
        (with_("kind", "rant"), "kind", "Input should be"),
        (with_("complainant.email", "not-an-email"), "complainant.email", "email"),
        (with_("complainant.postcode", "12345"), "complainant.postcode", "UK postcode"),
        (with_("received_at", "2999-01-01T00:00:00Z"), "received_at", "future"),
        (with_("favourite_colour", "blue"), "favourite_colour", "Extra inputs"),
        (
            with_("complainant", {"name": "No Contact"}),
            "(body)",
            "at least one of email, phone or address",
        ),
    ],
    ids=[
        "missing summary",
        "blank summary",
        "unknown kind",
        "bad email",
        "bad postcode",
        "future date",
        "unknown field",
        "no way to reply",
    ],
)
async def test_malformed_submissions_get_422_with_field_and_reason(
    system: System, body: dict[str, Any], field: str, reason: str
) -> None:
    async with httpx.AsyncClient(timeout=10, headers=system.auth(Role.AUDITOR, "reader")) as client:
        r = await client.post(system.url("intake", "/v1/submissions"), json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors


async def test_not_json_at_all_is_a_422(system: System) -> None:
    async with httpx.AsyncClient(timeout=10, headers=system.auth(Role.AUDITOR, "reader")) as client:
        r = await client.post(
            system.url("intake", "/v1/submissions"),
            content=b"{nope",
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 422
    assert r.json()["errors"]


@pytest.mark.parametrize(
    "service", ["intake", "casework", "deadlines", "notifications", "reporting"]
)
async def test_every_service_answers_health_readiness_and_metrics(
    system: System, service: str
) -> None:
    async with httpx.AsyncClient(timeout=10, headers=system.auth(Role.AUDITOR, "reader")) as client:
        assert (await client.get(system.url(service, "/healthz"))).json()["status"] == "ok"
        ready = await client.get(system.url(service, "/readyz"))
        assert ready.status_code == 200 and ready.json()["ready"] is True
        metrics = await client.get(system.url(service, "/metrics"))
        assert "redress_http_requests_total" in metrics.text

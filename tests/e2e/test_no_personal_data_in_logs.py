"""No personal data in the logs: complaints from people with names, addresses, phone numbers and
emails no one else has go all the way through the running system (the web API, a contact-centre
call, an email to the mailbox; triaged, acknowledged, answered, letters sent, searched for by
name and email), then every service's log is read for any of them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from contracts import Role
from tests.e2e.casework_client import Staff
from tests.e2e.conftest import System
from tests.e2e.test_flow import COMPLAINT, case_for, submit
from tests.e2e.test_mailbox import email, send, submission_of
from tests.support import eventually

ORG = "privacy-log-council"


def person() -> dict[str, str]:
    digits = str(uuid.uuid4().int)[:8]
    letters = "".join(chr(ord("a") + int(d)) for d in digits)
    return {
        "name": f"Philippa Quill{letters}",
        "email": f"quill.{letters}@logcheck.example",
        "phone": f"07700 9{digits[:5]}",
        "address": f"{digits[:3]} Wisteria {letters.title()} Crescent",
    }


async def answer(officer: Staff, case_id: str, who: dict[str, str]) -> None:
    await officer.do(
        case_id,
        "triage",
        {
            "kind": "complaint",
            "procedure": "housing_ombudsman",
            "service_area": "repairs",
            "category": "damp",
        },
    )
    await officer.do(
        case_id,
        "acknowledge",
        {
            "points": [{"point_id": "1", "text": f"{who['name']}'s damp was not treated"}],
            "outcomes_sought": ["Treat the damp"],
        },
    )
    await officer.do(
        case_id,
        "contacts",
        {
            "contact_id": "C1",
            "contact_kind": "call",
            "occurred_at": "2026-03-03T10:15:00Z",
            "with_whom": who["name"],
            "summary": f"Spoke to {who['name']} on {who['phone']}",
        },
    )
    await officer.do(
        case_id,
        "draft-response",
        {
            "text": f"Dear {who['name']}, we are sorry.",
            "point_outcomes": [{"point_id": "1", "outcome": "upheld", "reasons": "It was not."}],
        },
    )
    await officer.do(
        case_id,
        "quality-check",
        {
            "checklist": {
                "every_point_answered": True,
                "plain_english": True,
                "remedy_stated": True,
                "signposting_present": True,
            }
        },
    )
    await officer.do(case_id, "issue-response")


async def test_a_full_run_leaves_no_names_or_emails_in_any_log(system: System) -> None:
    people = [person() for _ in range(3)]
    case_ids: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        web, call, mailed = people
        receipt = await submit(
            client,
            system,
            {
                **COMPLAINT,
                "organisation_id": ORG,
                "summary": f"I am {web['name']} and the damp at {web['address']} is back",
                "complainant": {
                    "name": web["name"],
                    "email": web["email"],
                    "phone": web["phone"],
                    "address": web["address"],
                    "postcode": "M1 1AE",
                },
            },
        )
        case_ids.append((await case_for(client, system, receipt["submission_id"]))["case_id"])

        agent_call: dict[str, Any] = {
            **COMPLAINT,
            "organisation_id": ORG,
            "channel": "phone",
            "summary": f"{call['name']} rang about damp at {call['address']}",
            "call_time": "2026-03-02T09:00:00Z",
            "read_back_confirmed": True,
            "complainant": {
                "name": call["name"],
                "email": call["email"],
                "phone": call["phone"],
                "preferred_contact": "email",
            },
        }
        r = await client.post(
            system.url("intake", "/v1/agent/submissions"),
            json=agent_call,
            headers=system.auth(Role.AGENT, "agent-ali"),
        )
        assert r.status_code == 202, r.text
        case_ids.append((await case_for(client, system, r.json()["submission_id"]))["case_id"])

        answer_text = await send(
            system,
            email(
                f"{mailed['name']} <{mailed['email']}>",
                "Complaint about damp",
                f"My name is {mailed['name']}, I live at {mailed['address']}. "
                f"Call me on {mailed['phone']}. The damp is back.",
            ),
        )
        mailed_case = await case_for(client, system, submission_of(answer_text))
        case_ids.append(mailed_case["case_id"])

        for case_id, who in zip(case_ids, people, strict=True):
            await answer(officer, case_id, who)
            found = await officer.get("/v1/cases", name=who["name"][:12], email=who["email"])
            assert case_id in [c["case_id"] for c in found["cases"]]

        async def letters_sent() -> bool:
            for case_id in case_ids:
                r = await client.get(
                    system.url("notifications", "/v1/notifications"),
                    params={"case_id": case_id},
                    headers=system.auth(),
                )
                sent = [n for n in r.json()["notifications"] if n["status"] == "sent"]
                if len(sent) < 2:  # the receipt and the response, at least
                    return False
            return True

        await eventually(letters_sent, timeout=90, what="receipts and responses sent")

    logs = sorted((system.stack.data_dir / "system" / "logs").glob("*.log"))
    services = {p.stem.split("-")[0] for p in logs}
    assert {"intake", "casework", "deadlines", "notifications", "reporting"} <= services
    text = "\n".join(p.read_text("utf-8", errors="replace") for p in logs)
    for case_id in case_ids:  # the logs do cover these complaints ...
        assert case_id in text
    leaks = [
        f"{what}: {value}"
        for who in people
        for what, value in who.items()
        for needle in {value, value.lower(), value.replace(" ", "")}
        if needle.lower() in text.lower()
    ]
    assert not leaks, f"personal data in the logs: {sorted(set(leaks))}"  # ... and never who

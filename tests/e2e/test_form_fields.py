"""What the public form asks beyond what happened (when it happened, someone else's complaint
made for them with their agreement, adjustments not on the list) travels in fields of its own,
not folded into the summary, and the officer reads it on the case page."""

from __future__ import annotations

import re
import uuid

import httpx

from contracts import Role
from tests.e2e.casework_client import Staff
from tests.e2e.conftest import System
from tests.e2e.test_flow import case_for
from tests.e2e.test_workspace_forms import desk


async def test_the_form_s_other_answers_reach_the_case_page(system: System) -> None:
    tag = uuid.uuid4().hex[:8]
    what = f"The lift in Mill House has been broken for weeks ({tag})."
    async with httpx.AsyncClient(
        base_url=system.url("intake", ""), timeout=20, follow_redirects=False
    ) as resident:
        form = await resident.get("/")
        hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]+)"', form.text))
        sent = await resident.post(
            "/",
            data={
                **hidden,
                "kind": "complaint",
                "organisation_id": "e2e-council",
                "summary": what,
                "happened-day": "2",
                "happened-month": "3",
                "happened-year": "2026",
                "name": "Carys Carer",
                "preferred_contact": "email",
                "email": f"carys.{tag}@example.org",
                "on_behalf": "yes",
                "behalf_name": "Dai Tenant",
                "behalf_relationship": "his daughter",
                "behalf_consent": "yes",
                "adjustments_other": "Phone calls after 4pm",
            },
        )
        assert sent.status_code == 303, sent.text
        confirmation = await resident.get(sent.headers["location"])
        found = re.search(r'id="receipt">([^<]+)<', confirmation.text)
        assert found is not None

    async with httpx.AsyncClient(timeout=20) as client:
        case = await case_for(client, system, found[1].strip())
        history = await Staff(client, system, "olivia", Role.OFFICER).get(
            f"/v1/cases/{case['case_id']}/history"
        )
    opened = next(e["payload"] for e in history["events"] if e["event_type"] == "CaseOpened")
    assert opened["summary"] == what
    assert opened["happened_on"] == "2026-03-02"
    assert opened["on_behalf_of"] == {
        "name": "Dai Tenant",
        "relationship": "his daughter",
        "consent_given": True,
    }
    assert opened["complainant"]["other_adjustments"] == "Phone calls after 4pm"

    async with desk(system, "olivia", Role.OFFICER) as officer:
        page = await officer.get(f"/cases/{case['case_id']}")
    assert page.status_code == 200, page.text
    summary = page.text[page.text.index('id="summary"') : page.text.index('id="definition"')]
    assert "<dt>Complaining for</dt><dd>Dai Tenant (his daughter), who agreed to it" in summary
    assert "<dt>When it happened</dt><dd>2 Mar 2026</dd>" in summary
    assert "Other adjustments: Phone calls after 4pm" in summary

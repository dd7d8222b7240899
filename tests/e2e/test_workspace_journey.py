"""The staff workspace in Debian's Chromium: an officer triages a new web complaint, acknowledges
it and asks the service for its part; the service responder answers; the officer drafts,
quality-checks and issues the response; a manager approves an extension on another case. Every
page on the way passes axe-core, and the caseload and case page are kept as screenshots."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx

from contracts import Role
from redress.auth import mint
from tests.browser import needs_chromium, screenshot, serious_accessibility_problems
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System
from tests.e2e.test_casework_walkthrough import london_date


class Desk:
    """A browser tab in the workspace, checking each page it lands on."""

    def __init__(self, page: Any, system: System) -> None:
        self.page = page
        self.system = system
        self.base = system.url("casework", "")
        self.checked: list[tuple[str, bool, int | None]] = []

    async def check(self) -> None:
        """No serious or critical accessibility problem on the page as it is now. Each kind of
        page is checked once (the case page after every step would repeat one template)."""
        path = re.sub(r"[0-9a-f-]{36}", "{id}", self.page.url.removeprefix(self.base))
        size = self.page.viewport_size or {}
        message = await self.page.locator(".error-summary, .refusal, .stale").count()
        kind = (path.split("?")[0], bool(message), size.get("width"))
        if kind in self.checked:
            return
        problems = await serious_accessibility_problems(self.page)
        assert problems == [], f"{self.page.url}: {problems}"
        self.checked.append(kind)

    async def sign_in(self, user: str, role: Role, service: str | None = None) -> None:
        await self.page.goto(self.base + "/")
        assert self.page.url.endswith("/sign-in")
        token = mint(self.system.token_key, user=user, role=role, service_area=service)
        await self.page.fill("#f-token", token)
        await self.page.click("button:has-text('Sign in with the token')")
        await self.check()

    async def sign_out(self) -> None:
        await self.page.click("header button:has-text('Sign out')")
        assert self.page.url.endswith("/sign-in")

    async def act(self, name: str) -> None:
        """Follow a next-step button on the case page to its form."""
        await self.page.click(f".next a:has-text('{name}')")
        await self.check()

    async def submit(self, label: str, done: str | None = None) -> None:
        await self.page.click(f"form button[type=submit]:has-text('{label}')")
        if done is not None:
            banner = self.page.locator(".banner")
            assert done in await banner.inner_text(), await self.page.content()
        await self.check()


@needs_chromium
async def test_a_complaint_handled_in_the_workspace(system: System, page: Any) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        case = await new_case(client, system, organisation_id="ws-journey", service_area="repairs")
        other = await new_case(client, system, organisation_id="ws-journey", service_area="repairs")
        await _extension_waiting(client, system, other["case_id"])
    ref, cid = case["reference"], case["case_id"]
    desk = Desk(page, system)

    # keyboard: the first Tab reaches the skip link, which leads into the page
    await page.goto(desk.base + "/sign-in")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to main content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"

    # the officer: triage queue, triage, assign, acknowledge, ask the service
    await desk.sign_in("wendy", Role.OFFICER)
    assert await page.title() == "My caseload - Redress workspace"
    await page.click("nav >> text=Triage queue")
    await desk.check()
    await page.click(f"a:has-text('{ref}')")
    assert await page.locator("h1").inner_text() == f"{ref} Ada Resident"
    await desk.check()
    await desk.act("Triage")
    await page.fill("#f-service_area", "repairs")
    await page.fill("#f-category", "repairs - missed appointments")
    await page.select_option("#f-priority", "high")
    await desk.submit("Triage", done="Triage")
    await desk.act("Assign")
    assert await page.input_value("#f-officer") == "wendy"
    await desk.submit("Assign", done="Assign")

    await desk.act("Acknowledge")
    await page.fill("#f-outcomes_sought", "Boiler repaired\nAn apology")
    await desk.submit("Acknowledge")  # no point given: the domain's rule, input kept
    assert "needs at least one point of complaint" in await page.inner_text(".refusal")
    assert await page.input_value("#f-outcomes_sought") == "Boiler repaired\nAn apology"
    await page.fill("#f-points-0", "Three repair appointments were missed")
    await page.fill("#f-points-1", "Nobody returned my calls")
    await desk.submit("Acknowledge", done="Acknowledge")

    await desk.act("Ask a service")
    await page.fill("#f-contributor", "ravi")
    await page.check("label:has-text('1: Three repair appointments')")
    await page.fill("#f-due_on", (london_date() + timedelta(days=5)).isoformat())
    await desk.submit("Ask a service")  # the question left out: an error summary
    summary = page.locator(".error-summary")
    assert "Enter request" in await summary.inner_text()
    assert await page.input_value("#f-contributor") == "ravi"
    await summary.locator("a").first.click()
    assert await page.evaluate("document.activeElement.id") == "f-request"
    await screenshot(page, "workspace-form-errors")
    await page.fill("#f-request", "Why were the appointments missed?")
    await desk.submit("Ask a service", done="Ask a service")
    await desk.sign_out()

    # the service responder sees the part to answer, and answers it
    await desk.sign_in("ravi", Role.SERVICE_RESPONDER, "repairs")
    assert await page.title() == "Cases for repairs - Redress workspace"
    await page.click(f"tr:has-text('{ref}') a:has-text('Answer part A')")
    await desk.check()
    await page.fill("#f-response", "The contractor's van broke down twice.")
    await desk.submit("A service answers its part", done="A service answers its part")
    await desk.sign_out()

    # back to the officer: caseload, draft, quality check, issue
    await desk.sign_in("wendy", Role.OFFICER)
    row = page.locator("tbody tr", has=page.locator(f"a:has-text('{ref}')"))
    assert "days left" in await row.inner_text() or "due" in await row.inner_text()
    await screenshot(page, "workspace-caseload")
    await row.locator("a").first.click()
    await desk.check()
    await desk.act("Draft the response")
    await page.fill("#f-text", "Dear Ms Resident, we are sorry: the appointments were missed.")
    for point in ("1", "2"):
        await page.select_option(f"#f-point_outcomes-{point}-outcome", "upheld")
        await page.fill(f"#f-point_outcomes-{point}-reasons", "We let you down.")
    await desk.submit("Draft the response", done="Draft the response")
    await desk.act("Quality-check")
    assert "we are sorry" in await page.locator(".letter").inner_text()
    # the letter preview is notifications' page, opened with the same sign-in
    preview = page.locator("a:has-text('Preview the outcome letter')")
    href = await preview.get_attribute("href")
    assert href == system.url("notifications", f"/v1/cases/{cid}/preview/outcome")
    letter = await page.context.request.get(href)
    assert letter.status == 200 and ref in await letter.text()
    for box in await page.locator("input[name^='checklist.']").all():
        await box.check()
    await desk.submit("Quality-check", done="Quality-check")
    await desk.act("Issue the checked response")
    await desk.submit("Issue the checked response", done="Issue the checked response")
    assert re.search(r"Stage 1 response issued on .*upheld", await page.inner_text("#main"))
    await screenshot(page, "workspace-case")
    await desk.sign_out()

    # a manager approves the extension waiting on the other case
    await desk.sign_in("maya", Role.MANAGER)
    assert await page.title() == "Team overview - Redress workspace"
    await page.click(f"#approvals ~ div tr:has-text('{other['reference']}') a:has-text('Approve')")
    await desk.check()
    assert await page.input_value("#f-extension_id") == "E1"
    await desk.submit("approves a requested extension", done="approves a requested extension")
    assert await page.locator("p", has_text="extended by 5 working days").count() == 1

    # the forms with checkboxes, a date and time, and money pass too
    for action in ("flags", "contacts", "remedies", "ombudsman-enquiries"):
        await page.goto(desk.base + f"/cases/{cid}/do/{action}")
        await desk.check()

    # search by email is a POST: the address never carries it
    await page.click("nav >> text=Search")
    await desk.check()
    await page.fill("#f-email", "ada@example.org")
    await page.click("main form button:has-text('Search')")
    assert page.url == desk.base + "/search"
    assert ref in await page.inner_text("#results ~ div")
    await desk.check()
    # a page the role may not open says so
    response = await page.goto(desk.base + "/service")
    assert response.status == 403
    assert "not allowed" in await page.inner_text("h1")
    await desk.check()
    # usable at 320 px: nothing wider than the screen
    await page.set_viewport_size({"width": 320, "height": 800})
    for path, name in [
        (f"/cases/{cid}", "workspace-case-320"),
        ("/manager", "workspace-manager-320"),
        (f"/cases/{cid}/do/close", "workspace-form-320"),
    ]:
        await page.goto(desk.base + path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 320, path
        await desk.check()
        await screenshot(page, name)
    await desk.sign_out()
    await page.click("button:has-text('Sign in with the token')")  # nothing pasted
    assert "Paste your staff token" in await page.inner_text(".error-summary")
    assert await page.evaluate("document.activeElement.id") == "error-summary"
    await desk.check()

    async with httpx.AsyncClient(timeout=20) as client:
        officer = Staff(client, system, "wendy", Role.OFFICER)
        done = await officer.get(f"/v1/cases/{cid}")
        assert done["state"]["stages"][0]["issued_on"] is not None
        assert done["state"]["stages"][0]["parts"][0]["response"].startswith("The contractor")
        history = await officer.get(f"/v1/cases/{cid}/history")
        actors = {e["actor"] for e in history["events"]}
        assert {"officer:wendy", "service_responder:ravi"} <= actors
    assert len(desk.checked) >= 20, desk.checked


async def _extension_waiting(client: httpx.AsyncClient, system: System, case_id: str) -> None:
    """The other case, under the SPSO procedure, where an officer's extension waits for a
    manager (SPSO MCHP stage 1)."""
    officer = Staff(client, system, "oscar", Role.OFFICER)
    await officer.do(
        case_id,
        "triage",
        {
            "kind": "complaint",
            "procedure": "spso",
            "service_area": "repairs",
            "category": "repairs - damp",
        },
    )
    await officer.do(
        case_id,
        "acknowledge",
        {"points": [{"point_id": "1", "text": "Damp"}], "outcomes_sought": ["Fix it"]},
    )
    body = {"extension_id": "E1", "working_days": 5, "reason": "Surveyor's report"}
    answer = await officer.do(case_id, "extensions", body)
    assert answer["events"] == ["ExtensionRequested"]

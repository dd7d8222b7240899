"""The public web form, in a real Chromium against the running system: a resident sends a
complaint, gets a receipt and a tracking link, and sees the case acknowledged once casework has
done so; mistakes are summarised at the top with links to the fields; the whole path works from
the keyboard alone; axe-core finds nothing serious on any page; and the form fits 320px."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from contracts import Role
from tests.browser import needs_chromium, screenshot, serious_accessibility_problems
from tests.e2e.casework_client import Staff
from tests.e2e.conftest import System
from tests.e2e.test_casework_endpoints import ACK, TRIAGE
from tests.e2e.test_flow import case_for
from tests.support import eventually

pytestmark = needs_chromium

MARKUP = "<script>alert('owned')</script> The boiler <b>still</b> leaks & drips."


@pytest.fixture(scope="module")
async def organisation(system: System) -> AsyncIterator[tuple[str, str]]:
    """An organisation configured in casework; intake learns it from the organisation topic and
    lists it on the form."""
    suffix = uuid.uuid4().hex[:6]
    org, name = f"zennor-{suffix}", f"Zennor Borough Council {suffix}"
    config = {"name": name, "nation": "ENG", "default_procedure": "housing_ombudsman"}
    async with httpx.AsyncClient(timeout=15) as client:
        r = await client.put(
            system.url("casework", f"/v1/organisations/{org}"),
            json=config,
            headers=system.auth(Role.ADMIN, "ada-admin"),
        )
        assert r.status_code == 200, r.text

        async def listed() -> bool:
            form = await client.get(system.url("intake", "/"))
            return name in form.text

        await eventually(listed, what="the form lists the new organisation")
    yield org, name


async def _fill_a_good_complaint(page: Any, org: str) -> None:
    await page.check("#kind")
    await page.select_option("#organisation_id", org)
    await page.fill("#service_area", "housing repairs")
    await page.fill("#summary", MARKUP)
    await page.fill("#happened-day", "2")
    await page.fill("#happened-month", "3")
    await page.fill("#happened-year", "2026")
    await page.fill("#outcome_sought", "Fix the boiler")
    await page.fill("#location_address", "Flat 2, 10 Mill Lane")
    await page.fill("#location_postcode", "m1 1ae")
    await page.fill("#name", "Ada Resident")
    await page.check("#preferred_contact")
    await page.fill("#email", "ada@example.org")
    await page.check("#adjustments")


async def test_a_resident_sends_a_complaint_and_sees_it_acknowledged(
    system: System, page: Any, organisation: tuple[str, str]
) -> None:
    org, _ = organisation
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(system.url("intake", "/"))
    await _fill_a_good_complaint(page, org)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/submitted/"))

    assert await page.text_content("h1") == "Complaint sent"
    receipt = (await page.text_content("#receipt") or "").strip()
    track = await page.get_attribute("#tracking-link", "href")
    assert track and track.startswith("/track/")
    token = track.removeprefix("/track/")
    assert len(token) >= 40 and receipt not in token  # a random token, not the submission id
    assert await serious_accessibility_problems(page) == []
    await screenshot(page, "public-confirmation")

    await page.click("#tracking-link")
    assert await page.text_content("#kind") == "Complaint"
    assert (await page.text_content("#status") or "").lower() in ("received", "case opened")
    assert "boiler" not in await page.content()  # progress only, never what was said
    assert await serious_accessibility_problems(page) == []

    async with httpx.AsyncClient(timeout=15) as client:
        case = await case_for(client, system, receipt)
        detail = await Staff(client, system, "olivia", Role.OFFICER).get(
            f"/v1/cases/{case['case_id']}"
        )
        # the markup was kept as the text the resident typed, and never ran
        assert MARKUP in str(detail)
        assert case["channel"] == "web" and case["organisation_id"] == org
        officer = Staff(client, system, "olivia", Role.OFFICER)
        await officer.do(case["case_id"], "triage", TRIAGE)
        await officer.do(case["case_id"], "acknowledge", ACK)

    async def acknowledged() -> str | None:
        # the status comes from the case topic and the date from the deadline topic (the
        # response's clock restarts at the acknowledgement): wait until the page shows both
        # as the deadlines service has them
        async with httpx.AsyncClient(timeout=15) as client:
            r = await client.get(
                system.url("deadlines", "/v1/deadlines"),
                params={"case_id": case["case_id"]},
                headers=system.auth(),
            )
        due = [
            date.fromisoformat(d["due_on"])
            for d in r.json()["deadlines"]
            if d["kind"] == "response" and d["state"] not in ("met", "cancelled")
        ]
        await page.reload()
        status = (await page.text_content("#status") or "").lower()
        shown = await page.text_content("#next-due") or ""
        wanted = f"{due[0].day} {due[0]:%B %Y}" if due else "?"
        return shown if status == "acknowledged" and wanted in shown else None

    next_due = await eventually(acknowledged, what="the page shows the acknowledgement")
    assert next_due.startswith("We will send you our response by")
    assert await page.text_content("#reference") == case["reference"]
    assert await page.text_content("#stage") == "Stage 1"
    assert await serious_accessibility_problems(page) == []
    await screenshot(page, "public-status")
    assert dialogs == []


async def test_mistakes_are_summarised_linked_to_their_fields_and_input_is_kept(
    system: System, page: Any, organisation: tuple[str, str]
) -> None:
    await page.goto(system.url("intake", "/"))
    await page.fill("#summary", MARKUP)
    await page.fill("#email", "ada-at-example")
    await page.fill("#location_postcode", "not a postcode")
    async with page.expect_navigation() as navigation:
        await page.click("button[type=submit]")
    response = await navigation.value
    assert response.status == 400
    assert (await page.title()).startswith("Error:")

    summary = page.locator(".error-summary")
    assert await summary.evaluate("el => el === document.activeElement")  # read first
    links = summary.locator("a")
    targets = [await links.nth(i).get_attribute("href") for i in range(await links.count())]
    assert targets == [
        "#kind",
        "#organisation_id",
        "#location_postcode",
        "#name",
        "#preferred_contact",
        "#email",
    ]
    assert await links.nth(5).text_content() == (
        "Enter your email address in the correct format, like name@example.com"
    )
    for i, target in enumerate(targets):
        await links.nth(i).click()
        focused = await page.evaluate("document.activeElement.id")
        assert f"#{focused}" == target

    # each message sits by its field as well, and what was typed is still there, as text
    assert "like name@example.com" in (await page.text_content("#email-error") or "")
    assert await page.get_attribute("#email", "aria-invalid") == "true"
    assert await page.input_value("#email") == "ada-at-example"
    assert await page.input_value("#summary") == MARKUP
    assert await page.locator("main b").count() == 0  # the <b> was not rendered as markup
    assert await serious_accessibility_problems(page) == []
    await screenshot(page, "public-form-errors")


async def _tab_to(page: Any, element_id: str, limit: int = 80) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


async def test_a_complaint_can_be_sent_and_tracked_with_the_keyboard_alone(
    system: System, page: Any, organisation: tuple[str, str]
) -> None:
    _, name = organisation
    await page.goto(system.url("intake", "/"))
    await _tab_to(page, "kind")
    await page.keyboard.press("Space")
    await _tab_to(page, "organisation_id")
    await page.keyboard.type(name)  # a closed select picks the option typed
    await _tab_to(page, "summary")
    await page.keyboard.type("Nobody came to fix the leak.")
    await _tab_to(page, "name")
    await page.keyboard.type("Kim Keys")
    await _tab_to(page, "preferred_contact")
    await page.keyboard.press("Space")
    await _tab_to(page, "email")
    ring = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert ring == "solid"  # focus is visible
    await page.keyboard.type("kim@example.org")
    await _tab_to(page, "send")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/submitted/"))
    assert await page.text_content("h1") == "Complaint sent"
    await _tab_to(page, "tracking-link")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/track/"))
    assert await page.text_content("#kind") == "Complaint"


async def test_the_form_is_accessible_and_fits_a_narrow_screen(
    system: System, page: Any, organisation: tuple[str, str]
) -> None:
    await page.goto(system.url("intake", "/"))
    assert await serious_accessibility_problems(page) == []
    unlabelled = await page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
             .filter(el => !(el.labels && el.labels.length)).map(el => el.name)"""
    )
    assert unlabelled == []
    await screenshot(page, "public-form")

    await page.set_viewport_size({"width": 320, "height": 800})
    await page.reload()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320  # no sideways scrolling at 320 CSS pixels (WCAG 1.4.10)
    await screenshot(page, "public-form-320", full_page=False)


async def test_an_unknown_tracking_link_is_a_plain_not_found(system: System, page: Any) -> None:
    response = await page.goto(system.url("intake", "/track/" + "A" * 43))
    assert response.status == 404
    assert await page.text_content("h1") == "Page not found"

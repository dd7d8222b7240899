"""The dashboard in a real headless Chromium: signed in with a staff token through the sign-in
form (posted, with its CSRF token), it shows the trend and timeliness for the data the API
reports, and a screenshot is kept for a person to look at."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from contracts import Role
from redress.auth import COOKIE
from redress.web import CSRF_COOKIE, CSRF_FIELD, SECURITY_HEADERS
from tests.browser import CHROMIUM, screenshot, serious_accessibility_problems
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (make test installs it when run as root)",
)
async def test_the_dashboard_shows_what_the_api_reports(system: System, page: Any) -> None:
    org = "dashboard-council"
    async with httpx.AsyncClient(timeout=15) as client:
        await answered(client, system, org, ("upheld", "not_upheld", "upheld"))
        reader = system.auth(Role.MANAGER, "maya")
        api = None
        for _ in range(100):  # wait for reporting to have all three answers
            r = await client.get(
                system.url("reporting", "/v1/reports/outcomes"),
                params={"organisation_id": org},
                headers=reader,
            )
            rows = r.json()["rows"]
            if rows and rows[0]["responses"] == 3:
                api = rows[0]
                break
            await asyncio.sleep(0.2)
        assert api is not None
        volumes = (
            await client.get(
                system.url("reporting", "/v1/reports/volumes"),
                params={"organisation_id": org},
                headers=reader,
            )
        ).json()
    token = reader["Authorization"].removeprefix("Bearer ")
    await page.goto(system.url("reporting", f"/sign-in?organisation_id={org}"))
    assert await serious_accessibility_problems(page) == []
    await page.fill("#token", token)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert page.url.endswith(f"/?organisation_id={org}")
    dom = await page.content()
    assert "Complaints received per month" in dom
    assert f"{org}" in dom
    # the chart's bars carry the same monthly counts as the volumes report
    for row in volumes["rows"]:
        assert f"{row['period']}: {row['complaints']}" in dom
    upheld = re.search(r"measure=upheld&amp;stage=1\">(\d+)</a>", dom)
    assert upheld and int(upheld.group(1)) == api["upheld"] == 2
    shot = await screenshot(page, "dashboard")
    assert shot.stat().st_size > 5_000


async def test_signing_in_takes_a_posted_token_with_the_forms_csrf_token(system: System) -> None:
    token = system.auth(Role.MANAGER, "maya")["Authorization"].removeprefix("Bearer ")
    url = system.url("reporting", "/sign-in")
    async with httpx.AsyncClient(timeout=15) as client:
        # a token in the query string no longer signs anyone in: it would sit in logs and history
        form = await client.get(url, params={"token": token})
        assert form.status_code == 200 and 'method="post"' in form.text
        assert COOKIE not in form.headers.get("set-cookie", "")
        assert token not in form.text
        csrf = client.cookies[CSRF_COOKIE]
        assert f'name="{CSRF_FIELD}" value="{csrf}"' in form.text
        # without the form's token (a cross-site form cannot read it): refused
        forged = await client.post(url, data={"token": token, CSRF_FIELD: "x" * 40})
        assert forged.status_code == 403
        missing = await client.post(url, data={"token": token})
        assert missing.status_code == 403
        bad = await client.post(url, data={"token": "not-a-token-at-all", CSRF_FIELD: csrf})
        assert bad.status_code == 401 and "not valid" in bad.text
        good = await client.post(
            url, data={"token": token, CSRF_FIELD: csrf, "organisation_id": "north-council"}
        )
        assert good.status_code == 303
        assert good.headers["location"] == "/?organisation_id=north-council"
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        dashboard = await client.get(system.url("reporting", "/"))
        assert dashboard.status_code == 200 and "Signed in as maya" in dashboard.text
        for response in (form, forged, bad, good, dashboard):
            for header, value in SECURITY_HEADERS.items():
                assert response.headers.get(header) == value, (response.url, header)
        assert dashboard.headers["cache-control"] == "no-store"


async def test_report_rows_link_to_the_cases_behind_them(system: System) -> None:
    reader = system.auth(Role.AUDITOR, "audrey")
    org = "drill-down-council"
    async with httpx.AsyncClient(timeout=15) as client:
        await answered(client, system, org, ("upheld", "partly_upheld"))
        for _ in range(100):
            r = await client.get(
                system.url("reporting", "/v1/reports/outcomes"),
                params={"organisation_id": org},
                headers=reader,
            )
            if r.json()["rows"] and r.json()["rows"][0]["responses"] == 2:
                break
            await asyncio.sleep(0.2)
        assert r.json()["rows"][0]["upheld"] == 1
        for row in r.json()["rows"]:
            link = row["cases"]["upheld"]
            behind = await client.get(system.url("reporting", link), headers=reader)
            assert len(behind.json()["rows"]) == row["upheld"]
        csv = await client.get(
            system.url("reporting", "/v1/reports/outcomes"),
            params={"organisation_id": org, "format": "csv"},
            headers=reader,
        )
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[0].startswith("stage,responses,upheld")
        bad = await client.get(
            system.url("reporting", "/v1/reports/volumes"),
            params={"from": "2026-02-01", "to": "2026-01-01"},
            headers=reader,
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
        signed_out = await client.get(system.url("reporting", "/"))
        assert signed_out.status_code == 401 and "Sign in" in signed_out.text


async def answered(
    client: httpx.AsyncClient, system: System, org: str, outcomes: tuple[str, ...]
) -> None:
    """Complaints answered through the staff API, one per outcome."""
    officer = Staff(client, system, "olivia", Role.OFFICER)
    for outcome in outcomes:
        case = await new_case(client, system, organisation_id=org)
        cid = case["case_id"]
        await officer.do(
            cid,
            "triage",
            {
                "kind": "complaint",
                "procedure": "lgsco",
                "service_area": "parks",
                "category": "litter",
            },
        )
        await officer.do(
            cid,
            "acknowledge",
            {"points": [{"point_id": "1", "text": "x"}], "outcomes_sought": ["y"]},
        )
        await officer.do(
            cid,
            "draft-response",
            {
                "text": "t",
                "point_outcomes": [{"point_id": "1", "outcome": outcome, "reasons": "r"}],
            },
        )
        await officer.do(
            cid,
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
        await officer.do(cid, "issue-response")

"""The dashboard in a real headless Chromium: signed in with a staff token, it shows the trend
and timeliness for the data the API reports, and a screenshot is kept for a person to look at."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from contracts import Role
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(tempfile.gettempdir()) / "redress-dashboard.png"


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="redress-chromium-")
    try:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1280,1600",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (make test installs it when run as root)",
)
async def test_the_dashboard_shows_what_the_api_reports(system: System) -> None:
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
    url = system.url("reporting", f"/sign-in?token={token}&organisation_id={org}")
    dom = chromium("--dump-dom", url).stdout
    assert "Complaints received per month" in dom
    assert f"{org}" in dom
    # the chart's bars carry the same monthly counts as the volumes report
    for row in volumes["rows"]:
        assert f"{row['period']}: {row['complaints']}" in dom
    upheld = re.search(r"measure=upheld&amp;stage=1\">(\d+)</a>", dom)
    assert upheld and int(upheld.group(1)) == api["upheld"] == 2
    chromium(f"--screenshot={SCREENSHOT}", url)
    assert SCREENSHOT.stat().st_size > 5_000


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
        page = await client.get(system.url("reporting", "/"))
        assert page.status_code == 401 and "Sign in" in page.text


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

"""The dashboard in a real headless Chromium: signed in with a staff token, it shows the trend
and timeliness for the data the API reports, and a screenshot is kept for a person to look at."""

from __future__ import annotations

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
        officer = Staff(client, system, "olivia", Role.OFFICER)
        for outcome in ("upheld", "not_upheld", "upheld"):
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
            await __import__("asyncio").sleep(0.2)
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

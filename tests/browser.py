"""Debian's Chromium driven by Playwright, with axe-core for accessibility, for the pages people
use: the public complaint form, the staff workspace, the dashboard.

Playwright's own browser download cannot run here, so it drives the system's `chromium`.
Screenshots go to one folder (printed at the end of the run) for a person to look at.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(
    os.environ.get("REDRESS_SCREENSHOTS", Path(tempfile.gettempdir()) / "redress-screenshots")
)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (make test installs it when run as root)",
)

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One Chromium for the session; each test takes a fresh context (cookies, storage)."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def serious_accessibility_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


async def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path

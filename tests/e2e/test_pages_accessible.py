"""Every page a person opens passes axe-core with no serious or critical violations."""

from __future__ import annotations

from typing import Any

from tests.browser import needs_chromium, serious_accessibility_problems
from tests.e2e.conftest import System


@needs_chromium
async def test_the_dashboard_sign_in_page_is_accessible(system: System, page: Any) -> None:
    response = await page.goto(system.url("reporting", "/"))
    assert response.status == 401
    assert await page.title()
    assert await serious_accessibility_problems(page) == []

"""The workspace's development sign-in (pick a user and role) exists only when it is switched
on. Sign-in touches no database, so the app is driven in-process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from contracts import Role
from redress.auth import COOKIE, verify
from services.casework import settings


@pytest.fixture
def dev_login(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REDRESS_WORKSPACE_DEV_LOGIN", "1")
    settings.current.cache_clear()
    yield
    settings.current.cache_clear()


async def _sign_in(data: dict[str, str]) -> tuple[httpx.Response, str]:
    from services.casework.app import app

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        form = await client.get("/sign-in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        answer = await client.post("/sign-in", data={**data, "csrf_token": csrf[1]})
        return answer, form.text


async def test_picking_a_user_and_role_when_switched_on(dev_login: None) -> None:
    from services.casework.app import app

    answer, form = await _sign_in({"user": "ravi", "role": "service_responder", "service": "parks"})
    assert "Development sign-in" in form
    assert answer.status_code == 303 and answer.headers["location"] == "/service"
    identity = verify(app.state.token_key, answer.cookies[COOKIE])
    assert (identity.user, identity.role, identity.service_area) == (
        "ravi",
        Role.SERVICE_RESPONDER,
        "parks",
    )
    missing, _ = await _sign_in({"user": "ravi", "role": "service_responder"})
    assert missing.status_code == 400 and "Enter the service" in missing.text


async def test_no_picking_when_switched_off() -> None:
    settings.current.cache_clear()
    answer, form = await _sign_in({"user": "maya", "role": "manager"})
    assert "Development sign-in" not in form
    assert answer.status_code == 400 and COOKIE not in answer.cookies
    assert "Paste your staff token" in answer.text

"""Every endpoint of every service, as the apps declare them: the public ones answer without a
token; every other one refuses a missing, malformed, forged or expired token (401), and the
ones that act refuse a role that may not (403). The handlers are never reached, so no database
is needed: this checks the doors, the e2e tests check the rooms."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts import Role
from redress.auth import mint

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/submissions"),  # the public complaint form
    ("GET", "/v1/calculate"),  # the web form's and agents' due-date calculator
}
HIDDEN = {  # kept for old clients, not in OpenAPI, protected all the same
    "casework": [("GET", "/v1/cases/{case_id}/events")],
    "notifications": [("GET", "/v1/deliveries")],
    "reporting": [("GET", "/")],  # the dashboard page
}


def apps() -> dict[str, FastAPI]:
    from services.casework.app import app as casework
    from services.deadlines.app import app as deadlines
    from services.intake.app import app as intake
    from services.notifications.app import app as notifications
    from services.reporting.app import app as reporting

    return {
        "intake": intake,
        "casework": casework,
        "deadlines": deadlines,
        "notifications": notifications,
        "reporting": reporting,
    }


def endpoints() -> list[tuple[str, str, str]]:
    found = []
    for name, app in apps().items():
        for path, operations in app.openapi()["paths"].items():
            for method in operations:
                found.append((name, method.upper(), path))
        found.extend((name, m, p) for m, p in HIDDEN.get(name, []))
    return found


ALL = endpoints()
PROTECTED = [e for e in ALL if (e[1], e[2]) not in PUBLIC]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


async def call(
    service: str, method: str, path: str, headers: dict[str, str], body: Any = None
) -> httpx.Response:
    app = apps()[service]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, concrete(path), headers=headers, json=body)


def token(service: str, role: Role, **kw: Any) -> dict[str, str]:
    key = apps()[service].state.token_key
    return {"Authorization": f"Bearer {mint(key, user='t', role=role, **kw)}"}


def test_the_inventory_is_complete() -> None:
    assert len(PROTECTED) >= 50
    assert {s for s, _, _ in PROTECTED} == {
        "intake",
        "casework",
        "deadlines",
        "notifications",
        "reporting",
    }
    public_found = {(m, p) for _, m, p in ALL} & PUBLIC
    assert public_found == PUBLIC


@pytest.mark.parametrize(
    ("service", "method", "path"), PROTECTED, ids=[f"{s} {m} {p}" for s, m, p in PROTECTED]
)
async def test_no_token_bad_token_forged_token_expired_token(
    service: str, method: str, path: str
) -> None:
    forged = {
        "Authorization": "Bearer "
        + mint("not the key, not the key at all, not at all", user="t", role=Role.ADMIN)
    }
    expired = token(service, Role.ADMIN, now=datetime.now(UTC) - timedelta(days=1))
    for headers in ({}, {"Authorization": "Bearer nonsense"}, forged, expired):
        r = await call(service, method, path, headers)
        assert r.status_code == 401, (headers, r.status_code, r.text)


WRONG_ROLE = [
    ("intake", "POST", "/v1/agent/submissions", Role.AUDITOR),
    ("casework", "POST", "/v1/cases/{case_id}/triage", Role.AUDITOR),
    ("casework", "POST", "/v1/cases/{case_id}/redress-approvals", Role.OFFICER),
    ("casework", "POST", "/v1/cases/{case_id}/service-responses", Role.AUDITOR),
    ("casework", "POST", "/v1/cases/{case_id}/evidence", Role.AUDITOR),
    ("casework", "GET", "/v1/queues/triage", Role.AUDITOR),
    ("casework", "PUT", "/v1/organisations/{organisation_id}", Role.MANAGER),
    ("casework", "PUT", "/v1/organisations/{organisation_id}/wards", Role.OFFICER),
]


@pytest.mark.parametrize(
    ("service", "method", "path", "role"),
    WRONG_ROLE,
    ids=[f"{p} as {r.value}" for _, _, p, r in WRONG_ROLE],
)
async def test_the_wrong_role_is_403(service: str, method: str, path: str, role: Role) -> None:
    r = await call(service, method, path, token(service, role, service_area="repairs"), body={})
    assert r.status_code == 403, r.text


async def test_public_endpoints_need_no_token() -> None:
    r = await call(
        "deadlines", "GET", "/v1/calculate?procedure=nope&received=2026-01-01T00:00:00Z", {}
    )
    assert r.status_code == 422  # reached the handler: no token was asked for
    r = await call("intake", "POST", "/v1/submissions", {}, body={})
    assert r.status_code == 422
    r = await call("reporting", "GET", "/healthz", {})
    assert r.status_code == 200

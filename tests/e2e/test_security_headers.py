"""Every response of every service carries the security headers, pages and JSON alike, errors
included: a browser that opens any of them gets the same protections."""

from __future__ import annotations

import uuid

import httpx

from redress.web import SECURITY_HEADERS
from tests.e2e.conftest import System

#: per service, requests that between them give JSON, HTML, plain text and error answers
REQUESTS: dict[str, list[tuple[str, str, bool]]] = {
    "intake": [
        ("GET", "/", False),  # the public form (HTML)
        ("GET", "/v1/submissions/not-a-uuid", True),
        ("POST", "/v1/submissions", False),  # 422
    ],
    "casework": [("GET", "/v1/cases", True), ("GET", f"/v1/cases/{uuid.uuid4()}", True)],
    "deadlines": [("GET", "/v1/deadlines/overdue", True), ("GET", "/v1/calculate", False)],
    "notifications": [
        ("GET", "/v1/notifications", True),
        ("GET", f"/v1/cases/{uuid.uuid4()}/preview/receipt", True),
    ],
    "reporting": [
        ("GET", "/", False),  # the dashboard's sign-in page (HTML, 401)
        ("GET", "/sign-in", False),
        ("GET", "/v1/reports/summary", True),
        ("GET", "/v1/reports/volumes", False),  # 401: no token
    ],
}
EVERYWHERE = [("GET", "/healthz", False), ("GET", "/metrics", False), ("GET", "/nowhere", False)]


async def test_every_response_of_every_service_carries_the_security_headers(
    system: System,
) -> None:
    seen: dict[str, set[str]] = {}
    async with httpx.AsyncClient(timeout=15) as client:
        for service, requests in REQUESTS.items():
            for method, path, authed in requests + EVERYWHERE:
                r = await client.request(
                    method, system.url(service, path), headers=system.auth() if authed else {}
                )
                kind = r.headers.get("content-type", "").split(";")[0]
                seen.setdefault(kind, set()).add(str(r.status_code))
                for header, value in SECURITY_HEADERS.items():
                    assert r.headers.get(header) == value, (service, method, path, header)
                if kind == "text/html":
                    assert r.headers["cache-control"] == "no-store", (service, path)
    # the walk really covered pages, JSON and text, good answers and errors
    assert {"text/html", "application/json", "text/plain"} <= set(seen)
    assert {"200", "401"} <= seen["text/html"]
    assert {"200", "401", "404", "422"} <= seen["application/json"]

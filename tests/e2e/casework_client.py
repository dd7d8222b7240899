"""A thin client for the staff API as a complaints team would script it."""

from __future__ import annotations

from typing import Any

import httpx

from contracts import Role
from tests.e2e.conftest import System
from tests.e2e.test_flow import COMPLAINT, case_for, submit


class Staff:
    def __init__(
        self,
        client: httpx.AsyncClient,
        system: System,
        user: str,
        role: Role,
        service: str | None = None,
    ) -> None:
        self.client = client
        self.system = system
        self.headers = system.auth(role, user, service)

    async def do(
        self,
        case_id: str,
        action: str,
        body: dict[str, Any] | None = None,
        *,
        expect: int = 200,
        if_match: int | None = None,
    ) -> dict[str, Any]:
        headers = dict(self.headers)
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        r = await self.client.post(
            self.system.url("casework", f"/v1/cases/{case_id}/{action}"),
            json=body,
            headers=headers,
        )
        if expect is None:
            expect = 200  # callers racing each other read the failure from the assertion
        assert r.status_code == expect, f"{action}: {r.status_code} {r.text}"
        return r.json()  # type: ignore[no-any-return]

    async def get(self, path: str, expect: int = 200, **params: Any) -> dict[str, Any]:
        r = await self.client.get(
            self.system.url("casework", path), params=params or None, headers=self.headers
        )
        assert r.status_code == expect, f"{path}: {r.status_code} {r.text}"
        return r.json()  # type: ignore[no-any-return]


async def new_case(
    client: httpx.AsyncClient, system: System, deadlines: int | None = None, **overrides: Any
) -> dict[str, Any]:
    body = {**COMPLAINT, **overrides}
    receipt = await submit(client, system, body)
    timed = body["kind"] in ("complaint", "member_enquiry")
    if deadlines is None:
        deadlines = 2 if timed else 0
    return await case_for(client, system, receipt["submission_id"], deadlines=deadlines)

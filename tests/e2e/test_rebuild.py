"""A read model rebuilt from the log equals the live one: reporting replayed from the topics
into a shadow schema, compared table by table."""

from __future__ import annotations

import asyncio
import time

import httpx

from contracts import Role
from redress.rebuild import rebuild
from redress.settings import RuntimeSettings
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System


async def test_rebuilt_reporting_equals_live(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        case = await new_case(client, system, organisation_id="rebuild-council")
        await officer.do(
            case["case_id"],
            "triage",
            {
                "kind": "complaint",
                "procedure": "housing_ombudsman",
                "service_area": "repairs",
                "category": "damp",
                "location": {"postcode": "M1 1AE", "ward": "Ancoats"},
            },
        )
        await officer.do(case["case_id"], "withdraw", {"reason": "sorted out on the phone"})
    settings = RuntimeSettings(
        database_url=system.stack.dsn,
        kafka_bootstrap_servers=system.stack.bootstrap,
        data_dir=system.data_dir,  # whose master key opens the sealed fields
    )
    deadline = time.monotonic() + 60
    while True:
        report = await rebuild("reporting", settings)
        if report.identical or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)  # the live service may still be catching up
    assert report.messages > 0 and report.applied["applied"] > 0
    differing = [t for t in report.tables if t.only_live or t.only_rebuilt]
    assert not differing, differing
    facts = next(t for t in report.tables if t.table == "case_facts")
    assert facts.live_rows == facts.rebuilt_rows > 0

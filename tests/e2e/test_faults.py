"""Fault tolerance for real: services killed with SIGKILL in the middle of a load of complaints
are restarted by the supervisor, and every complaint still becomes one case with its deadlines,
one receipt in the mail sink and one count in the reports; after each fault every read model
equals what its events say (tests/e2e/convergence.py). The broker's restart is in
test_broker_restart.py."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import httpx
import psutil
import pytest

from contracts import Role
from redress.embedded.smtp_sink import read_mailbox
from redress.settings import embedded_dsn
from tests.conftest import make_data_dir
from tests.e2e.convergence import assert_read_models_match_their_events, dead_lettered
from tests.e2e.test_flow import COMPLAINT, fresh, submit
from tests.e2e.test_up_restart import Up
from tests.support import eventually

ORG = "fault-council"
pytestmark = pytest.mark.faults


async def read_models_match_events(up: Up) -> dict[str, int]:
    """The convergence checks, and nothing dead-lettered: the fault was never the events'."""
    dsn = embedded_dsn(int(up.env["REDRESS_PG_PORT"]))
    compared = await assert_read_models_match_their_events(
        dsn, f"127.0.0.1:{up.env['REDRESS_KAFKA_PORT']}", up.data_dir
    )
    assert set((await dead_lettered(dsn)).values()) == {0}
    return compared


def service_pid(module: str, port: int) -> int:
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if module in cmd and f"--port {port}" in cmd:
            return int(proc.info["pid"])
    raise AssertionError(f"no process for {module} on {port}")


@pytest.mark.timeout(600)
async def test_kill_9_under_load_loses_nothing_and_sends_nothing_twice() -> None:
    data_dir = make_data_dir("redress-faults-") / "data"
    up = Up(data_dir)
    try:
        up.start()
        system = up.system()
        reader = system.auth(Role.AUDITOR, "reader")
        async with httpx.AsyncClient(timeout=30, headers=reader) as client:
            emails = [f"resident{i}@example.org" for i in range(40)]

            async def complain(i: int) -> dict[str, Any]:
                body = {
                    **COMPLAINT,
                    "organisation_id": ORG,
                    "complainant": {**COMPLAINT["complainant"], "email": emails[i]},
                }  # type: ignore[dict-item]
                return await submit(client, system, body)

            first = await asyncio.gather(*(complain(i) for i in range(20)))
            for name in ("casework", "notifications", "deadlines"):
                os.kill(service_pid(f"services.{name}.app", up.ports[name]), signal.SIGKILL)
            second = await asyncio.gather(*(complain(i) for i in range(20, 40)))
            assert len({r["submission_id"] for r in first + second}) == 40

            async def all_counted() -> dict[str, Any] | None:
                try:
                    r = await client.get(
                        system.url("reporting", "/v1/reports/summary"),
                        params={"organisation_id": ORG},
                    )
                except httpx.HTTPError:
                    return None
                s = r.json()
                done = s["cases_opened"] == 40 and s["cases_acknowledged"] == 40
                return s if done else None

            summary = await eventually(
                all_counted, timeout=180, what="all 40 complaints through every service"
            )
            assert summary["cases_with_deadlines"] == 40
            assert summary["notifications_sent"] == 40
        receipts = [
            m["To"]
            for m in read_mailbox(data_dir / "mail")
            if m["Subject"].startswith("We have received")
        ]
        assert sorted(receipts) == sorted(emails)  # one each: none lost, none twice
        compared = await read_models_match_events(up)
        assert compared["cases"] == 40 and compared["notifications_sent"] >= 40, compared
        log = up.output.read_text()
        assert "restarting" in log  # the supervisor brought the killed services back
        assert up.ctrl_c() == 0, log
    finally:
        up.cleanup()


@pytest.mark.timeout(600)
async def test_postgresql_restart_the_services_carry_on() -> None:
    from redress.embedded.postgres import EmbeddedPostgres

    data_dir = make_data_dir("redress-pg-restart-") / "data"
    up = Up(data_dir)
    try:
        up.start()
        system = up.system()
        reader = system.auth(Role.AUDITOR, "reader")
        postgres = EmbeddedPostgres(data_dir, int(up.env["REDRESS_PG_PORT"]))
        async with httpx.AsyncClient(timeout=30, headers=reader) as client:
            before = await submit(client, system, {**COMPLAINT, "organisation_id": ORG})
            postgres.stop()
            await asyncio.sleep(2)  # the services notice: queries fail, consumers hold back
            postgres.start()

            async def submitted() -> dict[str, Any] | None:
                r = await client.post(
                    system.url("intake", "/v1/submissions"),
                    json=fresh({**COMPLAINT, "organisation_id": ORG}),
                )
                return r.json() if r.status_code == 202 else None

            after = await eventually(submitted, what="intake takes complaints again")

            async def both() -> dict[str, Any] | None:
                r = await client.get(
                    system.url("reporting", "/v1/reports/summary"), params={"organisation_id": ORG}
                )
                s = r.json() if r.status_code == 200 else None
                return s if s and s["cases_acknowledged"] == 2 else None

            summary = await eventually(both, timeout=120, what="both complaints all the way")
            assert summary["cases_opened"] == 2
            assert before["submission_id"] != after["submission_id"]
        receipts = [
            m["To"]
            for m in read_mailbox(data_dir / "mail")
            if m["Subject"].startswith("We have received")
        ]
        assert receipts == [COMPLAINT["complainant"]["email"]] * 2  # type: ignore[index]
        compared = await read_models_match_events(up)
        assert compared["cases"] == 2, compared
        assert up.ctrl_c() == 0, up.output.read_text()
    finally:
        up.cleanup()

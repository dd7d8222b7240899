"""`redress up` as an operator runs it: one command starts everything on the embedded stack,
Ctrl-C stops it all, and starting it again keeps every case (PostgreSQL on disk) while the
broker, which keeps nothing, is refilled from the outboxes without sending anything twice."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import Role
from redress.auth import token_key
from redress.settings import SERVICES
from tests.conftest import make_data_dir
from tests.e2e.conftest import System
from tests.e2e.test_flow import COMPLAINT, case_for, submit
from tests.support import eventually, free_port

ORG = "restart-council"


class Up:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ports = {name: free_port() for name in SERVICES}
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REDRESS_SMTP_HOST")
        }
        self.env.update(
            REDRESS_DATA_DIR=str(data_dir),
            REDRESS_PG_PORT=str(free_port()),
            REDRESS_KAFKA_PORT=str(free_port()),
            REDRESS_SMTP_PORT=str(free_port()),
            REDRESS_MAILBOX_PORT=str(free_port()),
            **{f"REDRESS_{n.upper()}_PORT": str(p) for n, p in self.ports.items()},
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.output = data_dir.parent / f"{data_dir.name}-up.log"

    def start(self) -> None:
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "redress.cli", "up"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 120
        for port in self.ports.values():
            while True:
                assert self.process.poll() is None, self.output.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, self.output.read_text()
                time.sleep(0.3)

    def cleanup(self) -> None:
        """Whatever happened in the test, leave nothing running: ask nicely, then make sure."""
        import json

        import psutil

        from redress.embedded.postgres import EmbeddedPostgres

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        state = self.data_dir / "supervisor.json"
        if state.exists():
            for pid in json.loads(state.read_text()).get("pids", []):
                try:
                    psutil.Process(pid).kill()
                except psutil.Error:
                    pass
        if (self.data_dir / "postgres" / "postmaster.pid").exists():
            EmbeddedPostgres(self.data_dir, int(self.env["REDRESS_PG_PORT"])).stop()

    def ctrl_c(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(90)

    def system(self) -> System:
        return System(
            stack=None,  # type: ignore[arg-type]
            urls={n: f"http://127.0.0.1:{p}" for n, p in self.ports.items()},
            token_key=token_key(self.data_dir),
            mailbox_port=int(self.env["REDRESS_MAILBOX_PORT"]),
        )


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def modes(paths: list[Path]) -> dict[Path, int]:
    return {p: p.stat().st_mode for p in paths}


async def deliveries(client: httpx.AsyncClient, system: System, case_id: str) -> list[Any]:
    r = await client.get(
        system.url("notifications", "/v1/notifications"), params={"case_id": case_id}
    )
    return r.json()["notifications"]  # type: ignore[no-any-return]


@pytest.mark.timeout(600)
async def test_ctrl_c_and_start_again_keeps_cases_and_sends_nothing_twice() -> None:
    data_dir = make_data_dir("redress-up-") / "data"
    outside = [data_dir.parent, *data_dir.parent.parents]
    outside_modes = modes(outside)
    up = Up(data_dir)
    body = {**COMPLAINT, "organisation_id": ORG}
    try:
        up.start()
        system = up.system()
        async with httpx.AsyncClient(
            timeout=10, headers=system.auth(Role.AUDITOR, "reader")
        ) as client:
            first = await submit(client, system, body)
            case = await case_for(client, system, first["submission_id"])
            assert case["reference"].endswith("-000001")
            await eventually(
                lambda: deliveries(client, system, case["case_id"]), what="first acknowledgement"
            )

            async def mailbox_open() -> bool:
                return listening(system.mailbox_port)

            await eventually(mailbox_open, what="intake's mailbox listening under redress up")
        assert f"127.0.0.1:{system.mailbox_port}" in up.output.read_text()

        assert up.ctrl_c() == 0, up.output.read_text()
        assert not listening(system.mailbox_port)
        assert not any(listening(p) for p in up.ports.values())
        assert not listening(int(up.env["REDRESS_KAFKA_PORT"]))
        assert not listening(int(up.env["REDRESS_PG_PORT"]))

        up.start()
        async with httpx.AsyncClient(
            timeout=10, headers=system.auth(Role.AUDITOR, "reader")
        ) as client:
            kept = await client.get(
                system.url("casework", "/v1/cases"),
                params={"submission_id": first["submission_id"]},
                headers=system.auth(),
            )
            assert kept.json()["cases"][0]["reference"] == case["reference"]

            second = await submit(client, system, body)
            new_case = await case_for(client, system, second["submission_id"])
            assert new_case["reference"].endswith("-000002")

            async def both_counted() -> dict[str, Any] | None:
                r = await client.get(
                    system.url("reporting", "/v1/reports/summary"), params={"organisation_id": ORG}
                )
                summary = r.json()
                return summary if summary["cases_acknowledged"] == 2 else None

            summary = await eventually(both_counted, timeout=60, what="both cases reported")
            assert summary["cases_opened"] == 2
            assert summary["submissions_received"] == 2
            assert summary["notifications_sent"] == 2
            # the restarted broker got the whole outbox again; the first letter was not resent
            metrics = (await client.get(system.url("casework", "/metrics"))).text
            assert 'redress_outbox_broker_changes_total{service="casework"} 1.0' in metrics
            assert len(await deliveries(client, system, case["case_id"])) == 1
        assert up.ctrl_c() == 0, up.output.read_text()
    finally:
        up.cleanup()
    assert modes(outside) == outside_modes, "start-up changed permissions outside its data dir"
    shutil.rmtree(data_dir.parent, ignore_errors=True)

"""The five services as separate processes, started by the real supervisor against the
session's embedded PostgreSQL and broker, driven only through their public APIs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts import Role
from redress.auth import mint, token_key
from redress.embedded.supervisor import Supervisor
from redress.settings import SERVICES, RuntimeSettings
from tests.conftest import Stack
from tests.support import free_port

# Whole-system tests send many complaints from one address (loopback), and every process they
# start inherits this environment. Rate limits have tests of their own
# (tests/integration/test_rate_limits.py); here they are set far above any test's load.
for _name, _value in {
    "REDRESS_RATE_SUBMIT_PER_MINUTE": "60000",
    "REDRESS_RATE_SUBMIT_BURST": "10000",
    "REDRESS_RATE_READ_PER_MINUTE": "60000",
    "REDRESS_RATE_READ_BURST": "10000",
}.items():
    os.environ.setdefault(_name, _value)

MAILBOX_MAX_BYTES = 512 * 1024
ATTACHMENT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class System:
    stack: Stack
    urls: dict[str, str]
    token_key: str = ""
    #: intake's complaints mailbox (incoming SMTP) on 127.0.0.1
    mailbox_port: int = 0

    @property
    def data_dir(self) -> Path:
        """The services' data dir: their token and master keys, logs and mail."""
        return self.stack.data_dir / "system"

    def url(self, service: str, path: str) -> str:
        return self.urls[service] + path

    def auth(
        self, role: Role = Role.OFFICER, user: str = "e2e-officer", service: str | None = None
    ) -> dict[str, str]:
        """Headers carrying a bearer token for a member of staff."""
        token = mint(self.token_key, user=user, role=role, service_area=service)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def system(stack: Stack) -> Iterator[System]:
    saved = dict(os.environ)
    ports = {name: free_port() for name in SERVICES}
    for name, port in ports.items():
        os.environ[f"REDRESS_{name.upper()}_PORT"] = str(port)
    # small limits, so that the mailbox tests send too much without sending megabytes
    os.environ["REDRESS_MAILBOX_MAX_BYTES"] = str(MAILBOX_MAX_BYTES)
    os.environ["REDRESS_ATTACHMENT_MAX_BYTES"] = str(ATTACHMENT_MAX_BYTES)
    data_dir = stack.data_dir / "system"
    settings = RuntimeSettings(
        database_url=stack.dsn,
        kafka_bootstrap_servers=stack.bootstrap,
        data_dir=data_dir,
        smtp_host="127.0.0.1",
        smtp_port=stack.smtp_port,
        mailbox_port=free_port(),
    )
    supervisor = Supervisor(settings, say=lambda _: None)
    try:
        supervisor.start()
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        system = System(stack, urls, token_key(data_dir), settings.mailbox_port)
        # configured from the start, so that every test finds the same rule whatever ran
        # before it: intake takes only configured organisations once there are any
        from tests.e2e.organisations import COMMON, ensure_organisation

        async def configure() -> None:
            for organisation_id in COMMON:
                await ensure_organisation(system, organisation_id)

        asyncio.run(configure())
        yield system
    finally:
        supervisor.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """When a test on the shared system fails, show what the services logged as errors and
    warnings meanwhile: a 500 seen by the test is explained in a service's log, which is
    deleted with the session's data dir."""
    outcome = yield
    report = outcome.get_result()
    system = getattr(item, "funcargs", {}).get("system")
    if report.when != "call" or not report.failed or not isinstance(system, System):
        return
    lines: list[str] = []
    for log in sorted((system.data_dir / "logs").glob("*.log")):
        try:
            text = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        bad = [
            line
            for line in text
            if '"level": "error"' in line or "Traceback" in line or "Error:" in line
        ]
        lines += [f"{log.name}: {line[:2000]}" for line in bad[-15:]]
    if lines:
        report.sections.append(("services' errors (last 15 per log)", "\n".join(lines)))


from tests.browser import browser, page  # noqa: E402,F401  (fixtures for the browser tests)

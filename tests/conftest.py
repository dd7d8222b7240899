"""The embedded stack, started once per test session: real PostgreSQL and a real
Kafka-protocol broker on loopback ports chosen for this run, in a throwaway data directory."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from redress.embedded.broker import EmbeddedBroker
from redress.embedded.postgres import EmbeddedPostgres
from redress.embedded.smtp_sink import SmtpSink
from tests.support import free_port


@dataclass(frozen=True)
class Stack:
    dsn: str
    bootstrap: str
    data_dir: Path
    smtp_port: int = 0

    @property
    def mail_dir(self) -> Path:
        """Where the loopback SMTP sink keeps every message it receives."""
        return self.data_dir / "mail"


def make_data_dir(prefix: str) -> Path:
    """Under the system temp folder, whose parents any user can traverse (see
    ARCHITECTURE.md on running as root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session", autouse=True)
def one_master_key() -> Iterator[None]:
    """Every process of a deployment shares one master key (the vault's keys are wrapped by it
    and live in the one database), so the session has one too: in-process apps with data dirs of
    their own and the supervised services would otherwise each make a key file, and a consumer
    meeting a person key wrapped by another master key stops and retries rather than lose it,
    wedging every test after it."""
    saved = os.environ.get("REDRESS_MASTER_KEY")
    os.environ["REDRESS_MASTER_KEY"] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("REDRESS_MASTER_KEY", None)
        else:
            os.environ["REDRESS_MASTER_KEY"] = saved


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    data_dir = make_data_dir("redress-test-")
    postgres = EmbeddedPostgres(data_dir, free_port())
    broker = EmbeddedBroker(free_port(), data_dir / "logs" / "broker.log")
    smtp = SmtpSink(free_port(), data_dir / "mail")
    try:
        postgres.start()
        broker.start()
        smtp.start()
        yield Stack(postgres.dsn, broker.bootstrap_servers, data_dir, smtp.port)
    finally:
        smtp.stop()
        broker.stop()
        postgres.stop()
        if not os.environ.get("REDRESS_KEEP_TEST_DATA"):
            shutil.rmtree(data_dir, ignore_errors=True)

"""The commands a container or an init job runs, against the real embedded PostgreSQL and
broker: ``redress topics create``, ``redress migrate`` and ``redress serve <service>``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import asyncpg
import httpx

from redress.kafka import describe_topics
from redress.settings import SERVICES
from tests.conftest import Stack
from tests.support import free_port


def cli_env(stack: Stack, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=stack.dsn,
        KAFKA_BOOTSTRAP_SERVERS=stack.bootstrap,
        REDRESS_DATA_DIR=str(stack.data_dir / "cli"),
        REDRESS_TOKEN_KEY="k" * 48,
        **extra,
    )
    return env


def redress(stack: Stack, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redress.cli", *argv],
        env=cli_env(stack, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_topics_create_makes_every_topic_and_dead_letter_topic(stack: Stack) -> None:
    done = redress(stack, "topics", "create", "--partitions", "3", "--replication", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    wanted = ["redress.intake.v1", "redress.case.v1", "redress.deadline.v1"]
    wanted += [f"redress.case.v1.dlq.{s}" for s in ("deadlines", "notifications", "reporting")]
    wanted += [f"{t}.dlq.casework" for t in ("redress.intake.v1", "redress.deadline.v1")]
    wanted += ["redress.notification.v1.dlq.casework"]  # letters listed on the case page
    described = await describe_topics(stack.bootstrap, wanted)
    assert described == dict.fromkeys(wanted, 3)
    again = redress(stack, "topics", "create")  # nothing missing: still fine
    assert again.returncode == 0, again.stdout + again.stderr


async def test_migrate_brings_every_service_schema_up_to_date(stack: Stack) -> None:
    done = redress(stack, "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    conn = await asyncpg.connect(stack.dsn)
    try:
        for service in SERVICES:
            applied = await conn.fetch(f'SELECT source, version FROM "{service}".schema_migrations')
            assert ("runtime", 1) in {(r["source"], r["version"]) for r in applied}, service
    finally:
        await conn.close()
    again = redress(stack, "migrate", "casework")
    assert again.returncode == 0 and "casework: up to date" in again.stdout, again.stdout
    unknown = redress(stack, "migrate", "billing")
    assert unknown.returncode == 2


def test_serve_runs_one_service_until_sigterm(stack: Stack) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "redress.cli", "serve", "intake", "--port", str(port)],
        env=cli_env(stack, REDRESS_HTTP_HOST="127.0.0.1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "intake never became ready"
            time.sleep(0.2)
        assert r.json()["service"] == "intake"
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts the app down, then re-raises the signal so the exit says why
        assert process.wait(30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)

"""A peer on the same work: the `eventsourcing` library's PostgreSQL application recorder
against our event store (event and outbox row in one transaction), each saving one-event
streams from 16 concurrent writers into the same PostgreSQL, one after the other.

Alone, for work on the append: rounds of ours and the library alternating on a PostgreSQL of
its own (or ``--dsn``), each round's rate and this process's CPU per append, the medians and
their ratio. Quote figures from one run: the machine's other load moves both.

    .venv/bin/python -m redress.bench.peer --rounds 5 --seconds 4
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import uvloop

from contracts import DeadlineSet, new_envelope
from redress import eventstore
from redress.bench.stack import free_port
from redress.db import RUNTIME_MIGRATIONS, apply_migrations, create_pool
from redress.embedded.postgres import EmbeddedPostgres

OURS_SCHEMA = "bench_ours"
PEER_SCHEMA = "bench_peer"


def _payload() -> DeadlineSet:
    """An event with no personal fields: ours would otherwise also seal them with the person's
    key (`redress.vault`), work the library does not do, and the comparison is of the stores."""
    return DeadlineSet.model_validate(
        {
            "deadline_id": uuid.uuid4(),
            "case_id": uuid.uuid4(),
            "kind": "response",
            "stage": 1,
            "procedure": "housing_ombudsman",
            "counts_from": date(2026, 11, 27),
            "working_days": 10,
            "due_on": date(2026, 12, 11),
            "clause": "5.1",
            "explanation": "10 working days from the day the complaint was acknowledged",
            "organisation_id": "bench-homes",
        }
    )


def run_ours(dsn: str, seconds: float, writers: int = 16) -> float:
    """`ours` on the event loop every service appends on: uvicorn runs the services on uvloop
    (a dependency, so always there), whose socket and timer handling costs about a quarter
    less CPU per round trip than asyncio's own loop (measured here: 215 -> 159 us of this
    process per append). Measuring on asyncio's loop would charge our store for a loop no
    service runs."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(ours(dsn, seconds, writers))


async def ours(dsn: str, seconds: float, writers: int = 16) -> float:
    """One-event streams appended per second through `redress.eventstore.append`."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {OURS_SCHEMA} CASCADE")
    finally:
        await admin.close()
    pool = await create_pool(dsn, OURS_SCHEMA, max_size=writers)
    try:
        await apply_migrations(pool, OURS_SCHEMA, [("runtime", RUNTIME_MIGRATIONS)])
        count = 0
        stop_at = time.perf_counter() + seconds

        async def writer() -> None:
            nonlocal count
            async with pool.acquire() as conn:
                while time.perf_counter() < stop_at:
                    payload = _payload()
                    now = datetime.now(UTC)
                    env = new_envelope(
                        payload,
                        stream_id=f"deadlines-{payload.case_id}",
                        stream_version=1,
                        occurred_at=now,
                        recorded_at=now,
                        actor="bench",
                        correlation_id=uuid.uuid4(),
                    )
                    async with conn.transaction():
                        await eventstore.append(conn, "bench", [env], expected_version=0)
                    count += 1

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        return count / (time.perf_counter() - started)
    finally:
        await pool.close()


def eventsourcing_library(dsn: str, seconds: float, writers: int = 16) -> float:
    """One-event aggregates saved per second by an `eventsourcing` Application on its
    PostgreSQL recorder, from ``writers`` threads (the library is synchronous)."""
    from eventsourcing.application import Application

    Deadline = _deadline_aggregate()

    url = urlparse(dsn)
    env: dict[str, Any] = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "unused",
        "POSTGRES_SCHEMA": PEER_SCHEMA,
        "POSTGRES_POOL_SIZE": str(writers),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }
    asyncio.run(_fresh_schema(dsn, PEER_SCHEMA))
    app: Application[Any] = Application(env=env)
    try:
        count = 0
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        failures: list[BaseException] = []

        def writer() -> None:
            nonlocal count
            try:
                while time.perf_counter() < stop_at:
                    app.save(
                        Deadline(
                            case_id=str(uuid.uuid4()),
                            kind="response",
                            due_on="2026-12-11",
                            clause="5.1",
                            explanation=(
                                "10 working days from the day the complaint was acknowledged"
                            ),
                        )
                    )
                    with lock:
                        count += 1
            except BaseException as exc:  # a thread that dies would only lower the rate
                failures.append(exc)

        threads = [threading.Thread(target=writer) for _ in range(writers)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            # a writer that stopped early would flatter our ratio: no figure rather than that
            raise RuntimeError(f"the library's writers failed: {failures[0]!r}") from failures[0]
        return count / (time.perf_counter() - started)
    finally:
        app.close()


_deadline: Any = None


def _deadline_aggregate() -> Any:
    """The library's aggregate for the same event, made once per process: the library
    registers each aggregate class by its name and refuses a second class of the same name
    (as rounds that each defined it would)."""
    global _deadline
    if _deadline is None:
        from eventsourcing.domain import Aggregate, event

        class Deadline(Aggregate):
            @event("Set")
            def __init__(
                self, case_id: str, kind: str, due_on: str, clause: str, explanation: str
            ) -> None:
                self.case_id = case_id
                self.kind = kind
                self.due_on = due_on
                self.clause = clause
                self.explanation = explanation

        _deadline = Deadline
    return _deadline


async def _fresh_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    finally:
        await conn.close()


def side_by_side(dsn: str, rounds: int, seconds: float) -> None:
    ours_rates: list[float] = []
    library_rates: list[float] = []
    for number in range(1, rounds + 1):
        cpu = time.process_time()
        rate = run_ours(dsn, seconds)
        cpu_us = (time.process_time() - cpu) / (rate * seconds) * 1e6
        ours_rates.append(rate)
        library_rates.append(eventsourcing_library(dsn, seconds))
        print(
            f"round {number}: ours {rate:,.0f}/s ({cpu_us:.0f} us of this process's CPU "
            f"per append, set-up included), library {library_rates[-1]:,.0f}/s",
            flush=True,
        )
    ours_median, library_median = statistics.median(ours_rates), statistics.median(library_rates)
    print(
        f"medians of {rounds}: ours {ours_median:,.0f}/s, library {library_median:,.0f}/s, "
        f"ratio {ours_median / library_median:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each, alternating")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each round")
    parser.add_argument("--dsn", help="a PostgreSQL to use instead of starting one")
    args = parser.parse_args()
    os.environ.setdefault(
        "REDRESS_MASTER_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    if args.dsn:
        side_by_side(args.dsn, args.rounds, args.seconds)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="redress-peer-"))
    data_dir.chmod(0o755)  # as root, PostgreSQL's own user must traverse it
    postgres = EmbeddedPostgres(data_dir, free_port())
    try:
        postgres.start()
        side_by_side(postgres.dsn, args.rounds, args.seconds)
    finally:
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The broker restarted from empty in the middle of a load of complaints: the embedded broker
keeps nothing, so it comes back a new cluster with no topics, no messages and no consumer
offsets. The outbox relays notice the new cluster id and publish their whole outboxes again;
consumers, starting over from the beginning, skip what they have applied. Every complaint still
becomes one case with its deadlines and one receipt, and every read model equals what its
events say.

It runs on a stack of its own (its own PostgreSQL, broker, mail sink and five services under an
in-process supervisor), so the restart disturbs no other test.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from contracts import Role
from redress.auth import token_key
from redress.embedded.smtp_sink import read_mailbox
from redress.embedded.supervisor import Supervisor
from redress.settings import SERVICES, RuntimeSettings
from tests.conftest import make_data_dir
from tests.e2e.conftest import System
from tests.e2e.convergence import assert_read_models_match_their_events, dead_lettered
from tests.e2e.test_flow import COMPLAINT, submit
from tests.support import eventually, free_port

ORG = "broker-restart-council"
pytestmark = pytest.mark.faults
RELAYING = ("intake", "casework", "deadlines", "notifications")


@pytest.fixture
def own_stack() -> Iterator[tuple[Supervisor, System]]:
    saved = dict(os.environ)
    ports = {name: free_port() for name in SERVICES}
    os.environ.update({f"REDRESS_{n.upper()}_PORT": str(p) for n, p in ports.items()})
    data_dir = make_data_dir("redress-broker-restart-") / "data"
    settings = RuntimeSettings(
        database_url=None,
        kafka_bootstrap_servers=None,
        smtp_host=None,
        data_dir=data_dir,
        embedded_pg_port=free_port(),
        embedded_kafka_port=free_port(),
        smtp_port=free_port(),
        mailbox_port=free_port(),
    )
    supervisor = Supervisor(settings, say=lambda _: None)
    try:
        supervisor.start()
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        yield supervisor, System(None, urls, token_key(data_dir), settings.mailbox_port)  # type: ignore[arg-type]
    finally:
        supervisor.stop()
        os.environ.clear()
        os.environ.update(saved)


def broker_changes(metrics: str, service: str) -> float:
    found = re.search(
        rf'redress_outbox_broker_changes_total\{{service="{service}"\}} ([0-9.e+]+)', metrics
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.timeout(600)
async def test_broker_restart_from_empty_under_load_loses_nothing_and_sends_nothing_twice(
    own_stack: tuple[Supervisor, System],
) -> None:
    supervisor, system = own_stack
    assert supervisor.broker is not None
    first_cluster = supervisor.broker.cluster_id
    emails = [f"broker{i}@example.org" for i in range(36)]
    async with httpx.AsyncClient(timeout=30, headers=system.auth(Role.AUDITOR, "reader")) as client:

        async def complain(i: int) -> dict[str, Any]:
            body = {
                **COMPLAINT,
                "organisation_id": ORG,
                "complainant": {**COMPLAINT["complainant"], "email": emails[i]},  # type: ignore[dict-item]
            }
            return await submit(client, system, body)

        def restart_broker() -> None:
            assert supervisor.broker is not None
            supervisor.broker.stop()
            supervisor.broker.start()

        first = await asyncio.gather(*(complain(i) for i in range(12)))
        # complaints keep coming while the broker goes away and comes back empty
        during = await asyncio.gather(
            asyncio.to_thread(restart_broker), *(complain(i) for i in range(12, 24))
        )
        assert supervisor.broker.cluster_id != first_cluster
        after = await asyncio.gather(*(complain(i) for i in range(24, 36)))
        receipts = [*first, *during[1:], *after]
        assert len({r["submission_id"] for r in receipts}) == 36

        async def all_through() -> dict[str, Any] | None:
            try:
                r = await client.get(
                    system.url("reporting", "/v1/reports/summary"),
                    params={"organisation_id": ORG},
                )
            except httpx.HTTPError:
                return None
            s = r.json() if r.status_code == 200 else None
            done = s and s["cases_opened"] == 36 and s["notifications_sent"] == 36
            return s if done else None

        summary = await eventually(
            all_through, timeout=240, what="all 36 complaints through every service"
        )
        assert summary["cases_with_deadlines"] == 36
        for service in RELAYING:  # each relay saw the new cluster and published again
            metrics = (await client.get(system.url(service, "/metrics"))).text
            assert broker_changes(metrics, service) >= 1, service
    receipts_sent = [
        m["To"]
        for m in read_mailbox(supervisor.data_dir / "mail")
        if m["Subject"].startswith("We have received")
    ]
    assert sorted(receipts_sent) == sorted(emails)  # one each: none lost, none twice
    conn = await asyncpg.connect(supervisor.settings.dsn)
    try:
        per_submission = await conn.fetch(
            "SELECT submission_id, count(*) AS n FROM casework.cases "
            "WHERE organisation_id = $1 GROUP BY submission_id",
            ORG,
        )
    finally:
        await conn.close()
    assert {str(r["submission_id"]) for r in per_submission} == {
        r["submission_id"] for r in receipts
    }
    assert all(r["n"] == 1 for r in per_submission)  # one case per complaint, none twice
    compared = await assert_read_models_match_their_events(
        supervisor.settings.dsn, supervisor.settings.bootstrap_servers, supervisor.settings.data_dir
    )
    assert compared["cases"] == 36 and compared["notifications_sent"] >= 36, compared
    assert set((await dead_lettered(supervisor.settings.dsn)).values()) == {0}

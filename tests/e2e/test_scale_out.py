"""Scale-out for real: two replicas of every service in one consumer group each, on their own
broker and database, share the partitions; one replica of each is killed with SIGKILL in the
middle of a load, and the survivors take its partitions over. Every complaint still becomes one
case, one receipt, one acknowledgement letter and one count: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import Role
from redress.auth import mint, token_key
from redress.embedded.broker import EmbeddedBroker
from redress.embedded.postgres import EmbeddedPostgres
from redress.embedded.smtp_sink import SmtpSink, read_mailbox
from redress.embedded.supervisor import Supervisor
from redress.settings import SERVICES, RuntimeSettings
from tests.conftest import make_data_dir
from tests.e2e.convergence import assert_read_models_match_their_events
from tests.e2e.test_flow import COMPLAINT
from tests.support import eventually, free_port

ORG = "scale-council"
#: services that certainly consume; any other that reports partitions is checked the same way
CONSUMERS = {"casework", "deadlines", "notifications", "reporting"}
PARTITIONS = RuntimeSettings().topic_partitions  # what the supervisor creates the topics with
LOAD = 40
TRIAGE = {
    "kind": "complaint",
    "procedure": "housing_ombudsman",
    "service_area": "repairs",
    "category": "repairs - missed appointments",
    "priority": "normal",
}
ACKNOWLEDGE = {
    "points": [{"point_id": "1", "text": "Three missed repair appointments"}],
    "outcomes_sought": ["Boiler repaired"],
}


@dataclass
class Cluster:
    supervisor: Supervisor
    mail_dir: Any
    key: str

    def auth(self, role: Role = Role.OFFICER, user: str = "scale-officer") -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.key, user=user, role=role)}"}

    def url(self, service: str, path: str, replica: int = 1) -> str:
        return self.supervisor.urls(service)[replica - 1] + path


@pytest.fixture
def own_env() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
async def cluster(own_env: None) -> AsyncIterator[Cluster]:
    """Its own PostgreSQL, broker and mail sink, so that no other test's services join its
    consumer groups or share its schemas."""
    data_dir = make_data_dir("redress-scale-")
    postgres = EmbeddedPostgres(data_dir, free_port())
    broker = EmbeddedBroker(free_port(), data_dir / "logs" / "broker.log")
    smtp = SmtpSink(free_port(), data_dir / "mail")
    for name in SERVICES:
        os.environ[f"REDRESS_{name.upper()}_PORT"] = str(free_port())
    supervisor: Supervisor | None = None
    try:
        await asyncio.to_thread(postgres.start)
        broker.start()
        smtp.start()
        settings = RuntimeSettings(
            database_url=postgres.dsn,
            kafka_bootstrap_servers=broker.bootstrap_servers,
            data_dir=data_dir,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            mailbox_port=free_port(),  # both intake replicas share it; no other run does
        )
        supervisor = Supervisor(settings, replicas=2, say=lambda _: None)
        await asyncio.to_thread(
            supervisor.start,
        )
        yield Cluster(supervisor, data_dir / "mail", token_key(data_dir))
    finally:
        if supervisor is not None:
            await asyncio.to_thread(supervisor.stop)
        smtp.stop()
        broker.stop()
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(data_dir, ignore_errors=True)


async def metrics_of(
    client: httpx.AsyncClient, url: str
) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = await client.get(url + "/metrics")
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            families.setdefault(sample.name, []).append((sample.labels, sample.value))
    return families


async def assigned(client: httpx.AsyncClient, url: str) -> dict[str, int]:
    """Partitions per topic this replica holds now."""
    samples = (await metrics_of(client, url)).get("redress_consumer_assigned_partitions", [])
    return {labels["topic"]: int(value) for labels, value in samples}


async def applied(client: httpx.AsyncClient, url: str) -> int:
    samples = (await metrics_of(client, url)).get("redress_events_consumed_total", [])
    return int(sum(v for labels, v in samples if labels["result"] == "applied"))


@pytest.mark.timeout(300)
async def test_two_replicas_share_the_work_and_a_survivor_takes_over(cluster: Cluster) -> None:
    supervisor = cluster.supervisor
    async with httpx.AsyncClient(timeout=30) as client:
        # both replicas of every consuming service hold part of each topic it reads (the
        # topics are those its replicas report partitions of)
        consuming: dict[str, set[str]] = {}
        seen: dict[str, list[dict[str, int]]] = {}  # what each replica last said it held

        async def shared() -> bool:
            for service in SERVICES:
                held = [await assigned(client, url) for url in supervisor.urls(service)]
                seen[service] = held
                topics = {t for h in held for t in h}
                for topic in topics:
                    counts = [h.get(topic, 0) for h in held]
                    if sum(counts) != PARTITIONS or 0 in counts:
                        return False
                if topics:
                    consuming[service] = topics
            return set(consuming) >= CONSUMERS

        # ten processes joining five groups on a busy machine: each join is a rebalance of its
        # group, each up to the session timeout when a member is slow to come back
        try:
            await eventually(
                shared, timeout=150, what="both replicas of each service hold partitions"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; partitions held: {seen}") from None

        emails = [f"resident{i}@scale.example.org" for i in range(LOAD)]

        async def complain(i: int, replica: int) -> str:
            body = {
                **COMPLAINT,
                "organisation_id": ORG,
                "complainant": {**COMPLAINT["complainant"], "email": emails[i]},  # type: ignore[dict-item]
            }
            r = await client.post(cluster.url("intake", "/v1/submissions", replica), json=body)
            assert r.status_code == 202, r.text
            return str(r.json()["submission_id"])

        half = LOAD // 2
        first = await asyncio.gather(*(complain(i, 1 + i % 2) for i in range(half)))
        before = {s: await applied(client, supervisor.urls(s)[0]) for s in consuming}
        # mid-load: the second replica of every service dies without a chance to commit
        for name in SERVICES:
            victim = supervisor.replicas_of(name)[1].process
            assert victim is not None
            victim.kill()
            victim.wait(10)
        second = await asyncio.gather(*(complain(i, 1) for i in range(half, LOAD)))
        submissions = first + second
        assert len(set(submissions)) == LOAD

        # staff acknowledge every case through the surviving casework replica
        officer = cluster.auth()

        async def case_of(submission_id: str) -> dict[str, Any] | None:
            r = await client.get(
                cluster.url("casework", "/v1/cases"),
                params={"submission_id": submission_id},
                headers=officer,
            )
            cases = r.json()["cases"] if r.status_code == 200 else []
            return cases[0] if cases and len(cases[0]["deadlines"]) == 2 else None

        async def acknowledge(submission_id: str) -> str:
            case = await eventually(
                lambda: case_of(submission_id), timeout=120, what=f"case for {submission_id}"
            )
            for action, body in (
                ("triage", TRIAGE),
                ("acknowledge", ACKNOWLEDGE),
            ):
                r = await client.post(
                    cluster.url("casework", f"/v1/cases/{case['case_id']}/{action}"),
                    json=body,
                    headers=officer,
                )
                assert r.status_code == 200, f"{action}: {r.text}"
            return str(case["case_id"])

        case_ids = await asyncio.gather(*(acknowledge(s) for s in submissions))
        assert len(set(case_ids)) == LOAD

        async def all_counted() -> dict[str, Any] | None:
            r = await client.get(
                cluster.url("reporting", "/v1/reports/summary"),
                params={"organisation_id": ORG},
                headers=cluster.auth(Role.AUDITOR, "reader"),
            )
            s = r.json() if r.status_code == 200 else {}
            return s if s.get("notifications_sent") == 2 * LOAD else None

        summary = await eventually(all_counted, timeout=120, what="every letter counted")
        assert summary["cases_opened"] == LOAD
        assert summary["cases_with_deadlines"] == LOAD

        # one case per submission, even though casework's consumer died holding some of them
        for submission_id in submissions:
            r = await client.get(
                cluster.url("casework", "/v1/cases"),
                params={"submission_id": submission_id},
                headers=officer,
            )
            assert len(r.json()["cases"]) == 1, submission_id

        # the survivors hold every partition and did work after the kill
        for service, topics in consuming.items():
            survivor = supervisor.urls(service)[0]
            held = await assigned(client, survivor)
            assert {t: held.get(t) for t in topics} == dict.fromkeys(topics, PARTITIONS), service
            assert await applied(client, survivor) > before[service], service

    letters = Counter(
        (m["To"], m["Subject"].split(" (")[0]) for m in read_mailbox(cluster.mail_dir)
    )
    for email in emails:
        assert letters[(email, "We have received your message")] == 1, email
        assert letters[(email, "We have received your complaint")] == 1, email
    # every read model still equals what its events say, after the replicas were killed
    settings = cluster.supervisor.settings
    compared = await assert_read_models_match_their_events(
        settings.dsn, settings.bootstrap_servers, cluster.supervisor.data_dir
    )
    assert compared["cases"] == len(emails), compared

"""Personal data on the running system: sealed in every event store, outbox and topic; erased
so that no copy anywhere reads back while reports keep their counts and a rebuild still equals
live; retention erasing exactly the people whose cases closed long enough ago; and a subject
access export with everything of one person's and nothing of anyone else's."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import ALL_TOPICS, Role
from redress.rebuild import rebuild
from redress.settings import SERVICES, RuntimeSettings
from tests.e2e.casework_client import Staff
from tests.e2e.conftest import System
from tests.e2e.test_flow import case_for, submit
from tests.support import eventually


def resident(tag: str, first: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"{first} Q{tag}",
        "email": f"{first.lower()}.{tag}@example.org",
        "postcode": "M1 1AE",
        **extra,
    }


def complaint(org: str, who: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "kind": "complaint",
        "channel": "web",
        "organisation_id": org,
        "service_area": "repairs",
        "summary": summary,
        "outcome_sought": "Put it right",
        "complainant": who,
        "location": {"address": "12 Quarry Row", "postcode": "M1 1AE"},
    }


async def open_case(client: httpx.AsyncClient, system: System, body: dict[str, Any]) -> str:
    receipt = await submit(client, system, body)
    case = await case_for(client, system, receipt["submission_id"])
    return str(case["case_id"])


async def rows_holding(dsn: str, needles: list[str]) -> list[str]:
    """Every (schema.table.column) of every service whose rows contain any needle: text
    columns by a case-insensitive match, bytea columns (outboxes, dead letters, PDFs) by their
    raw bytes."""
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            """SELECT table_schema, table_name, column_name, data_type
               FROM information_schema.columns c
               JOIN information_schema.tables t USING (table_schema, table_name)
               WHERE table_schema = ANY($1::text[]) AND t.table_type = 'BASE TABLE'""",
            [*SERVICES, "vault"],
        )
        found = []
        for col in columns:
            where = f'"{col["table_schema"]}"."{col["table_name"]}"'
            name = f'"{col["column_name"]}"'
            for needle in needles:
                if col["data_type"] == "bytea":
                    sql = f"SELECT count(*) FROM {where} WHERE position($1::bytea in {name}) > 0"
                    hits = await conn.fetchval(sql, needle.encode())
                else:
                    sql = f"SELECT count(*) FROM {where} WHERE {name}::text ILIKE $1"
                    hits = await conn.fetchval(sql, f"%{needle}%")
                if hits:
                    found.append(f"{col['table_schema']}.{col['table_name']}.{col['column_name']}")
        return found
    finally:
        await conn.close()


async def topics_holding(bootstrap: str, needles: list[str]) -> list[str]:
    """Topics with a message whose raw bytes contain any needle (read to each partition's end)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    found = set()
    try:
        await consumer.topics()  # fetches the metadata that says which partitions there are
        partitions = [
            TopicPartition(t, p)
            for t in ALL_TOPICS
            for p in (consumer.partitions_for_topic(t) or ())
        ]
        assert partitions
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
            if not pending:
                break
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    raw = (r.value or b"") + (r.key or b"")
                    if any(n.encode() in raw for n in needles):
                        found.add(tp.topic)
    finally:
        await consumer.stop()
    return sorted(found)


async def reports(client: httpx.AsyncClient, system: System, org: str) -> dict[str, Any]:
    out = {}
    for report in ("summary", "volumes", "places", "outcomes"):
        r = await client.get(
            system.url("reporting", f"/v1/reports/{report}"), params={"organisation_id": org}
        )
        assert r.status_code == 200, r.text
        out[report] = r.json()
    return out


async def test_erasure_makes_every_copy_unreadable_and_keeps_the_counts(system: System) -> None:
    tag = uuid.uuid4().hex[:10]
    org = f"privacy-{tag}"
    digits = "".join(str(int(c, 16) % 10) for c in tag[:3])
    zelda = resident(tag, "Zelda", phone=f"07700 900{digits}")
    yorick = resident(tag, "Yorick")
    secrets = [zelda["name"], zelda["email"], f"Quarry boiler {tag}"]
    auditor = system.auth(Role.AUDITOR, "audrey")
    async with httpx.AsyncClient(timeout=15, headers=auditor) as client:
        officer = Staff(client, system, "olivia", Role.OFFICER)
        first = await open_case(
            client, system, complaint(org, zelda, f"Quarry boiler {tag} broken since May")
        )
        second = await open_case(client, system, complaint(org, zelda, "The fence again"))
        others = await open_case(client, system, complaint(org, yorick, "Yorick's bins"))
        await officer.do(
            first,
            "triage",
            {
                "kind": "complaint",
                "procedure": "housing_ombudsman",
                "service_area": "repairs",
                "category": "heating",
                "location": {"address": f"{zelda['name']}'s flat", "postcode": "M1 1AE"},
            },
        )
        await officer.do(
            first,
            "contacts",
            {
                "contact_id": "C1",
                "contact_kind": "call",
                "occurred_at": "2026-03-03T10:15:00Z",
                "with_whom": zelda["name"],
                "summary": f"Spoke to {zelda['name']} about the Quarry boiler {tag}",
            },
        )
        await officer.do(first, "withdraw", {"reason": f"{zelda['name']} is happy now"})

        async def receipts_sent() -> bool:
            """Every case's receipt sent and counted by reporting: a letter sent after the
            counts below are first read would change them, erasure or not."""
            for case_id in (first, second, others):
                r = await client.get(
                    system.url("notifications", "/v1/notifications"), params={"case_id": case_id}
                )
                if not any(n["status"] == "sent" for n in r.json()["notifications"]):
                    return False
            counted = (await reports(client, system, org))["summary"]
            return bool(counted["notifications_sent"] == 3)

        await eventually(receipts_sent, timeout=60, what="the receipts sent and counted")

        # sealed: no event store, outbox, projection of events or topic has them in clear
        stored = await rows_holding(system.stack.dsn, secrets)
        assert "casework.cases.complainant_name" in stored  # the search finds what is there
        assert all(
            not place.endswith((".events.payload", ".outbox.message_value")) for place in stored
        ), stored
        assert "vault" not in {p.split(".")[0] for p in stored}
        assert await topics_holding(system.stack.bootstrap, secrets) == []

        # subject access, before: everything of Zelda's and nothing of Yorick's
        r = await client.get(
            system.url("casework", f"/v1/people/{zelda['email']}/subject-access"),
            headers=system.auth(Role.OFFICER, "olivia"),
        )
        assert r.status_code == 200, r.text
        export = r.json()
        text = r.text
        assert {c["case_id"] for c in export["cases"]} == {first, second}
        assert len(export["submissions"]) == 2
        assert f"Quarry boiler {tag} broken since May" in text and "The fence again" in text
        assert f"Spoke to {zelda['name']}" in text
        mine = next(c for c in export["cases"] if c["case_id"] == first)
        assert any(e["event_type"] == "NotificationSent" for e in mine["letters"])
        assert any(e["event_type"] == "DeadlineSet" for e in mine["deadlines"])
        assert yorick["name"] not in text and others not in text and "Yorick" not in text
        person_id = export["person"]["person_id"]

        before = await reports(client, system, org)

        # only an admin may erase
        url = system.url("casework", f"/v1/people/{zelda['email']}/erasure")
        assert (await client.post(url, headers={"Authorization": ""})).status_code == 401
        for role in (Role.OFFICER, Role.MANAGER, Role.AUDITOR):
            assert (await client.post(url, headers=system.auth(role, "x"))).status_code == 403
        r = await client.post(url, headers=system.auth(Role.ADMIN, "ada-admin"))
        assert r.status_code == 200, r.text
        assert r.json()["erased_now"] is True and r.json()["person_id"] == person_id
        assert set(r.json()["case_ids"]) == {first, second}
        again = system.url("casework", f"/v1/people/{person_id}/erasure")
        r = await client.post(again, headers=system.auth(Role.ADMIN, "ada-admin"))
        assert r.json()["erased_now"] is False

        async def scrubbed() -> bool:
            return not await rows_holding(system.stack.dsn, secrets)

        await eventually(scrubbed, what="every copy of Zelda's data scrubbed", timeout=60)
        assert await topics_holding(system.stack.bootstrap, secrets) == []

        case = await officer.get(f"/v1/cases/{first}")
        assert case["complainant_name"] == "[erased]"
        assert (await officer.get("/v1/cases", email=zelda["email"]))["cases"] == []
        history = await officer.get(f"/v1/cases/{first}/history")
        assert zelda["name"] not in str(history) and "[erased]" in str(history)
        # Yorick is untouched
        assert (await officer.get(f"/v1/cases/{others}"))["complainant_name"] == yorick["name"]

        # counts and dates stay right, and reporting rebuilt from the log equals live
        assert await reports(client, system, org) == before
        settings = RuntimeSettings(
            database_url=system.stack.dsn,
            kafka_bootstrap_servers=system.stack.bootstrap,
            data_dir=system.data_dir,
        )
        deadline = time.monotonic() + 60
        while True:
            report = await rebuild("reporting", settings)
            if report.identical or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        assert report.identical, [t for t in report.tables if t.only_live or t.only_rebuilt]

        # what is left for a subject access request is the shape, not the person
        r = await client.get(
            system.url("casework", f"/v1/people/{person_id}/subject-access"),
            headers=system.auth(Role.ADMIN, "ada-admin"),
        )
        assert r.status_code == 200 and zelda["name"] not in r.text
        assert r.json()["person"]["erased_at"] is not None
        gone = system.url("casework", f"/v1/people/{zelda['email']}/subject-access")
        assert (await client.get(gone, headers=system.auth(Role.ADMIN, "a"))).status_code == 404

        # coming back later, Zelda is a new person
        await open_case(client, system, complaint(org, zelda, "A new complaint"))
        r = await client.get(
            system.url("casework", f"/v1/people/{zelda['email']}/subject-access"),
            headers=system.auth(Role.ADMIN, "a"),
        )
        assert r.status_code == 200 and r.json()["person"]["person_id"] != person_id
        assert len(r.json()["cases"]) == 1


async def test_subject_access_is_for_admins_and_officers_only(system: System) -> None:
    async with httpx.AsyncClient(timeout=15) as client:
        url = system.url("casework", "/v1/people/nobody@example.org/subject-access")
        assert (await client.get(url)).status_code == 401
        for role in (Role.AUDITOR, Role.MANAGER):
            assert (await client.get(url, headers=system.auth(role, "x"))).status_code == 403
        r = await client.get(url, headers=system.auth(Role.SERVICE_RESPONDER, "x", "repairs"))
        assert r.status_code == 403
        assert (await client.get(url, headers=system.auth(Role.OFFICER, "x"))).status_code == 404
        retention = system.url("casework", "/v1/retention/runs")
        assert (await client.post(retention)).status_code == 401
        r = await client.post(retention, headers=system.auth(Role.MANAGER, "x"))
        assert r.status_code == 403


async def test_retention_erases_only_people_whose_cases_all_closed_long_enough_ago(
    system: System,
) -> None:
    tag = uuid.uuid4().hex[:10]
    short, long = f"short-{tag}", f"long-{tag}"
    admin = system.auth(Role.ADMIN, "ada-admin")
    async with httpx.AsyncClient(timeout=15, headers=admin) as client:
        for org, years in ((short, 1), (long, 3)):
            r = await client.put(
                system.url("casework", f"/v1/organisations/{org}"),
                json={
                    "name": org,
                    "nation": "ENG",
                    "default_procedure": "housing_ombudsman",
                    "retention_years": years,
                },
            )
            assert r.status_code == 200, r.text
        officer = Staff(client, system, "olivia", Role.OFFICER)

        async def closed_case(org: str, who: dict[str, Any]) -> str:
            case_id = await open_case(client, system, complaint(org, who, f"About {org}"))
            await officer.do(
                case_id,
                "triage",
                {
                    "kind": "complaint",
                    "procedure": "housing_ombudsman",
                    "service_area": "repairs",
                    "category": "damp",
                },
            )
            await officer.do(case_id, "withdraw", {"reason": "sorted"})
            return case_id

        amy = resident(tag, "Amy")  # one case, closed, short retention
        ben = resident(tag, "Ben")  # one closed, one still open
        cat = resident(tag, "Cat")  # one case, closed, long retention
        dan = resident(tag, "Dan")  # closed cases under both organisations
        await closed_case(short, amy)
        await closed_case(short, ben)
        await open_case(client, system, complaint(short, ben, "Still going"))
        await closed_case(long, cat)
        await closed_case(short, dan)
        await closed_case(long, dan)

        async def person(who: dict[str, Any]) -> str | None:
            r = await client.get(
                system.url("casework", f"/v1/people/{who['email']}/subject-access")
            )
            return str(r.json()["person"]["person_id"]) if r.status_code == 200 else None

        ids = {p["name"]: await person(p) for p in (amy, ben, cat, dan)}
        assert all(ids.values())

        async def run(years_ahead: float) -> set[str]:
            as_of = datetime.now(UTC) + timedelta(days=365.25 * years_ahead)
            done = await asyncio.to_thread(
                cli, system, "retention", "run", "--as-of", as_of.isoformat()
            )
            assert done.returncode == 0, done.stderr + done.stdout
            return {p for p in ids.values() if p in done.stdout}

        # the API runs it as of now: nobody's cases closed a year ago yet
        r = await client.post(system.url("casework", "/v1/retention/runs"))
        assert r.status_code == 200 and not set(r.json()["erased"]) & set(ids.values())
        assert await run(0.5) == set()
        assert await run(2) == {ids[amy["name"]]}
        # past both periods: Ben's open case keeps him (longer runs would reach other tests'
        # organisations, which keep the default six years)
        assert await run(4) == {ids[cat["name"]], ids[dan["name"]]}
        assert await person(ben) == ids[ben["name"]]
        for gone in (amy, cat, dan):
            assert await person(gone) is None  # no longer findable by email


def cli(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": system.stack.dsn,
        "KAFKA_BOOTSTRAP_SERVERS": system.stack.bootstrap,
        "REDRESS_DATA_DIR": str(system.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "redress.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_cli_exports_and_erases_a_person(system: System, tmp_path: Any) -> None:
    tag = uuid.uuid4().hex[:10]
    eve = resident(tag, "Eve")
    async with httpx.AsyncClient(timeout=15, headers=system.auth()) as client:
        case_id = await open_case(client, system, complaint(f"cli-{tag}", eve, f"Lift {tag}"))
        out = tmp_path / "eve.json"
        done = await asyncio.to_thread(
            cli, system, "sar", "--person", eve["email"], "--out", str(out)
        )
        assert done.returncode == 0, done.stderr + done.stdout
        export = json.loads(out.read_text())
        assert [c["case_id"] for c in export["cases"]] == [case_id]
        assert export["submissions"][0]["payload"]["complainant"]["name"] == eve["name"]

        done = await asyncio.to_thread(cli, system, "erase", "--person", eve["email"])
        assert done.returncode == 0, done.stderr + done.stdout

        async def erased() -> bool:
            r = await client.get(system.url("casework", f"/v1/cases/{case_id}"))
            return bool(r.json()["complainant_name"] == "[erased]")

        await eventually(erased, what="the CLI's erasure reaching casework")
        done = await asyncio.to_thread(cli, system, "erase", "--person", eve["email"])
        assert done.returncode == 1 and "no person" in done.stdout

"""The end-to-end load: complaints submitted over intake's public API at a fixed rate and then
flat out, a share of them handled by staff through casework's API, and each one followed to
the end of the pipeline.

Latencies are read afterwards from what the services recorded, not by polling each case while
the load runs (polling thousands of cases would itself be the load): the client's clock when
it sent the submission, against casework's `CaseOpened` (the case is visible from that
transaction), notifications' first letter sent to the resident, and reporting's record of
having applied the `CaseOpened`. Every process runs on this machine's one clock.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx

from contracts import Role
from redress.auth import mint
from redress.bench.wire import WireClient, WireError
from redress.demo import intake_knows

ORGANISATIONS: dict[str, dict[str, Any]] = {
    "bench-homes": {
        "name": "Bench Homes (housing association)",
        "nation": "ENG",
        "default_procedure": "housing_ombudsman",
    },
    "bench-council": {
        "name": "Bench Borough Council",
        "nation": "ENG",
        "default_procedure": "lgsco",
        "procedures_by_service": {
            "adult social care": "adult_social_care",
            "children's services": "childrens_social_care",
        },
    },
    "bench-scotland": {
        "name": "Bench Council (Scotland)",
        "nation": "SCT",
        "default_procedure": "spso",
    },
}
SERVICE_AREAS = {
    "bench-homes": ["housing repairs", "damp and mould", "anti-social behaviour", "rent"],
    "bench-council": [
        "waste collection",
        "council tax",
        "adult social care",
        "children's services",
    ],
    "bench-scotland": ["roads", "housing repairs", "planning"],
}
CHANNELS = (["web", "email", "phone", "letter", "face_to_face"], [55, 20, 15, 7, 3])
KINDS = (["complaint", "compliment", "comment"], [85, 10, 5])
POSTCODES = ["M1 1AE", "M15 5AT", "EH1 1YZ", "SW1A 1AA", "LS1 4DY", "G2 1DY"]
#: what residents write about, filled in so that no two submissions read the same (intake links
#: the same person sending the same text twice to the first case)
SUMMARIES = [
    "The repair to the {thing} at flat {n} was booked {k} times and nobody came.",
    "Damp and black mould in the {thing} of number {n} for {k} months; nobody has inspected it.",
    "Bins on {street} were missed {k} weeks running and the side path at {n} is blocked.",
    "I was charged twice for council tax on {n} {street} in month {k} and nobody answers.",
    "Noise from the flat above number {n} every night for {k} weeks; my reports were ignored.",
    "The care visit to my mother at {n} {street} was cancelled {k} times without a call.",
]
THINGS = ["boiler", "kitchen", "bathroom", "roof", "front door", "heating", "windows"]
STREETS = ["Mill Lane", "Station Road", "Church Street", "High Street", "Park Avenue"]


@dataclass
class Submission:
    submission_id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    sent_at: float  # wall clock, seconds since the epoch
    accepted_at: float


Step = tuple[str, Any]  # a casework command and its body (or a function of the case giving it)


@dataclass
class StaffWork:
    case_id: uuid.UUID
    steps: list[Step]
    not_before: float  # monotonic


@dataclass
class PhaseResult:
    name: str
    offered_rate: float | None
    submissions: list[Submission] = field(default_factory=list)
    rejected: int = 0
    #: fixed rate only: due while all connections were busy, so never sent
    not_sent: int = 0
    #: linked by intake to an earlier submission (none are expected: every text differs)
    duplicates: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    submit_seconds: float = 0.0
    completed: int = 0
    complete_seconds: float = 0.0
    staff_commands: Counter[str] = field(default_factory=Counter)
    staff_failures: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    @property
    def accepted_per_s(self) -> float:
        return len(self.submissions) / self.submit_seconds if self.submit_seconds else 0.0

    @property
    def sustained_per_s(self) -> float:
        return self.completed / self.complete_seconds if self.complete_seconds else 0.0


def case_id_for(submission_id: uuid.UUID) -> uuid.UUID:
    """Casework's deterministic case id for a submission (the same uuid5 it computes)."""
    from services.casework.domain.case import case_id_for as casework_case_id

    return casework_case_id(submission_id)


class LoadGenerator:
    def __init__(
        self,
        urls: dict[str, list[str]],
        key: str,
        dsn: str,
        *,
        seed: int = 9,
        staff_share: float = 0.25,
        concurrency: int = 64,
        officers: int = 8,
    ) -> None:
        self.urls = urls
        self.dsn = dsn
        self.rnd = random.Random(seed)
        self.staff_share = staff_share
        self.concurrency = concurrency
        self.officers = officers
        self.officer = {
            "Authorization": f"Bearer {mint(key, user='bench-officer', role=Role.OFFICER)}"
        }
        self.manager = {
            "Authorization": f"Bearer {mint(key, user='bench-manager', role=Role.MANAGER)}"
        }
        self.admin = {"Authorization": f"Bearer {mint(key, user='bench-admin', role=Role.ADMIN)}"}
        self.client = httpx.AsyncClient(timeout=60)
        # the load itself (submissions, staff work) goes over the lean client, one pool per
        # replica (see `redress.bench.wire`); httpx only sets up the organisations
        self.wire = {
            base: WireClient(base, size=concurrency) for bases in urls.values() for base in bases
        }
        self._turn = itertools.count()
        self._residents = itertools.count(seed * 1_000_000 + 1)

    def _url(self, service: str) -> str:
        """Requests take turns between a service's replicas."""
        replicas = self.urls[service]
        return replicas[next(self._turn) % len(replicas)]

    async def close(self) -> None:
        await self.client.aclose()
        for wire in self.wire.values():
            await wire.close()

    async def configure_organisations(self) -> None:
        for org, body in ORGANISATIONS.items():
            r = await self.client.put(
                f"{self._url('casework')}/v1/organisations/{org}", json=body, headers=self.admin
            )
            r.raise_for_status()
        # intake takes submissions only for configured organisations once any is, and hears
        # of them from casework's events a moment later: wait until it has
        for org in ORGANISATIONS:
            for base in self.urls["intake"]:
                await intake_knows(self.client, base, self.admin, org)

    # -- one submission -----------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        rnd = self.rnd
        org = rnd.choice(list(ORGANISATIONS))
        channel = rnd.choices(*CHANNELS)[0]
        kind = rnd.choices(*KINDS)[0]
        n = next(self._residents)
        complainant: dict[str, Any] = {
            "name": rnd.choice(["Ada Resident", "Alan Tenant", "Mary Neighbour", "Grace Carer"]),
            "email": f"resident{n}@example.org",
            "postcode": rnd.choice(POSTCODES),
        }
        if channel in ("letter", "face_to_face"):
            complainant["address"] = f"{n} {rnd.choice(STREETS)}, Manchester"
        if channel == "phone":
            complainant["phone"] = f"07700 {n % 1_000_000:06d}"
        summary = rnd.choice(SUMMARIES).format(
            thing=rnd.choice(THINGS), n=n, k=rnd.randrange(2, 9), street=rnd.choice(STREETS)
        )
        return {
            "kind": kind,
            "channel": channel,
            "organisation_id": org,
            "service_area": rnd.choice(SERVICE_AREAS[org]),
            "summary": summary,
            "outcome_sought": "Fix it and explain what went wrong",
            "complainant": complainant,
        }

    async def _submit(self, phase: PhaseResult, work: asyncio.Queue[StaffWork]) -> None:
        body = self._body()
        handled = body["kind"] == "complaint" and self.rnd.random() < self.staff_share
        plan = self.rnd.random()
        sent = time.time()
        resident = (
            f"10.{self.rnd.randrange(256)}.{self.rnd.randrange(256)}.{self.rnd.randrange(1, 255)}"
        )
        r = await self.wire[self._url("intake")].post_json(
            "/v1/submissions", body, headers={"X-Forwarded-For": resident}
        )
        if r.status != 202:
            phase.rejected += 1
            phase.refusals[f"{r.status}: {r.text[:200]}"] += 1
            return
        receipt = r.json()
        if receipt.get("status") == "duplicate":
            # intake linked it to an earlier submission: no new case to follow
            phase.duplicates += 1
            return
        sid = uuid.UUID(receipt["submission_id"])
        sub = Submission(sid, case_id_for(sid), body["kind"], sent, time.time())
        phase.submissions.append(sub)
        if handled:
            work.put_nowait(StaffWork(sub.case_id, _handling(plan), time.monotonic() + 1.0))
        elif body["kind"] != "complaint" and plan < 0.5:
            steps: list[Step] = [("pass-to-service", {"service_area": "parks"})]
            work.put_nowait(StaffWork(sub.case_id, steps, time.monotonic() + 1.0))

    # -- staff ----------------------------------------------------------------------------------

    async def _officer(self, work: asyncio.Queue[StaffWork], phase: PhaseResult) -> None:
        """One member of staff: takes the next case from the queue and works it through; a
        case not yet visible goes back in the queue for a second later."""
        while True:
            item = await work.get()
            pause = item.not_before - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            try:
                r = await self.wire[self._url("casework")].get(
                    f"/v1/cases/{item.case_id}", headers=self.officer
                )
                if r.status == 404:
                    item.not_before = time.monotonic() + 1.0
                    work.put_nowait(item)
                    continue
                if r.status != 200:
                    phase.staff_failures[f"read case: {r.status}"] += 1
                    continue
                await self._run_commands(item.case_id, r.json(), item.steps, phase)
            except WireError as exc:
                phase.staff_failures[type(exc).__name__] += 1
            finally:
                work.task_done()

    async def _run_commands(
        self, case_id: uuid.UUID, case: dict[str, Any], steps: list[Step], phase: PhaseResult
    ) -> None:
        for action, body in steps:
            if callable(body):
                body = body(case)
            headers = self.manager if action in ("quality-check", "assign") else self.officer
            for _attempt in range(5):
                r = await self.wire[self._url("casework")].request(
                    "POST", f"/v1/cases/{case_id}/{action}", body, headers
                )
                if r.status != 409:
                    break
                await asyncio.sleep(0.2)
            if r.status != 200:
                reason = r.json().get("detail", "") if r.status < 500 else ""
                phase.staff_failures[f"{action}: {r.status} {str(reason)[:70]}"] += 1
                return
            phase.staff_commands[action] += 1

    # -- phases ---------------------------------------------------------------------------------

    async def run_phase(
        self,
        name: str,
        count: int,
        rate: float | None,
        drain_timeout: float,
        submit_seconds: float = 60.0,
    ) -> PhaseResult:
        """Submit ``count`` complaints at ``rate`` per second (None: as fast as intake takes
        them), stopping early after ``submit_seconds``, then wait (at most ``drain_timeout``)
        until every one is counted in reporting with a letter sent."""
        phase = PhaseResult(name, rate)
        work: asyncio.Queue[StaffWork] = asyncio.Queue()
        officers = [asyncio.create_task(self._officer(work, phase)) for _ in range(self.officers)]
        gate = asyncio.Semaphore(self.concurrency)

        async def one(held: bool) -> None:
            if not held:
                await gate.acquire()
            try:
                await self._submit(phase, work)
            except WireError as exc:
                phase.rejected += 1
                phase.refusals[repr(exc)[:200]] += 1
            finally:
                gate.release()

        started = time.time()
        tasks = []
        for i in range(count):
            if time.time() - started > submit_seconds:
                break
            if rate is not None:
                due = started + i / rate
                pause = due - time.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                if gate.locked():
                    # every connection is busy: intake has fallen behind the offered rate, and
                    # queueing here would only hide that, so this one is not sent
                    phase.not_sent += 1
                    continue
                tasks.append(asyncio.create_task(one(held=False)))
            else:
                # keep at most `concurrency` in flight: the slot is taken here and handed over
                await gate.acquire()
                tasks.append(asyncio.create_task(one(held=True)))
        await asyncio.gather(*tasks)
        phase.submit_seconds = time.time() - started
        until = time.monotonic() + drain_timeout
        await self._drain(phase, started, drain_timeout)
        # the officers finish the queue within what is left of the time allowed
        try:
            async with asyncio.timeout(max(5.0, until - time.monotonic())):
                await work.join()
        except TimeoutError:
            phase.staff_failures["not worked in the time allowed"] += work.qsize()
        for officer in officers:
            officer.cancel()
        await asyncio.gather(*officers, return_exceptions=True)
        phase.latencies = await self._latencies(phase)
        return phase

    async def _drain(self, phase: PhaseResult, started: float, wait_seconds: float) -> None:
        ids = [s.case_id for s in phase.submissions]
        conn = await asyncpg.connect(self.dsn)
        try:
            last_count, last_change = 0, time.time()
            deadline = time.monotonic() + wait_seconds
            while time.monotonic() < deadline:
                done = await conn.fetchval(
                    """SELECT count(*) FROM reporting.case_facts
                       WHERE case_id = ANY($1::uuid[]) AND notifications_sent >= 1""",
                    ids,
                )
                if done != last_count:
                    last_count, last_change = done, time.time()
                if done >= len(ids):
                    break
                await asyncio.sleep(0.5)
        finally:
            await conn.close()
        phase.completed = last_count
        phase.complete_seconds = last_change - started

    async def _latencies(self, phase: PhaseResult) -> dict[str, list[float]]:
        sent = {f"case-{s.case_id}": s.sent_at for s in phase.submissions}
        by_case = {s.case_id: s.sent_at for s in phase.submissions}
        conn = await asyncpg.connect(self.dsn)
        try:
            opened = await conn.fetch(
                """SELECT e.stream_id, e.recorded_at AS visible, r.processed_at AS counted
                   FROM casework.events e
                   LEFT JOIN reporting.processed_events r
                     ON r.event_id = e.event_id AND r.consumer = 'reporting'
                   WHERE e.event_type = 'CaseOpened' AND e.stream_id = ANY($1::text[])""",
                list(sent),
            )
            letters = await conn.fetch(
                """SELECT case_id, min(sent_at) AS sent_at FROM notifications.notifications
                   WHERE case_id = ANY($1::uuid[]) AND audience = 'resident'
                     AND status = 'sent'
                   GROUP BY case_id""",
                list(by_case),
            )
        finally:
            await conn.close()

        def since(at: datetime | None, start: float) -> float | None:
            return None if at is None else max(0.0, at.timestamp() - start)

        out: dict[str, list[float]] = {"case_visible": [], "acknowledged": [], "counted": []}
        for row in opened:
            start = sent[row["stream_id"]]
            for key, column in (("case_visible", "visible"), ("counted", "counted")):
                value = since(row[column], start)
                if value is not None:
                    out[key].append(value)
        for row in letters:
            value = since(row["sent_at"], by_case[row["case_id"]])
            if value is not None:
                out["acknowledged"].append(value)
        return out


def _handling(plan: float) -> list[Step]:
    """Triage, acknowledge, answer; then close, escalate and answer again, or leave it."""
    answer = [
        (
            "acknowledge",
            {
                "points": [{"point_id": "1", "text": "Missed repair appointments"}],
                "outcomes_sought": ["Repair done"],
            },
        ),
        (
            "draft-response",
            {
                "text": "Dear resident, we looked into it.",
                "point_outcomes": [
                    {"point_id": "1", "outcome": "upheld", "reasons": "We got it wrong"}
                ],
            },
        ),
        (
            "quality-check",
            {
                "checklist": {
                    "every_point_answered": True,
                    "plain_english": True,
                    "remedy_stated": True,
                    "signposting_present": True,
                }
            },
        ),
        ("issue-response", None),
    ]
    steps: list[Step] = [
        (
            "triage",
            lambda case: {
                "kind": "complaint",
                "procedure": case["procedure"],
                "service_area": case.get("service_area") or "housing repairs",
                "category": "repairs - missed appointment",
            },
        ),
        *answer,
    ]
    if plan < 0.6:
        steps.append(("close", {"reason": "Final response issued"}))
    elif plan < 0.8:
        steps.append(("escalate", {"reasons": "Still unhappy"}))
        steps.append(("assign", {"officer": "bench-investigator"}))
        steps.extend(answer)
        steps.append(("close", {"reason": "Final response issued"}))
    return steps


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}

"""Replay: each service's read models rebuilt from a synthetic log, through the same
`IdempotentConsumer` and handlers that `redress rebuild` and the live services use, into a
throwaway schema.

The log is made from a few cases built with the real event contracts (a complaint answered,
one escalated and answered again with a remedy, a compliment, ...), copied with fresh ids and
references for as many cases as the size asks for. Messages are handed to the consumer in log
order from memory: the broker's own read rate is measured separately with the machine limits,
so this figure is the cost of the projection code and its SQL alone.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from contracts import (
    CaseOpened,
    DeadlineMet,
    DeadlineSet,
    EventPayload,
    FeedbackSubmitted,
    NotificationSent,
    encode_envelope,
    new_envelope,
)
from contracts import case_events as ev
from redress.consumer import RawMessage
from redress.db import REBUILDABLE, RUNTIME_MIGRATIONS, apply_migrations, create_pool
from redress.logging import configure_logging
from redress.rebuild import load_service

#: what each rebuild replays: every service with read models
REPLAYED = ("reporting", "casework", "deadlines", "notifications")

#: what `synthetic_log` makes fresh in every copy: ids, the reference's number and the
#: resident's address (one resident per case, as in life, so that nothing keyed by an address,
#: a cache of validated addresses say, sees the same one all through the log)
_IDS = re.compile(
    rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|-9999\d{5}|ada@example\.org"
)


@dataclass
class ReplayResult:
    service: str
    batched: bool = True
    events: int = 0
    seconds: float = 0.0
    #: this process's CPU while applying: steadier than the rate on a busy machine, and the
    #: rest of ``seconds`` is waiting, mostly on PostgreSQL
    cpu_seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    stopped_by_budget: bool = False

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def _case_templates(seed: int = 11) -> list[list[tuple[str, bytes]]]:
    """A handful of whole case histories as encoded messages (topic, bytes). Their ids are
    placeholders that `synthetic_log` replaces for every copy."""
    rnd = random.Random(seed)
    templates = []
    for variant in range(8):
        kind = "complaint" if variant < 6 else ("compliment" if variant == 6 else "comment")
        escalated = variant in (2, 3)
        remedy = variant in (1, 3)
        received = datetime(2026, 3, 2, 10, tzinfo=UTC) + timedelta(days=variant)
        today = received.date()
        case_id, submission_id = uuid.uuid4(), uuid.uuid4()
        org = ["bench-homes", "bench-council", "bench-scotland"][variant % 3]
        procedure = ["housing_ombudsman", "lgsco", "spso"][variant % 3]
        complainant = {"name": "Ada Resident", "email": "ada@example.org", "postcode": "M1 1AE"}
        payloads: list[EventPayload] = [
            FeedbackSubmitted.model_validate(
                {
                    "submission_id": submission_id,
                    "kind": kind,
                    "channel": rnd.choice(["web", "email", "phone", "letter"]),
                    "organisation_id": org,
                    "service_area": "housing repairs",
                    "received_at": received,
                    "summary": "The repair was booked three times and nobody came.",
                    "complainant": complainant,
                }
            ),
            CaseOpened.model_validate(
                {
                    "case_id": case_id,
                    "reference": "CMP-2026-999900000",
                    "submission_id": submission_id,
                    "kind": kind,
                    "channel": "web",
                    "organisation_id": org,
                    "service_area": "housing repairs",
                    "procedure": procedure,
                    "stage": 1,
                    "received_at": received,
                    "summary": "The repair was booked three times and nobody came.",
                    "complainant": complainant,
                }
            ),
            NotificationSent(
                notification_id=uuid.uuid4(),
                case_id=case_id,
                template="receipt" if kind == "complaint" else "thank_you",
                channel="email",
                recipient="ada@example.org",
                sent_at=received + timedelta(minutes=1),
            ),
        ]
        if kind == "complaint":
            for stage in (1, 2) if escalated else (1,):
                start = today if stage == 1 else today + timedelta(days=20)
                ack_id, resp_id = uuid.uuid4(), uuid.uuid4()
                if stage == 2:
                    payloads.append(
                        ev.CaseEscalated(
                            case_id=case_id, from_stage=1, to_stage=2, requested_on=start
                        )
                    )
                for deadline_id, dkind, days in (
                    (ack_id, "acknowledgement", 5),
                    (resp_id, "response", 10),
                ):
                    payloads.append(
                        DeadlineSet.model_validate(
                            {
                                "deadline_id": deadline_id,
                                "case_id": case_id,
                                "kind": dkind,
                                "stage": stage,
                                "procedure": procedure,
                                "counts_from": start,
                                "working_days": days,
                                "due_on": start + timedelta(days=days + 4),
                                "clause": "5.1",
                                "explanation": f"{days} working days",
                                "organisation_id": org,
                            }
                        )
                    )
                if stage == 1:
                    payloads.append(
                        ev.CaseTriaged.model_validate(
                            {
                                "case_id": case_id,
                                "kind": "complaint",
                                "procedure": procedure,
                                "service_area": "housing repairs",
                                "category": "repairs - missed appointment",
                                "complexity": "simple",
                                "priority": "normal",
                                "location": {"postcode": "M15 5AT", "ward": "Hulme"},
                            }
                        )
                    )
                payloads.append(
                    ev.CaseAcknowledged.model_validate(
                        {
                            "case_id": case_id,
                            "stage": stage,
                            "acknowledged_on": start + timedelta(days=2),
                            "points": [{"point_id": "1", "text": "Missed appointments"}],
                            "outcomes_sought": ["Repair done"],
                        }
                    )
                )
                payloads.append(
                    DeadlineMet.model_validate(
                        {
                            "deadline_id": ack_id,
                            "case_id": case_id,
                            "kind": "acknowledgement",
                            "stage": stage,
                            "met_on": start + timedelta(days=2),
                            "due_on": start + timedelta(days=9),
                            "late": False,
                            "working_days_taken": 2,
                        }
                    )
                )
                outcome = ["upheld", "partly_upheld", "not_upheld"][(variant + stage) % 3]
                payloads.append(
                    ev.ResponseIssued.model_validate(
                        {
                            "case_id": case_id,
                            "stage": stage,
                            "draft": 1,
                            "issued_on": start + timedelta(days=12),
                            "point_outcomes": [
                                {"point_id": "1", "outcome": outcome, "reasons": "We looked"}
                            ],
                            "overall": outcome,
                            "final": stage == 2 or not escalated,
                        }
                    )
                )
                payloads.append(
                    DeadlineMet.model_validate(
                        {
                            "deadline_id": resp_id,
                            "case_id": case_id,
                            "kind": "response",
                            "stage": stage,
                            "met_on": start + timedelta(days=12),
                            "due_on": start + timedelta(days=14),
                            "late": False,
                            "working_days_taken": 8,
                        }
                    )
                )
            if remedy:
                payloads.append(
                    ev.RemedyRecorded.model_validate(
                        {
                            "case_id": case_id,
                            "remedy_id": "R1",
                            "remedy_type": "financial",
                            "description": "For the time and trouble",
                            "amount": Decimal("50.00"),
                            "needs_approval": True,
                        }
                    )
                )
                payloads.append(ev.RedressApproved(case_id=case_id, remedy_id="R1"))
            if variant != 5:  # one complaint stays open
                payloads.append(ev.CaseClosed(case_id=case_id, reason="Final response issued"))
        versions: Counter[str] = Counter()
        messages = []
        correlation = uuid.uuid4()
        for p in payloads:
            stream = (
                f"submission-{submission_id}"
                if isinstance(p, FeedbackSubmitted)
                else f"case-{case_id}"
            )
            versions[stream] += 1
            env = new_envelope(
                p,
                stream_id=stream,
                stream_version=versions[stream],
                occurred_at=received,
                recorded_at=received,
                actor="bench",
                correlation_id=correlation,
            )
            messages.append((type(p).topic, encode_envelope(env)))
        templates.append(messages)
    return templates


def synthetic_log(events: int, seed: int = 11) -> Iterator[tuple[str, bytes]]:
    """``events`` messages: copies of the templates, each with its own ids and reference."""
    templates = _case_templates(seed)
    made = 0
    number = 0
    while made < events:
        for template in templates:
            number += 1
            fresh: dict[bytes, bytes] = {}
            reference = b"-%09d" % number

            def swap(
                match: re.Match[bytes],
                fresh: dict[bytes, bytes] = fresh,
                reference: bytes = reference,
            ) -> bytes:
                old = match.group(0)
                if old.startswith(b"-"):
                    return reference
                if old.startswith(b"ada@"):
                    return b"ada%s@example.org" % reference
                new = fresh.get(old)
                if new is None:
                    new = fresh[old] = str(uuid.uuid4()).encode()
                return new

            for topic, value in template:
                yield topic, _IDS.sub(swap, value)
                made += 1
                if made >= events:
                    return


async def replay(
    dsn: str,
    service: str,
    events: int,
    budget_seconds: float,
    *,
    batched: bool = True,
    chunk: int = 200,
) -> ReplayResult:
    """Apply up to ``events`` messages of the synthetic log to ``service``'s handlers in a
    fresh schema, ``chunk`` events per transaction (`IdempotentConsumer.process_batch`, as
    `redress rebuild` does) or, with ``batched`` false, one transaction per event (as the live
    services do); stop early (and say so) when ``budget_seconds`` of applying is spent."""
    loaded = load_service(service)
    # as `redress rebuild` does: loading the service set its live logging (a line per event)
    configure_logging("bench", "WARNING")
    migrations = loaded.migrations
    schema = f"bench_replay_{service}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await admin.close()
    pool = await create_pool(dsn, schema, max_size=4, settings=REBUILDABLE)  # as a rebuild
    result = ReplayResult(service, batched)
    try:
        sources = [("runtime", RUNTIME_MIGRATIONS)]
        if migrations is not None:
            sources.append((service, migrations))
        await apply_migrations(pool, schema, sources)
        consumer = loaded.consumer(pool, group=f"{service}-replay", fold=batched)
        log = synthetic_log(events)
        offset = 0
        while result.seconds < budget_seconds:
            batch = []
            for topic, value in log:
                batch.append(RawMessage(topic, 0, offset, None, value))
                offset += 1
                if len(batch) >= chunk:
                    break
            if not batch:
                break
            started, cpu = time.perf_counter(), time.process_time()
            if batched:
                for outcome in await consumer.process_batch(batch):
                    result.outcomes[outcome] += 1
            else:
                for message in batch:
                    result.outcomes[await consumer.process(message)] += 1
            result.seconds += time.perf_counter() - started
            result.cpu_seconds += time.process_time() - cpu
            result.events += len(batch)
        result.stopped_by_budget = result.events < events
    finally:
        try:
            await pool.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await pool.close()
    return result

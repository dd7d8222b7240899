"""Erasure and subject access, the two things a person can ask of Redress about their data.

Both work from the vault (`redress.vault`), which knows each person's key and which cases and
submissions are theirs, and from the event stores, which hold everything ever recorded:

- **Erasure** destroys the person's key in the same transaction that appends `PersonErased`
  (through the caller's outbox), so every sealed copy of their data, in every event store,
  outbox and topic, becomes unreadable at once and every service learns it must scrub the clear
  copies in its own tables. Counts, dates and outcomes are not personal and stay. Erasing twice
  is harmless: the second time finds the key already gone and records nothing.
- **Subject access** gathers, from every service's event store, the events about the person's
  submissions and cases, opened with their key: their submission, each case's timeline (who
  did what and when, notes, flags, contacts, the response), deadlines, and the letters sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from contracts import ErasureReason, PersonErased
from redress import eventstore, vault
from redress.clock import london_today
from redress.db import Connection, check_schema_name
from redress.settings import SERVICES


@dataclass(frozen=True)
class Erasure:
    person_id: uuid.UUID
    #: False when the key was already gone (nothing new recorded)
    erased_now: bool
    case_ids: list[uuid.UUID] = field(default_factory=list)
    submission_ids: list[uuid.UUID] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "person_id": str(self.person_id),
            "erased_now": self.erased_now,
            "case_ids": [str(c) for c in self.case_ids],
            "submission_ids": [str(s) for s in self.submission_ids],
        }


def person_stream(person_id: uuid.UUID) -> str:
    return f"person-{person_id}"


async def erase_person(
    conn: Connection,
    who: str,
    *,
    reason: ErasureReason,
    actor: str,
    now: datetime,
    service: str,
) -> Erasure | None:
    """Erase a person found by id, email or phone; None if no such person is known. Runs in
    the caller's schema: `PersonErased` goes through that service's event store and outbox."""
    the_vault = vault.current()
    person_id = await the_vault.find_person(conn, who)
    if person_id is None:
        return None
    async with conn.transaction():
        record = await the_vault.person(conn, person_id)
        assert record is not None
        if not await the_vault.destroy_key(conn, person_id, reason=reason.value, now=now):
            return Erasure(person_id, False, record.case_ids, record.submission_ids)
        await eventstore.append_at_end(
            conn,
            service,
            PersonErased(
                person_id=person_id,
                case_ids=record.case_ids,
                submission_ids=record.submission_ids,
                erased_on=london_today(now),
                reason=reason,
            ),
            stream_id=person_stream(person_id),
            now=now,
            actor=actor,
            correlation_id=uuid.uuid4(),
        )
    return Erasure(person_id, True, record.case_ids, record.submission_ids)


async def subject_access(
    reader: Connection | asyncpg.Pool, who: str, *, now: datetime
) -> dict[str, Any] | None:
    """Everything recorded about a person, opened, as JSON-ready data; None if unknown.

    Only events whose stream, case or submission is one of the person's are read, so nothing
    of anyone else's can appear. An erased person's fields read as placeholders."""
    the_vault = vault.current()
    person_id = await the_vault.find_person(reader, who)
    if person_id is None:
        return None
    record = await the_vault.person(reader, person_id)
    assert record is not None
    cases = [str(c) for c in record.case_ids]
    submissions = [str(s) for s in record.submission_ids]
    streams = [*record.streams, person_stream(person_id)]
    found: list[dict[str, Any]] = []
    for service in SERVICES:
        schema = check_schema_name(service)
        if not await reader.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.events"):
            continue
        rows = await reader.fetch(
            # three lookups, each on its own index, rather than one OR that scans the table
            f"""SELECT * FROM "{schema}".events WHERE global_position IN (
                    SELECT global_position FROM "{schema}".events
                    WHERE stream_id = ANY($1::text[])
                    UNION SELECT global_position FROM "{schema}".events
                    WHERE payload->>'case_id' = ANY($2::text[])
                    UNION SELECT global_position FROM "{schema}".events
                    WHERE payload->>'submission_id' = ANY($3::text[]))
                ORDER BY global_position""",
            streams,
            cases,
            submissions,
        )
        for row in rows:
            env = await the_vault.open(reader, eventstore.row_to_envelope(row))
            found.append(
                {
                    "recorded_by": service,
                    "event_id": str(env.event_id),
                    "event_type": env.event_type,
                    "occurred_at": env.occurred_at.isoformat(),
                    "recorded_at": env.recorded_at.isoformat(),
                    "actor": env.actor,
                    "stream_id": env.stream_id,
                    "payload": env.payload,
                }
            )
    found.sort(key=lambda e: (e["recorded_at"], e["event_id"]))
    by_case: dict[str, dict[str, Any]] = {
        c: {"case_id": c, "reference": None, "timeline": [], "deadlines": [], "letters": []}
        for c in cases
    }
    out: dict[str, Any] = {
        "person": {
            "person_id": str(person_id),
            "known_since": record.created_at.isoformat(),
            "erased_at": record.erased_at.isoformat() if record.erased_at else None,
            "erasure_reason": record.erasure_reason,
        },
        "generated_at": now.isoformat(),
        "submissions": [],
        "cases": list(by_case.values()),
        "other": [],
    }
    for event in found:
        case = by_case.get(str(event["payload"].get("case_id")))
        if event["event_type"] == "FeedbackSubmitted":
            out["submissions"].append(event)
        elif case is None:
            out["other"].append(event)
        elif event["recorded_by"] == "notifications":
            case["letters"].append(event)
        elif event["recorded_by"] == "deadlines":
            case["deadlines"].append(event)
        else:
            if event["event_type"] == "CaseOpened":
                case["reference"] = event["payload"].get("reference")
            case["timeline"].append(event)
    return out

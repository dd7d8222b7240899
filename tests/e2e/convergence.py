"""After a fault: does every read model equal what its events say?

- reporting is a pure projection of the topics: `redress rebuild reporting` replays them into a
  shadow schema and every table must equal the live one;
- casework's case record (``cases.state``) must equal a fold of the case's own event stream
  through the domain's ``replay``, for every case, at the stream's version;
- deadlines' table must equal a fold of deadlines' own event store, and casework's copy of each
  deadline (from the deadline topic) must show the same due date;
- notifications: the letters marked sent are exactly those with a ``NotificationSent`` event in
  notifications' own store, each once.

Timers and queued deliveries are work in progress rather than projections, so they are not
compared here (the fault tests check their effects: one letter each in the mail sink).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from contracts.registry import EventPayload, event_spec, upcast
from redress import vault
from redress.rebuild import rebuild
from redress.settings import RuntimeSettings
from services.casework.domain.case import replay
from services.casework.view import case_view


async def _payload(conn: asyncpg.Connection, row: asyncpg.Record) -> EventPayload:
    """An event store row's payload, its personal fields opened with the system's keys (the
    vault must be configured with the system's master key)."""
    data = row["payload"]
    if isinstance(data, str):
        data = json.loads(data)
    data = await _opened(conn, row["event_type"], row["event_id"], data)
    spec = event_spec(row["event_type"])
    return spec.model.model_validate(upcast(row["event_type"], row["schema_version"], data))


async def _opened(
    conn: asyncpg.Connection, event_type: str, event_id: uuid.UUID, data: dict[str, Any]
) -> dict[str, Any]:
    who = vault.sealed_person(data)
    if who is None or who[1] is None:
        return vault.open_payload(event_type, event_id, data, None)
    key = await vault.current().key(conn, who[1])
    return vault.open_payload(event_type, event_id, data, key)


def _json(value: Any) -> Any:
    if isinstance(value, str):
        value = json.loads(value)
    return json.loads(json.dumps(value, sort_keys=True, default=str))


async def reporting_equals_its_rebuild(settings: RuntimeSettings, timeout: float = 120) -> int:
    """Rebuild until identical (the live service may still be catching up); returns the number
    of messages replayed."""
    deadline = time.monotonic() + timeout
    while True:
        report = await rebuild("reporting", settings)
        if report.identical:
            assert report.messages > 0
            return report.messages
        if time.monotonic() > deadline:
            differing = [t for t in report.tables if t.only_live or t.only_rebuilt]
            raise AssertionError(f"reporting differs from its rebuild: {differing}")
        await asyncio.sleep(2)


async def casework_equals_its_events(conn: asyncpg.Connection) -> int:
    rows = await conn.fetch(
        """SELECT stream_id, stream_version, event_id, event_type, schema_version, payload
           FROM casework.events WHERE stream_id LIKE 'case-%'
           ORDER BY stream_id, stream_version"""
    )
    streams: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        streams.setdefault(r["stream_id"], []).append(r)
    live = {
        r["case_id"]: r
        for r in await conn.fetch("SELECT case_id, version, state FROM casework.cases")
    }
    folded: set[uuid.UUID] = set()
    for stream, events in streams.items():
        assert [e["stream_version"] for e in events] == list(range(1, len(events) + 1)), stream
        state = replay([await _payload(conn, e) for e in events])
        assert state.case_id is not None, stream
        row = live.get(state.case_id)
        assert row is not None, f"{stream}: events but no case row"
        assert row["version"] == len(events), stream
        assert _json(row["state"]) == _json(case_view(state)), f"{stream}: record != fold"
        folded.add(state.case_id)
    assert set(live) == folded, "case rows without events"
    return len(folded)


async def deadlines_equal_their_events(conn: asyncpg.Connection) -> int:
    rows = await conn.fetch(
        """SELECT event_id, event_type, schema_version, payload FROM deadlines.events
           WHERE event_type LIKE 'Deadline%' ORDER BY global_position"""
    )
    fold: dict[uuid.UUID, dict[str, Any]] = {}
    for r in rows:
        event = await _payload(conn, r)
        deadline_id = event.deadline_id  # type: ignore[attr-defined]
        kind = r["event_type"]
        if kind == "DeadlineSet":
            fold[deadline_id] = {"due_on": event.due_on, "state": "pending"}  # type: ignore[attr-defined]
        elif kind == "DeadlineChanged":
            fold[deadline_id]["due_on"] = event.due_on  # type: ignore[attr-defined]
        elif kind == "DeadlinePaused":
            fold[deadline_id]["due_on"] = None
        elif kind == "DeadlineMet":
            fold[deadline_id]["state"] = "met_late" if event.late else "met"  # type: ignore[attr-defined]
        elif kind == "DeadlineCancelled":
            fold[deadline_id]["state"] = "cancelled"
        elif kind == "DeadlineMissed" and fold[deadline_id]["state"] == "pending":
            fold[deadline_id]["state"] = "missed"
    table = {
        r["deadline_id"]: {"due_on": r["due_on"], "state": r["state"]}
        for r in await conn.fetch("SELECT deadline_id, due_on, state FROM deadlines.deadlines")
    }
    assert table == fold, "deadlines table != fold of deadlines' events"
    shown: dict[uuid.UUID, date | None] = {
        r["deadline_id"]: r["due_on"]
        for r in await conn.fetch("SELECT deadline_id, due_on FROM casework.case_deadlines")
    }
    assert shown == {k: v["due_on"] for k, v in fold.items()}, "casework shows other due dates"
    return len(fold)


async def notifications_equal_their_events(conn: asyncpg.Connection) -> int:
    sent_events = Counter(
        uuid.UUID(r["id"])
        for r in await conn.fetch(
            """SELECT payload->>'notification_id' AS id FROM notifications.events
               WHERE event_type = 'NotificationSent'"""
        )
    )
    assert all(n == 1 for n in sent_events.values()), "a notification was sent twice"
    marked = {
        r["notification_id"]
        for r in await conn.fetch(
            "SELECT notification_id FROM notifications.notifications WHERE status = 'sent'"
        )
    }
    assert marked == set(sent_events), "letters marked sent != NotificationSent events"
    return len(marked)


async def dead_lettered(dsn: str) -> dict[str, int]:
    """Messages each service dead-lettered: a fault that is not the message's (a crash, an
    outage) must never send a good event there."""
    conn = await asyncpg.connect(dsn)
    try:
        return {
            schema: await conn.fetchval(f'SELECT count(*) FROM "{schema}".dead_letters')
            for schema in ("casework", "deadlines", "notifications", "reporting")
        }
    finally:
        await conn.close()


async def assert_read_models_match_their_events(
    dsn: str, bootstrap: str, data_dir: Path
) -> dict[str, int]:
    """Every check above; returns how many things each compared (so a caller can see it was
    not comparing nothing with nothing). ``data_dir`` is the system's, whose master key opens
    the personal fields sealed in its events."""
    settings = RuntimeSettings(
        database_url=dsn, kafka_bootstrap_servers=bootstrap, data_dir=data_dir
    )
    vault.configure(data_dir)
    compared = {"reporting_messages": await reporting_equals_its_rebuild(settings)}
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 60
        while True:  # a service may still be applying the last event between two reads
            try:
                compared["cases"] = await casework_equals_its_events(conn)
                compared["deadlines"] = await deadlines_equal_their_events(conn)
                compared["notifications_sent"] = await notifications_equal_their_events(conn)
                return compared
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1)
    finally:
        await conn.close()

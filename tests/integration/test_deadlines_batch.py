"""Deadlines applies a batch in one transaction keeping each case's deadlines (and each
organisation's settings) in memory from one event to the next, instead of reading them again
for every event: the result must be what one event per transaction gives, table by table and
event by event, including a case event parked before its case opens and an organisation
configured in the middle of a batch."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from contracts import (
    CaseOpened,
    EventPayload,
    OrganisationConfigured,
)
from contracts import case_events as ev
from redress.bench.replay import synthetic_log
from redress.consumer import IdempotentConsumer, RawMessage
from redress.rebuild import compare
from services.deadlines import handlers
from services.deadlines.app import service
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.support import in_random_batches, message

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


def _message(payload: EventPayload, stream: str, at: datetime) -> tuple[str, bytes]:
    return message(payload, at, stream)


def _parked_case() -> list[tuple[str, bytes]]:
    """An acknowledgement that arrives before its case opens: parked, then applied."""
    case_id = uuid.uuid4()
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    acknowledged = ev.CaseAcknowledged(
        case_id=case_id,
        stage=1,
        acknowledged_on=date(2026, 3, 3),
        points=[{"point_id": "1", "text": "x"}],  # type: ignore[list-item]
        outcomes_sought=["y"],
    )
    opened = CaseOpened.model_validate(
        {
            "case_id": case_id,
            "reference": "CMP-2026-000009",
            "submission_id": uuid.uuid4(),
            "kind": "complaint",
            "channel": "web",
            "organisation_id": "bench-homes",
            "procedure": "housing_ombudsman",
            "stage": 1,
            "received_at": at,
            "summary": "x",
            "complainant": {"name": "n"},
        }
    )
    closed = ev.CaseClosed(case_id=case_id, reason="done")
    return [
        _message(acknowledged, f"case-{case_id}", at),
        _message(opened, f"case-{case_id}", at),
        _message(closed, f"case-{case_id}", at),
    ]


def _log() -> list[tuple[str, bytes]]:
    log = list(synthetic_log(1500, seed=3))
    configured = OrganisationConfigured.model_validate(
        {
            "organisation_id": "bench-homes",
            "name": "Bench Homes",
            "nation": "ENG",
            "default_procedure": "housing_ombudsman",
            "closure_days": ["2026-03-04", "2026-03-05"],
            "reminder_working_days": 3,
        }
    )
    log[700:700] = [_message(configured, "organisation-bench-homes", NOW)]
    log[40:40] = _parked_case()
    log.extend(log[100:130])  # redelivered
    return log


async def _consumer(stack: Stack) -> tuple[str, asyncpg.Pool, IdempotentConsumer]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("deadlines", service.migrations)])
    return schema, pool, service.consumer(pool, clock=lambda: NOW)


async def _events(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch(
        """SELECT stream_id, stream_version, event_type, payload::text, causation_id,
               occurred_at, recorded_at
           FROM events ORDER BY stream_id, stream_version"""
    )
    return [tuple(r) for r in rows]


async def _timers(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch("SELECT * FROM timers")
    return sorted(tuple(v for k, v in r.items() if k != "timer_id") for r in rows)


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_batch_with_cases_kept_in_memory_equals_one_event_at_a_time(
    stack: Stack, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = 0
    real_load = handlers.load

    async def counted(conn: Any, case_id: uuid.UUID, *more: Any) -> Any:
        nonlocal loads
        loads += 1
        return await real_load(conn, case_id, *more)

    monkeypatch.setattr(handlers, "load", counted)
    messages = [RawMessage(t, 0, i, None, v) for i, (t, v) in enumerate(_log())]
    one_schema, one_pool, one = await _consumer(stack)
    many_schema, many_pool, many = await _consumer(stack)
    try:
        singly = [await one.process(m) for m in messages]
        loads_singly, loads = loads, 0
        batched = await in_random_batches(many, messages, seed, [1, 9, 60, 200, 500])
        assert batched == singly
        assert singly.count("applied") > 500 and "dead_lettered" not in singly
        assert loads < loads_singly / 2  # a case's next events in a batch read nothing

        for t in await compare(one_pool, many_pool):
            if t.table == "timers":
                # a batch inserts its timers in another order, so their serial ids differ;
                # everything else about them must not
                assert await _timers(one_pool) == await _timers(many_pool)
                continue
            assert (t.only_live, t.only_rebuilt) == (0, 0), t
            if t.table in ("deadlines", "timers", "deadline_cases", "organisation_calendars"):
                assert t.live_rows > 0, t.table
        assert await _events(one_pool) == await _events(many_pool)
        assert len(await _events(one_pool)) > 500
    finally:
        for schema, pool in ((one_schema, one_pool), (many_schema, many_pool)):
            await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await pool.close()

"""Casework applying a batch (`fold_projections`: deadlines' and notifications' events folded
and written at the end, submissions through their handler in turn) leaves every table as one
event per transaction does: the same log both ways, in uneven batches, with orders a fold could
get wrong (a due date moved before it was set, an older word on a letter arriving late, a tie)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from contracts import (
    DeadlineChanged,
    DeadlinePaused,
    DeadlineSet,
    EventPayload,
    NotificationFailed,
    NotificationSent,
)
from redress.bench.replay import synthetic_log
from redress.consumer import IdempotentConsumer, RawMessage
from redress.rebuild import compare
from services.casework.app import service
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.support import message

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)


def _message(payload: EventPayload, at: datetime = NOW) -> tuple[str, bytes]:
    return message(payload, at)


def _awkward() -> list[tuple[str, bytes]]:
    case_id, deadline_id, letter_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    due = date(2026, 3, 20)
    moved = DeadlineChanged(
        deadline_id=deadline_id,
        case_id=case_id,
        kind="response",  # type: ignore[arg-type]
        stage=1,
        due_on=due + timedelta(days=5),
        previous_due_on=due,
        provisional=False,
        reason="extension",
        explanation="extended",
    )
    set_ = DeadlineSet(
        deadline_id=deadline_id,
        case_id=case_id,
        kind="response",  # type: ignore[arg-type]
        stage=1,
        procedure="housing_ombudsman",  # type: ignore[arg-type]
        counts_from=date(2026, 3, 2),
        working_days=10,
        due_on=due,
        provisional=True,
        clause="6.3",
        explanation="set",
    )
    paused = DeadlinePaused(
        deadline_id=deadline_id,
        case_id=case_id,
        kind="response",  # type: ignore[arg-type]
        stage=1,
        paused_on=date(2026, 3, 10),
        remaining_working_days=4,
    )
    sent_at = datetime(2026, 3, 2, 12, tzinfo=UTC)

    def sent(at: datetime, template: str) -> NotificationSent:
        return NotificationSent.model_validate(
            {
                "notification_id": letter_id,
                "case_id": case_id,
                "template": template,
                "channel": "email",
                "recipient": "ada@example.org",
                "sent_at": at,
            }
        )

    failed = NotificationFailed(
        notification_id=letter_id,
        case_id=case_id,
        template="receipt",
        channel="email",
        recipient="ada@example.org",
        attempts=3,
        error="mailbox full",
    )
    return [
        _message(moved),  # before the deadline is set: changes nothing
        _message(set_),
        _message(sent(sent_at, "receipt")),
        _message(failed, at=sent_at - timedelta(hours=1)),  # older, late: changes nothing
        _message(sent(sent_at, "receipt-again")),  # a tie: the later one wins
        _message(sent(sent_at, "receipt-third")),  # a tie in one batch too
        _message(paused),
        _message(moved),
    ]


def _log() -> list[tuple[str, bytes]]:
    log = list(synthetic_log(1500, seed=9))
    awkward = _awkward()
    log[200:200] = awkward[:3]
    log.extend(log[50:80])  # redelivered
    log.extend(awkward[3:])  # the batched run applies these five in one batch
    return log


async def _consumer(stack: Stack, batched: bool) -> tuple[str, asyncpg.Pool, IdempotentConsumer]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("casework", service.migrations)])
    return schema, pool, service.consumer(pool, clock=lambda: NOW, fold=batched)


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_folded_batch_leaves_casework_as_one_event_at_a_time(
    stack: Stack, seed: int
) -> None:
    messages = [RawMessage(t, 0, i, None, v) for i, (t, v) in enumerate(_log())]
    one_schema, one_pool, one = await _consumer(stack, batched=False)
    fold_schema, fold_pool, folded = await _consumer(stack, batched=True)
    calls: list[int] = []
    real = folded.apply_batch
    assert real is not None

    async def counting(conn: Any, contexts: Any) -> None:
        calls.append(len(contexts))
        await real(conn, contexts)

    folded.apply_batch = counting
    try:
        singly = [await one.process(m) for m in messages]
        rnd = random.Random(seed)
        batched: list[str] = []
        at = 0
        while at < len(messages) - 5:
            size = rnd.choice([1, 6, 40, 200, 500])
            batched += await folded.process_batch(messages[at : min(at + size, len(messages) - 5)])
            at += size
        batched += await folded.process_batch(messages[-5:])
        assert batched == singly
        assert singly.count("duplicate") > 10 and "dead_lettered" not in singly
        assert sum(calls) == singly.count("applied")  # the fold did the work

        tables = {t.table: t for t in await compare(one_pool, fold_pool)}
        for name in ("case_deadlines", "case_letters"):
            assert tables[name].live_rows > 100, name
            assert (tables[name].only_live, tables[name].only_rebuilt) == (0, 0), tables[name]
        # cases as opened: the person and key ids the vault makes are new in each schema
        query = """SELECT reference, submission_id, kind, channel, organisation_id, procedure,
                       stage, status, lifecycle, received_at, version
                   FROM cases ORDER BY reference"""
        cases = await one_pool.fetch(query)
        assert len(cases) > 100 and cases == await fold_pool.fetch(query)
        letter = await fold_pool.fetchrow(
            "SELECT status FROM case_letters WHERE template = 'receipt-third'"
        )
        assert letter is not None and letter["status"] == "sent"
        moved = await fold_pool.fetchrow(
            "SELECT due_on FROM case_deadlines WHERE explanation = 'extended'"
        )
        # moved before it was set (nothing), set, paused, moved again: the last move shows
        assert moved is not None and moved["due_on"] == date(2026, 3, 25)
    finally:
        for schema, pool in ((one_schema, one_pool), (fold_schema, fold_pool)):
            await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await pool.close()

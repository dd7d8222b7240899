"""Reporting's set-based replay (`projections.apply_batch`, a whole batch folded into its rows)
leaves every table exactly as applying the same events one at a time does.

The same log goes through two consumers into two schemas: one event per transaction through
the handlers, and batches of uneven sizes through `process_batch` with the fold. The log mixes
the replay benchmark's case histories (every topic reporting reads), the reports generator's
cases (remedies, learning actions, Ombudsman enquiries, escalations) and orders the fold must
get right although a live system rarely sends them: an approval before its remedy is recorded,
a case reopened and closed again, a later receipt sent earlier, the same event twice, and
events of one case spread over several batches."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts import (
    EventPayload,
    NotificationSent,
)
from contracts import case_events as ev
from redress.bench.replay import synthetic_log
from redress.consumer import IdempotentConsumer, RawMessage
from redress.rebuild import compare
from services.reporting import projections
from services.reporting.app import service
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.integration.test_reports import generate
from tests.support import in_random_batches, message


def _message(payload: EventPayload, stream: str, at: datetime) -> tuple[str, bytes]:
    return message(payload, at, stream)


def _awkward_orders() -> list[tuple[str, bytes]]:
    """Orders that a fold could get wrong: updates before the row exists, a column set, unset
    and set again, the earliest acknowledgement arriving last."""
    case_id = uuid.uuid4()
    stream = f"case-{case_id}"
    monday = datetime(2026, 3, 2, 10, tzinfo=UTC)
    out = [
        # approved before it is recorded: the approval finds no row and changes nothing
        _message(ev.RedressApproved(case_id=case_id, remedy_id="R9"), stream, monday),
        _message(
            ev.RemedyRecorded(
                case_id=case_id,
                remedy_id="R9",
                remedy_type="financial",  # type: ignore[arg-type]
                description="x",
                amount=Decimal("12.34"),
                needs_approval=True,
            ),
            stream,
            monday,
        ),
        _message(
            ev.RedressPaid(case_id=case_id, remedy_id="R9", paid_on=date(2026, 3, 9)),
            stream,
            monday,
        ),
        # recorded again with another amount: the first one stays
        _message(
            ev.RemedyRecorded(
                case_id=case_id,
                remedy_id="R9",
                remedy_type="apology",  # type: ignore[arg-type]
                description="y",
                amount=None,
                needs_approval=False,
            ),
            stream,
            monday,
        ),
        _message(ev.CaseClosed(case_id=case_id, reason="done"), stream, monday),
        _message(ev.CaseReopened(case_id=case_id, reason="again"), stream, monday),
    ]
    for hours, template in ((5, "acknowledgement"), (1, "receipt"), (3, "response")):
        out.append(
            _message(
                NotificationSent.model_validate(
                    {
                        "notification_id": uuid.uuid4(),
                        "case_id": case_id,
                        "template": template,
                        "channel": "email",
                        "recipient": "ada@example.org",
                        "sent_at": monday + timedelta(hours=hours),
                    }
                ),
                f"notification-{uuid.uuid4()}",
                monday,
            )
        )
    return out


def _log() -> list[tuple[str, bytes]]:
    log = list(synthetic_log(1200, seed=5))
    for g in generate(150, seed=7):
        for payload in g.events:
            log.append(
                _message(
                    payload,
                    f"case-{g.case_id}",
                    datetime(2026, 11, 25, tzinfo=UTC),
                )
            )
    awkward = _awkward_orders()
    log[300:300] = awkward[:4]  # the rest of that case comes batches later
    log.extend(awkward[4:])
    log.extend(log[10:40])  # redelivered: duplicates, in later batches
    return log


async def _consumer(stack: Stack, batched: bool) -> tuple[str, Any, IdempotentConsumer]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("reporting", service.migrations)])
    return schema, pool, service.consumer(pool, fold=batched)


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_folded_batch_leaves_every_table_as_one_event_at_a_time(
    stack: Stack, seed: int
) -> None:
    log = _log()
    messages = [RawMessage(t, 0, i, None, v) for i, (t, v) in enumerate(log)]
    one_schema, one_pool, one = await _consumer(stack, batched=False)
    fold_schema, fold_pool, folded = await _consumer(stack, batched=True)
    calls: list[int] = []
    real = projections.apply_batch

    async def counting(conn: Any, contexts: Any) -> None:
        calls.append(len(contexts))
        await real(conn, contexts)

    folded.apply_batch = counting
    try:
        singly = [await one.process(m) for m in messages]
        batched = await in_random_batches(folded, messages, seed, [1, 7, 50, 200, 600])
        assert batched == singly
        assert singly.count("duplicate") == 30 and "dead_lettered" not in singly
        # the fold did the work (a failing fold would fall back to one event at a time)
        assert sum(calls) == singly.count("applied")

        tables = await compare(one_pool, fold_pool)
        assert {t.table for t in tables} >= {
            "case_facts",
            "stage_facts",
            "submission_facts",
            "remedy_facts",
            "learning_facts",
            "ombudsman_facts",
        }
        for t in tables:
            assert t.live_rows > 0, t.table
            assert (t.only_live, t.only_rebuilt) == (0, 0), t
        awkward = await fold_pool.fetchrow("SELECT * FROM remedy_facts WHERE remedy_id = 'R9'")
        assert (awkward["amount"], awkward["approved"], awkward["paid_on"]) == (
            Decimal("12.34"),
            False,
            date(2026, 3, 9),
        )
    finally:
        for schema, pool in ((one_schema, one_pool), (fold_schema, fold_pool)):
            await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await pool.close()

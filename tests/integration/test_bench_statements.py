"""The statement counter (`redress.bench.statements`) counts what a service sends per event
type, so that round trips can be compared from one change to the next without timing them."""

from __future__ import annotations

from redress.bench.statements import count, report
from tests.conftest import Stack


async def test_statements_are_counted_by_event_type(stack: Stack) -> None:
    result = await count(stack.dsn, "deadlines", 200, 1)
    opened = result.applied["CaseOpened"]
    assert opened > 0 and result.applied["CaseTriaged"] > 0
    # at the least BEGIN, the processed-events insert, the case's read and COMMIT for each
    assert result.counts.statements["CaseOpened"] >= 4 * opened
    assert any("deadlines" in text for _, text in result.counts.texts)
    assert "CaseOpened" in report(result)

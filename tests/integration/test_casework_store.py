"""Casework's view and queue SQL against real PostgreSQL, with cases built by the real domain
at dates of the test's choosing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import asyncpg
import pytest

from contracts import CaseOpened
from services.casework import store
from services.casework.app import service
from services.casework.domain import commands as c
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.unit.casework.scenario import REPAIRS, acknowledge, cmd, future, open_case, run, triage


@pytest.fixture
async def casework_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("casework", service.migrations)])
    yield pool
    await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


async def save(pool: asyncpg.Pool, *commands: c.Command) -> str:
    state, events = run(*commands)
    opened = events[0]
    assert isinstance(opened, CaseOpened)
    async with pool.acquire() as conn, conn.transaction():
        await store.open_case(conn, opened, state, opened_at=datetime(2026, 3, 2, tzinfo=UTC))
    return str(state.case_id)


async def test_overdue_parts_are_listed_for_chasing(casework_pool: asyncpg.Pool) -> None:
    part = cmd(
        c.RequestServiceResponse,
        part_id="A",
        service_area="repairs",
        due_on=future(3),
        request="x",
        contributor="ravi",
    )
    answered = cmd(
        c.RequestServiceResponse, part_id="B", service_area="rents", due_on=future(3), request="y"
    )
    late = await save(
        casework_pool,
        open_case(),
        triage(),
        acknowledge(),
        part,
        answered,
        cmd(c.ReceiveServiceResponse, part_id="B", response="done"),
        cmd(c.ChaseServiceResponse, part_id="A"),
    )
    on_time = await save(
        casework_pool,
        open_case(),
        triage(),
        acknowledge(),
        cmd(
            c.RequestServiceResponse,
            part_id="A",
            service_area="repairs",
            due_on=future(30),
            request="x",
        ),
    )
    rows = await store.overdue_parts(casework_pool, future(4), None)
    assert [(str(r["case_id"]), r["part_id"], r["chased"]) for r in rows] == [(late, "A", 1)]
    assert rows[0]["contributor"] == "ravi" and rows[0]["due_on"] == future(3)
    assert await store.overdue_parts(casework_pool, future(4), "rents") == []
    assert on_time not in [str(r["case_id"]) for r in rows]
    assert await store.overdue_parts(casework_pool, future(3), None) == []


async def test_view_columns_follow_the_state(casework_pool: asyncpg.Pool) -> None:
    case_id = await save(
        casework_pool,
        open_case(),
        triage(),
        cmd(c.Assign, officer="olivia"),
        acknowledge(),
        cmd(c.RaiseFlag, flag_id="F1", flag_type="vulnerability", detail="hard of hearing"),  # type: ignore[arg-type]
        cmd(
            c.RequestServiceResponse,
            actor=REPAIRS,
            part_id="A",
            service_area="rents",
            due_on=future(3),
            request="x",
        ),
    )
    (row,) = await store.search(casework_pool, store.Search(officer="olivia"))
    assert str(row["case_id"]) == case_id
    assert row["lifecycle"] == "open" and row["acknowledged"] and not row["responded"]
    assert row["flags"] == ["vulnerability"] and row["part_services"] == ["rents"]
    assert await store.search(casework_pool, store.Search(scope="rents")) != []
    assert await store.search(casework_pool, store.Search(scope="parks")) == []
    load = await store.queue(casework_pool, "caseload", "olivia", None)
    assert [str(r["case_id"]) for r in load] == [case_id]
    assert await store.queue(casework_pool, "triage", None, None) == []


async def test_a_case_is_read_with_its_deadlines_as_the_lists_read_them(
    casework_pool: asyncpg.Pool,
) -> None:
    """One statement reads the case and its deadlines: the same dicts, values and order as
    the case row followed by `_with_deadlines` (what the search lists use)."""
    case_id = await save(casework_pool, open_case(), triage(), acknowledge())
    other = await save(casework_pool, open_case())
    rows = [
        (case_id, "response", 2, "B", date(2026, 4, 1), "pending", False, "s2", "second"),
        (case_id, "response", 1, None, None, "paused", True, "s1", "no date while paused"),
        (case_id, "acknowledgement", 1, None, date(2026, 3, 9), "met", False, "a1", "ack"),
        (other, "response", 1, None, date(2026, 3, 30), "pending", False, "x", "other case"),
    ]
    for case, kind, stage, part, due, state, provisional, clause, why in rows:
        await casework_pool.execute(
            """INSERT INTO case_deadlines (case_id, deadline_id, kind, stage, part_id, due_on,
                   state, provisional, clause, explanation)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
            uuid.UUID(case),
            uuid.uuid4(),
            kind,
            stage,
            part,
            due,
            state,
            provisional,
            clause,
            why,
        )
    case = await store.get_case(casework_pool, uuid.UUID(case_id))
    assert case is not None
    row = await casework_pool.fetchrow(
        f"SELECT {store._CASE_COLUMNS}, state FROM cases WHERE case_id = $1", uuid.UUID(case_id)
    )
    (expected,) = await store._with_deadlines(casework_pool, [dict(row)])
    assert case == expected
    assert [d["explanation"] for d in case["deadlines"]] == [
        "ack",
        "no date while paused",
        "second",
    ]
    assert case["deadlines"][0]["due_on"] == date(2026, 3, 9)
    assert isinstance(case["deadlines"][0]["deadline_id"], uuid.UUID)
    assert case["deadlines"][1]["provisional"] is True and case["deadlines"][1]["due_on"] is None
    lonely = await store.get_case(casework_pool, uuid.UUID(await save(casework_pool, open_case())))
    assert lonely is not None and lonely["deadlines"] == []
    assert await store.get_case(casework_pool, uuid.uuid4()) is None

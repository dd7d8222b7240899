"""Casework's view and queue SQL against real PostgreSQL, with cases built by the real domain
at dates of the test's choosing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

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

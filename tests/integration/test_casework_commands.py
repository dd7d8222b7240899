"""Staff commands against real PostgreSQL (`commanding.execute`): the events, their outbox
rows and the case's view are stored together or not at all, and of two officers acting on one
case at once one wins and the other is told the case moved on."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from fastapi import HTTPException
from pydantic import TypeAdapter
from starlette.requests import Request

from contracts import CaseOpened, Role, decode_payload, new_envelope
from redress import eventstore, vault
from redress.auth import Identity
from redress.db import Connection
from services.casework import api, commanding, store
from services.casework.app import service
from services.casework.domain import commands as c
from services.casework.domain.case import Case, evolve, replay, stream_id
from services.casework.domain.decide import decide
from tests.conftest import Stack
from tests.integration.conftest import schema_pool
from tests.unit.casework.scenario import acknowledge, cmd, open_case, triage

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.fixture
async def casework_pool(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    assert service.migrations is not None
    schema, pool = await schema_pool(stack, [("casework", service.migrations)])
    yield pool
    await pool.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await pool.close()


async def opened(pool: asyncpg.Pool, command: c.OpenCase | None = None) -> uuid.UUID:
    """A case opened as the consumer opens one: its events in the store, its view row."""
    command = command or open_case()
    decision = decide(Case(), command)
    assert not isinstance(decision, c.Rejection)
    state = Case()
    envelopes = []
    for version, payload in enumerate(decision, start=1):
        state = evolve(state, payload)
        envelopes.append(
            new_envelope(
                payload,
                stream_id=stream_id(command.case_id),
                stream_version=version,
                occurred_at=NOW,
                actor="test",
                correlation_id=uuid.uuid4(),
            )
        )
    first = decision[0]
    assert isinstance(first, CaseOpened)
    async with pool.acquire() as conn, conn.transaction():
        await eventstore.append(conn, "casework", envelopes, expected_version=0)
        await store.open_case(conn, first, state, opened_at=NOW)
    return command.case_id


async def run(
    pool: asyncpg.Pool,
    case_id: uuid.UUID,
    command: c.Command,
    also: Callable[[Connection], Awaitable[None]] | None = None,
) -> commanding.Outcome:
    return await commanding.execute(
        pool,
        service="casework",
        case_id=case_id,
        command=command,
        expected_version=None,
        now=NOW,
        correlation_id=uuid.uuid4(),
        also=also,
    )


async def test_a_case_read_answers_what_fastapi_would_make_of_the_stored_case(
    casework_pool: asyncpg.Pool,
) -> None:
    """`GET /v1/cases/{id}` answers the stored view's text as it is, between the case's columns
    and its deadlines: the answer is the JSON FastAPI would have made of `store.get_case`,
    key order and the way times are written (UTC with ``Z``) included."""
    case_id = await opened(casework_pool)
    await run(casework_pool, case_id, triage())
    await casework_pool.execute(
        """INSERT INTO case_deadlines (case_id, deadline_id, kind, stage, due_on, state,
               provisional, clause, explanation)
           VALUES ($1, gen_random_uuid(), 'response', 1, '2026-03-30', 'open', false,
                   'c 1', 'why')""",
        case_id,
    )
    runtime = SimpleNamespace(pool=casework_pool)
    request = Request(
        {"type": "http", "app": SimpleNamespace(state=SimpleNamespace(runtime=runtime))}
    )
    answer = await api.get_case(case_id, request, Identity("olivia", Role.OFFICER))
    expected = await store.get_case(casework_pool, case_id)
    assert expected is not None and expected["deadlines"]
    made = TypeAdapter(dict[str, Any]).dump_json(expected)
    assert answer.media_type == "application/json"
    got = json.loads(answer.body)
    assert list(got) == list(json.loads(made))
    assert got == json.loads(made)
    assert got["opened_at"].endswith("Z")
    responder = Identity("rita", Role.SERVICE_RESPONDER, service_area="elsewhere")
    with pytest.raises(HTTPException) as refused:
        await api.get_case(case_id, request, responder)
    assert refused.value.status_code == 403
    with pytest.raises(HTTPException) as missing:
        await api.get_case(uuid.uuid4(), request, Identity("olivia", Role.OFFICER))
    assert missing.value.status_code == 404


async def test_a_command_stores_its_events_outbox_rows_and_the_view(
    casework_pool: asyncpg.Pool,
) -> None:
    case_id = await opened(casework_pool)
    before = await casework_pool.fetchval("SELECT count(*) FROM outbox")
    outcome = await run(casework_pool, case_id, triage())
    case = await store.get_case(casework_pool, case_id)
    assert case is not None
    assert case["version"] == outcome.state.version > 1
    assert case["state"] == json.loads(outcome.view)
    assert case["lifecycle"] == outcome.state.lifecycle.value
    async with casework_pool.acquire() as conn:
        stored = await eventstore.load_stream(conn, stream_id(case_id))
    assert [e.event_id for e in stored[-len(outcome.events) :]] == [
        e.event_id for e in outcome.events
    ]
    after = await casework_pool.fetchval("SELECT count(*) FROM outbox")
    assert after - before == len(outcome.events)


async def test_of_two_officers_at_once_one_wins_and_the_other_is_refused(
    casework_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the case before either writes (the loads wait for each other), so both
    decide on the same version: one is stored, the other gets 409's reason and the case's
    version as the winner left it, and the view is the winner's."""
    case_id = await opened(casework_pool)
    await run(casework_pool, case_id, triage())
    both_loaded = asyncio.Barrier(2)
    real_load = commanding.load

    async def load_together(conn: Connection, case: uuid.UUID) -> Case:
        state = await real_load(conn, case)
        await both_loaded.wait()
        return state

    monkeypatch.setattr(commanding, "load", load_together)

    async def officer(name: str) -> commanding.Outcome | commanding.CommandRefused:
        try:
            return await run(casework_pool, case_id, cmd(c.Assign, officer=name))
        except commanding.CommandRefused as refused:
            return refused

    results = await asyncio.gather(officer("olivia"), officer("oscar"))
    won = [r for r in results if isinstance(r, commanding.Outcome)]
    lost = [r for r in results if isinstance(r, commanding.CommandRefused)]
    assert len(won) == 1 and len(lost) == 1
    assert "another change to this case was saved first" in lost[0].reason
    assert lost[0].current_version == won[0].state.version
    case = await store.get_case(casework_pool, case_id)
    assert case is not None
    assert case["version"] == won[0].state.version
    assert case["officer"] == won[0].state.officer


async def test_with_something_stored_alongside_all_or_nothing_is_kept(
    casework_pool: asyncpg.Pool,
) -> None:
    """A command with ``also`` (an evidence file, say) keeps its transaction: when ``also``
    fails, neither the events nor the view change."""
    case_id = await opened(casework_pool)
    version = (await store.get_case(casework_pool, case_id) or {})["version"]

    async def fails(conn: Connection) -> None:
        await conn.execute("SELECT 1")
        raise RuntimeError("the file could not be stored")

    with pytest.raises(RuntimeError, match="could not be stored"):
        await run(casework_pool, case_id, triage(), also=fails)
    case = await store.get_case(casework_pool, case_id)
    assert case is not None and case["version"] == version
    async with casework_pool.acquire() as conn:
        assert await eventstore.stream_version(conn, stream_id(case_id)) == version

    stored: list[str] = []

    async def works(conn: Connection) -> None:
        assert conn.is_in_transaction()
        stored.append("file")

    outcome = await run(casework_pool, case_id, triage(), also=works)
    assert stored == ["file"]
    case = await store.get_case(casework_pool, case_id)
    assert case is not None and case["version"] == outcome.state.version > version


async def test_a_refused_command_stores_nothing(casework_pool: asyncpg.Pool) -> None:
    case_id = await opened(casework_pool)
    before = await casework_pool.fetchval("SELECT count(*) FROM events")
    with pytest.raises(commanding.CommandRefused):
        await run(casework_pool, case_id, cmd(c.Close, reason="too early"))
    assert await casework_pool.fetchval("SELECT count(*) FROM events") == before
    with pytest.raises(commanding.CaseNotFound):
        await run(casework_pool, uuid.uuid4(), triage())


async def from_the_stream(pool: asyncpg.Pool, case_id: uuid.UUID) -> Case:
    async with pool.acquire() as conn:
        history = await eventstore.load_stream(conn, stream_id(case_id))
    return replay([decode_payload(e) for e in history])


async def test_a_case_loaded_again_is_what_its_whole_stream_gives(
    casework_pool: asyncpg.Pool,
) -> None:
    """A command reads only the events after the case it loaded last; events another writer
    (a replica, the consumer) appended meanwhile are read and applied in order."""
    case_id = await opened(casework_pool)
    await run(casework_pool, case_id, triage())
    async with casework_pool.acquire() as conn:
        loaded = await commanding.load(conn, case_id)
    # another writer's command, appended behind this process's back
    decision = decide(loaded, acknowledge("1", "2"))
    assert not isinstance(decision, c.Rejection)
    async with casework_pool.acquire() as conn, conn.transaction():
        await eventstore.append(
            conn,
            "casework",
            [
                new_envelope(
                    payload,
                    stream_id=stream_id(case_id),
                    stream_version=loaded.version + i,
                    occurred_at=NOW,
                    actor="elsewhere",
                    correlation_id=uuid.uuid4(),
                )
                for i, payload in enumerate(decision, start=1)
            ],
            expected_version=loaded.version,
        )
    async with casework_pool.acquire() as conn:
        again = await commanding.load(conn, case_id)
    assert again == await from_the_stream(casework_pool, case_id)
    assert again.version == loaded.version + len(decision)
    outcome = await run(casework_pool, case_id, cmd(c.Assign, officer="oscar"))
    assert outcome.state == await from_the_stream(casework_pool, case_id)


async def test_a_case_loaded_before_its_person_was_erased_reads_as_erased(
    casework_pool: asyncpg.Pool,
) -> None:
    case_id = await opened(casework_pool)
    await run(casework_pool, case_id, triage())
    await run(casework_pool, case_id, acknowledge("1"))
    async with casework_pool.acquire() as conn:
        before = await commanding.load(conn, case_id)
    assert before.current.points[0].text == "point 1"
    person = await casework_pool.fetchval(
        "SELECT person_id FROM vault.subjects WHERE subject_id = $1", stream_id(case_id)
    )
    async with casework_pool.acquire() as conn:
        assert await vault.current().destroy_key(conn, person, reason="asked", now=NOW)
        after = await commanding.load(conn, case_id)
    assert after.current.points[0].text == "[erased]"
    assert after == await from_the_stream(casework_pool, case_id)


async def test_a_case_kept_from_another_store_is_read_again(
    casework_pool: asyncpg.Pool, stack: Stack
) -> None:
    """The same case in two stores (two schemas here), at the same version by different
    events: each store's own stream decides what a command there sees."""
    assert service.migrations is not None
    schema, other = await schema_pool(stack, [("casework", service.migrations)])
    try:
        opening = open_case()
        case_id = await opened(casework_pool, opening)
        assert await opened(other, opening) == case_id
        here = await run(casework_pool, case_id, triage())
        there = await run(other, case_id, cmd(c.Assign, officer="oscar"))
        assert here.state.version == there.state.version
        for pool in (casework_pool, other, casework_pool):
            async with pool.acquire() as conn:
                assert await commanding.load(conn, case_id) == await from_the_stream(pool, case_id)
    finally:
        await other.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await other.close()


async def test_after_a_command_the_next_reads_back_none_of_its_events(
    casework_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command's own events, once stored, are kept as what reading them back would give:
    the next load of the case reads only from the version the command left, and finds
    nothing after it."""
    read: list[tuple[int, int]] = []
    real = eventstore.load_stream_after

    async def counting(
        conn: Connection, stream: str, version: int
    ) -> tuple[uuid.UUID | None, list[Any], list[uuid.UUID]]:
        at, history, keys = await real(conn, stream, version)
        read.append((version, len(history)))
        return at, history, keys

    monkeypatch.setattr(eventstore, "load_stream_after", counting)
    case_id = await opened(casework_pool)
    await run(casework_pool, case_id, triage())
    outcome = await run(casework_pool, case_id, acknowledge("1", "2"))
    read.clear()
    async with casework_pool.acquire() as conn:
        loaded = await commanding.load(conn, case_id)
    assert read == [(outcome.state.version, 0)]
    assert loaded == outcome.state == await from_the_stream(casework_pool, case_id)
    assert loaded.current.points[1].text == "point 2"


async def test_a_command_sealed_for_a_person_erased_elsewhere_is_read_again(
    casework_pool: asyncpg.Pool,
) -> None:
    """Another replica erased the person (their key row is empty; this process's cache still
    holds the key): the command's personal text is stored erased, so what it decided is not
    what its case now reads as, and the next load reads the stream."""
    case_id = await opened(casework_pool)
    await run(casework_pool, case_id, triage())
    person = await casework_pool.fetchval(
        "SELECT person_id FROM vault.subjects WHERE subject_id = $1", stream_id(case_id)
    )
    await casework_pool.execute(
        "UPDATE vault.people SET wrapped_key = NULL, erased_at = $2 WHERE person_id = $1",
        person,
        NOW,
    )
    outcome = await run(casework_pool, case_id, acknowledge("1"))
    assert outcome.state.current.points[0].text == "point 1"
    async with casework_pool.acquire() as conn:
        loaded = await commanding.load(conn, case_id)
    assert loaded.current.points[0].text == "[erased]"
    assert loaded == await from_the_stream(casework_pool, case_id)

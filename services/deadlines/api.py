"""Deadlines' HTTP API: a case's deadlines and why each date is what it is, an organisation's
due-soon and overdue lists, its calendar, and a calculator for the web form and agents."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from contracts import DeadlineKind, Nation, Procedure
from contracts.procedures import CountsFrom, rules_for
from redress.auth import READERS, require
from redress.clock import london_today
from redress.service import runtime_of
from services.deadlines import settings as deadline_settings
from services.deadlines import store
from services.deadlines.domain.calendar import LONDON, WorkingDayCalendar
from services.deadlines.domain.compute import day, due_from, receipt_lead_in

router = APIRouter(prefix="/v1", tags=["deadlines"])
#: staff reads; the calculator stays public for the web form and the agents' screens
staff = [Depends(require(*READERS))]

_NATIONS = {
    "england": Nation.ENGLAND,
    "wales": Nation.WALES,
    "scotland": Nation.SCOTLAND,
    "northern-ireland": Nation.NORTHERN_IRELAND,
    "northern_ireland": Nation.NORTHERN_IRELAND,
    **{n.value.lower(): n for n in Nation},
}


class Step(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESPOND = "respond"
    PANEL = "panel"


_STEP_KIND = {
    Step.ACKNOWLEDGE: DeadlineKind.ACKNOWLEDGEMENT,
    Step.RESPOND: DeadlineKind.RESPONSE,
    Step.PANEL: DeadlineKind.PANEL,
}


def _unprocessable(field: str, reason: str) -> JSONResponse:
    return JSONResponse(
        {"detail": "invalid request", "errors": [{"field": field, "reason": reason}]},
        status_code=422,
    )


@router.get("/calculate")
async def calculate(
    request: Request,
    procedure: str = Query(..., examples=["housing-ombudsman"]),
    stage: int = Query(1, ge=1, le=3),
    step: Step = Query(Step.ACKNOWLEDGE),
    received: datetime = Query(
        ..., description="When the complaint (or escalation request) arrived, with time zone"
    ),
    nation: str = Query("england", examples=["england", "scotland", "SCT"]),
    acknowledged: date | None = Query(
        None, description="For a response counted from acknowledgement: when it was sent"
    ),
    organisation_id: str | None = Query(None, max_length=100),
) -> Any:
    """The due date of one step, with its explanation. A response counted from
    acknowledgement uses ``acknowledged`` when given, else the acknowledgement's due date."""
    try:
        chosen = Procedure(procedure.replace("-", "_").lower())
    except ValueError:
        known = ", ".join(p.value.replace("_", "-") for p in Procedure)
        return _unprocessable("procedure", f"unknown procedure {procedure!r}; one of: {known}")
    nation_key = nation.lower()
    if nation_key not in _NATIONS:
        return _unprocessable("nation", f"unknown nation {nation!r}; one of: {', '.join(_NATIONS)}")
    if received.tzinfo is None:
        return _unprocessable("received", "give a time zone, e.g. 2025-12-19T18:30:00Z")
    runtime = runtime_of(request)
    settings = await store.organisation(runtime.pool, organisation_id, _NATIONS[nation_key])
    calendar = (
        settings.calendar if organisation_id else WorkingDayCalendar(nation=_NATIONS[nation_key])
    )
    rules = rules_for(chosen, settings.stricter_timescales)
    if stage > rules.final_stage:
        return _unprocessable("stage", f"{chosen.value} has {rules.final_stage} stage(s)")
    timescale = rules.stage(stage).timescale(_STEP_KIND[step])
    if timescale is None:
        return _unprocessable("step", f"{chosen.value} stage {stage} has no {step.value} deadline")
    if stage == 1 and timescale.counts_from is CountsFrom.RECEIPT:
        start, lead_in = receipt_lead_in(received, calendar)
    else:
        start = calendar.on_or_after(received.astimezone(LONDON).date())
        lead_in = f"{'received' if stage == 1 else 'escalation requested'} {day(start)}"
    provisional = False
    if timescale.counts_from is CountsFrom.ACKNOWLEDGEMENT:
        if acknowledged is not None:
            start, lead_in = acknowledged, f"acknowledged {day(acknowledged)}"
        else:
            ack = rules.stage(stage).timescale(DeadlineKind.ACKNOWLEDGEMENT)
            if ack is not None:
                start = due_from(ack, start, calendar, lead_in).due_on
            provisional = True
            lead_in = f"counted from the acknowledgement due date {day(start)} (provisional)"
    due = due_from(timescale, start, calendar, lead_in)
    return {
        "procedure": chosen.value,
        "stage": stage,
        "step": step.value,
        "nation": calendar.nation.value,
        "counts_from": due.counts_from,
        "due_on": due.due_on,
        "provisional": provisional,
        "clause": timescale.clause,
        "explanation": due.explanation,
    }


@router.get("/deadlines", dependencies=staff)
async def case_deadlines(case_id: uuid.UUID, request: Request) -> dict[str, Any]:
    """A case's deadlines, every state, with how each date was worked out."""
    return {"deadlines": await store.for_case(runtime_of(request).pool, case_id)}


@router.get("/deadlines/due-soon", dependencies=staff)
async def due_soon(
    request: Request,
    organisation_id: str | None = Query(None, max_length=100),
    within: int = Query(5, ge=0, le=60, description="Working days ahead"),
    limit: int = Query(200, ge=1, le=2000),
) -> dict[str, Any]:
    """Open deadlines due from today to ``within`` working days ahead."""
    runtime = runtime_of(request)
    settings = await store.organisation(
        runtime.pool, organisation_id, deadline_settings.current().default_nation
    )
    today = london_today(runtime.clock())
    until = settings.calendar.add_working_days(today, within)
    rows = await store.open_due_by(
        runtime.pool, organisation_id, after=_yesterday(today), by=until, limit=limit
    )
    return {"today": today, "until": until, "deadlines": rows}


@router.get("/deadlines/overdue", dependencies=staff)
async def overdue(
    request: Request,
    organisation_id: str | None = Query(None, max_length=100),
    limit: int = Query(200, ge=1, le=2000),
) -> dict[str, Any]:
    """Open deadlines whose due day has passed, oldest first."""
    runtime = runtime_of(request)
    today = london_today(runtime.clock())
    rows = await store.open_due_by(
        runtime.pool, organisation_id, after=None, by=_yesterday(today), limit=limit
    )
    return {"today": today, "deadlines": rows}


def _yesterday(today: date) -> date:
    return date.fromordinal(today.toordinal() - 1)


@router.get("/deadlines/{deadline_id}/explain", dependencies=staff)
async def explain(deadline_id: uuid.UUID, request: Request) -> dict[str, Any]:
    found = await store.get(runtime_of(request).pool, deadline_id)
    if found is None:
        raise HTTPException(404, detail="no such deadline")
    return {
        "deadline_id": deadline_id,
        "kind": found["kind"],
        "state": found["state"],
        "due_on": found["due_on"],
        "explanation": found["explanation"],
    }


@router.get("/calendars/{organisation_id}", dependencies=staff)
async def organisation_calendar(organisation_id: str, request: Request) -> dict[str, Any]:
    """The working-day calendar an organisation's deadlines are counted on."""
    row = await runtime_of(request).pool.fetchrow(
        "SELECT * FROM organisation_calendars WHERE organisation_id = $1", organisation_id
    )
    if row is None:
        raise HTTPException(404, detail="not configured; the default nation applies")
    return {
        "organisation_id": organisation_id,
        "nation": row["nation"],
        "closure_days": sorted(row["closure_days"]),
        "reminder_working_days": row["reminder_working_days"],
        "stricter_timescales": row["stricter_timescales"],
    }

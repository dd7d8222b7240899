"""Deadlines' HTTP API: a case's deadlines, what is due, and why a date is what it is."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from redress.service import runtime_of
from services.deadlines import store
from services.deadlines.domain.calendar import LONDON

router = APIRouter(prefix="/v1", tags=["deadlines"])


@router.get("/deadlines")
async def case_deadlines(case_id: uuid.UUID, request: Request) -> dict[str, Any]:
    return {"deadlines": await store.for_case(runtime_of(request).pool, case_id)}


@router.get("/deadlines/due")
async def due(
    request: Request,
    by: date | None = Query(None, description="Pending deadlines due on or before this date"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Pending deadlines due by a date (today in London by default): the overdue list."""
    runtime = runtime_of(request)
    day = by or runtime.clock().astimezone(LONDON).date()
    return {"by": day, "deadlines": await store.pending_due_by(runtime.pool, day, limit)}


@router.get("/deadlines/{deadline_id}/explain")
async def explain(deadline_id: uuid.UUID, request: Request) -> dict[str, Any]:
    found = await store.get(runtime_of(request).pool, deadline_id)
    if found is None:
        raise HTTPException(404, detail="no such deadline")
    return {
        "deadline_id": deadline_id,
        "due_on": found["due_on"],
        "explanation": found["explanation"],
    }


@router.get("/calendars/{organisation_id}")
async def organisation_calendar(organisation_id: str, request: Request) -> dict[str, Any]:
    """The working-day calendar an organisation's deadlines are counted on."""
    row = await runtime_of(request).pool.fetchrow(
        "SELECT nation, closure_days FROM organisation_calendars WHERE organisation_id = $1",
        organisation_id,
    )
    if row is None:
        raise HTTPException(404, detail="not configured; the default nation applies")
    return {
        "organisation_id": organisation_id,
        "nation": row["nation"],
        "closure_days": sorted(row["closure_days"]),
    }

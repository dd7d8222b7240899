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

"""Casework's staff API (read side for now; commands arrive with the casework issue)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from redress import eventstore
from redress.service import runtime_of
from services.casework import store
from services.casework.domain.case import stream_id

router = APIRouter(prefix="/v1", tags=["cases"])


@router.get("/cases")
async def list_cases(
    request: Request,
    submission_id: uuid.UUID | None = None,
    reference: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Newest first; filter by the submission that opened a case or by its reference."""
    cases = await store.find_cases(
        runtime_of(request).pool, submission_id=submission_id, reference=reference, limit=limit
    )
    return {"cases": cases}


@router.get("/cases/{case_id}")
async def get_case(case_id: uuid.UUID, request: Request) -> dict[str, Any]:
    case = await store.get_case(runtime_of(request).pool, case_id)
    if case is None:
        raise HTTPException(404, detail="no such case")
    return case


@router.get("/cases/{case_id}/events")
async def case_history(case_id: uuid.UUID, request: Request) -> dict[str, Any]:
    """Every event on the case, oldest first: who did what, when, and why."""
    async with runtime_of(request).pool.acquire() as conn:
        events = await eventstore.load_stream(conn, stream_id(case_id))
    if not events:
        raise HTTPException(404, detail="no such case")
    return {"events": [e.model_dump(mode="json") for e in events]}

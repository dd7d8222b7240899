"""Notifications' HTTP API: the delivery log."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request

from redress.service import runtime_of
from services.notifications import store

router = APIRouter(prefix="/v1", tags=["deliveries"])


@router.get("/deliveries")
async def delivery_log(
    request: Request,
    case_id: uuid.UUID | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    """Every letter and message, newest first; filter by case."""
    return {"deliveries": await store.deliveries(runtime_of(request).pool, case_id, limit)}

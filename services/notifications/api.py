"""Notifications' HTTP API: the notification log with every attempt, the letters as PDF, and
a preview of any template for a case without sending it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from contracts import Procedure
from redress.auth import READERS, require
from redress.service import runtime_of
from services.notifications import letters, store
from services.notifications.compose import long_date, pdf_for, resident_route
from services.notifications.handlers import _base

router = APIRouter(prefix="/v1", tags=["notifications"], dependencies=[Depends(require(*READERS))])


@router.get("/notifications")
async def notification_log(
    request: Request,
    case_id: uuid.UUID | None = None,
    limit: int = Query(200, ge=1, le=2000),
) -> dict[str, Any]:
    """Every letter, message and alert, oldest first, with its status and attempts."""
    return {"notifications": await store.notifications(runtime_of(request).pool, case_id, limit)}


@router.get("/deliveries", include_in_schema=False)
async def deliveries(request: Request, case_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The first API's name for the log."""
    return {"deliveries": await store.notifications(runtime_of(request).pool, case_id, 200)}


@router.get("/notifications/{notification_id}")
async def one(notification_id: uuid.UUID, request: Request) -> dict[str, Any]:
    found = await store.notification(runtime_of(request).pool, notification_id)
    if found is None:
        raise HTTPException(404, detail="no such notification")
    return found


@router.get("/notifications/{notification_id}/pdf")
async def pdf(notification_id: uuid.UUID, request: Request) -> Response:
    """The letter as printed: the posted PDF, or for a letter that went by email, made now from
    its text (the same bytes each time). Staff alerts, text messages, suppressed and erased
    letters have none."""
    row = await store.letter_for_pdf(runtime_of(request).pool, notification_id)
    # made off the event loop: a long letter takes some milliseconds of fpdf
    content = None if row is None else await asyncio.to_thread(pdf_for, row)
    if content is None:
        raise HTTPException(404, detail="no PDF for this notification")
    return Response(content, media_type="application/pdf")


_SAMPLE_POINTS = [{"point_id": "1", "text": "(the points of complaint)"}]


@router.get("/cases/{case_id}/preview/{template}", response_class=HTMLResponse)
async def preview(case_id: uuid.UUID, template: str, request: Request) -> HTMLResponse:
    """Render a resident letter for this case as it would go now, without sending it: for the
    quality check. Values the case does not have yet are shown as placeholders."""
    if template not in letters.RESIDENT_TEMPLATES:
        raise HTTPException(404, detail=f"templates: {', '.join(letters.RESIDENT_TEMPLATES)}")
    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        contact = await store.contact(conn, case_id)
    if contact is None:
        raise HTTPException(404, detail="no such case")
    stage = max((int(s) for s in contact["stages"]), default=1)
    record = contact["stages"].get(str(stage), {})
    due = contact["deadlines"].get(f"response:{stage}", {}).get("due_on")
    procedure = Procedure(contact.get("procedure") or "housing_ombudsman")
    context = {
        **_base(contact),
        "today": long_date(datetime.now(UTC).date()),
        "stage": stage,
        "received_on": long_date(contact["received_at"].date()) if contact["received_at"] else "",
        "points": record.get("points", _SAMPLE_POINTS),
        "outcomes_sought": record.get("outcomes_sought", ["(the outcomes sought)"]),
        "response_due_on": long_date(due) or "(the response date)",
        "acknowledge_by": None,
        "new_due_on": "(the new date)",
        "reason": "(the reason)",
        "overall": "(overall outcome)",
        "outcomes": [
            {"point": p["text"], "outcome": "(outcome)", "reasons": "(reasons)"}
            for p in record.get("points", _SAMPLE_POINTS)
        ],
        "remedies": [r["description"] for r in contact["remedies"]],
        "learning": [item["description"] for item in contact["learning"]],
        "signposting": letters.signposting(procedure, stage, False),
        "explanation": "(the explanation)",
        "signposting_given": "(other help)",
    }
    adjustments = contact.get("adjustments") or []
    rendered = letters.render(
        template,
        context,
        easy_read="easy_read" in adjustments,
        large_print="large_print" in adjustments,
    )
    route = resident_route(contact)
    return HTMLResponse(
        rendered.html, headers={"X-Redress-Route": f"{route.channel}:{route.recipient}"}
    )

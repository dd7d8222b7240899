"""Files intake keeps (an email's attachments, a letter's scans), for staff to download. The
case file in casework lists them; the bytes stay here, where they arrived."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from redress.auth import READERS, require
from redress.service import runtime_of
from services.intake import store

router = APIRouter(prefix="/v1", tags=["evidence"])


@router.get("/attachments/{attachment_id}", dependencies=[Depends(require(*READERS))])
async def download_attachment(attachment_id: str, request: Request) -> Response:
    """The file as it arrived, with its digest so that it can be checked against the case."""
    row = await store.get_attachment(runtime_of(request).pool, attachment_id)
    if row is None:
        raise HTTPException(404, detail="no such attachment")
    return Response(
        bytes(row["content"]),
        media_type=row["content_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{row["filename"]}"',
            "X-Content-SHA256": row["sha256"],
            "X-Content-Type-Options": "nosniff",
        },
    )

"""Letters: an agent scans a letter and keys in what it says. The scans are kept as evidence
with the submission; the date stamp is when it reached us, whenever it is keyed in."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts import Channel, Complainant, FeedbackKind, Role
from contracts.events import OnBehalfOf, PlaceComplainedAbout
from redress.auth import Identity, require
from redress.clock import LONDON
from services.intake import settings
from services.intake.api import SubmissionReceipt, _take, check_reachable
from services.intake.attachments import FileRefused, ReceivedFile, keep
from services.intake.submitting import request_hash

router = APIRouter(prefix="/v1", tags=["letters"])


class LetterSubmission(BaseModel):
    """What the agent keys in from the letter."""

    model_config = ConfigDict(extra="forbid")

    kind: FeedbackKind = FeedbackKind.COMPLAINT
    organisation_id: str = Field("default", min_length=1, max_length=100)
    service_area: str | None = Field(None, max_length=100)
    summary: str = Field(min_length=1, max_length=20_000, description="What the letter says")
    outcome_sought: str | None = Field(None, max_length=5_000)
    date_stamped: date = Field(description="The date stamped on the letter when it arrived")
    happened_on: date | None = None
    complainant: Complainant
    location: PlaceComplainedAbout | None = None
    on_behalf_of: OnBehalfOf | None = None

    @model_validator(mode="after")
    def _reachable(self) -> LetterSubmission:
        check_reachable(self.complainant, self.summary, self.on_behalf_of)
        return self


@router.post("/agent/letters", status_code=202, response_model=SubmissionReceipt)
async def record_letter(
    request: Request,
    letter: str = Form(
        description='The keyed-in fields as JSON, e.g. {"summary": "...", "date_stamped": '
        '"2026-03-02", "complainant": {"name": "...", "address": "..."}}'
    ),
    scans: list[UploadFile] = File(description="The scanned pages: PDF, JPEG or PNG"),
    agent: Identity = Depends(require(Role.AGENT, Role.OFFICER, Role.MANAGER, Role.ADMIN)),
    idempotency_key: str | None = Header(None, max_length=200),
) -> Any:
    """Record a scanned letter (role agent or officer). Each scan is checked by its content
    (415 for anything but PDF, JPEG, PNG, text or Word; 413 when too large; 422 for too
    many); the letter's date stamp becomes the time it was received."""
    try:
        body = LetterSubmission.model_validate_json(letter)
    except ValidationError as exc:
        return JSONResponse(
            {
                "detail": "invalid request",
                "errors": [
                    {
                        "field": "letter." + ".".join(str(p) for p in e["loc"])
                        if e["loc"]
                        else "letter",
                        "reason": e["msg"],
                    }
                    for e in exc.errors()
                ],
            },
            status_code=422,
        )
    config = settings.current()
    if len(scans) > config.max_attachments:
        return JSONResponse(
            {
                "detail": "invalid request",
                "errors": [{"field": "scans", "reason": f"at most {config.max_attachments} files"}],
            },
            status_code=422,
        )
    kept = []
    for scan in scans:
        content = await scan.read(config.attachment_max_bytes + 1)
        try:
            kept.append(
                keep(
                    ReceivedFile(scan.filename or "scan", scan.content_type or "", content),
                    config.attachment_max_bytes,
                )
            )
        except FileRefused as refused:
            status = 413 if len(content) > config.attachment_max_bytes else 415
            raise HTTPException(status, detail=str(refused)) from None
    fields = body.model_dump(exclude={"date_stamped"})
    fields["channel"] = Channel.LETTER
    fields["agent_id"] = agent.user
    received_at = datetime.combine(body.date_stamped, time(0, 0), tzinfo=LONDON)
    return await _take(
        request,
        fields,
        received_at,
        f"agent:{agent.user}",
        idempotency_key,
        files=kept,
        # a retry must repeat the scans as well as the keyed fields
        fingerprint=request_hash("letter", fields, received_at, [k.sha256 for k in kept]),
    )

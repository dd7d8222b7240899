"""Intake's HTTP API: the JSON submission endpoint every channel adapter ends up calling."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts import Channel, Complainant, FeedbackKind, FeedbackSubmitted, new_envelope
from redress import eventstore
from redress.auth import READERS, require
from redress.service import runtime_of
from services.intake import store

router = APIRouter(prefix="/v1", tags=["submissions"])

#: a clock a few minutes fast on the sender's side is not a future complaint
_FUTURE_TOLERANCE = timedelta(minutes=5)


class SubmissionRequest(BaseModel):
    """What a resident (or an agent for them) tells us."""

    model_config = ConfigDict(extra="forbid")

    kind: FeedbackKind = FeedbackKind.COMPLAINT
    channel: Channel = Channel.WEB
    organisation_id: str = Field("default", min_length=1, max_length=100)
    service_area: str | None = Field(None, max_length=100)
    summary: str = Field(min_length=1, max_length=20_000, description="What happened")
    outcome_sought: str | None = Field(None, max_length=5_000)
    received_at: AwareDatetime | None = Field(
        None, description="When it reached us, for letters and calls keyed in later"
    )
    complainant: Complainant

    @model_validator(mode="after")
    def _reachable(self) -> SubmissionRequest:
        c = self.complainant
        if not (c.email or c.phone or c.address):
            raise ValueError("complainant needs at least one of email, phone or address")
        if self.summary.strip() == "":
            raise ValueError("summary must not be blank")
        return self


class SubmissionReceipt(BaseModel):
    submission_id: uuid.UUID
    status: str
    received_at: datetime
    correlation_id: uuid.UUID


def _stream(submission_id: uuid.UUID) -> str:
    return f"submission-{submission_id}"


@router.post("/submissions", status_code=202, response_model=SubmissionReceipt)
async def submit(
    body: SubmissionRequest,
    request: Request,
    idempotency_key: str | None = Header(None, max_length=200),
) -> SubmissionReceipt:
    """Record a submission and emit `FeedbackSubmitted`. A retried request with the same
    ``Idempotency-Key`` gets the first receipt back instead of a second case."""
    runtime = runtime_of(request)
    now = runtime.clock()
    received_at = body.received_at or now
    if received_at > now + _FUTURE_TOLERANCE:
        return JSONResponse(  # type: ignore[return-value]
            {
                "detail": "invalid request",
                "errors": [{"field": "received_at", "reason": "must not be in the future"}],
            },
            status_code=422,
        )
    submission_id = uuid.uuid4()
    correlation_id = uuid.uuid4()
    payload = FeedbackSubmitted(
        submission_id=submission_id,
        kind=body.kind,
        channel=body.channel,
        organisation_id=body.organisation_id,
        service_area=body.service_area,
        received_at=received_at,
        summary=body.summary,
        outcome_sought=body.outcome_sought,
        complainant=body.complainant,
    )
    envelope = new_envelope(
        payload,
        stream_id=_stream(submission_id),
        stream_version=1,
        occurred_at=received_at,
        recorded_at=now,
        actor=f"channel:{body.channel.value}",
        correlation_id=correlation_id,
    )
    async with runtime.pool.acquire() as conn:
        try:
            async with conn.transaction():
                await store.insert(
                    conn,
                    payload,
                    idempotency_key=idempotency_key,
                    recorded_at=now,
                    correlation_id=correlation_id,
                )
                await eventstore.append(conn, runtime.service, [envelope], expected_version=0)
        except asyncpg.UniqueViolationError:
            if idempotency_key is None:
                raise
            existing = await store.find_by_idempotency_key(conn, idempotency_key)
            if existing is None:
                raise
            return _receipt(existing)
    return SubmissionReceipt(
        submission_id=submission_id,
        status="received",
        received_at=received_at,
        correlation_id=correlation_id,
    )


@router.get(
    "/submissions/{submission_id}",
    response_model=SubmissionReceipt,
    dependencies=[Depends(require(*READERS))],
)
async def get_submission(submission_id: uuid.UUID, request: Request) -> SubmissionReceipt:
    row = await store.get(runtime_of(request).pool, submission_id)
    if row is None:
        raise HTTPException(404, detail="no such submission")
    return _receipt(row)


def _receipt(row: asyncpg.Record) -> SubmissionReceipt:
    return SubmissionReceipt(
        submission_id=row["submission_id"],
        status="received",
        received_at=row["received_at"],
        correlation_id=row["correlation_id"],
    )

"""Intake's HTTP API: the JSON submission endpoint every channel adapter ends up calling."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from contracts import Channel, Complainant, FeedbackKind, Role
from contracts.events import Member, OnBehalfOf, PlaceComplainedAbout
from redress import ratelimit
from redress.auth import READERS, Identity, require
from redress.db import Connection
from redress.service import runtime_of
from services.intake import store, submitting, tracking

router = APIRouter(prefix="/v1", tags=["submissions"])


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
    happened_on: date | None = Field(
        None, description="When it happened, or when you first knew about it"
    )
    complainant: Complainant
    location: PlaceComplainedAbout | None = Field(
        None, description="Where the problem is, if not at the complainant's address"
    )
    on_behalf_of: OnBehalfOf | None = Field(
        None, description="Complaining for someone else: who, and that they agreed"
    )

    @model_validator(mode="after")
    def _reachable(self) -> SubmissionRequest:
        check_reachable(self.complainant, self.summary, self.on_behalf_of)
        return self


def check_reachable(
    complainant: Complainant, summary: str, on_behalf_of: OnBehalfOf | None
) -> None:
    """What every channel needs before a case can be opened: a way to answer the person, some
    words about what happened, and consent when it is said for someone else."""
    if not (complainant.email or complainant.phone or complainant.address):
        raise ValueError("complainant needs at least one of email, phone or address")
    if summary.strip() == "":
        raise ValueError("summary must not be blank")
    check_on_behalf_of(on_behalf_of)


def check_on_behalf_of(on_behalf_of: OnBehalfOf | None) -> None:
    """Someone else's complaint is taken only with their agreement (every complaints code lets
    a representative complain with the person's consent)."""
    if on_behalf_of is not None and not on_behalf_of.consent_given:
        raise ValueError("complaining for someone else needs their consent (consent_given)")


class SubmissionReceipt(BaseModel):
    submission_id: uuid.UUID
    status: str
    received_at: datetime
    correlation_id: uuid.UUID


@router.post(
    "/submissions",
    status_code=202,
    response_model=SubmissionReceipt,
    responses=ratelimit.RESPONSES,
)
async def submit(
    body: SubmissionRequest,
    request: Request,
    conn: Connection | None = Depends(
        ratelimit.limited_with_connection("submit"), scope="function"
    ),
    idempotency_key: str | None = Header(None, max_length=200),
) -> Any:
    """Record a submission and emit `FeedbackSubmitted`. A retried request with the same
    ``Idempotency-Key`` gets the first receipt back instead of a second case (the same key
    with a different body: 422). The same complaint from the same person again within the
    duplicate window is linked to the first: its receipt comes back with status
    ``duplicate``."""
    fields = body.model_dump(exclude={"received_at"})
    return await _take(
        request,
        fields,
        body.received_at,
        f"channel:{body.channel.value}",
        idempotency_key,
        conn=conn,
    )


async def _take(
    request: Request,
    fields: dict[str, Any],
    received_at: datetime | None,
    actor: str,
    idempotency_key: str | None,
    **more: Any,
) -> SubmissionReceipt | JSONResponse:
    taken = await submitting.take(
        runtime_of(request), fields, received_at, actor, idempotency_key, **more
    )
    if isinstance(taken, submitting.Refused):
        return refusal(taken)
    return receipt(taken)


def receipt(taken: submitting.Receipt) -> SubmissionReceipt:
    """Field by field: `dataclasses.asdict` copies each value deeply, a percent of a
    submission's CPU for four flat fields."""
    return SubmissionReceipt(
        submission_id=taken.submission_id,
        status=taken.status,
        received_at=taken.received_at,
        correlation_id=taken.correlation_id,
    )


def refusal(refused: submitting.Refused, status: int = 422) -> JSONResponse:
    return JSONResponse(
        {
            "detail": "invalid request",
            "errors": [{"field": refused.field, "reason": refused.reason}],
        },
        status_code=status,
    )


class AgentSubmission(BaseModel):
    """A call or visit keyed in by a contact-centre agent."""

    model_config = ConfigDict(extra="forbid")

    kind: FeedbackKind = FeedbackKind.COMPLAINT
    channel: Channel = Field(Channel.PHONE, description="phone or face_to_face")
    organisation_id: str = Field("default", min_length=1, max_length=100)
    service_area: str | None = Field(None, max_length=100)
    summary: str = Field(min_length=1, max_length=20_000)
    outcome_sought: str | None = Field(None, max_length=5_000)
    call_time: AwareDatetime = Field(description="When the call or visit took place")
    happened_on: date | None = Field(
        None, description="When it happened, or when the caller first knew about it"
    )
    complainant: Complainant
    location: PlaceComplainedAbout | None = None
    read_back_confirmed: bool = Field(
        description="The agent read the summary back and the caller agreed it"
    )
    member: Member | None = Field(None, description="For a member enquiry: the MP or councillor")
    consent_given: bool | None = Field(
        None, description="For a member enquiry: the resident agreed to the member acting"
    )
    on_behalf_of: OnBehalfOf | None = Field(
        None, description="The caller complains for someone else: who, and that they agreed"
    )

    @model_validator(mode="after")
    def _rules(self) -> AgentSubmission:
        if self.channel not in (Channel.PHONE, Channel.FACE_TO_FACE):
            raise ValueError("agents key in phone calls and face-to-face visits")
        if not self.read_back_confirmed:
            raise ValueError("read the summary back to the caller and confirm it first")
        if self.kind is FeedbackKind.MEMBER_ENQUIRY:
            if self.member is None:
                raise ValueError("a member enquiry needs the MP's or councillor's details")
            if self.consent_given is not True:
                raise ValueError("a member enquiry needs the resident's consent")
        elif self.member is not None:
            raise ValueError("member details belong to a member enquiry")
        c = self.complainant
        if not (c.email or c.phone or c.address):
            raise ValueError("complainant needs at least one of email, phone or address")
        check_on_behalf_of(self.on_behalf_of)
        return self


class AgentReceipt(SubmissionReceipt):
    read_back: str


@router.post("/agent/submissions", status_code=202, response_model=AgentReceipt)
async def agent_submit(
    body: AgentSubmission,
    request: Request,
    agent: Identity = Depends(require(Role.AGENT, Role.OFFICER, Role.MANAGER, Role.ADMIN)),
    idempotency_key: str | None = Header(None, max_length=200),
) -> Any:
    """For contact-centre agents: the same validation as the public form, plus who took the
    call, when, and a summary to read back to the caller before they hang up."""
    fields = body.model_dump(exclude={"call_time", "read_back_confirmed"})
    fields["agent_id"] = agent.user
    taken = await _take(request, fields, body.call_time, f"agent:{agent.user}", idempotency_key)
    if isinstance(taken, JSONResponse):
        return taken
    about = f" about {body.service_area}" if body.service_area else ""
    on_behalf = (
        f" {body.member.role.value.upper() if body.member.role.value == 'mp' else 'Councillor'}"
        f" {body.member.name} has raised this for {body.complainant.name}."
        if body.member
        else ""
    )
    read_back = (
        f"We have logged your {body.kind.value.replace('_', ' ')}{about}.{on_behalf} "
        f"You will get a reference number by "
        f"{body.complainant.preferred_contact.value.replace('phone', 'text or phone')} shortly. "
        f"What we have noted: {body.summary}"
    )
    return AgentReceipt(**taken.model_dump(), read_back=read_back)


@router.get(
    "/submissions/{submission_id}",
    response_model=SubmissionReceipt,
    dependencies=[Depends(require(*READERS))],
)
async def get_submission(submission_id: uuid.UUID, request: Request) -> SubmissionReceipt:
    pool = runtime_of(request).pool
    row = await store.get(pool, submission_id)
    if row is None:
        raise HTTPException(404, detail="no such submission")
    return receipt(await submitting.receipt_of(pool, row))


class KnownOrganisation(BaseModel):
    organisation_id: str
    name: str
    service_areas: list[str]


@router.get(
    "/organisations/{organisation_id}",
    response_model=KnownOrganisation,
    tags=["organisations"],
    dependencies=[Depends(require(*READERS, Role.AGENT))],
    responses={404: {"description": "intake takes no submissions for it (yet)"}},
)
async def get_organisation(organisation_id: str, request: Request) -> KnownOrganisation:
    """An organisation as intake knows it, once its configuration has reached intake: from
    then on submissions for it are taken (and, once any is configured, only for those)."""
    found = await tracking.organisation(runtime_of(request).pool, organisation_id)
    if found is None:
        raise HTTPException(404, detail="intake knows no such organisation (yet)")
    return KnownOrganisation(**dataclasses.asdict(found))

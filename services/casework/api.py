"""Casework's staff API, read side: the case, its history (as it stood on any date), queues
and search; and evidence files, which are uploaded rather than posted as JSON."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter
from starlette.datastructures import UploadFile as StarletteUpload

from contracts import Role, decode_payload
from redress import eventstore
from redress.auth import READERS, STAFF, Identity, require
from redress.clock import LONDON, london_today
from redress.db import Connection
from redress.service import runtime_of
from services.casework import store
from services.casework.commanding import CaseNotFound, CommandRefused, execute
from services.casework.domain import commands as c
from services.casework.domain.case import replay, stream_id
from services.casework.domain.decide import INTAKE_ATTACHMENT_PATH
from services.casework.evidence import EvidenceRejected, check_upload
from services.casework.view import case_view

router = APIRouter(prefix="/v1", tags=["cases"])
Reader = Annotated[Identity, Depends(require(*READERS))]
Staff = Annotated[Identity, Depends(require(*STAFF))]


def _scope(identity: Identity) -> str | None:
    """A service responder sees only its own service's cases."""
    return identity.service_area if identity.role is Role.SERVICE_RESPONDER else None


def can_see(identity: Identity, case: dict[str, Any]) -> bool:
    """Whether this member of staff may read the case (the API and the workspace both ask)."""
    scope = _scope(identity)
    return scope is None or scope == case["service_area"] or scope in case["part_services"]


async def _visible_case(request: Request, case_id: uuid.UUID, identity: Identity) -> dict[str, Any]:
    case = await store.get_case(runtime_of(request).pool, case_id)
    if case is None:
        raise HTTPException(404, detail="no such case")
    if not can_see(identity, case):
        raise HTTPException(403, detail=f"this case is not for {_scope(identity)}")
    return case


@router.get("/cases")
async def search_cases(
    request: Request,
    identity: Reader,
    q: str | None = Query(None, max_length=200, description="Free text: summary or name"),
    reference: str | None = Query(None, max_length=40),
    submission_id: uuid.UUID | None = None,
    name: str | None = Query(None, max_length=200),
    email: str | None = Query(None, max_length=200),
    postcode: str | None = Query(None, max_length=10),
    officer: str | None = Query(None, max_length=100),
    lifecycle: str | None = Query(None, pattern="^(new|open|closed)$"),
    service_area: str | None = Query(None, max_length=100),
    ward: str | None = Query(None, max_length=100),
    flag: str | None = Query(None, max_length=40),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Search by reference, name, email, postcode or free text; filter by officer, state,
    service, ward or flag. Newest first."""
    cases = await store.search(
        runtime_of(request).pool,
        store.Search(
            q=q,
            reference=reference,
            submission_id=submission_id,
            name=name,
            email=email,
            postcode=postcode,
            officer=officer,
            lifecycle=lifecycle,
            service_area=service_area,
            ward=ward,
            flag=flag,
            scope=_scope(identity),
            limit=limit,
        ),
    )
    return {"cases": cases}


@router.get("/queues/triage")
async def triage_queue(request: Request, identity: Staff) -> dict[str, Any]:
    """Cases waiting for triage, oldest first, each with intake's triage hints (words that
    suggest safeguarding, a request for information, a media or legal risk; a complaint
    outside the time limit) for the officer to confirm."""
    return {"cases": await store.queue(runtime_of(request).pool, "triage", None, None)}


@router.get("/queues/caseload")
async def caseload(
    request: Request, identity: Reader, officer: str | None = Query(None, max_length=100)
) -> dict[str, Any]:
    """An officer's open cases (yours by default), with what is due next, soonest first."""
    who = officer or identity.user
    return {
        "officer": who,
        "cases": await store.queue(runtime_of(request).pool, "caseload", who, None),
    }


@router.get("/queues/overdue")
async def overdue(request: Request, identity: Reader) -> dict[str, Any]:
    """Open cases whose acknowledgement or response is past its due date, most overdue first."""
    runtime = runtime_of(request)
    today = london_today(runtime.clock())
    cases = await store.queue(runtime.pool, "overdue", None, today)
    return {"today": today, "cases": cases}


@router.get("/queues/overdue-parts")
async def overdue_parts(request: Request, identity: Reader) -> dict[str, Any]:
    """Services' parts past their due date and unanswered, oldest first, with how often each
    was chased. A service responder sees its own."""
    runtime = runtime_of(request)
    today = london_today(runtime.clock())
    parts = await store.overdue_parts(runtime.pool, today, _scope(identity))
    return {"today": today, "parts": parts}


#: how FastAPI writes a route's ``dict[str, Any]`` answer (pydantic's JSON: UTC times end in
#: ``Z``), for the parts of a case read that are not already JSON text
_ANSWER = TypeAdapter(Any)


@router.get("/cases/{case_id}", response_model=dict[str, Any])
async def get_case(case_id: uuid.UUID, request: Request, identity: Reader) -> Response:
    """Everything about the case, current: definition, stages, parts, remedies, learning,
    flags, Ombudsman, deadlines."""
    found = await store.get_case_text(runtime_of(request).pool, case_id)
    if found is None:
        raise HTTPException(404, detail="no such case")
    case, state, deadlines = found
    if not can_see(identity, case):
        raise HTTPException(403, detail=f"this case is not for {_scope(identity)}")
    # the case's view goes out as the text stored, between its columns and its deadlines
    # (the order `store.get_case` gives them), rather than decoded and encoded again
    columns = _ANSWER.dump_json(case)
    listed = _ANSWER.dump_json(deadlines)
    body = b"".join((columns[:-1], b',"state":', state.encode(), b',"deadlines":', listed, b"}"))
    return Response(body, media_type="application/json")


@router.get("/cases/{case_id}/history")
async def case_history(
    case_id: uuid.UUID,
    request: Request,
    identity: Reader,
    as_of: date | None = Query(
        None, description="Show the case as it stood at the end of this day (Europe/London)"
    ),
) -> dict[str, Any]:
    """Every event on the case with who did it and when; with ``as_of``, the case as it stood
    then."""
    await _visible_case(request, case_id, identity)
    async with runtime_of(request).pool.acquire() as conn:
        events = await eventstore.load_stream(conn, stream_id(case_id))
    if as_of is not None:
        end = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=LONDON)
        events = [e for e in events if e.occurred_at < end]
    body: dict[str, Any] = {
        "events": [
            {
                "version": e.stream_version,
                "event_type": e.event_type,
                "actor": e.actor,
                "occurred_at": e.occurred_at.isoformat(),
                "correlation_id": str(e.correlation_id),
                "payload": e.payload,
            }
            for e in events
        ]
    }
    if as_of is not None:
        body["as_of"] = as_of
        body["case"] = case_view(replay([decode_payload(e) for e in events])) if events else None
    return body


@router.get("/cases/{case_id}/letters")
async def case_letters(case_id: uuid.UUID, request: Request, identity: Reader) -> dict[str, Any]:
    """The letters and messages notifications sent for the case, or gave up on, newest first:
    template, channel, recipient, ``sent`` or ``failed`` with the attempts and the error. As
    casework last heard them from the notification topic; every attempt is in notifications'
    own delivery log."""
    await _visible_case(request, case_id, identity)
    found = await store.letters(runtime_of(request).pool, case_id)
    return {
        "letters": [
            {
                **letter,
                "notification_id": str(letter["notification_id"]),
                "happened_at": letter["happened_at"].isoformat(),
            }
            for letter in found
        ]
    }


# kept for clients of the first API: the bare event list
@router.get("/cases/{case_id}/events", include_in_schema=False)
async def case_events(case_id: uuid.UUID, request: Request, identity: Reader) -> dict[str, Any]:
    await _visible_case(request, case_id, identity)
    async with runtime_of(request).pool.acquire() as conn:
        events = await eventstore.load_stream(conn, stream_id(case_id))
    return {"events": [e.model_dump(mode="json") for e in events]}


@router.post("/cases/{case_id}/evidence", status_code=201)
async def attach_evidence(
    case_id: uuid.UUID,
    request: Request,
    identity: Staff,
    file: UploadFile = File(...),
    description: str | None = Form(None, max_length=2000),
) -> Any:
    """Attach a file (PDF, JPEG, PNG, plain text, Word or email), at most the configured size
    (413 beyond it; 415 for any other type, or content that does not match its type)."""
    try:
        return await attach_file(request, case_id, identity, file, description)
    except EvidenceRejected as rejected:
        raise HTTPException(rejected.status, detail=rejected.reason) from None
    except CaseNotFound:
        raise HTTPException(404, detail="no such case") from None
    except CommandRefused as refused:
        return JSONResponse(
            {"detail": refused.reason, "current_version": refused.current_version}, status_code=409
        )


async def attach_file(
    request: Request,
    case_id: uuid.UUID,
    identity: Identity,
    file: StarletteUpload,
    description: str | None,
) -> dict[str, Any]:
    """Check the file, then record it and its event in one transaction (the API and the
    workspace both attach this way). Raises `EvidenceRejected`, `CaseNotFound` or
    `CommandRefused`."""
    runtime = runtime_of(request)
    content, content_type = await check_upload(file)
    evidence_id = uuid.uuid4().hex
    digest = hashlib.sha256(content).hexdigest()
    filename = (file.filename or "evidence").rsplit("/", 1)[-1][:255]
    now = runtime.clock()
    command = c.AttachEvidence(
        actor=c.Actor(identity.user, identity.role, identity.service_area),
        today=london_today(now),
        evidence_id=evidence_id,
        filename=filename,
        content_type=content_type,
        size_bytes=len(content),
        sha256=digest,
        description=description,
    )

    async def keep_file(conn: Connection) -> None:
        await store.save_evidence(
            conn,
            case_id=case_id,
            evidence_id=evidence_id,
            filename=filename,
            content_type=content_type,
            content=content,
            sha256=digest,
            uploaded_by=identity.user,
            uploaded_at=now,
        )

    outcome = await execute(
        runtime.pool,
        service=runtime.service,
        case_id=case_id,
        command=command,
        expected_version=None,
        now=now,
        correlation_id=uuid.uuid4(),
        also=keep_file,
    )
    return {
        "evidence_id": evidence_id,
        "sha256": digest,
        "size_bytes": len(content),
        "version": outcome.state.version,
    }


@router.get("/cases/{case_id}/evidence")
async def list_evidence(case_id: uuid.UUID, request: Request, identity: Reader) -> dict[str, Any]:
    """The case file: every file attached, with its digest and where to download it. Files an
    officer uploaded are here; files that came with an email or a letter stay with intake,
    at the path given (the same staff token opens it)."""
    await _visible_case(request, case_id, identity)
    pool = runtime_of(request).pool
    async with pool.acquire() as conn:
        events = await eventstore.load_stream(conn, stream_id(case_id))
        held = await store.evidence_held(conn, case_id)
    files = []
    for e in events:
        if e.event_type != "EvidenceAttached":
            continue
        p = e.payload
        here = p["evidence_id"] in held
        files.append(
            {
                **{k: p.get(k) for k in ("evidence_id", "filename", "content_type")},
                **{k: p.get(k) for k in ("size_bytes", "sha256", "description")},
                "attached_at": e.occurred_at.isoformat(),
                "attached_by": e.actor,
                "download": {
                    "service": "casework" if here else "intake",
                    "path": f"/v1/cases/{case_id}/evidence/{p['evidence_id']}"
                    if here
                    else INTAKE_ATTACHMENT_PATH.format(attachment_id=p["evidence_id"]),
                },
            }
        )
    return {"evidence": files}


@router.get("/cases/{case_id}/evidence/{evidence_id}")
async def download_evidence(
    case_id: uuid.UUID, evidence_id: str, request: Request, identity: Reader
) -> Response:
    await _visible_case(request, case_id, identity)
    row = await store.get_evidence(runtime_of(request).pool, case_id, evidence_id)
    if row is None:
        raise HTTPException(404, detail="no such evidence")
    return Response(
        bytes(row["content"]),
        media_type=row["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{row["filename"]}"'},
    )

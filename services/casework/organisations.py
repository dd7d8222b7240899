"""Organisations as configured data: an admin says who they are, which nation's bank holidays
count, which procedure each service area follows and when they are closed. Each change is an
`OrganisationConfigured` event, so deadlines (and anyone else) learn of it from the log."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import Nation, OrganisationConfigured, Procedure, Role, new_envelope
from contracts.events import Complainant
from contracts.procedures import TimescaleOverride
from redress import eventstore
from redress.auth import READERS, Identity, require
from redress.db import Connection
from redress.service import runtime_of, unprocessable

router = APIRouter(prefix="/v1/organisations", tags=["organisations"])
Admin = Annotated[Identity, Depends(require(Role.ADMIN))]
Reader = Annotated[Identity, Depends(require(*READERS))]


class OrganisationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    nation: Nation
    default_procedure: Procedure
    procedures_by_service: dict[str, Procedure] = Field(default_factory=dict)
    closure_days: list[date] = Field(default_factory=list)
    reminder_working_days: int = Field(2, ge=0, le=20)
    stricter_timescales: list[TimescaleOverride] = Field(default_factory=list)
    shared_service: str | None = Field(None, max_length=200)
    retention_years: int = Field(
        6, ge=1, le=100, description="Years personal data is kept after the last case closes"
    )


def stream(organisation_id: str) -> str:
    return f"organisation-{organisation_id}"


@router.put("/{organisation_id}", response_model=None)
async def configure(
    organisation_id: str, body: OrganisationBody, request: Request, identity: Admin
) -> dict[str, Any] | JSONResponse:
    """Create or change an organisation. Sending the same configuration again changes
    nothing."""
    runtime = runtime_of(request)
    try:
        payload = OrganisationConfigured(organisation_id=organisation_id, **body.model_dump())
    except ValidationError as exc:
        return unprocessable(
            *((".".join(str(p) for p in e["loc"]) or "(body)", e["msg"]) for e in exc.errors())
        )
    now = runtime.clock()
    async with runtime.pool.acquire() as conn, conn.transaction():
        # A row lock cannot hold back two first-time configurations of the same organisation
        # (there is no row yet), so take a lock on the stream's name: the second waits, then
        # finds the first's configuration instead of failing on the event store's version check.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", stream(organisation_id))
        current = await conn.fetchrow(
            "SELECT * FROM organisations WHERE organisation_id = $1 FOR UPDATE", organisation_id
        )
        version = await eventstore.stream_version(conn, stream(organisation_id))
        if current is not None and _as_payload(current) == payload:
            return {"organisation_id": organisation_id, "version": version, "changed": False}
        envelope = new_envelope(
            payload,
            stream_id=stream(organisation_id),
            stream_version=version + 1,
            occurred_at=now,
            recorded_at=now,
            actor=f"{identity.role.value}:{identity.user}",
            correlation_id=uuid.uuid4(),
        )
        await eventstore.append(conn, runtime.service, [envelope], expected_version=version)
        await save(conn, payload, version + 1, now)
    return {"organisation_id": organisation_id, "version": version + 1, "changed": True}


async def save(conn: Connection, p: OrganisationConfigured, version: int, now: Any) -> None:
    await conn.execute(
        """INSERT INTO organisations (organisation_id, name, nation, default_procedure,
               procedures_by_service, closure_days, shared_service, version, updated_at,
               reminder_working_days, stricter_timescales, retention_years)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (organisation_id) DO UPDATE SET name = $2, nation = $3,
               default_procedure = $4, procedures_by_service = $5, closure_days = $6,
               shared_service = $7, version = $8, updated_at = $9,
               reminder_working_days = $10, stricter_timescales = $11, retention_years = $12""",
        p.organisation_id,
        p.name,
        p.nation.value,
        p.default_procedure.value,
        {k: v.value for k, v in p.procedures_by_service.items()},
        sorted(p.closure_days),
        p.shared_service,
        version,
        now,
        p.reminder_working_days,
        [o.model_dump(mode="json") for o in p.stricter_timescales],
        p.retention_years,
    )


def _as_payload(row: Any) -> OrganisationConfigured:
    return OrganisationConfigured(
        organisation_id=row["organisation_id"],
        name=row["name"],
        nation=row["nation"],
        default_procedure=row["default_procedure"],
        procedures_by_service=row["procedures_by_service"],
        closure_days=list(row["closure_days"]),
        shared_service=row["shared_service"],
        reminder_working_days=row["reminder_working_days"],
        stricter_timescales=row["stricter_timescales"],
        retention_years=row["retention_years"],
    )


@router.get("")
async def list_organisations(request: Request, identity: Reader) -> dict[str, Any]:
    rows = await runtime_of(request).pool.fetch(
        "SELECT * FROM organisations ORDER BY organisation_id"
    )
    return {"organisations": [dict(r) for r in rows]}


@router.get("/{organisation_id}")
async def get_organisation(organisation_id: str, request: Request, identity: Reader) -> Any:
    row = await runtime_of(request).pool.fetchrow(
        "SELECT * FROM organisations WHERE organisation_id = $1", organisation_id
    )
    if row is None:
        raise HTTPException(404, detail="no such organisation")
    wards = await runtime_of(request).pool.fetchval(
        "SELECT count(*) FROM organisation_wards WHERE organisation_id = $1", organisation_id
    )
    return {**dict(row), "ward_postcodes": wards}


@router.put("/{organisation_id}/wards", response_model=None)
async def load_wards(
    organisation_id: str, request: Request, identity: Admin
) -> dict[str, Any] | JSONResponse:
    """Replace the postcode-to-ward table from CSV with a ``postcode,ward`` header. A postcode
    may be full (``M1 1AE``), a sector (``M1 1``) or a district (``M1``)."""
    runtime = runtime_of(request)
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or {"postcode", "ward"} - set(reader.fieldnames):
        return unprocessable(("(body)", "CSV needs a header row with postcode and ward"))
    rows: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        code = normalise_postcode_prefix(row["postcode"] or "")
        ward = (row["ward"] or "").strip()
        if code is None or not ward:
            return unprocessable((f"line {line}", "needs a postcode (or prefix) and ward"))
        rows[code] = ward
    async with runtime.pool.acquire() as conn, conn.transaction():
        if (
            await conn.fetchval(
                "SELECT 1 FROM organisations WHERE organisation_id = $1", organisation_id
            )
            is None
        ):
            raise HTTPException(404, detail="configure the organisation first")
        await conn.execute(
            "DELETE FROM organisation_wards WHERE organisation_id = $1", organisation_id
        )
        await conn.copy_records_to_table(
            "organisation_wards",
            records=[(organisation_id, code, ward) for code, ward in rows.items()],
            columns=["organisation_id", "postcode", "ward"],
        )
    return {"organisation_id": organisation_id, "postcodes": len(rows)}


def normalise_postcode_prefix(raw: str) -> str | None:
    """Full postcodes in their normal form; sectors and districts upper-cased."""
    compact = raw.strip().upper()
    if not compact:
        return None
    try:
        full = Complainant(name="x", postcode=compact).postcode
        return full
    except ValueError:
        return " ".join(compact.split())


async def ward_for(conn: Connection, organisation_id: str, postcode: str | None) -> str | None:
    """The most specific match: full postcode, then sector, then district."""
    if not postcode:
        return None
    outward, _, inward = postcode.partition(" ")
    candidates = [postcode, f"{outward} {inward[:1]}".strip(), outward]
    row = await conn.fetchrow(
        """SELECT ward FROM organisation_wards
           WHERE organisation_id = $1 AND postcode = ANY($2::text[])
           ORDER BY length(postcode) DESC LIMIT 1""",
        organisation_id,
        candidates,
    )
    return row["ward"] if row else None

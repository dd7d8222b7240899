"""Reporting's HTTP API: each report as JSON or CSV, filtered by organisation, date range,
service area and procedure; the cases behind any figure; the summary counts."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from contracts import Procedure
from redress.auth import READERS, require
from redress.clock import london_today
from redress.service import runtime_of
from services.reporting import reports

router = APIRouter(prefix="/v1", tags=["reports"], dependencies=[Depends(require(*READERS))])


def _invalid(field: str, reason: str) -> RequestValidationError:
    """The same 422 shape as every other validation error: the field and the reason."""
    return RequestValidationError([{"loc": ("query", field), "msg": reason, "type": "value"}])


async def filters(
    organisation_id: str | None = Query(None, max_length=100),
    service_area: str | None = Query(None, max_length=100),
    procedure: str | None = Query(None, max_length=40),
    date_from: date | None = Query(None, alias="from", description="First day, inclusive"),
    date_to: date | None = Query(None, alias="to", description="Last day, inclusive"),
) -> reports.Filters:
    if procedure is not None:
        try:
            procedure = Procedure(procedure.replace("-", "_")).value
        except ValueError:
            raise _invalid("procedure", f"unknown procedure {procedure!r}") from None
    if date_from and date_to and date_from > date_to:
        raise _invalid("from", "from must not be after to")
    return reports.Filters(organisation_id, service_area, procedure, date_from, date_to)


Filter = Annotated[reports.Filters, Depends(filters)]


def respond(rows: list[dict[str, Any]], fmt: str, name: str, **extra: Any) -> Response:
    if fmt == "csv":
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return JSONResponse(_jsonable({**extra, "rows": rows}))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | uuid.UUID):
        return str(value)
    return value


Format = Annotated[str, Query(pattern="^(json|csv)$")]
#: for the OpenAPI document: these reports answer CSV as well as JSON
JSON_OR_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report, as JSON or (with format=csv) as CSV",
        "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
    }
}


def drill_down(
    f: reports.Filters, measures: tuple[str, ...], stage: int | None = None
) -> dict[str, str]:
    """Where to find the cases behind each figure of a row."""
    base = {
        "organisation_id": f.organisation_id,
        "service_area": f.service_area,
        "procedure": f.procedure,
        "from": f.date_from,
        "to": f.date_to,
        "stage": stage,
    }
    query = {k: str(v) for k, v in base.items() if v is not None}
    return {m: "/v1/reports/cases?" + urlencode({**query, "measure": m}) for m in measures}


@router.get("/reports/volumes", responses=JSON_OR_CSV)
async def volumes(
    request: Request,
    f: Filter,
    by: str = Query("month", pattern="^(month|year)$"),
    format: Format = "json",
) -> Response:
    """Complaints, compliments, comments and member enquiries received per month or year, and
    escalations to stage 2 and 3: the trend table a manager shows a board."""
    rows = await reports.volumes(runtime_of(request).pool, f, by)
    return respond(rows, format, "volumes", by=by)


@router.get("/reports/timeliness", responses=JSON_OR_CSV)
async def timeliness(request: Request, f: Filter, format: Format = "json") -> Response:
    """Per stage: responses issued, within timescale (%), average working days; extensions and
    paused time beside them, so that pausing cannot quietly inflate the figure."""
    rows = await reports.timeliness(runtime_of(request).pool, f)
    if format == "json":
        for row in rows:
            row["cases"] = drill_down(
                f, ("responded", "within_timescale", "late", "extended", "paused"), row["stage"]
            )
    return respond(rows, format, "timeliness")


@router.get("/reports/outcomes", responses=JSON_OR_CSV)
async def outcomes(request: Request, f: Filter, format: Format = "json") -> Response:
    """Upheld, partly upheld and not upheld, per stage, of responses issued in the period."""
    rows = await reports.outcomes(runtime_of(request).pool, f)
    if format == "json":
        for row in rows:
            row["cases"] = drill_down(f, ("upheld", "partly_upheld", "not_upheld"), row["stage"])
    return respond(rows, format, "outcomes")


@router.get("/reports/escalation")
async def escalation(request: Request, f: Filter) -> dict[str, Any]:
    """Of stage 1 responses in the period, how many cases went on to stage 2."""
    return await reports.escalation(runtime_of(request).pool, f)


@router.get("/reports/redress")
async def redress(request: Request, f: Filter) -> dict[str, Any]:
    return await reports.redress(runtime_of(request).pool, f)


@router.get("/reports/learning")
async def learning(request: Request, f: Filter) -> dict[str, Any]:
    """Learning actions open, overdue (as of today) and done."""
    runtime = runtime_of(request)
    return await reports.learning(runtime.pool, f, london_today(runtime.clock()))


@router.get("/reports/ombudsman", responses=JSON_OR_CSV)
async def ombudsman(request: Request, f: Filter, format: Format = "json") -> Response:
    return respond(await reports.ombudsman(runtime_of(request).pool, f), format, "ombudsman")


@router.get("/reports/places")
async def places(request: Request, f: Filter) -> dict[str, Any]:
    """Complaints by ward and by postcode district."""
    return await reports.places(runtime_of(request).pool, f)


@router.get("/reports/categories", responses=JSON_OR_CSV)
async def categories(
    request: Request, f: Filter, top: int = Query(10, ge=1, le=100), format: Format = "json"
) -> Response:
    """The top categories in the period, with the change against the period before."""
    try:
        rows = await reports.categories(runtime_of(request).pool, f, top)
    except ValueError as exc:
        raise _invalid("from", str(exc)) from None
    return respond(rows, format, "categories")


@router.get("/reports/cases", responses=JSON_OR_CSV)
async def cases_behind(
    request: Request,
    f: Filter,
    measure: str = Query(..., description=", ".join(reports.MEASURES)),
    stage: int | None = Query(None, ge=1, le=3),
    limit: int = Query(500, ge=1, le=5000),
    format: Format = "json",
) -> Response:
    """The cases behind any figure: the same filters, and the measure the figure counts."""
    if measure not in reports.MEASURES:
        raise _invalid("measure", f"one of: {', '.join(reports.MEASURES)}")
    rows = await reports.cases_behind(runtime_of(request).pool, f, measure, stage, limit)
    return respond(rows, format, "cases", measure=measure)


@router.get("/reports/summary")
async def summary(
    request: Request, organisation_id: str | None = Query(None, max_length=100)
) -> dict[str, Any]:
    """How many submissions arrived, cases opened, due dates set and acknowledgements sent."""
    pool = runtime_of(request).pool
    submissions = await pool.fetch(
        """SELECT kind, channel, count(*) AS n FROM submission_facts
           WHERE ($1::text IS NULL OR organisation_id = $1) GROUP BY kind, channel""",
        organisation_id,
    )
    cases = await pool.fetchrow(
        """SELECT count(*) FILTER (WHERE reference IS NOT NULL) AS opened,
                  count(*) FILTER (WHERE response_due_on IS NOT NULL) AS with_deadlines,
                  count(*) FILTER (WHERE acknowledgement_sent_at IS NOT NULL) AS acknowledged,
                  coalesce(sum(notifications_sent), 0) AS notifications
           FROM case_facts WHERE ($1::text IS NULL OR organisation_id = $1)""",
        organisation_id,
    )
    by_kind: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for r in submissions:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + r["n"]
        by_channel[r["channel"]] = by_channel.get(r["channel"], 0) + r["n"]
    assert cases is not None
    return {
        "submissions_received": sum(by_kind.values()),
        "submissions_by_kind": by_kind,
        "submissions_by_channel": by_channel,
        "cases_opened": cases["opened"],
        "cases_with_deadlines": cases["with_deadlines"],
        "cases_acknowledged": cases["acknowledged"],
        "notifications_sent": cases["notifications"],
    }


@router.get("/reports/cases/{case_id}")
async def case_facts(case_id: uuid.UUID, request: Request) -> dict[str, Any]:
    """The row behind every figure for one case, with its stages."""
    pool = runtime_of(request).pool
    row = await pool.fetchrow("SELECT * FROM case_facts WHERE case_id = $1", case_id)
    if row is None:
        raise HTTPException(404, detail="no such case in reporting yet")
    stages = await pool.fetch(
        "SELECT * FROM stage_facts WHERE case_id = $1 ORDER BY stage", case_id
    )
    return {**dict(row), "stages": [dict(s) for s in stages]}


@router.get("/returns/{regulator}")
async def regulator_return(
    regulator: str,
    request: Request,
    organisation_id: str = Query(..., max_length=100),
    year: int = Query(..., ge=2000, le=2100, description="Financial year starting 1 April"),
    homes: int | None = Query(None, ge=1, description="Homes managed, for the HOS CH01 rate"),
    population: int | None = Query(None, ge=1, description="Population, for SPSO KPI 1"),
) -> dict[str, Any]:
    """A regulator's annual figures for one organisation: `housing-ombudsman`, `spso` or
    `lgsco`."""
    from services.reporting import returns

    pool = runtime_of(request).pool
    if regulator == "housing-ombudsman":
        body = await returns.housing_ombudsman(pool, organisation_id, year, homes)
    elif regulator == "spso":
        body = await returns.spso(pool, organisation_id, year, population)
    elif regulator == "lgsco":
        body = await returns.lgsco(pool, organisation_id, year)
    else:
        raise _invalid("regulator", "one of: housing-ombudsman, spso, lgsco")
    return _jsonable(body)  # type: ignore[no-any-return]

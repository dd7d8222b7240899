"""Reporting's HTTP API: the summary counts (the full reports come with the reporting issue)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from redress.auth import READERS, require
from redress.service import runtime_of

router = APIRouter(prefix="/v1", tags=["reports"], dependencies=[Depends(require(*READERS))])


@router.get("/reports/summary")
async def summary(
    request: Request, organisation_id: str | None = Query(None, max_length=100)
) -> dict[str, Any]:
    """How many submissions arrived, cases opened, due dates set and acknowledgements sent."""
    pool = runtime_of(request).pool
    org = organisation_id
    submissions = await pool.fetch(
        """SELECT kind, channel, count(*) AS n FROM submission_facts
           WHERE ($1::text IS NULL OR organisation_id = $1) GROUP BY kind, channel""",
        org,
    )
    cases = await pool.fetchrow(
        """SELECT count(*) FILTER (WHERE reference IS NOT NULL) AS opened,
                  count(*) FILTER (WHERE response_due_on IS NOT NULL) AS with_deadlines,
                  count(*) FILTER (WHERE acknowledgement_sent_at IS NOT NULL) AS acknowledged,
                  coalesce(sum(notifications_sent), 0) AS notifications
           FROM case_facts WHERE ($1::text IS NULL OR organisation_id = $1)""",
        org,
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
    """The row behind every figure for one case: drill-down from a count to its cases."""
    row = await runtime_of(request).pool.fetchrow(
        "SELECT * FROM case_facts WHERE case_id = $1", case_id
    )
    if row is None:
        raise HTTPException(404, detail="no such case in reporting yet")
    return dict(row)

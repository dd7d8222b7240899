"""The reports: plain SQL over the read models, one function per report. Every figure comes with
the measure that lists the cases behind it (`cases`), so a manager can go from a number to the
complaints that make it up.

Periods: volumes count complaints by the day they were received (London); timeliness and
outcomes count responses by the day they were issued; learning actions are as of today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Filters:
    organisation_id: str | None = None
    service_area: str | None = None
    procedure: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def where(self, alias: str, on: str, start: int = 1) -> tuple[str, list[Any]]:
        """A WHERE clause over case facts ``alias`` with the date filter applied to ``on``."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            (f"{alias}.organisation_id", self.organisation_id),
            (f"{alias}.service_area", self.service_area),
            (f"{alias}.procedure", self.procedure),
        ):
            if value is not None:
                params.append(value)
                clauses.append(f"{column} = ${start + len(params) - 1}")
        if self.date_from is not None:
            params.append(self.date_from)
            clauses.append(f"{on} >= ${start + len(params) - 1}")
        if self.date_to is not None:
            params.append(self.date_to)
            clauses.append(f"{on} <= ${start + len(params) - 1}")
        return (" AND ".join(clauses) or "true"), params


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


async def volumes(pool: asyncpg.Pool, f: Filters, by: str) -> list[dict[str, Any]]:
    """Received per month or year, by kind; and escalations to stage 2 and 3 in the period."""
    unit = "month" if by == "month" else "year"
    where, params = f.where("c", "c.received_on")
    rows = await pool.fetch(
        f"""SELECT to_char(date_trunc('{unit}', c.received_on),
                           '{"YYYY-MM" if unit == "month" else "YYYY"}') AS period,
                   count(*) FILTER (WHERE c.kind = 'complaint') AS complaints,
                   count(*) FILTER (WHERE c.kind = 'compliment') AS compliments,
                   count(*) FILTER (WHERE c.kind = 'comment') AS comments,
                   count(*) FILTER (WHERE c.kind = 'member_enquiry') AS member_enquiries
            FROM case_facts c WHERE c.received_on IS NOT NULL AND {where}
            GROUP BY 1 ORDER BY 1""",
        *params,
    )
    # a later stage's deadline can reach reporting before the escalation that starts it (they
    # come on different topics): until then its row has no start date and no period to count in
    where2, params2 = f.where("c", "s.started_on")
    escalated = await pool.fetch(
        f"""SELECT to_char(date_trunc('{unit}', s.started_on),
                           '{"YYYY-MM" if unit == "month" else "YYYY"}') AS period,
                   count(*) FILTER (WHERE s.stage = 2) AS stage_2,
                   count(*) FILTER (WHERE s.stage = 3) AS stage_3
            FROM stage_facts s JOIN case_facts c USING (case_id)
            WHERE s.stage > 1 AND s.started_on IS NOT NULL AND {where2} GROUP BY 1""",
        *params2,
    )
    by_period: dict[str, dict[str, Any]] = {
        r["period"]: {**dict(r), "stage_2": 0, "stage_3": 0} for r in rows
    }
    for r in escalated:
        row = by_period.setdefault(
            r["period"],
            {
                "period": r["period"],
                "complaints": 0,
                "compliments": 0,
                "comments": 0,
                "member_enquiries": 0,
            },
        )
        row["stage_2"], row["stage_3"] = r["stage_2"], r["stage_3"]
    return [by_period[k] for k in sorted(by_period)]


async def timeliness(pool: asyncpg.Pool, f: Filters) -> list[dict[str, Any]]:
    """Per stage: responses issued in the period, how many within timescale, the average
    working days taken, and beside them the extensions and paused time."""
    where, params = f.where("c", "s.responded_on")
    rows = await pool.fetch(
        f"""SELECT s.stage,
                   count(*) AS responses,
                   count(*) FILTER (WHERE s.response_state = 'met') AS within_timescale,
                   count(*) FILTER (WHERE s.response_state IN ('met_late', 'missed')) AS late,
                   round(avg(s.working_days_taken)::numeric, 1) AS average_working_days,
                   count(*) FILTER (WHERE s.extension_days > 0) AS extended,
                   coalesce(sum(s.extension_days), 0) AS extension_days,
                   count(*) FILTER (WHERE s.paused_working_days > 0) AS paused,
                   coalesce(sum(s.paused_working_days), 0) AS paused_working_days
            FROM stage_facts s JOIN case_facts c USING (case_id)
            WHERE s.responded_on IS NOT NULL AND {where}
            GROUP BY s.stage ORDER BY s.stage""",
        *params,
    )
    out = []
    for r in rows:
        row = dict(r)
        row["within_timescale_pct"] = rate(row["within_timescale"], row["responses"])
        row["average_working_days"] = (
            None if row["average_working_days"] is None else float(row["average_working_days"])
        )
        out.append(row)
    return out


async def outcomes(pool: asyncpg.Pool, f: Filters) -> list[dict[str, Any]]:
    where, params = f.where("c", "s.responded_on")
    rows = await pool.fetch(
        f"""SELECT s.stage, count(*) AS responses,
                   count(*) FILTER (WHERE s.overall = 'upheld') AS upheld,
                   count(*) FILTER (WHERE s.overall = 'partly_upheld') AS partly_upheld,
                   count(*) FILTER (WHERE s.overall = 'not_upheld') AS not_upheld
            FROM stage_facts s JOIN case_facts c USING (case_id)
            WHERE s.responded_on IS NOT NULL AND {where}
            GROUP BY s.stage ORDER BY s.stage""",
        *params,
    )
    out = []
    for r in rows:
        row = dict(r)
        for key in ("upheld", "partly_upheld", "not_upheld"):
            row[f"{key}_pct"] = rate(row[key], row["responses"])
        out.append(row)
    return out


async def escalation(pool: asyncpg.Pool, f: Filters) -> dict[str, Any]:
    where, params = f.where("c", "s.responded_on")
    row = await pool.fetchrow(
        f"""SELECT count(*) AS stage_1_responses,
                   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM stage_facts t
                       WHERE t.case_id = s.case_id AND t.stage = 2)) AS escalated
            FROM stage_facts s JOIN case_facts c USING (case_id)
            WHERE s.stage = 1 AND s.responded_on IS NOT NULL AND {where}""",
        *params,
    )
    assert row is not None
    return {**dict(row), "escalation_pct": rate(row["escalated"], row["stage_1_responses"])}


async def redress(pool: asyncpg.Pool, f: Filters) -> dict[str, Any]:
    where, params = f.where("c", "r.recorded_on")
    row = await pool.fetchrow(
        f"""SELECT count(*) AS financial_remedies,
                   coalesce(sum(r.amount), 0) AS offered,
                   coalesce(sum(r.amount) FILTER (WHERE r.approved), 0) AS approved,
                   coalesce(sum(r.amount) FILTER (WHERE r.paid_on IS NOT NULL), 0) AS paid
            FROM remedy_facts r JOIN case_facts c USING (case_id)
            WHERE r.remedy_type = 'financial' AND {where}""",
        *params,
    )
    assert row is not None
    return {k: (str(v) if k != "financial_remedies" else v) for k, v in dict(row).items()}


async def learning(pool: asyncpg.Pool, f: Filters, today: date) -> dict[str, Any]:
    where, params = f.where("c", "l.due_on")
    n = len(params) + 1
    row = await pool.fetchrow(
        f"""SELECT count(*) FILTER (WHERE l.completed_on IS NULL) AS open,
                   count(*) FILTER (WHERE l.completed_on IS NULL AND l.due_on < ${n}) AS overdue,
                   count(*) FILTER (WHERE l.completed_on IS NOT NULL) AS done
            FROM learning_facts l JOIN case_facts c USING (case_id) WHERE {where}""",
        *params,
        today,
    )
    assert row is not None
    return dict(row)


async def ombudsman(pool: asyncpg.Pool, f: Filters) -> list[dict[str, Any]]:
    where, params = f.where("c", "o.received_on")
    rows = await pool.fetch(
        f"""SELECT o.body, coalesce(o.finding, 'awaiting decision') AS finding, count(*) AS cases
            FROM ombudsman_facts o JOIN case_facts c USING (case_id) WHERE {where}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        *params,
    )
    return [dict(r) for r in rows]


async def places(pool: asyncpg.Pool, f: Filters) -> dict[str, list[dict[str, Any]]]:
    where, params = f.where("c", "c.received_on")
    wards = await pool.fetch(
        f"""SELECT coalesce(c.ward, '(unknown)') AS ward, count(*) AS complaints
            FROM case_facts c WHERE c.kind = 'complaint' AND {where}
            GROUP BY 1 ORDER BY 2 DESC, 1""",
        *params,
    )
    districts = await pool.fetch(
        f"""SELECT coalesce(c.postcode_district, '(unknown)') AS district, count(*) AS complaints
            FROM case_facts c WHERE c.kind = 'complaint' AND {where}
            GROUP BY 1 ORDER BY 2 DESC, 1""",
        *params,
    )
    return {"wards": [dict(r) for r in wards], "postcode_districts": [dict(r) for r in districts]}


async def categories(pool: asyncpg.Pool, f: Filters, top: int) -> list[dict[str, Any]]:
    """Top categories in the period, with the count in the period of the same length before."""
    if f.date_from is None or f.date_to is None:
        raise ValueError("categories need from and to, to compare with the period before")
    span = f.date_to - f.date_from + timedelta(days=1)
    before = Filters(
        f.organisation_id,
        f.service_area,
        f.procedure,
        f.date_from - span,
        f.date_from - timedelta(days=1),
    )
    now_rows = await _category_counts(pool, f)
    before_rows = await _category_counts(pool, before)
    out = []
    for category, count in sorted(now_rows.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
        previous = before_rows.get(category, 0)
        out.append(
            {
                "category": category,
                "complaints": count,
                "previous_period": previous,
                "change": count - previous,
            }
        )
    return out


async def _category_counts(pool: asyncpg.Pool, f: Filters) -> dict[str, int]:
    where, params = f.where("c", "c.received_on")
    rows = await pool.fetch(
        f"""SELECT coalesce(c.category, '(not triaged)') AS category, count(*) AS n
            FROM case_facts c WHERE c.kind = 'complaint' AND {where} GROUP BY 1""",
        *params,
    )
    return {r["category"]: r["n"] for r in rows}


#: drill-down: the cases behind a figure, by measure
MEASURES: dict[str, tuple[str, str]] = {
    # measure: (extra predicate, date column)
    "received": ("true", "c.received_on"),
    "complaints": ("c.kind = 'complaint'", "c.received_on"),
    "compliments": ("c.kind = 'compliment'", "c.received_on"),
    "comments": ("c.kind = 'comment'", "c.received_on"),
    "member_enquiries": ("c.kind = 'member_enquiry'", "c.received_on"),
    "responded": ("s.responded_on IS NOT NULL", "s.responded_on"),
    "within_timescale": ("s.response_state = 'met'", "s.responded_on"),
    "late": (
        "s.responded_on IS NOT NULL AND s.response_state IN ('met_late', 'missed')",
        "s.responded_on",
    ),
    "upheld": ("s.overall = 'upheld'", "s.responded_on"),
    "partly_upheld": ("s.overall = 'partly_upheld'", "s.responded_on"),
    "not_upheld": ("s.overall = 'not_upheld'", "s.responded_on"),
    "extended": ("s.responded_on IS NOT NULL AND s.extension_days > 0", "s.responded_on"),
    "paused": ("s.responded_on IS NOT NULL AND s.paused_working_days > 0", "s.responded_on"),
}


async def cases_behind(
    pool: asyncpg.Pool, f: Filters, measure: str, stage: int | None, limit: int
) -> list[dict[str, Any]]:
    predicate, on = MEASURES[measure]
    where, params = f.where("c", on)
    n = len(params)
    stage_clause = f"s.stage = ${n + 1}" if stage is not None else "s.stage = 1"
    rows = await pool.fetch(
        f"""SELECT DISTINCT c.case_id, c.reference, c.kind, c.organisation_id, c.service_area,
                   c.category, c.received_on, s.stage, s.responded_on, s.response_state,
                   s.overall
            FROM case_facts c JOIN stage_facts s USING (case_id)
            WHERE {predicate} AND {stage_clause} AND {where}
            ORDER BY c.received_on, c.reference LIMIT ${n + 2 if stage is not None else n + 1}""",
        *params,
        *([stage] if stage is not None else []),
        limit,
    )
    return [dict(r) for r in rows]

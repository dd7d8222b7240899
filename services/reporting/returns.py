"""The regulators' returns, per organisation and financial year (1 April to 31 March), as each
regulator asks for the figures (PROCEDURES.md): the Housing Ombudsman's annual complaints
performance and service improvement report with the Tenant Satisfaction Measures CH01 and CH02,
the SPSO's complaints KPIs, and an LGSCO-style annual summary.

Figures the system cannot know (homes managed, population served) are parameters; a rate that
needs one is left out when it is not given, never guessed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.reporting.reports import Filters, rate


def financial_year(year: int) -> tuple[date, date]:
    return date(year, 4, 1), date(year + 1, 3, 31)


async def _core(pool: asyncpg.Pool, organisation_id: str, year: int) -> dict[str, Any]:
    start, end = financial_year(year)
    row = await pool.fetchrow(
        """SELECT
             count(*) FILTER (WHERE c.kind IN ('complaint', 'member_enquiry')
                              AND c.received_on BETWEEN $2 AND $3) AS stage_1_received,
             count(*) FILTER (WHERE c.resolution = 'not_accepted'
                              AND c.closed_on BETWEEN $2 AND $3) AS refused
           FROM case_facts c WHERE c.organisation_id = $1""",
        organisation_id,
        start,
        end,
    )
    stages = await pool.fetch(
        """SELECT s.stage,
                  count(*) FILTER (WHERE s.stage > 1 AND s.started_on BETWEEN $2 AND $3)
                      AS received,
                  count(*) FILTER (WHERE s.responded_on BETWEEN $2 AND $3) AS responses,
                  count(*) FILTER (WHERE s.responded_on BETWEEN $2 AND $3
                                   AND s.response_state = 'met') AS within_timescale,
                  count(*) FILTER (WHERE s.responded_on BETWEEN $2 AND $3
                                   AND s.overall = 'upheld') AS upheld,
                  count(*) FILTER (WHERE s.responded_on BETWEEN $2 AND $3
                                   AND s.overall = 'partly_upheld') AS partly_upheld,
                  count(*) FILTER (WHERE s.responded_on BETWEEN $2 AND $3
                                   AND s.overall = 'not_upheld') AS not_upheld,
                  round(avg(s.working_days_taken) FILTER (
                      WHERE s.responded_on BETWEEN $2 AND $3)::numeric, 1) AS average_working_days,
                  count(*) FILTER (WHERE s.responded_on BETWEEN $2 AND $3
                                   AND s.extension_days > 0) AS extended
           FROM stage_facts s JOIN case_facts c USING (case_id)
           WHERE c.organisation_id = $1 GROUP BY s.stage ORDER BY s.stage""",
        organisation_id,
        start,
        end,
    )
    reasons = await pool.fetch(
        """SELECT not_accepted_reason AS reason, count(*) AS cases FROM case_facts
           WHERE organisation_id = $1 AND resolution = 'not_accepted'
             AND closed_on BETWEEN $2 AND $3 GROUP BY 1 ORDER BY 2 DESC, 1""",
        organisation_id,
        start,
        end,
    )
    ombudsman = await pool.fetch(
        """SELECT o.body, coalesce(o.finding, 'awaiting decision') AS finding, count(*) AS cases
           FROM ombudsman_facts o JOIN case_facts c USING (case_id)
           WHERE c.organisation_id = $1 AND (o.decided_on BETWEEN $2 AND $3
                 OR (o.decided_on IS NULL AND o.received_on <= $3))
           GROUP BY 1, 2 ORDER BY 1, 2""",
        organisation_id,
        start,
        end,
    )
    learning = await pool.fetch(
        """SELECT l.description, l.owner, l.due_on, l.completed_on
           FROM learning_facts l JOIN case_facts c USING (case_id)
           WHERE c.organisation_id = $1 AND (l.completed_on BETWEEN $2 AND $3
                 OR (l.completed_on IS NULL AND l.due_on <= $3 + 365))
           ORDER BY l.due_on""",
        organisation_id,
        start,
        end,
    )
    redress = await pool.fetchval(
        """SELECT coalesce(sum(r.amount), 0) FROM remedy_facts r JOIN case_facts c USING (case_id)
           WHERE c.organisation_id = $1 AND r.paid_on BETWEEN $2 AND $3""",
        organisation_id,
        start,
        end,
    )
    assert row is not None
    by_stage = {r["stage"]: dict(r) for r in stages}
    for stage in by_stage.values():
        stage["within_timescale_pct"] = rate(stage["within_timescale"], stage["responses"])
        avg = stage["average_working_days"]
        stage["average_working_days"] = None if avg is None else float(avg)
    by_stage.setdefault(1, {"stage": 1, "responses": 0, "within_timescale": 0})
    by_stage[1]["received"] = row["stage_1_received"]
    return {
        "organisation_id": organisation_id,
        "year": f"{start.isoformat()} to {end.isoformat()}",
        "stages": by_stage,
        "refused": row["refused"],
        "refusals_by_reason": [dict(r) for r in reasons],
        "ombudsman": [dict(r) for r in ombudsman],
        "service_improvements": [
            {
                **dict(r),
                "due_on": str(r["due_on"]),
                "completed_on": None if r["completed_on"] is None else str(r["completed_on"]),
            }
            for r in learning
        ],
        "redress_paid": str(redress),
    }


def _per_thousand(count: int, base: int | None) -> float | None:
    return None if not base else round(1000.0 * count / base, 2)


async def housing_ombudsman(
    pool: asyncpg.Pool, organisation_id: str, year: int, homes: int | None
) -> dict[str, Any]:
    """The HOS Code's annual report figures, with the TSMs CH01 (complaints per 1,000 homes,
    stage 1 and stage 2) and CH02 (% answered within the Code's timescales)."""
    core = await _core(pool, organisation_id, year)
    s1 = core["stages"].get(1, {})
    s2 = core["stages"].get(2, {"received": 0, "responses": 0, "within_timescale": 0})
    return {
        **core,
        "return": "Housing Ombudsman annual complaints performance and service improvement report",
        "CH01_stage_1_per_1000_homes": _per_thousand(s1.get("received", 0), homes),
        "CH01_stage_2_per_1000_homes": _per_thousand(s2.get("received", 0), homes),
        "CH02_stage_1_within_timescale_pct": rate(
            s1.get("within_timescale", 0), s1.get("responses", 0)
        ),
        "CH02_stage_2_within_timescale_pct": rate(
            s2.get("within_timescale", 0), s2.get("responses", 0)
        ),
        "homes": homes,
    }


async def spso(
    pool: asyncpg.Pool, organisation_id: str, year: int, population: int | None
) -> dict[str, Any]:
    """The SPSO complaints KPIs (items 4-8 of the model CHP's list are unconfirmed)."""
    core = await _core(pool, organisation_id, year)
    start, end = financial_year(year)
    closed = await pool.fetchrow(
        """SELECT count(*) FILTER (WHERE max_stage = 1) AS at_stage_1,
                  count(*) FILTER (WHERE max_stage >= 2 AND answered_at_1) AS after_escalation,
                  count(*) FILTER (WHERE max_stage >= 2 AND NOT answered_at_1) AS at_stage_2,
                  count(*) AS closed
           FROM (SELECT c.case_id, max(s.stage) AS max_stage,
                        bool_or(s.stage = 1 AND s.responded_on IS NOT NULL) AS answered_at_1
                 FROM case_facts c JOIN stage_facts s USING (case_id)
                 WHERE c.organisation_id = $1 AND c.closed_on BETWEEN $2 AND $3
                   AND c.kind IN ('complaint', 'member_enquiry')
                 GROUP BY c.case_id) t""",
        organisation_id,
        start,
        end,
    )
    assert closed is not None
    s1, s2 = core["stages"].get(1, {}), core["stages"].get(2, {})
    return {
        **core,
        "return": "SPSO complaints KPIs",
        "kpi_1_complaints_per_1000_population": _per_thousand(s1.get("received", 0), population),
        "kpi_2_closed": dict(closed)
        | {
            "at_stage_1_pct": rate(closed["at_stage_1"], closed["closed"]),
            "at_stage_2_pct": rate(closed["at_stage_2"], closed["closed"]),
            "after_escalation_pct": rate(closed["after_escalation"], closed["closed"]),
        },
        "kpi_3_outcomes": {
            n: {
                k: core["stages"].get(n, {}).get(k, 0)
                for k in ("upheld", "partly_upheld", "not_upheld")
            }
            for n in (1, 2)
        },
        "kpi_4_average_working_days": {
            1: s1.get("average_working_days"),
            2: s2.get("average_working_days"),
        },
        "kpi_5_within_5_and_20_working_days_pct": {
            1: s1.get("within_timescale_pct"),
            2: s2.get("within_timescale_pct"),
        },
        "kpi_6_extended": {1: s1.get("extended", 0), 2: s2.get("extended", 0)},
        "population": population,
    }


async def lgsco(pool: asyncpg.Pool, organisation_id: str, year: int) -> dict[str, Any]:
    core = await _core(pool, organisation_id, year)
    return {**core, "return": "LGSCO-style annual complaints summary"}


__all__ = ["Filters", "financial_year", "housing_ombudsman", "lgsco", "spso"]

"""Due dates for every procedure, stage and nation, across the 2024-2026 bank holidays, worked
out by hand from the calendars and the regulators' timescales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pytest

from contracts import DeadlineKind, Nation, Procedure
from contracts.procedures import PROCEDURES, CountsFrom, TimescaleOverride, rules_for
from services.deadlines.domain.calendar import LONDON, WorkingDayCalendar
from services.deadlines.domain.compute import due_from, receipt_lead_in

ENG, WLS, SCT, NIR = Nation.ENGLAND, Nation.WALES, Nation.SCOTLAND, Nation.NORTHERN_IRELAND
HOS, LGSCO, SPSO = Procedure.HOUSING_OMBUDSMAN, Procedure.LGSCO, Procedure.SPSO
ASC, CSC = Procedure.ADULT_SOCIAL_CARE, Procedure.CHILDRENS_SOCIAL_CARE
ACK, RESPONSE, PANEL = DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RESPONSE, DeadlineKind.PANEL


@dataclass(frozen=True)
class Row:
    why: str
    procedure: Procedure
    stage: int
    kind: DeadlineKind
    nation: Nation
    start: datetime  # receipt, escalation request or acknowledgement, as the rule counts
    due: date


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


TABLE = [
    Row("PROCEDURES.md example", HOS, 1, ACK, ENG, at(2025, 12, 19), date(2025, 12, 30)),
    Row(
        "after the cut-off counts from Monday",
        HOS,
        1,
        ACK,
        ENG,
        at(2025, 12, 19, 18, 30),
        date(2025, 12, 31),
    ),
    Row("Christmas and New Year, England", HOS, 1, ACK, ENG, at(2025, 12, 24), date(2026, 1, 5)),
    Row("Scotland's 2 January", LGSCO, 1, ACK, SCT, at(2025, 12, 24), date(2026, 1, 6)),
    Row(
        "Easter 2024: Good Friday and Easter Monday",
        HOS,
        1,
        ACK,
        ENG,
        at(2024, 3, 28),
        date(2024, 4, 8),
    ),
    Row("Scotland has no Easter Monday", HOS, 1, ACK, SCT, at(2024, 3, 28), date(2024, 4, 5)),
    Row(
        "Scotland's one-off 15 June 2026",
        SPSO,
        1,
        RESPONSE,
        SCT,
        at(2026, 6, 10, 12),
        date(2026, 6, 18),
    ),
    Row(
        "no 15 June holiday in England",
        SPSO,
        1,
        RESPONSE,
        ENG,
        at(2026, 6, 10, 12),
        date(2026, 6, 17),
    ),
    Row(
        "Northern Ireland's 12 July (Sunday: Monday 13th)",
        ASC,
        1,
        ACK,
        NIR,
        at(2026, 7, 9, 9),
        date(2026, 7, 15),
    ),
    Row("12 July 2024 was a Friday", CSC, 1, ACK, NIR, at(2024, 7, 10), date(2024, 7, 16)),
    Row(
        "Boxing Day substitute, 28 Dec 2026",
        CSC,
        1,
        ACK,
        WLS,
        at(2026, 12, 24, 9),
        date(2026, 12, 31),
    ),
    Row("St Patrick's Day", CSC, 1, ACK, NIR, at(2026, 3, 16), date(2026, 3, 20)),
    Row(
        "HOS stage 2 acknowledgement from the request (6.11)",
        HOS,
        2,
        ACK,
        ENG,
        at(2026, 5, 22),
        date(2026, 6, 1),
    ),
    Row(
        "LGSCO response from acknowledgement",
        LGSCO,
        1,
        RESPONSE,
        ENG,
        at(2025, 12, 30),
        date(2026, 1, 14),
    ),
    Row(
        "HOS stage 2 response 20 days from acknowledgement",
        HOS,
        2,
        RESPONSE,
        ENG,
        at(2026, 12, 1),
        date(2026, 12, 31),
    ),
    Row(
        "LGSCO stage 2 response, 20 working days",
        LGSCO,
        2,
        RESPONSE,
        ENG,
        at(2026, 11, 2),
        date(2026, 11, 30),
    ),
    Row(
        "children's stage 2: 25 working days",
        CSC,
        2,
        RESPONSE,
        ENG,
        at(2026, 11, 2),
        date(2026, 12, 7),
    ),
    Row(
        "children's stage 2 in Scotland: St Andrew's Day",
        CSC,
        2,
        RESPONSE,
        SCT,
        at(2026, 11, 2),
        date(2026, 12, 8),
    ),
    Row(
        "children's stage 3 panel within 30 working days",
        CSC,
        3,
        PANEL,
        ENG,
        at(2026, 9, 7),
        date(2026, 10, 19),
    ),
    Row("adult social care: 6 months", ASC, 1, RESPONSE, ENG, at(2026, 4, 15), date(2026, 10, 15)),
    Row(
        "6 months from a bank holiday receipt",
        ASC,
        1,
        RESPONSE,
        ENG,
        at(2026, 8, 31),
        date(2027, 3, 1),
    ),
    Row(
        "6 months ending on a Sunday after New Year's Day",
        ASC,
        1,
        RESPONSE,
        ENG,
        at(2026, 7, 3),
        date(2026, 12, 31),
    ),
    Row(
        "SPSO stage 2 acknowledgement in 3 days",
        SPSO,
        2,
        ACK,
        SCT,
        at(2026, 11, 26),
        date(2026, 12, 2),
    ),
]


def compute(row: Row, calendar: WorkingDayCalendar) -> date:
    timescale = rules_for(row.procedure).stage(row.stage).timescale(row.kind)
    assert timescale is not None, row.why
    if timescale.counts_from is CountsFrom.RECEIPT:
        start, lead_in = receipt_lead_in(row.start, calendar)
    else:
        start, lead_in = calendar.on_or_after(row.start.date()), "from the request"
    return due_from(timescale, start, calendar, lead_in).due_on


@pytest.mark.parametrize("row", TABLE, ids=[r.why for r in TABLE])
def test_due_dates(row: Row) -> None:
    assert compute(row, WorkingDayCalendar(row.nation)) == row.due


def test_every_procedure_and_stage_is_in_the_table() -> None:
    covered = {(r.procedure, r.stage) for r in TABLE}
    every = {(p, s.number) for p, rules in PROCEDURES.items() for s in rules.stages}
    assert every - covered == set()
    assert {r.nation for r in TABLE} == set(Nation)


def test_every_rule_names_its_clause() -> None:
    for rules in PROCEDURES.values():
        for stage in rules.stages:
            assert stage.timescales
            for t in stage.timescales:
                assert t.clause
                assert (t.working_days is None) != (t.calendar_months is None)


def test_explanation_reads_like_the_issue() -> None:
    cal = WorkingDayCalendar(ENG)
    start, lead_in = receipt_lead_in(at(2025, 12, 19, 18, 30), cal)
    timescale = rules_for(HOS).stage(1).timescale(ACK)
    assert timescale is not None
    text = due_from(timescale, start, cal, lead_in).explanation
    assert text == (
        "received Fri 19 Dec 2025 at 18:30, after the 17:00 cut-off → treated as received "
        "Mon 22 Dec 2025; 5 working days after it (HOS Code 2024 6.2), skipping the weekend, "
        "25 Dec (Christmas Day) and 26 Dec (Boxing Day) → due Wed 31 Dec 2025"
    )


def test_a_weekend_receipt_says_so() -> None:
    _, lead_in = receipt_lead_in(at(2026, 3, 7, 11), WorkingDayCalendar(ENG))
    assert (
        lead_in == "received Sat 7 Mar 2026 at 11:00, a Saturday → treated as received "
        "Mon 9 Mar 2026"
    )


def test_closure_days_count_like_holidays() -> None:
    cal = WorkingDayCalendar(ENG, frozenset({date(2026, 12, 29), date(2026, 12, 30)}))
    row = Row("shutdown", CSC, 1, ACK, ENG, at(2026, 12, 24, 9), date(2027, 1, 5))
    assert compute(row, cal) == date(2027, 1, 5)


def test_an_organisation_may_be_stricter_never_looser() -> None:
    strict = rules_for(
        HOS, [TimescaleOverride(procedure=HOS, stage=1, kind=RESPONSE, working_days=8)]
    )
    response = strict.stage(1).timescale(RESPONSE)
    assert response is not None and response.working_days == 8
    assert response.clause.endswith("local standard")
    with pytest.raises(ValueError, match="looser"):
        rules_for(HOS, [TimescaleOverride(procedure=HOS, stage=1, kind=RESPONSE, working_days=15)])
    with pytest.raises(ValueError, match="no stage 3"):
        rules_for(HOS, [TimescaleOverride(procedure=HOS, stage=3, kind=RESPONSE, working_days=1)])
    with pytest.raises(ValueError, match=r"calendar|working days"):
        rules_for(ASC, [TimescaleOverride(procedure=ASC, stage=1, kind=RESPONSE, working_days=20)])

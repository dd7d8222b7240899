from datetime import date, datetime

import pytest

from contracts import DeadlineKind, Procedure
from services.deadlines.domain.calendar import LONDON, Nation, WorkingDayCalendar
from services.deadlines.domain.compute import initial_deadlines
from services.deadlines.domain.timescales import STAGE_ONE

ENGLAND = WorkingDayCalendar(Nation.ENGLAND)


def test_housing_ombudsman_stage_one() -> None:
    # received Fri 19 Dec 2025 10:00: acknowledge by Tue 30 Dec (6.2); respond within 10
    # working days of acknowledgement (6.3): provisional on acknowledgement on its due date
    ack, response = initial_deadlines(
        Procedure.HOUSING_OMBUDSMAN, datetime(2025, 12, 19, 10, tzinfo=LONDON), ENGLAND
    )
    assert (ack.kind, ack.due_on, ack.provisional) == (
        DeadlineKind.ACKNOWLEDGEMENT,
        date(2025, 12, 30),
        False,
    )
    assert ack.clause == "HOS Code 2024 6.2"
    assert response.kind is DeadlineKind.RESPONSE
    assert response.counts_from == date(2025, 12, 30)
    assert response.provisional is True
    # 30 Dec + 10 working days: 31 Dec, 2, 5, 6, 7, 8, 9, 12, 13, 14 Jan (1 Jan is a holiday)
    assert response.due_on == date(2026, 1, 14)


def test_explanation_names_the_rule_the_start_and_the_skipped_days() -> None:
    ack, _ = initial_deadlines(
        Procedure.LGSCO, datetime(2025, 12, 19, 18, 30, tzinfo=LONDON), ENGLAND
    )
    text = ack.explanation
    assert "5 working days" in text
    assert "treated as received Mon 22 Dec 2025" in text
    assert "Thu 25 Dec (bank holiday" in text
    assert "Sat 27 Dec (Saturday)" in text
    assert text.endswith("due Wed 31 Dec 2025")


def test_spso_counts_both_from_receipt() -> None:
    ack, response = initial_deadlines(
        Procedure.SPSO, datetime(2026, 3, 2, 9, tzinfo=LONDON), WorkingDayCalendar(Nation.SCOTLAND)
    )
    assert response.provisional is False
    assert response.due_on == date(2026, 3, 9)
    assert ack.due_on == response.due_on


@pytest.mark.parametrize("procedure", list(Procedure))
def test_every_procedure_has_stage_one_rules_with_clauses(procedure: Procedure) -> None:
    ack, response = STAGE_ONE[procedure]
    assert ack.kind is DeadlineKind.ACKNOWLEDGEMENT and ack.clause
    assert response.kind is DeadlineKind.RESPONSE and response.clause
    computed = initial_deadlines(procedure, datetime(2026, 6, 1, 9, tzinfo=LONDON), ENGLAND)
    assert computed[0].due_on <= computed[1].due_on

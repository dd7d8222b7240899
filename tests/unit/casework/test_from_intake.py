"""What casework makes of intake's extras: a complaint older than the procedure's time limit
opens with a hint for a person (never a refusal), files that came with a submission or a reply
join the case file, and a reply is logged once however often it is delivered."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from contracts import Attachment, CaseOpened, Channel, EventPayload, Procedure
from contracts import case_events as ev
from contracts.events import TriageHint
from contracts.procedures import PROCEDURES, add_months, outside_time_limit
from tests.unit.casework.scenario import correspondence, open_case, run

SCAN = Attachment(
    attachment_id="a" * 32,
    filename="letter.pdf",
    content_type="application/pdf",
    size_bytes=1234,
    sha256="b" * 64,
)


@pytest.mark.parametrize(
    ("happened", "received", "months", "late"),
    [
        (date(2025, 3, 2), date(2026, 3, 2), 12, False),  # exactly twelve months: in time
        (date(2025, 3, 1), date(2026, 3, 2), 12, True),
        (date(2024, 2, 29), date(2025, 2, 28), 12, False),  # no 29 Feb: the month's last day
        (date(2024, 2, 29), date(2025, 3, 1), 12, True),
        (date(2025, 9, 2), date(2026, 3, 2), 6, False),
        (date(2025, 9, 1), date(2026, 3, 2), 6, True),
        (None, date(2026, 3, 2), 12, False),  # not said: a person asks
    ],
)
def test_time_limit(happened: date | None, received: date, months: int, late: bool) -> None:
    assert outside_time_limit(happened, received, months) is late


def test_add_months_keeps_the_day_or_ends_the_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


def test_time_limits_by_procedure() -> None:
    assert PROCEDURES[Procedure.HOUSING_OMBUDSMAN].time_limit_months == 12
    assert PROCEDURES[Procedure.SPSO].time_limit_months == 6


def _opened(
    happened_on: date | None, procedure: Procedure = Procedure.HOUSING_OMBUDSMAN
) -> list[EventPayload]:
    command = open_case(procedure=procedure)  # received 2 March 2026
    command = replace(
        command, submission=command.submission.model_copy(update={"happened_on": happened_on})
    )
    _, events = run(command)
    return events


def _hints(
    happened_on: date | None, procedure: Procedure = Procedure.HOUSING_OMBUDSMAN
) -> list[TriageHint]:
    opened = _opened(happened_on, procedure)[0]
    assert isinstance(opened, CaseOpened)
    return opened.triage_hints


def test_a_late_complaint_opens_with_a_hint_not_a_refusal() -> None:
    assert TriageHint.OUTSIDE_TIME_LIMIT in _hints(date(2024, 12, 1))


def test_in_time_or_undated_complaints_carry_no_time_hint() -> None:
    for happened in (date(2025, 12, 1), None):
        assert TriageHint.OUTSIDE_TIME_LIMIT not in _hints(happened)


def test_the_procedure_decides_the_limit() -> None:
    eight_months_ago = date(2025, 7, 1)
    assert TriageHint.OUTSIDE_TIME_LIMIT in _hints(eight_months_ago, Procedure.SPSO)
    assert TriageHint.OUTSIDE_TIME_LIMIT not in _hints(eight_months_ago)


def test_files_with_a_submission_join_the_case_file() -> None:
    command = open_case()
    command = replace(
        command,
        submission=command.submission.model_copy(
            update={"attachments": [SCAN], "channel": Channel.LETTER}
        ),
    )
    state, events = run(command)
    assert [type(e).__name__ for e in events] == ["CaseOpened", "EvidenceAttached"]
    evidence = events[1]
    assert isinstance(evidence, ev.EvidenceAttached)
    assert (evidence.evidence_id, evidence.sha256, evidence.size_bytes) == (
        "a" * 32,
        "b" * 64,
        1234,
    )
    assert f"/v1/attachments/{'a' * 32}" in (evidence.description or "")
    assert "letter" in (evidence.description or "")
    assert state.evidence == ("a" * 32,)


def test_a_reply_is_logged_with_its_files_once() -> None:
    state, _ = run(open_case())
    reply = correspondence(SCAN)
    state, events = run(reply, state=state)
    assert [type(e).__name__ for e in events] == ["ContactLogged", "EvidenceAttached"]
    logged = events[0]
    assert isinstance(logged, ev.ContactLogged)
    assert logged.contact_kind is ev.ContactKind.EMAIL
    assert logged.with_whom == "R Tenant <r@example.org>"
    assert logged.summary.startswith("Re: your complaint CMP-2026-000001: Still no repair.")
    again, events = run(reply, state=state)
    assert events == [] and again == state

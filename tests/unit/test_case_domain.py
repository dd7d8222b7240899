import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import CaseOpened, FeedbackKind, FeedbackSubmitted, Procedure
from services.casework.domain.case import (
    Case,
    CaseStatus,
    OpenCase,
    Rejection,
    case_id_for,
    decide,
    evolve,
    format_reference,
    replay,
)


def submission(kind: str = "complaint") -> FeedbackSubmitted:
    return FeedbackSubmitted.model_validate(
        {
            "submission_id": uuid.uuid4(),
            "kind": kind,
            "channel": "phone",
            "organisation_id": "org",
            "service_area": "repairs",
            "received_at": datetime(2026, 1, 5, 9, tzinfo=UTC),
            "summary": "Damp in the bedroom",
            "complainant": {"name": "R", "phone": "01234 567890"},
        }
    )


def open_command(sub: FeedbackSubmitted, reference: str = "CMP-2026-000001") -> OpenCase:
    return OpenCase(case_id_for(sub.submission_id), reference, Procedure.LGSCO, sub)


def test_a_submission_opens_a_case_at_stage_one() -> None:
    sub = submission()
    events = decide(Case(), open_command(sub))
    assert isinstance(events, list) and len(events) == 1
    opened = events[0]
    assert isinstance(opened, CaseOpened)
    assert opened.stage == 1
    assert opened.procedure is Procedure.LGSCO
    assert opened.submission_id == sub.submission_id
    assert opened.complainant == sub.complainant
    state = evolve(Case(), opened)
    assert state.status is CaseStatus.OPEN
    assert state.reference == "CMP-2026-000001"
    assert state.version == 1


def test_a_case_cannot_be_opened_twice() -> None:
    sub = submission()
    state = replay(list(decide(Case(), open_command(sub))))  # type: ignore[arg-type]
    again = decide(state, open_command(sub, "CMP-2026-000002"))
    assert isinstance(again, Rejection)
    assert "already open" in again.reason


def test_case_id_must_belong_to_the_submission() -> None:
    sub = submission()
    command = OpenCase(uuid.uuid4(), "CMP-2026-000001", Procedure.LGSCO, sub)
    assert isinstance(decide(Case(), command), Rejection)


def test_case_ids_are_stable_per_submission() -> None:
    sid = uuid.uuid4()
    assert case_id_for(sid) == case_id_for(sid)
    assert case_id_for(sid) != case_id_for(uuid.uuid4())


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (FeedbackKind.COMPLAINT, "CMP-2026-000001"),
        (FeedbackKind.COMPLIMENT, "CPL-2026-000001"),
        (FeedbackKind.COMMENT, "CMT-2026-000001"),
        (FeedbackKind.MEMBER_ENQUIRY, "MEQ-2026-000001"),
    ],
)
def test_reference_prefix_says_what_it_is(kind: FeedbackKind, expected: str) -> None:
    assert format_reference(kind, 2026, 1) == expected


def test_reference_numbers_grow_past_six_digits() -> None:
    assert format_reference(FeedbackKind.COMPLAINT, 2027, 1234567) == "CMP-2027-1234567"
    with pytest.raises(ValueError):
        format_reference(FeedbackKind.COMPLAINT, 2027, 0)


@given(kind=st.sampled_from(["complaint", "compliment", "comment", "member_enquiry"]))
def test_replaying_the_events_rebuilds_the_same_state(kind: str) -> None:
    sub = submission(kind)
    events = decide(Case(), open_command(sub))
    assert isinstance(events, list)
    state = Case()
    for e in events:
        state = evolve(state, e)
    assert replay(list(events)) == state

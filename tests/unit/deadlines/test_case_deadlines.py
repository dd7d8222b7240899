"""A case's deadlines through its life: opened, acknowledged, extended, paused, escalated,
answered, closed; and the properties that must hold whatever happens."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import (
    CaseOpened,
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineKind,
    DeadlineMet,
    DeadlineMissed,
    DeadlinePaused,
    DeadlineSet,
    EventPayload,
    ExtensionNotAllowed,
    FeedbackKind,
    Nation,
    Procedure,
)
from contracts import case_events as ev
from contracts.procedures import PROCEDURES, rules_for
from services.deadlines.domain.calendar import LONDON, WorkingDayCalendar
from services.deadlines.domain.case_deadlines import (
    CaseDeadlines,
    DeadlineState,
    decide,
    evolve,
    note_case_event,
)

ENGLAND = WorkingDayCalendar(Nation.ENGLAND)
CASE = uuid.UUID("11111111-2222-4333-8444-555555555555")
ACK, RESPONSE = DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RESPONSE


def opened(
    procedure: Procedure = Procedure.HOUSING_OMBUDSMAN,
    received: datetime = datetime(2025, 12, 19, 10, tzinfo=LONDON),
    kind: FeedbackKind = FeedbackKind.COMPLAINT,
) -> CaseOpened:
    return CaseOpened.model_validate(
        {
            "case_id": CASE,
            "reference": "CMP-2025-000001",
            "submission_id": uuid.uuid4(),
            "kind": kind,
            "channel": "web",
            "organisation_id": "org",
            "procedure": procedure,
            "stage": 1,
            "received_at": received,
            "summary": "x",
            "complainant": {"name": "n"},
        }
    )


class Case:
    """Feeds casework events through decide/evolve the way the handler does."""

    def __init__(self, calendar: WorkingDayCalendar = ENGLAND) -> None:
        self.state = CaseDeadlines()
        self.calendar = calendar
        self.log: list[EventPayload] = []

    def feed(self, event: EventPayload, today: date = date(2026, 1, 2)) -> list[EventPayload]:
        facts = note_case_event(self.state, event)
        rules = rules_for(facts.procedure) if facts.procedure else None
        out = decide(self.state, event, rules, self.calendar, today)
        self.state = facts
        for e in out:
            self.state = evolve(self.state, e)
        self.log += out
        return out

    def get(self, kind: DeadlineKind, stage: int = 1):  # type: ignore[no-untyped-def]
        found = self.state.find(kind, stage)
        assert found is not None
        return found


def test_opening_sets_acknowledgement_and_provisional_response() -> None:
    case = Case()
    out = case.feed(opened())
    assert [type(e) for e in out] == [DeadlineSet, DeadlineSet]
    assert case.get(ACK).due_on == date(2025, 12, 30)
    response = case.get(RESPONSE)
    assert response.provisional and response.due_on == date(2026, 1, 14)
    assert "provisional until the case is acknowledged" in response.explanation


def test_acknowledgement_meets_its_deadline_and_starts_the_response_clock() -> None:
    case = Case()
    case.feed(opened())
    out = case.feed(
        ev.CaseAcknowledged(
            case_id=CASE,
            stage=1,
            acknowledged_on=date(2025, 12, 22),
            points=[{"point_id": "1", "text": "x"}],
            outcomes_sought=["y"],  # type: ignore[list-item]
        )
    )
    assert [type(e) for e in out] == [DeadlineMet, DeadlineChanged]
    assert case.get(ACK).state is DeadlineState.MET
    response = case.get(RESPONSE)
    # 10 working days from Mon 22 Dec 2025, skipping Christmas, Boxing Day and New Year's Day
    assert response.due_on == date(2026, 1, 8) and not response.provisional
    assert response.explanation.startswith("acknowledged Mon 22 Dec 2025")


def test_late_acknowledgement_is_met_late() -> None:
    case = Case()
    case.feed(opened())
    out = case.feed(
        ev.CaseAcknowledged(
            case_id=CASE,
            stage=1,
            acknowledged_on=date(2026, 1, 2),
            points=[{"point_id": "1", "text": "x"}],
            outcomes_sought=["y"],  # type: ignore[list-item]
        )
    )
    assert isinstance(out[0], DeadlineMet) and out[0].late
    assert case.get(ACK).state is DeadlineState.MET_LATE


def acknowledge(case: Case, on: date = date(2025, 12, 22)) -> None:
    case.feed(
        ev.CaseAcknowledged(
            case_id=CASE,
            stage=1,
            acknowledged_on=on,
            points=[{"point_id": "1", "text": "x"}],
            outcomes_sought=["y"],  # type: ignore[list-item]
        )
    )


def extension(days: int, n: int = 1) -> ev.ExtensionGranted:
    return ev.ExtensionGranted(
        case_id=CASE,
        stage=1,
        extension_id=f"E{n}",
        working_days=days,
        reason="surveyor",
        resident_told_on=date(2026, 1, 5),
    )


def test_an_extension_moves_the_due_date_and_one_past_the_limit_is_refused() -> None:
    case = Case()
    case.feed(opened())
    acknowledge(case)
    case.feed(extension(4))
    assert case.get(RESPONSE).due_on == date(2026, 1, 14)
    assert "extended by 4 working days" in case.get(RESPONSE).explanation
    out = case.feed(extension(7, 2))
    assert [type(e) for e in out] == [ExtensionNotAllowed]
    assert "limit of 10" in out[0].reason  # type: ignore[attr-defined]
    assert case.get(RESPONSE).extension_days == 4


def test_pause_and_resume_keep_the_working_days_left() -> None:
    case = Case()
    case.feed(opened(Procedure.ADULT_SOCIAL_CARE, datetime(2026, 3, 2, 10, tzinfo=LONDON)))
    acknowledge(case, date(2026, 3, 3))
    due = case.get(RESPONSE).due_on
    assert due == date(2026, 9, 2)
    case.feed(ev.ClockPaused(case_id=CASE, stage=1, reason="GP letter", paused_on=date(2026, 3, 4)))
    paused = case.get(RESPONSE)
    assert paused.due_on is None
    left = ENGLAND.working_days_between(date(2026, 3, 4), due)
    assert paused.paused_remaining == left
    case.feed(ev.ClockResumed(case_id=CASE, stage=1, resumed_on=date(2026, 3, 18)))
    resumed = case.get(RESPONSE)
    assert resumed.due_on == ENGLAND.add_working_days(date(2026, 3, 18), left)
    assert resumed.due_on is not None and resumed.due_on > due


def test_escalation_starts_the_next_stage_and_answers_meet_deadlines() -> None:
    case = Case()
    case.feed(opened())
    acknowledge(case)
    case.feed(
        ev.ResponseIssued(
            case_id=CASE,
            stage=1,
            draft=1,
            issued_on=date(2026, 1, 7),
            overall="upheld",  # type: ignore[arg-type]
            point_outcomes=[{"point_id": "1", "outcome": "upheld", "reasons": "r"}],  # type: ignore[list-item]
            final=False,
        )
    )
    assert case.get(RESPONSE).state is DeadlineState.MET
    out = case.feed(
        ev.CaseEscalated(case_id=CASE, from_stage=1, to_stage=2, requested_on=date(2026, 1, 10))
    )  # a Saturday
    assert [type(e) for e in out] == [DeadlineSet, DeadlineSet]
    stage2_ack = case.get(ACK, 2)
    assert stage2_ack.due_on == date(2026, 1, 19)  # from Mon 12 Jan, 5 working days
    assert "escalation requested Sat 10 Jan 2026 → counted from Mon 12 Jan 2026" in (
        stage2_ack.explanation
    )


def test_closing_cancels_what_is_open() -> None:
    case = Case()
    case.feed(opened())
    out = case.feed(ev.CaseWithdrawn(case_id=CASE, reason="sorted"))
    assert [type(e) for e in out] == [DeadlineCancelled, DeadlineCancelled]
    assert all(d.state is DeadlineState.CANCELLED for d in case.state.deadlines)
    assert case.feed(ev.CaseClosed(case_id=CASE, reason="x")) == []


def test_compliments_get_no_deadlines_and_triage_can_change_the_procedure() -> None:
    compliment = Case()
    assert compliment.feed(opened(kind=FeedbackKind.COMPLIMENT)) == []
    case = Case()
    case.feed(opened(Procedure.HOUSING_OMBUDSMAN))
    out = case.feed(
        ev.CaseTriaged(
            case_id=CASE,
            kind="complaint",
            procedure="spso",  # type: ignore[arg-type]
            service_area="repairs",
            category="x",
            complexity="simple",  # type: ignore[arg-type]
            priority="normal",
        )
    )  # type: ignore[arg-type]
    assert [type(e) for e in out] == [DeadlineCancelled, DeadlineCancelled, DeadlineSet]
    (response,) = [d for d in case.state.deadlines if d.is_open]
    assert response.kind is RESPONSE and response.due_on == date(2025, 12, 30)
    # compliment re-triaged as a complaint gets its clocks
    out = compliment.feed(
        ev.CaseTriaged(
            case_id=CASE,
            kind="complaint",
            procedure="lgsco",  # type: ignore[arg-type]
            service_area="s",
            category="c",
            complexity="simple",  # type: ignore[arg-type]
            priority="normal",
        )
    )  # type: ignore[arg-type]
    assert [type(e) for e in out] == [DeadlineSet, DeadlineSet]


def test_services_parts_and_ombudsman_requests_are_tracked() -> None:
    case = Case()
    case.feed(opened())
    case.feed(
        ev.ServiceResponseRequested(
            case_id=CASE,
            stage=1,
            part_id="A",
            service_area="rents",
            due_on=date(2026, 1, 9),
            request="?",
        )
    )
    part = case.state.find(DeadlineKind.SERVICE_PART, 1, "A")
    assert part is not None and part.due_on == date(2026, 1, 9)
    out = case.feed(
        ev.ServiceResponseReceived(case_id=CASE, stage=1, part_id="A", response="ok"),
        today=date(2026, 1, 12),
    )
    assert isinstance(out[0], DeadlineMet) and out[0].late and out[0].met_on == date(2026, 1, 12)
    case.feed(
        ev.OmbudsmanEnquiryReceived(
            case_id=CASE,
            body="housing_ombudsman",  # type: ignore[arg-type]
            ombudsman_reference="H1",
            stage="enquiry",  # type: ignore[arg-type]
            received_on=date(2026, 2, 2),
            information_due_on=date(2026, 2, 16),
        )
    )
    info = case.state.find(DeadlineKind.OMBUDSMAN_INFORMATION, 1, "H1")
    assert info is not None and info.due_on == date(2026, 2, 16)
    case.feed(
        ev.OmbudsmanInformationProvided(case_id=CASE, provided_on=date(2026, 2, 10), summary="sent")
    )
    info = case.state.find(DeadlineKind.OMBUDSMAN_INFORMATION, 1, "H1")
    assert info is not None and info.state is DeadlineState.MET


def test_a_missed_deadline_met_later_is_met_late() -> None:
    case = Case()
    case.feed(opened())
    ack = case.get(ACK)
    case.state = evolve(
        case.state,
        DeadlineMissed(
            deadline_id=ack.deadline_id, case_id=CASE, kind=ACK, stage=1, due_on=ack.due_on
        ),
    )
    acknowledge(case, date(2025, 12, 29))  # before the due date, but after it was marked missed
    assert case.get(ACK).state is DeadlineState.MET_LATE


def test_events_for_an_unopened_case_decide_nothing() -> None:
    case = Case()
    assert case.feed(extension(2)) == []


def test_paused_deadline_extension_adds_to_time_left() -> None:
    case = Case()
    case.feed(opened(Procedure.CHILDRENS_SOCIAL_CARE))
    acknowledge(case)
    case.feed(ev.ClockPaused(case_id=CASE, stage=1, reason="x", paused_on=date(2025, 12, 23)))
    left = case.get(RESPONSE).paused_remaining
    out = case.feed(extension(5))
    assert isinstance(out[0], DeadlinePaused)
    assert case.get(RESPONSE).paused_remaining == left + 5


# -- properties ------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
procedures = st.sampled_from(list(Procedure))
nations = st.sampled_from(list(Nation))
closures = st.frozensets(
    st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)), max_size=15
)


@settings(max_examples=200, deadline=None)
@given(procedure=procedures, nation=nations, received=moments, closed=closures)
def test_no_deadline_falls_on_a_non_working_day(
    procedure: Procedure, nation: Nation, received: datetime, closed: frozenset[date]
) -> None:
    case = Case(WorkingDayCalendar(nation, closed))
    case.feed(opened(procedure, received))
    for stage in range(2, PROCEDURES[procedure].final_stage + 1):
        case.feed(
            ev.CaseEscalated(
                case_id=CASE, from_stage=stage - 1, to_stage=stage, requested_on=received.date()
            )
        )
    assert case.state.deadlines
    for d in case.state.deadlines:
        assert d.due_on is not None and case.calendar.is_working_day(d.due_on), d


@settings(max_examples=200, deadline=None)
@given(procedure=procedures, days=st.lists(st.integers(min_value=1, max_value=15), max_size=8))
def test_an_extension_never_exceeds_its_limit(procedure: Procedure, days: list[int]) -> None:
    case = Case()
    case.feed(opened(procedure))
    acknowledge(case)
    limit = PROCEDURES[procedure].stage(1).extension_limit
    granted = 0
    for n, d in enumerate(days):
        out = case.feed(extension(d, n))
        if limit is not None and granted + d > limit:
            assert [type(e) for e in out] == [ExtensionNotAllowed]
        else:
            granted += d
    response = case.get(RESPONSE)
    assert response.extension_days == granted
    if limit is not None:
        assert response.extension_days <= limit


@settings(max_examples=100, deadline=None)
@given(received=moments, nation=nations)
def test_replaying_deadline_events_rebuilds_the_state(received: datetime, nation: Nation) -> None:
    case = Case(WorkingDayCalendar(nation))
    case.feed(opened(Procedure.LGSCO, received))
    acknowledge(case, received.date())
    case.feed(extension(3))
    rebuilt = note_case_event(CaseDeadlines(), opened(Procedure.LGSCO, received))
    for e in case.log:
        rebuilt = evolve(rebuilt, e)
    assert rebuilt.deadlines == case.state.deadlines


def test_a_met_deadline_carries_the_days_taken_extended_and_paused() -> None:
    case = Case()
    case.feed(opened(Procedure.CHILDRENS_SOCIAL_CARE, datetime(2026, 3, 2, 10, tzinfo=LONDON)))
    acknowledge(case, date(2026, 3, 3))
    case.feed(extension(2))
    case.feed(ev.ClockPaused(case_id=CASE, stage=1, reason="x", paused_on=date(2026, 3, 4)))
    case.feed(ev.ClockResumed(case_id=CASE, stage=1, resumed_on=date(2026, 3, 9)))
    out = case.feed(
        ev.ResponseIssued(
            case_id=CASE,
            stage=1,
            draft=1,
            issued_on=date(2026, 3, 20),
            overall="upheld",  # type: ignore[arg-type]
            point_outcomes=[{"point_id": "1", "outcome": "upheld", "reasons": "r"}],  # type: ignore[list-item]
            final=False,
        )
    )
    (met,) = out
    assert isinstance(met, DeadlineMet)
    assert met.working_days_taken == 14  # Mon 2 Mar to Fri 20 Mar
    assert met.extension_days == 2
    assert met.paused_working_days == 3  # Wed 4 Mar to Mon 9 Mar: Thu, Fri, Mon
    assert not met.late

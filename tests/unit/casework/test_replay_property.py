"""Any sequence of commands, valid or not: the events of the accepted ones, replayed from an
empty case, rebuild exactly the state the commands produced; and no sequence ever breaks the
rules that matter most to an Ombudsman."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import EventPayload, FeedbackKind, Procedure
from contracts import case_events as ev
from services.casework.domain import commands as c
from services.casework.domain.case import Case, evolve, replay
from services.casework.domain.decide import decide
from tests.unit.casework.scenario import (
    BAD_QA,
    MANAGER,
    OFFICER,
    OTHER_OFFICER,
    REPAIRS,
    acknowledge,
    cmd,
    draft,
    future,
    issue,
    open_case,
    qa,
    triage,
)

Factory = Callable[[int], c.Command]

FACTORIES: list[Factory] = [
    lambda n: triage(),
    lambda n: cmd(c.Assign, officer=["olivia", "oscar", "omar"][n % 3]),
    lambda n: acknowledge("1", "2"),
    lambda n: cmd(
        c.RequestServiceResponse,
        part_id=f"P{n}",
        service_area="repairs",
        due_on=future(5),
        request="x",
        point_ids=("1",),
    ),
    lambda n: cmd(c.ReceiveServiceResponse, actor=REPAIRS, part_id=f"P{n - 1}", response="x"),
    lambda n: cmd(c.ChaseServiceResponse, part_id=f"P{n - 1}"),
    lambda n: cmd(c.Extend, extension_id=f"E{n}", working_days=1 + n % 6, reason="x"),
    lambda n: cmd(c.ApproveExtension, actor=MANAGER, extension_id=f"E{n - 1}"),
    lambda n: cmd(c.PauseClock, reason="x"),
    lambda n: cmd(c.ResumeClock),
    lambda n: draft(("1", ev.Outcome.UPHELD), ("2", ev.Outcome.NOT_UPHELD)),
    lambda n: draft(("1", ev.Outcome.UPHELD)),
    lambda n: qa(),
    lambda n: qa(BAD_QA),
    lambda n: issue(),
    lambda n: cmd(
        c.RecordRemedy,
        remedy_id=f"R{n}",
        remedy_type=ev.RemedyType.FINANCIAL,
        description="x",
        amount=Decimal("25.50"),
    ),
    lambda n: cmd(c.ApproveRedress, actor=MANAGER, remedy_id=f"R{n - 1}"),
    lambda n: cmd(c.PayRedress, remedy_id=f"R{n - 2}"),
    lambda n: cmd(
        c.AddLearningAction, action_id=f"L{n}", description="x", owner="y", due_on=future(20)
    ),
    lambda n: cmd(c.CompleteLearningAction, action_id=f"L{n - 1}"),
    lambda n: cmd(c.Escalate, reasons="x"),
    lambda n: cmd(c.Assign, actor=OTHER_OFFICER, officer="oscar"),
    lambda n: cmd(
        c.RecordOmbudsmanEnquiry,
        body=ev.OmbudsmanBody.HOUSING_OMBUDSMAN,
        ombudsman_reference=f"O{n}",
        stage=ev.OmbudsmanStage.ENQUIRY,
    ),
    lambda n: cmd(c.ProvideOmbudsmanInformation, summary="x"),
    lambda n: cmd(
        c.RecordOmbudsmanDecision,
        finding=ev.OmbudsmanFinding.SERVICE_FAILURE,
        remedy_ordered="apologise",
        compliance_due_on=future(28),
    ),
    lambda n: cmd(c.CompleteOmbudsmanCompliance, evidence="x"),
    lambda n: cmd(c.RaiseFlag, flag_id=f"F{n}", flag_type=ev.FlagType.VULNERABILITY, detail="x"),
    lambda n: cmd(c.LiftFlag, flag_id=f"F{n - 1}", reason="x"),
    lambda n: cmd(
        c.RecordRepresentative,
        name="MP",
        role=ev.RepresentativeRole.MP,
        consent_received=n % 2 == 0,
    ),
    lambda n: cmd(c.RecordConsent),
    lambda n: cmd(
        c.LogContact,
        contact_id=f"C{n}",
        contact_kind=ev.ContactKind.CALL,
        occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        with_whom="r",
        summary="x",
    ),
    lambda n: cmd(c.Withdraw, reason="x"),
    lambda n: cmd(c.Close, reason="x"),
    lambda n: cmd(c.Reopen, reason="x"),
]


@settings(max_examples=300, deadline=None)
@given(
    procedure=st.sampled_from(list(Procedure)),
    kind=st.sampled_from(list(FeedbackKind)),
    picks=st.lists(st.integers(min_value=0, max_value=len(FACTORIES) - 1), max_size=60),
)
def test_replaying_accepted_events_rebuilds_the_state(
    procedure: Procedure, kind: FeedbackKind, picks: list[int]
) -> None:
    state = Case()
    events: list[EventPayload] = []
    commands: list[c.Command] = [open_case(kind, procedure)]
    commands += [FACTORIES[p](i) for i, p in enumerate(picks)]
    for command in commands:
        decision = decide(state, command)
        if isinstance(decision, c.Rejection):
            assert decision.reason
            continue
        for event in decision:
            state = evolve(state, event)
            events.append(event)
            _check_invariants(state, event)
    assert replay(events) == state
    assert state.version == len(events)


def _check_invariants(state: Case, event: EventPayload) -> None:
    if isinstance(event, ev.ResponseIssued):
        stage = state.stages[event.stage - 1]
        assert stage.acknowledged_on is not None
        assert stage.draft is not None and stage.draft.quality_passed is True
        assert {p.point_id for p in stage.points} <= {o.point_id for o in event.point_outcomes}
        assert not stage.outstanding_parts()
    if isinstance(event, ev.ExtensionGranted):
        from contracts.procedures import PROCEDURES

        assert state.procedure is not None
        limit = PROCEDURES[state.procedure].stage(event.stage).extension_limit
        if limit is not None:
            assert state.stages[event.stage - 1].extension_days <= limit
    if isinstance(event, ev.RedressPaid):
        remedy = state.remedy(event.remedy_id)
        assert remedy is not None and remedy.approved
    if isinstance(event, ev.CaseEscalated):
        assert state.stages[event.from_stage - 1].issued_on is not None
    if isinstance(event, ev.CaseAcknowledged):
        assert not state.consent_pending


def test_the_factories_reach_most_events() -> None:
    """Guard against a property that passes because nothing is ever accepted."""
    reached: set[str] = set()
    state = Case()
    for command in [open_case(), *(f(i) for i, f in enumerate(FACTORIES * 2))]:
        decision = decide(state, command)
        if not isinstance(decision, c.Rejection):
            for event in decision:
                state = evolve(state, event)
                reached.add(event.event_type)
    assert len(reached) >= 20, sorted(reached)
    assert OFFICER.user == "olivia"

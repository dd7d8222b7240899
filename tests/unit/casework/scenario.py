"""A small language for case scenarios: run commands from a fresh case, each must be accepted;
then check that one more command is accepted or refused for the stated reason."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from contracts import (
    Attachment,
    CorrespondenceReceived,
    EventPayload,
    FeedbackKind,
    FeedbackSubmitted,
    Procedure,
    Role,
)
from contracts import case_events as ev
from services.casework.domain import commands as c
from services.casework.domain.case import Case, case_id_for, evolve, replay
from services.casework.domain.decide import decide

TODAY = date(2026, 3, 2)
OFFICER = c.Actor("olivia", Role.OFFICER)
OTHER_OFFICER = c.Actor("oscar", Role.OFFICER)
MANAGER = c.Actor("maya", Role.MANAGER)
REPAIRS = c.Actor("ravi", Role.SERVICE_RESPONDER, "repairs")
RENTS = c.Actor("rhea", Role.SERVICE_RESPONDER, "rents")


def future(days: int) -> date:
    return TODAY + timedelta(days=days)


def submission(kind: FeedbackKind = FeedbackKind.COMPLAINT) -> FeedbackSubmitted:
    return FeedbackSubmitted(
        submission_id=uuid.uuid4(),
        kind=kind,
        channel="web",  # type: ignore[arg-type]
        organisation_id="north-housing",
        service_area="repairs",
        received_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        summary="Repairs not done",
        complainant={"name": "R Tenant", "email": "r@example.org"},  # type: ignore[arg-type]
    )


_numbers = itertools.count(1)


def open_case(
    kind: FeedbackKind = FeedbackKind.COMPLAINT,
    procedure: Procedure = Procedure.HOUSING_OMBUDSMAN,
) -> c.OpenCase:
    sub = submission(kind)
    return c.OpenCase(
        today=TODAY,
        case_id=case_id_for(sub.submission_id),
        reference=f"CMP-2026-{next(_numbers):06d}",
        procedure=procedure,
        submission=sub,
    )


def triage(procedure: Procedure = Procedure.HOUSING_OMBUDSMAN, **kw: Any) -> c.Triage:
    args: dict[str, Any] = {
        "actor": OFFICER,
        "today": TODAY,
        "kind": FeedbackKind.COMPLAINT,
        "procedure": procedure,
        "service_area": "repairs",
        "category": "repairs - delays",
    }
    args.update(kw)
    return c.Triage(**args)


def acknowledge(*point_ids: str) -> c.Acknowledge:
    ids = point_ids or ("1",)
    return c.Acknowledge(
        actor=OFFICER,
        today=TODAY,
        points=tuple(ev.PointOfComplaint(point_id=i, text=f"point {i}") for i in ids),
        outcomes_sought=("repair done",),
    )


def draft(*outcomes: tuple[str, ev.Outcome]) -> c.DraftResponse:
    pairs = outcomes or (("1", ev.Outcome.UPHELD),)
    return c.DraftResponse(
        actor=OFFICER,
        today=TODAY,
        text="Dear resident, ...",
        point_outcomes=tuple(
            ev.PointOutcome(point_id=p, outcome=o, reasons="because") for p, o in pairs
        ),
    )


GOOD_QA = ev.QualityChecklist(
    every_point_answered=True, plain_english=True, remedy_stated=True, signposting_present=True
)
BAD_QA = GOOD_QA.model_copy(update={"plain_english": False})


def qa(checklist: ev.QualityChecklist = GOOD_QA, actor: c.Actor = MANAGER) -> c.CheckQuality:
    return c.CheckQuality(actor=actor, today=TODAY, checklist=checklist)


def issue(actor: c.Actor = OFFICER) -> c.IssueResponse:
    return c.IssueResponse(actor=actor, today=TODAY)


def cmd(kind: type[c.Command], actor: c.Actor = OFFICER, **kw: Any) -> c.Command:
    return kind(actor=actor, today=kw.pop("today", TODAY), **kw)


def at_stage_one_response(procedure: Procedure = Procedure.HOUSING_OMBUDSMAN) -> list[c.Command]:
    return [
        open_case(procedure=procedure),
        triage(procedure),
        cmd(c.Assign, officer="olivia"),
        acknowledge("1", "2"),
        draft(("1", ev.Outcome.UPHELD), ("2", ev.Outcome.NOT_UPHELD)),
        qa(),
        issue(),
    ]


def run(*commands: c.Command, state: Case | None = None) -> tuple[Case, list[EventPayload]]:
    """Apply commands in order; every one must be accepted."""
    from_scratch = state is None
    state = state or Case()
    log: list[EventPayload] = []
    for command in commands:
        decision = decide(state, command)
        assert not isinstance(decision, c.Rejection), (
            f"{type(command).__name__} refused: {decision.reason}"
        )
        for event in decision:
            state = evolve(state, event)
            log.append(event)
    if from_scratch:
        assert replay(log) == state
    return state, log


def accepted(state: Case, command: c.Command) -> list[EventPayload]:
    decision = decide(state, command)
    assert not isinstance(decision, c.Rejection), decision.reason
    return decision


def refused(state: Case, command: c.Command, because: str) -> None:
    decision = decide(state, command)
    assert isinstance(decision, c.Rejection), f"{type(command).__name__} was allowed"
    assert because in decision.reason, decision.reason


def at(command: c.Command, **changes: Any) -> c.Command:
    return replace(command, **changes)


__all__ = ["Decimal"]


def correspondence(*attachments: Attachment) -> c.RecordCorrespondence:
    """A reply by email about the case (intake has matched its reference)."""
    return c.RecordCorrespondence(
        today=TODAY,
        correspondence=CorrespondenceReceived(
            correspondence_id=uuid.uuid4(),
            case_id=uuid.uuid4(),  # the handler loads this case; decide uses the state's id
            reference="CMP-2026-000001",
            channel="email",  # type: ignore[arg-type]
            received_at=datetime(2026, 3, 3, 10, tzinfo=UTC),
            sender={"name": "R Tenant", "email": "r@example.org"},  # type: ignore[arg-type]
            subject="Re: your complaint CMP-2026-000001",
            text="Still no repair.",
            attachments=list(attachments),
        ),
    )

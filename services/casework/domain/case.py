"""The Case aggregate's state and how each event changes it.

``evolve`` never refuses: events are facts already decided. Replaying a case's events from
`Case()` rebuilds exactly the state the officers last saw.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final, TypeVar

from contracts import CaseOpened, EventPayload, FeedbackKind, Procedure
from contracts import case_events as ev

T = TypeVar("T")

#: case ids derive from the submission they came from, so a redelivered submission can never
#: open a second case, whatever path it takes
CASE_NAMESPACE: Final = uuid.UUID("0b8f3f4e-6d0a-4f51-9a4e-6f1e2d3c4b5a")

REFERENCE_PREFIX: Final = {
    FeedbackKind.COMPLAINT: "CMP",
    FeedbackKind.COMPLIMENT: "CPL",
    FeedbackKind.COMMENT: "CMT",
    FeedbackKind.MEMBER_ENQUIRY: "MEQ",
}


class Lifecycle(StrEnum):
    NOT_OPENED = "not_opened"
    NEW = "new"  # logged, waiting for triage
    OPEN = "open"  # triaged and being handled
    CLOSED = "closed"


class Resolution(StrEnum):
    RESPONDED = "responded"
    NOT_ACCEPTED = "not_accepted"
    REDIRECTED = "redirected"
    SERVICE_REQUEST = "service_request"
    PASSED_TO_SERVICE = "passed_to_service"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ServicePart:
    part_id: str
    service_area: str
    contributor: str | None
    point_ids: tuple[str, ...]
    due_on: date
    request: str
    response: str | None = None
    chased: int = 0


@dataclass(frozen=True)
class Draft:
    number: int
    point_outcomes: tuple[ev.PointOutcome, ...]
    quality_passed: bool | None = None


@dataclass(frozen=True)
class PendingExtension:
    extension_id: str
    working_days: int
    reason: str


@dataclass(frozen=True)
class StageRecord:
    number: int
    handler: str | None = None
    acknowledged_on: date | None = None
    points: tuple[ev.PointOfComplaint, ...] = ()
    outcomes_sought: tuple[str, ...] = ()
    parts: tuple[ServicePart, ...] = ()
    draft: Draft | None = None
    issued_on: date | None = None
    overall: ev.Outcome | None = None
    point_outcomes: tuple[ev.PointOutcome, ...] = ()
    extension_days: int = 0
    extension_ids: tuple[str, ...] = ()
    pending_extensions: tuple[PendingExtension, ...] = ()
    paused_since: date | None = None
    escalation_reasons: str | None = None

    def part(self, part_id: str) -> ServicePart | None:
        return next((p for p in self.parts if p.part_id == part_id), None)

    def outstanding_parts(self) -> list[str]:
        return [p.part_id for p in self.parts if p.response is None]


@dataclass(frozen=True)
class Remedy:
    remedy_id: str
    remedy_type: ev.RemedyType
    description: str
    amount: Decimal | None
    due_on: date | None
    needs_approval: bool
    approved: bool = False
    paid_on: date | None = None
    completed_on: date | None = None


@dataclass(frozen=True)
class LearningAction:
    action_id: str
    description: str
    owner: str
    due_on: date
    completed_on: date | None = None


@dataclass(frozen=True)
class Flag:
    flag_id: str
    flag_type: ev.FlagType
    detail: str
    referred_to: str | None
    risk_kind: ev.RiskKind | None
    contact_restriction: str | None
    review_on: date | None
    lifted_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.lifted_reason is None


@dataclass(frozen=True)
class Representative:
    name: str
    role: ev.RepresentativeRole
    contact: str | None


@dataclass(frozen=True)
class OmbudsmanCase:
    body: ev.OmbudsmanBody
    reference: str
    stage: ev.OmbudsmanStage
    received_on: date
    information_due_on: date | None
    information_provided_on: date | None = None
    decided_on: date | None = None
    finding: ev.OmbudsmanFinding | None = None
    remedy_ordered: str | None = None
    compliance_due_on: date | None = None
    compliance_completed_on: date | None = None

    @property
    def outstanding(self) -> bool:
        if self.decided_on is None:
            return True
        return self.compliance_due_on is not None and self.compliance_completed_on is None


@dataclass(frozen=True)
class Case:
    case_id: uuid.UUID | None = None
    reference: str | None = None
    organisation_id: str | None = None
    kind: FeedbackKind | None = None
    procedure: Procedure | None = None
    received_at: datetime | None = None
    service_area: str | None = None
    category: str | None = None
    complexity: ev.Complexity | None = None
    priority: ev.Priority | None = None
    location: ev.Location | None = None
    lifecycle: Lifecycle = Lifecycle.NOT_OPENED
    resolution: Resolution | None = None
    closed_reason: str | None = None
    stage: int = 0
    stages: tuple[StageRecord, ...] = ()
    officer: str | None = None
    representative: Representative | None = None
    consent_pending: bool = False
    remedies: tuple[Remedy, ...] = ()
    learning_actions: tuple[LearningAction, ...] = ()
    flags: tuple[Flag, ...] = ()
    contacts: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    ombudsman: OmbudsmanCase | None = None
    #: what intake noticed in the words (safeguarding, SAR, FOI, risk), for a person to confirm
    triage_hints: tuple[str, ...] = ()
    version: int = 0

    @property
    def current(self) -> StageRecord:
        return self.stages[self.stage - 1]

    def remedy(self, remedy_id: str) -> Remedy | None:
        return next((r for r in self.remedies if r.remedy_id == remedy_id), None)

    def learning_action(self, action_id: str) -> LearningAction | None:
        return next((a for a in self.learning_actions if a.action_id == action_id), None)

    def flag(self, flag_id: str) -> Flag | None:
        return next((f for f in self.flags if f.flag_id == flag_id), None)

    @property
    def is_closed(self) -> bool:
        return self.lifecycle is Lifecycle.CLOSED


def case_id_for(submission_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(CASE_NAMESPACE, str(submission_id))


def stream_id(case_id: uuid.UUID) -> str:
    return f"case-{case_id}"


def format_reference(kind: FeedbackKind, year: int, number: int) -> str:
    """``CMP-2026-000001``: the prefix says what it is, the year when it came in, the number
    counts up within that prefix and year."""
    if number < 1:
        raise ValueError("reference numbers start at 1")
    return f"{REFERENCE_PREFIX[kind]}-{year:04d}-{number:06d}"


# -- evolve ------------------------------------------------------------------------------------


def _stage(state: Case, number: int, **changes: object) -> Case:
    stages = list(state.stages)
    stages[number - 1] = replace(stages[number - 1], **changes)  # type: ignore[arg-type]
    return replace(state, stages=tuple(stages))


def _swap(items: tuple[T, ...], match: object, attr: str, **changes: object) -> tuple[T, ...]:
    return tuple(
        replace(i, **changes) if getattr(i, attr) == match else i  # type: ignore[type-var]
        for i in items
    )


def _closed(state: Case, resolution: Resolution, reason: str) -> Case:
    return replace(state, lifecycle=Lifecycle.CLOSED, resolution=resolution, closed_reason=reason)


def evolve(state: Case, event: EventPayload) -> Case:
    state = _apply(state, event)
    return replace(state, version=state.version + 1)


def _apply(state: Case, e: EventPayload) -> Case:
    match e:
        case CaseOpened():
            return replace(
                state,
                case_id=e.case_id,
                reference=e.reference,
                organisation_id=e.organisation_id,
                kind=e.kind,
                procedure=e.procedure,
                received_at=e.received_at,
                service_area=e.service_area,
                lifecycle=Lifecycle.NEW,
                stage=e.stage,
                stages=(StageRecord(number=e.stage),),
                triage_hints=tuple(h.value for h in e.triage_hints),
            )
        case ev.CaseTriaged():
            return replace(
                state,
                kind=e.kind,
                procedure=e.procedure,
                service_area=e.service_area,
                category=e.category,
                complexity=e.complexity,
                priority=e.priority,
                location=e.location,
                lifecycle=Lifecycle.OPEN,
            )
        case ev.CaseNotAccepted():
            return _closed(state, Resolution.NOT_ACCEPTED, e.explanation)
        case ev.CaseRedirected():
            return _closed(state, Resolution.REDIRECTED, f"{e.target.value}: {e.destination}")
        case ev.CaseReclassifiedAsServiceRequest():
            return _closed(state, Resolution.SERVICE_REQUEST, e.note)
        case ev.FeedbackPassedToService():
            state = replace(state, service_area=e.service_area)
            return _closed(state, Resolution.PASSED_TO_SERVICE, f"passed to {e.service_area}")
        case ev.CaseAssigned():
            state = replace(
                state, officer=e.officer, service_area=e.service_area or state.service_area
            )
            return _stage(state, e.stage, handler=e.officer)
        case ev.ServiceResponseRequested():
            part = ServicePart(
                e.part_id, e.service_area, e.contributor, tuple(e.point_ids), e.due_on, e.request
            )
            return _stage(state, e.stage, parts=(*state.stages[e.stage - 1].parts, part))
        case ev.ServiceResponseReceived():
            parts = _swap(
                state.stages[e.stage - 1].parts, e.part_id, "part_id", response=e.response
            )
            return _stage(state, e.stage, parts=parts)
        case ev.ServiceResponseChased():
            record = state.stages[e.stage - 1]
            chasing = record.part(e.part_id)
            chased = (chasing.chased if chasing else 0) + 1
            return _stage(
                state, e.stage, parts=_swap(record.parts, e.part_id, "part_id", chased=chased)
            )
        case ev.CaseAcknowledged():
            return _stage(
                state,
                e.stage,
                acknowledged_on=e.acknowledged_on,
                points=tuple(e.points),
                outcomes_sought=tuple(e.outcomes_sought),
            )
        case ev.RepresentativeRecorded():
            return replace(
                state,
                representative=Representative(e.name, e.role, e.contact),
                consent_pending=not e.consent_received,
            )
        case ev.ConsentReceived():
            return replace(state, consent_pending=False)
        case ev.ExtensionRequested():
            record = state.stages[e.stage - 1]
            pending = PendingExtension(e.extension_id, e.working_days, e.reason)
            return _stage(state, e.stage, pending_extensions=(*record.pending_extensions, pending))
        case ev.ExtensionGranted():
            record = state.stages[e.stage - 1]
            return _stage(
                state,
                e.stage,
                extension_days=record.extension_days + e.working_days,
                extension_ids=(*record.extension_ids, e.extension_id),
                pending_extensions=tuple(
                    p for p in record.pending_extensions if p.extension_id != e.extension_id
                ),
            )
        case ev.ExtensionRefused():
            record = state.stages[e.stage - 1]
            return _stage(
                state,
                e.stage,
                pending_extensions=tuple(
                    p for p in record.pending_extensions if p.extension_id != e.extension_id
                ),
            )
        case ev.ClockPaused():
            return _stage(state, e.stage, paused_since=e.paused_on)
        case ev.ClockResumed():
            return _stage(state, e.stage, paused_since=None)
        case ev.ResponseDrafted():
            draft = Draft(e.draft, tuple(e.point_outcomes))
            return _stage(state, e.stage, draft=draft)
        case ev.ResponseQualityChecked():
            record = state.stages[e.stage - 1]
            assert record.draft is not None
            return _stage(state, e.stage, draft=replace(record.draft, quality_passed=e.passed))
        case ev.ResponseIssued():
            return _stage(
                state,
                e.stage,
                issued_on=e.issued_on,
                overall=e.overall,
                point_outcomes=tuple(e.point_outcomes),
            )
        case ev.RemedyRecorded():
            remedy = Remedy(
                e.remedy_id, e.remedy_type, e.description, e.amount, e.due_on, e.needs_approval
            )
            return replace(state, remedies=(*state.remedies, remedy))
        case ev.RedressApproved():
            return replace(
                state, remedies=_swap(state.remedies, e.remedy_id, "remedy_id", approved=True)
            )
        case ev.RedressPaid():
            return replace(
                state, remedies=_swap(state.remedies, e.remedy_id, "remedy_id", paid_on=e.paid_on)
            )
        case ev.RemedyCompleted():
            return replace(
                state,
                remedies=_swap(
                    state.remedies, e.remedy_id, "remedy_id", completed_on=e.completed_on
                ),
            )
        case ev.LearningActionAdded():
            action = LearningAction(e.action_id, e.description, e.owner, e.due_on)
            return replace(state, learning_actions=(*state.learning_actions, action))
        case ev.LearningActionCompleted():
            return replace(
                state,
                learning_actions=_swap(
                    state.learning_actions, e.action_id, "action_id", completed_on=e.completed_on
                ),
            )
        case ev.CaseEscalated():
            state = _stage(state, e.from_stage)
            new = StageRecord(number=e.to_stage, escalation_reasons=e.reasons)
            return replace(state, stage=e.to_stage, stages=(*state.stages, new), officer=None)
        case ev.OmbudsmanEnquiryReceived():
            return replace(
                state,
                ombudsman=OmbudsmanCase(
                    e.body, e.ombudsman_reference, e.stage, e.received_on, e.information_due_on
                ),
            )
        case ev.OmbudsmanInformationProvided():
            assert state.ombudsman is not None
            return replace(
                state, ombudsman=replace(state.ombudsman, information_provided_on=e.provided_on)
            )
        case ev.OmbudsmanDecisionRecorded():
            assert state.ombudsman is not None
            return replace(
                state,
                ombudsman=replace(
                    state.ombudsman,
                    decided_on=e.decided_on,
                    finding=e.finding,
                    remedy_ordered=e.remedy_ordered,
                    compliance_due_on=e.compliance_due_on,
                ),
            )
        case ev.OmbudsmanComplianceCompleted():
            assert state.ombudsman is not None
            return replace(
                state,
                ombudsman=replace(state.ombudsman, compliance_completed_on=e.completed_on),
            )
        case ev.FlagRaised():
            flag = Flag(
                e.flag_id,
                e.flag_type,
                e.detail,
                e.referred_to,
                e.risk_kind,
                e.contact_restriction,
                e.review_on,
            )
            return replace(state, flags=(*state.flags, flag))
        case ev.FlagLifted():
            return replace(
                state, flags=_swap(state.flags, e.flag_id, "flag_id", lifted_reason=e.reason)
            )
        case ev.ContactLogged():
            return replace(state, contacts=(*state.contacts, e.contact_id))
        case ev.EvidenceAttached():
            return replace(state, evidence=(*state.evidence, e.evidence_id))
        case ev.CaseWithdrawn():
            return _closed(state, Resolution.WITHDRAWN, e.reason)
        case ev.CaseClosed():
            return _closed(state, Resolution.RESPONDED, e.reason)
        case ev.CaseReopened():
            lifecycle = Lifecycle.OPEN if state.category is not None else Lifecycle.NEW
            return replace(state, lifecycle=lifecycle, resolution=None, closed_reason=None)
    return state


def replay(events: list[EventPayload]) -> Case:
    state = Case()
    for event in events:
        state = evolve(state, event)
    return state

"""What staff (and upstream events) ask of a case. Each command says who asks, in which role,
and what day it is in London: the rules need all three, and none may come from a clock or a
session inside the domain."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from contracts import CorrespondenceReceived, FeedbackKind, FeedbackSubmitted, Procedure, Role
from contracts import case_events as ev
from contracts.events import ContactMethod


@dataclass(frozen=True)
class Actor:
    user: str
    role: Role
    service_area: str | None = None  # a service responder's own service


SYSTEM = Actor("casework", Role.ADMIN)


@dataclass(frozen=True, kw_only=True)
class Command:
    actor: Actor = SYSTEM
    today: date


@dataclass(frozen=True, kw_only=True)
class OpenCase(Command):
    case_id: uuid.UUID
    reference: str
    procedure: Procedure
    submission: FeedbackSubmitted


@dataclass(frozen=True, kw_only=True)
class Triage(Command):
    kind: FeedbackKind
    procedure: Procedure
    service_area: str
    category: str
    complexity: ev.Complexity = ev.Complexity.SIMPLE
    priority: ev.Priority = ev.Priority.NORMAL
    location: ev.Location | None = None


@dataclass(frozen=True, kw_only=True)
class NotAccept(Command):
    reason: ev.NotAcceptedReason
    explanation: str
    signposting: str


@dataclass(frozen=True, kw_only=True)
class Redirect(Command):
    target: ev.RedirectTarget
    destination: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReclassifyAsServiceRequest(Command):
    service_area: str
    note: str


@dataclass(frozen=True, kw_only=True)
class PassToService(Command):
    service_area: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Assign(Command):
    officer: str
    service_area: str | None = None


@dataclass(frozen=True, kw_only=True)
class RequestServiceResponse(Command):
    part_id: str
    service_area: str
    due_on: date
    request: str
    contributor: str | None = None
    point_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ReceiveServiceResponse(Command):
    part_id: str
    response: str


@dataclass(frozen=True, kw_only=True)
class ChaseServiceResponse(Command):
    part_id: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Acknowledge(Command):
    points: tuple[ev.PointOfComplaint, ...]
    outcomes_sought: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class RecordRepresentative(Command):
    name: str
    role: ev.RepresentativeRole
    consent_received: bool
    contact: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordConsent(Command):
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Extend(Command):
    extension_id: str
    working_days: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class ApproveExtension(Command):
    extension_id: str


@dataclass(frozen=True, kw_only=True)
class RefuseExtension(Command):
    extension_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class PauseClock(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class ResumeClock(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class DraftResponse(Command):
    text: str
    point_outcomes: tuple[ev.PointOutcome, ...]


@dataclass(frozen=True, kw_only=True)
class CheckQuality(Command):
    checklist: ev.QualityChecklist
    notes: str | None = None


@dataclass(frozen=True, kw_only=True)
class IssueResponse(Command):
    pass


@dataclass(frozen=True, kw_only=True)
class RecordRemedy(Command):
    remedy_id: str
    remedy_type: ev.RemedyType
    description: str
    amount: Decimal | None = None
    due_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class ApproveRedress(Command):
    remedy_id: str


@dataclass(frozen=True, kw_only=True)
class PayRedress(Command):
    remedy_id: str


@dataclass(frozen=True, kw_only=True)
class CompleteRemedy(Command):
    remedy_id: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class AddLearningAction(Command):
    action_id: str
    description: str
    owner: str
    due_on: date


@dataclass(frozen=True, kw_only=True)
class CompleteLearningAction(Command):
    action_id: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Escalate(Command):
    reasons: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordOmbudsmanEnquiry(Command):
    body: ev.OmbudsmanBody
    ombudsman_reference: str
    stage: ev.OmbudsmanStage
    information_due_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class ProvideOmbudsmanInformation(Command):
    summary: str


@dataclass(frozen=True, kw_only=True)
class RecordOmbudsmanDecision(Command):
    finding: ev.OmbudsmanFinding
    remedy_ordered: str | None = None
    compliance_due_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class CompleteOmbudsmanCompliance(Command):
    evidence: str


@dataclass(frozen=True, kw_only=True)
class RaiseFlag(Command):
    flag_id: str
    flag_type: ev.FlagType
    detail: str
    referred_to: str | None = None
    risk_kind: ev.RiskKind | None = None
    contact_restriction: str | None = None
    review_on: date | None = None
    allowed_channels: tuple[ContactMethod, ...] | None = None
    contact_via: str | None = None


@dataclass(frozen=True, kw_only=True)
class LiftFlag(Command):
    flag_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class LogContact(Command):
    contact_id: str
    contact_kind: ev.ContactKind
    occurred_at: datetime
    with_whom: str
    summary: str
    minutes: str | None = None


@dataclass(frozen=True, kw_only=True)
class AttachEvidence(Command):
    evidence_id: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    description: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordCorrespondence(Command):
    """Someone wrote about the case (intake matched its reference): log it as a contact and
    put what came with it in the case file."""

    correspondence: CorrespondenceReceived


@dataclass(frozen=True, kw_only=True)
class Withdraw(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class Close(Command):
    reason: str


@dataclass(frozen=True, kw_only=True)
class Reopen(Command):
    reason: str


@dataclass(frozen=True)
class Rejection:
    """A command the case's state does not allow, with the rule it broke in words an officer
    can act on."""

    reason: str
    rule: str = field(default="")

"""Casework's lifecycle events: everything that can happen to a case after it is opened.

Each is a past-tense fact on ``redress.case.v1`` keyed by the case's stream, so one case's
events stay in order. Who did it and when travel in the envelope (``actor``, ``occurred_at``);
payloads carry what was decided.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from contracts.events import ContactMethod, FeedbackKind, Procedure, uk_postcode
from contracts.registry import EventPayload, register_event
from contracts.topics import CASE_TOPIC


class Complexity(StrEnum):
    SIMPLE = "simple"
    COMPLEX = "complex"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class NotAcceptedReason(StrEnum):
    OUTSIDE_TIME_LIMIT = "outside_time_limit"
    NOT_A_COMPLAINT = "not_a_complaint"
    LEGAL_PROCEEDINGS = "legal_proceedings"
    INSURANCE_CLAIM = "insurance_claim"
    ALREADY_DECIDED = "already_decided"


class RedirectTarget(StrEnum):
    FREEDOM_OF_INFORMATION = "freedom_of_information"
    SUBJECT_ACCESS = "subject_access"
    DATA_BREACH = "data_breach"
    OTHER_ORGANISATION = "other_organisation"


class Outcome(StrEnum):
    UPHELD = "upheld"
    PARTLY_UPHELD = "partly_upheld"
    NOT_UPHELD = "not_upheld"


class RemedyType(StrEnum):
    APOLOGY = "apology"
    EXPLANATION = "explanation"
    ACTION = "action"
    CHANGED_DECISION = "changed_decision"
    RECORD_AMENDED = "record_amended"
    FINANCIAL = "financial"
    POLICY_CHANGE = "policy_change"


class FlagType(StrEnum):
    SAFEGUARDING = "safeguarding"
    DATA_PROTECTION = "data_protection"
    VULNERABILITY = "vulnerability"
    REASONABLE_ADJUSTMENT = "reasonable_adjustment"
    RISK = "risk"
    UNREASONABLE_BEHAVIOUR = "unreasonable_behaviour"


class RiskKind(StrEnum):
    MEDIA = "media"
    REGULATORY = "regulatory"
    FINANCIAL = "financial"
    REPUTATIONAL = "reputational"


class ContactKind(StrEnum):
    CALL = "call"
    EMAIL = "email"
    LETTER = "letter"
    MEETING = "meeting"
    VISIT = "visit"


class RepresentativeRole(StrEnum):
    MP = "mp"
    COUNCILLOR = "councillor"
    ADVOCATE = "advocate"
    RELATIVE = "relative"
    SOLICITOR = "solicitor"
    OTHER = "other"


class OmbudsmanBody(StrEnum):
    HOUSING_OMBUDSMAN = "housing_ombudsman"
    LGSCO = "lgsco"
    SPSO = "spso"
    PHSO = "phso"


class OmbudsmanStage(StrEnum):
    ENQUIRY = "enquiry"
    INVESTIGATION = "investigation"


class OmbudsmanFinding(StrEnum):
    NO_FAULT = "no_fault"
    SERVICE_FAILURE = "service_failure"
    MALADMINISTRATION = "maladministration"
    SEVERE_MALADMINISTRATION = "severe_maladministration"
    NOT_INVESTIGATED = "not_investigated"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(_Frozen):
    address: str | None = Field(None, max_length=500)
    postcode: str | None = Field(None, max_length=10)
    ward: str | None = Field(None, max_length=100)

    _postcode = field_validator("postcode")(lambda cls, v: uk_postcode(v))


class PointOfComplaint(_Frozen):
    point_id: str = Field(min_length=1, max_length=20)
    text: str = Field(min_length=1, max_length=5_000)


class PointOutcome(_Frozen):
    point_id: str = Field(min_length=1, max_length=20)
    outcome: Outcome
    reasons: str = Field(min_length=1, max_length=10_000)


class QualityChecklist(_Frozen):
    """HOS Code 6.7 and 6.17-6.19: what a response letter must contain."""

    every_point_answered: bool
    plain_english: bool
    remedy_stated: bool
    signposting_present: bool

    def all_met(self) -> bool:
        return all(
            (
                self.every_point_answered,
                self.plain_english,
                self.remedy_stated,
                self.signposting_present,
            )
        )


class _CaseEvent(EventPayload):
    topic: ClassVar[str] = CASE_TOPIC
    schema_version: ClassVar[int] = 1
    case_id: uuid.UUID


@register_event
class CaseTriaged(_CaseEvent):
    event_type: ClassVar[str] = "CaseTriaged"
    kind: FeedbackKind
    procedure: Procedure
    service_area: str = Field(min_length=1, max_length=100)
    category: str = Field(min_length=1, max_length=100)
    complexity: Complexity
    priority: Priority
    location: Location | None = None
    #: of the location's postcode, in clear for reports (the postcode itself is sealed)
    postcode_district: str | None = Field(None, max_length=4)


@register_event
class CaseNotAccepted(_CaseEvent):
    event_type: ClassVar[str] = "CaseNotAccepted"
    reason: NotAcceptedReason
    explanation: str = Field(min_length=1, max_length=5_000)
    signposting: str = Field(min_length=1, max_length=2_000)


@register_event
class CaseRedirected(_CaseEvent):
    event_type: ClassVar[str] = "CaseRedirected"
    target: RedirectTarget
    destination: str = Field(min_length=1, max_length=200)
    note: str | None = Field(None, max_length=2_000)


@register_event
class CaseReclassifiedAsServiceRequest(_CaseEvent):
    event_type: ClassVar[str] = "CaseReclassifiedAsServiceRequest"
    service_area: str = Field(min_length=1, max_length=100)
    note: str = Field(min_length=1, max_length=2_000)


@register_event
class FeedbackPassedToService(_CaseEvent):
    """A compliment or comment was logged and passed to the service it is about."""

    event_type: ClassVar[str] = "FeedbackPassedToService"
    service_area: str = Field(min_length=1, max_length=100)
    note: str | None = Field(None, max_length=2_000)


@register_event
class CaseAssigned(_CaseEvent):
    event_type: ClassVar[str] = "CaseAssigned"
    stage: int = Field(ge=1, le=3)
    officer: str = Field(min_length=1, max_length=100)
    service_area: str | None = Field(None, max_length=100)
    previous_officer: str | None = None


@register_event
class ServiceResponseRequested(_CaseEvent):
    """One service's part of a complaint: what it must answer, by whom, by when."""

    event_type: ClassVar[str] = "ServiceResponseRequested"
    stage: int = Field(ge=1, le=3)
    part_id: str = Field(min_length=1, max_length=20)
    service_area: str = Field(min_length=1, max_length=100)
    contributor: str | None = Field(None, max_length=100)
    point_ids: list[str] = Field(default_factory=list)
    due_on: date
    request: str = Field(min_length=1, max_length=5_000)


@register_event
class ServiceResponseReceived(_CaseEvent):
    event_type: ClassVar[str] = "ServiceResponseReceived"
    stage: int = Field(ge=1, le=3)
    part_id: str
    response: str = Field(min_length=1, max_length=20_000)


@register_event
class ServiceResponseChased(_CaseEvent):
    event_type: ClassVar[str] = "ServiceResponseChased"
    stage: int = Field(ge=1, le=3)
    part_id: str
    note: str | None = Field(None, max_length=2_000)


@register_event
class CaseAcknowledged(_CaseEvent):
    """The case definition: the points the response must answer and the outcomes sought."""

    event_type: ClassVar[str] = "CaseAcknowledged"
    stage: int = Field(ge=1, le=3)
    acknowledged_on: date
    points: list[PointOfComplaint] = Field(min_length=1)
    outcomes_sought: list[str] = Field(min_length=1)


@register_event
class RepresentativeRecorded(_CaseEvent):
    event_type: ClassVar[str] = "RepresentativeRecorded"
    name: str = Field(min_length=1, max_length=200)
    role: RepresentativeRole
    contact: str | None = Field(None, max_length=500)
    consent_received: bool


@register_event
class ConsentReceived(_CaseEvent):
    event_type: ClassVar[str] = "ConsentReceived"
    received_on: date
    note: str | None = Field(None, max_length=2_000)


@register_event
class ExtensionRequested(_CaseEvent):
    """An extension that the procedure says a manager must approve, waiting for one."""

    event_type: ClassVar[str] = "ExtensionRequested"
    stage: int = Field(ge=1, le=3)
    extension_id: str
    working_days: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2_000)


@register_event
class ExtensionGranted(_CaseEvent):
    event_type: ClassVar[str] = "ExtensionGranted"
    stage: int = Field(ge=1, le=3)
    extension_id: str
    working_days: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2_000)
    approved_by: str | None = None
    resident_told_on: date


@register_event
class ExtensionRefused(_CaseEvent):
    event_type: ClassVar[str] = "ExtensionRefused"
    stage: int = Field(ge=1, le=3)
    extension_id: str
    reason: str = Field(min_length=1, max_length=2_000)


@register_event
class ClockPaused(_CaseEvent):
    event_type: ClassVar[str] = "ClockPaused"
    stage: int = Field(ge=1, le=3)
    reason: str = Field(min_length=1, max_length=2_000)
    paused_on: date


@register_event
class ClockResumed(_CaseEvent):
    event_type: ClassVar[str] = "ClockResumed"
    stage: int = Field(ge=1, le=3)
    resumed_on: date


@register_event
class ResponseDrafted(_CaseEvent):
    event_type: ClassVar[str] = "ResponseDrafted"
    stage: int = Field(ge=1, le=3)
    draft: int = Field(ge=1)
    text: str = Field(min_length=1, max_length=100_000)
    point_outcomes: list[PointOutcome] = Field(min_length=1)


@register_event
class ResponseQualityChecked(_CaseEvent):
    event_type: ClassVar[str] = "ResponseQualityChecked"
    stage: int = Field(ge=1, le=3)
    draft: int = Field(ge=1)
    checklist: QualityChecklist
    passed: bool
    notes: str | None = Field(None, max_length=5_000)


@register_event
class ResponseIssued(_CaseEvent):
    event_type: ClassVar[str] = "ResponseIssued"
    stage: int = Field(ge=1, le=3)
    draft: int = Field(ge=1)
    issued_on: date
    point_outcomes: list[PointOutcome] = Field(min_length=1)
    overall: Outcome
    final: bool


@register_event
class RemedyRecorded(_CaseEvent):
    event_type: ClassVar[str] = "RemedyRecorded"
    remedy_id: str = Field(min_length=1, max_length=20)
    remedy_type: RemedyType
    description: str = Field(min_length=1, max_length=5_000)
    amount: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)
    due_on: date | None = None
    needs_approval: bool


@register_event
class RedressApproved(_CaseEvent):
    event_type: ClassVar[str] = "RedressApproved"
    remedy_id: str


@register_event
class RedressPaid(_CaseEvent):
    event_type: ClassVar[str] = "RedressPaid"
    remedy_id: str
    paid_on: date


@register_event
class RemedyCompleted(_CaseEvent):
    event_type: ClassVar[str] = "RemedyCompleted"
    remedy_id: str
    completed_on: date
    note: str | None = Field(None, max_length=2_000)


@register_event
class LearningActionAdded(_CaseEvent):
    event_type: ClassVar[str] = "LearningActionAdded"
    action_id: str = Field(min_length=1, max_length=20)
    description: str = Field(min_length=1, max_length=5_000)
    owner: str = Field(min_length=1, max_length=100)
    due_on: date


@register_event
class LearningActionCompleted(_CaseEvent):
    event_type: ClassVar[str] = "LearningActionCompleted"
    action_id: str
    completed_on: date
    note: str | None = Field(None, max_length=2_000)


@register_event
class CaseEscalated(_CaseEvent):
    event_type: ClassVar[str] = "CaseEscalated"
    from_stage: int = Field(ge=1, le=2)
    to_stage: int = Field(ge=2, le=3)
    requested_on: date
    reasons: str | None = Field(None, max_length=10_000)


@register_event
class OmbudsmanEnquiryReceived(_CaseEvent):
    event_type: ClassVar[str] = "OmbudsmanEnquiryReceived"
    body: OmbudsmanBody
    ombudsman_reference: str = Field(min_length=1, max_length=50)
    stage: OmbudsmanStage
    received_on: date
    information_due_on: date | None = None


@register_event
class OmbudsmanInformationProvided(_CaseEvent):
    event_type: ClassVar[str] = "OmbudsmanInformationProvided"
    provided_on: date
    summary: str = Field(min_length=1, max_length=10_000)


@register_event
class OmbudsmanDecisionRecorded(_CaseEvent):
    event_type: ClassVar[str] = "OmbudsmanDecisionRecorded"
    decided_on: date
    finding: OmbudsmanFinding
    remedy_ordered: str | None = Field(None, max_length=10_000)
    compliance_due_on: date | None = None


@register_event
class OmbudsmanComplianceCompleted(_CaseEvent):
    event_type: ClassVar[str] = "OmbudsmanComplianceCompleted"
    completed_on: date
    evidence: str = Field(min_length=1, max_length=10_000)


@register_event
class FlagRaised(_CaseEvent):
    event_type: ClassVar[str] = "FlagRaised"
    flag_id: str = Field(min_length=1, max_length=20)
    flag_type: FlagType
    detail: str = Field(min_length=1, max_length=5_000)
    referred_to: str | None = Field(None, max_length=200)
    risk_kind: RiskKind | None = None
    contact_restriction: str | None = Field(None, max_length=2_000)
    review_on: date | None = None
    #: under the unreasonable-behaviour policy: the only ways we may write to the resident
    #: (empty: not at all), and one named contact all correspondence goes through
    allowed_channels: list[ContactMethod] | None = None
    contact_via: str | None = Field(None, max_length=320)


@register_event
class FlagLifted(_CaseEvent):
    event_type: ClassVar[str] = "FlagLifted"
    flag_id: str
    reason: str = Field(min_length=1, max_length=2_000)


@register_event
class ContactLogged(_CaseEvent):
    event_type: ClassVar[str] = "ContactLogged"
    contact_id: str = Field(min_length=1, max_length=20)
    contact_kind: ContactKind
    occurred_at: AwareDatetime
    with_whom: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=5_000)
    minutes: str | None = Field(None, max_length=50_000)


@register_event
class EvidenceAttached(_CaseEvent):
    event_type: ClassVar[str] = "EvidenceAttached"
    evidence_id: str = Field(min_length=1, max_length=40)
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    size_bytes: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    description: str | None = Field(None, max_length=2_000)


@register_event
class CaseWithdrawn(_CaseEvent):
    event_type: ClassVar[str] = "CaseWithdrawn"
    reason: str = Field(min_length=1, max_length=2_000)


@register_event
class CaseClosed(_CaseEvent):
    event_type: ClassVar[str] = "CaseClosed"
    reason: str = Field(min_length=1, max_length=2_000)


@register_event
class CaseReopened(_CaseEvent):
    event_type: ClassVar[str] = "CaseReopened"
    reason: str = Field(min_length=1, max_length=2_000)

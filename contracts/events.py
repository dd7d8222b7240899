"""The first payloads: a submission arrives, a case opens, deadlines are set, the resident is
acknowledged. Names are past-tense facts; fields say what they mean in complaints terms."""

from __future__ import annotations

import re
import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

from contracts.registry import EventPayload, register_event
from contracts.topics import (
    CASE_TOPIC,
    DEADLINE_TOPIC,
    INTAKE_TOPIC,
    NOTIFICATION_TOPIC,
    ORGANISATION_TOPIC,
)

_POSTCODE = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][0-9A-Z]?[0-9][A-Z]{2})$")


def uk_postcode(value: str | None) -> str | None:
    """Normalised to the Royal Mail form (upper case, one space before the inward code)."""
    if value is None:
        return None
    compact = re.sub(r"\s+", "", value).upper()
    if not _POSTCODE.match(compact):
        raise ValueError("not a valid UK postcode")
    return f"{compact[:-3]} {compact[-3:]}"


class FeedbackKind(StrEnum):
    COMPLAINT = "complaint"
    COMPLIMENT = "compliment"
    COMMENT = "comment"
    MEMBER_ENQUIRY = "member_enquiry"


class Channel(StrEnum):
    WEB = "web"
    PHONE = "phone"
    EMAIL = "email"
    LETTER = "letter"
    FACE_TO_FACE = "face_to_face"


class Procedure(StrEnum):
    """The complaints procedure a case is handled under (PROCEDURES.md)."""

    HOUSING_OMBUDSMAN = "housing_ombudsman"
    LGSCO = "lgsco"
    SPSO = "spso"
    ADULT_SOCIAL_CARE = "adult_social_care"
    CHILDRENS_SOCIAL_CARE = "childrens_social_care"


class Nation(StrEnum):
    """UK nations, by the subdivision code the ``holidays`` package needs for bank holidays."""

    ENGLAND = "ENG"
    WALES = "WLS"
    SCOTLAND = "SCT"
    NORTHERN_IRELAND = "NIR"


class ContactMethod(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    LETTER = "letter"


class DeadlineKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    RESPONSE = "response"


class Complainant(BaseModel):
    """The person the case is about or who raised it. Personal data: issue 8 encrypts it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=10)
    preferred_contact: ContactMethod = ContactMethod.EMAIL

    _postcode = field_validator("postcode")(lambda cls, v: uk_postcode(v))


@register_event
class FeedbackSubmitted(EventPayload):
    """A resident's complaint, compliment or comment was received on some channel."""

    event_type: ClassVar[str] = "FeedbackSubmitted"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = INTAKE_TOPIC

    submission_id: uuid.UUID
    kind: FeedbackKind
    channel: Channel
    organisation_id: str = Field(min_length=1, max_length=100)
    service_area: str | None = Field(default=None, max_length=100)
    received_at: AwareDatetime
    summary: str = Field(min_length=1, max_length=20_000)
    outcome_sought: str | None = Field(default=None, max_length=5_000)
    complainant: Complainant


@register_event
class CaseOpened(EventPayload):
    """Casework logged a submission as a case with a human reference."""

    event_type: ClassVar[str] = "CaseOpened"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = CASE_TOPIC

    case_id: uuid.UUID
    reference: str = Field(pattern=r"^[A-Z]{3}-\d{4}-\d{6,}$")
    submission_id: uuid.UUID
    kind: FeedbackKind
    channel: Channel
    organisation_id: str
    service_area: str | None = None
    procedure: Procedure
    stage: int = Field(ge=1, le=3)
    received_at: AwareDatetime
    summary: str
    complainant: Complainant


@register_event
class DeadlineSet(EventPayload):
    """Deadlines computed a due date for a case. ``explanation`` says how, in words an officer
    can read back to a resident or an Ombudsman."""

    event_type: ClassVar[str] = "DeadlineSet"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = DEADLINE_TOPIC

    deadline_id: uuid.UUID
    case_id: uuid.UUID
    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    procedure: Procedure
    counts_from: date
    working_days: int = Field(ge=0)
    due_on: date
    provisional: bool = False
    clause: str
    explanation: str


@register_event
class NotificationSent(EventPayload):
    """A letter or message went to someone, through a channel, exactly once."""

    event_type: ClassVar[str] = "NotificationSent"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = NOTIFICATION_TOPIC

    notification_id: uuid.UUID
    case_id: uuid.UUID
    template: str
    channel: str
    recipient: str
    sent_at: AwareDatetime


@register_event
class OrganisationConfigured(EventPayload):
    """A council, housing association or one side of a shared service, as configured: the
    nation whose bank holidays count, the procedure each service area's complaints follow, and
    its own closure days. The latest event for an organisation is its configuration."""

    event_type: ClassVar[str] = "OrganisationConfigured"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = ORGANISATION_TOPIC

    organisation_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")
    name: str = Field(min_length=1, max_length=200)
    nation: Nation
    default_procedure: Procedure
    procedures_by_service: dict[str, Procedure] = Field(default_factory=dict)
    closure_days: list[date] = Field(default_factory=list)
    shared_service: str | None = Field(
        None, max_length=200, description="The shared service team that handles it, if any"
    )

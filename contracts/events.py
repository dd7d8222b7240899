"""The first payloads: a submission arrives, a case opens, deadlines are set, the resident is
acknowledged. Names are past-tense facts; fields say what they mean in complaints terms."""

from __future__ import annotations

import re
import time
import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic.networks import import_email_validator, validate_email
from pydantic_core import core_schema

from contracts.registry import EventPayload, register_event
from contracts.topics import (
    CASE_TOPIC,
    DEADLINE_TOPIC,
    INTAKE_TOPIC,
    NOTIFICATION_TOPIC,
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


#: addresses already checked, and what they normalise to, for at most `_CHECKED_FOR` seconds
#: and `_CHECKED_AT_MOST` addresses: long enough for a resident's submission and their case's
#: opening to share one check, short enough that personal data is not kept in memory longer than
#: the vault keeps the keys that open it (a minute); all forgotten when a person is erased
_CHECKED: dict[str, str] = {}
_CHECKED_FOR = 60.0
_CHECKED_AT_MOST = 4096
_checked_since = time.monotonic()


def _checked_email(value: str) -> str:
    """pydantic's `EmailStr` check, remembered for a while: a pure function of the text, and
    about 20 us a call (most of decoding a submission), while one resident's address comes
    back in several events close together. A refusal is not remembered."""
    global _checked_since
    now = time.monotonic()
    if now - _checked_since > _CHECKED_FOR or len(_CHECKED) >= _CHECKED_AT_MOST:
        forget_checked_emails()
        _checked_since = now
    found = _CHECKED.get(value)
    if found is None:
        found = _CHECKED[value] = validate_email(value)[1]
    return found


def forget_checked_emails() -> None:
    """Drop every remembered address (a person was erased, or their time is up)."""
    _CHECKED.clear()


class _EmailCheck:
    """What `EmailStr` checks and how its schema reads (a string, format email), through
    `_checked_email`."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        import_email_validator()
        return core_schema.no_info_after_validator_function(
            _checked_email, core_schema.str_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        field_schema = handler(schema)
        field_schema.update(type="string", format="email")
        return field_schema


#: an email address, checked and normalised as pydantic's `EmailStr` does
EmailStr = Annotated[str, _EmailCheck]


def postcode_district(postcode: str | None) -> str | None:
    """The outward code ("SW1A" of "SW1A 1AA"): coarse enough to count places by, so it stays
    in clear in events while the full postcode is sealed with the person's key."""
    return postcode.split(" ")[0] if postcode else None


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


class Adjustment(StrEnum):
    """Reasonable adjustments to how we write to someone."""

    LARGE_PRINT = "large_print"
    EASY_READ = "easy_read"


class TriageHint(StrEnum):
    """What intake noticed in the words, for a person to confirm: never a decision."""

    SAFEGUARDING = "safeguarding"
    SUBJECT_ACCESS = "subject_access"
    FREEDOM_OF_INFORMATION = "freedom_of_information"
    MEDIA_OR_LEGAL_RISK = "media_or_legal_risk"
    #: what happened is older than the procedure's time limit to complain: the case is still
    #: opened, and a person decides whether to use the discretion every code allows
    OUTSIDE_TIME_LIMIT = "outside_time_limit"


class MemberRole(StrEnum):
    MP = "mp"
    COUNCILLOR = "councillor"


class DeadlineKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    RESPONSE = "response"
    PANEL = "panel"  # children's statutory stage 3 review panel meeting
    SERVICE_PART = "service_part"  # a service's part of the response
    OMBUDSMAN_INFORMATION = "ombudsman_information"


class Complainant(BaseModel):
    """The person the case is about or who raised it. Personal data: issue 8 encrypts it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=10)
    preferred_contact: ContactMethod = ContactMethod.EMAIL
    adjustments: list[Adjustment] = Field(default_factory=list)
    #: adjustments not in the list, in the resident's words (a BSL interpreter, calls after 4pm)
    other_adjustments: str | None = Field(default=None, max_length=1_000)

    _postcode = field_validator("postcode")(lambda cls, v: uk_postcode(v))


class OnBehalfOf(BaseModel):
    """The person a complaint is made for, when someone complains for them (a relative, a
    friend, an advocate): the complainant's fields are then the person making it, who says the
    person agreed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    relationship: str | None = Field(
        default=None, max_length=200, description="How the person making it knows them"
    )
    consent_given: bool = Field(
        default=False, description="The person making it says they agreed to it"
    )


class PlaceComplainedAbout(BaseModel):
    """Where the problem is (which may not be where the resident lives)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=10)

    _postcode = field_validator("postcode")(lambda cls, v: uk_postcode(v))


class Member(BaseModel):
    """An MP or councillor raising a matter for a resident (a member enquiry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    role: MemberRole
    email: EmailStr | None = None
    constituency_or_ward: str | None = Field(default=None, max_length=200)


class Attachment(BaseModel):
    """A file that came with a submission (an email's attachment, a letter's scan). Intake
    keeps the bytes; the event carries what a case file lists and a digest to prove them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attachment_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=100)
    size_bytes: int = Field(ge=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Sender(BaseModel):
    """Who wrote to us, as their message says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None


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
    #: the resident's stable id (redress.vault): their personal fields are sealed with its key
    person_id: uuid.UUID | None = None
    service_area: str | None = Field(default=None, max_length=100)
    received_at: AwareDatetime
    summary: str = Field(min_length=1, max_length=20_000)
    outcome_sought: str | None = Field(default=None, max_length=5_000)
    complainant: Complainant
    location: PlaceComplainedAbout | None = None
    agent_id: str | None = Field(default=None, max_length=100)
    member: Member | None = None
    consent_given: bool | None = None
    triage_hints: list[TriageHint] = Field(default_factory=list)
    #: when the matter complained about happened (or the resident became aware of it), if
    #: they said: casework compares it with the procedure's time limit
    happened_on: date | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    #: someone else's complaint made for them, with their consent
    on_behalf_of: OnBehalfOf | None = None


@register_event
class CorrespondenceReceived(EventPayload):
    """Someone wrote about an existing case (an email reply carrying its reference): it
    belongs on that case's contact log, not in a new case."""

    event_type: ClassVar[str] = "CorrespondenceReceived"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = INTAKE_TOPIC

    correspondence_id: uuid.UUID
    case_id: uuid.UUID
    reference: str = Field(pattern=r"^[A-Z]{3}-\d{4}-\d{6,}$")
    channel: Channel
    received_at: AwareDatetime
    sender: Sender
    subject: str = Field(max_length=1_000)
    text: str = Field(max_length=50_000)
    attachments: list[Attachment] = Field(default_factory=list)


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
    location: PlaceComplainedAbout | None = None
    triage_hints: list[TriageHint] = Field(default_factory=list)
    member: Member | None = None
    person_id: uuid.UUID | None = None
    #: of the complainant's postcode, in clear for reports (the postcode itself is sealed)
    postcode_district: str | None = Field(default=None, max_length=4)
    #: as on the submission
    on_behalf_of: OnBehalfOf | None = None
    happened_on: date | None = None


class _DeadlineEvent(EventPayload):
    topic: ClassVar[str] = DEADLINE_TOPIC
    schema_version: ClassVar[int] = 1

    deadline_id: uuid.UUID
    case_id: uuid.UUID


@register_event
class DeadlineSet(_DeadlineEvent):
    """Deadlines computed a due date for a case. ``explanation`` says how, in words an officer
    can read back to a resident or an Ombudsman."""

    event_type: ClassVar[str] = "DeadlineSet"

    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    procedure: Procedure
    counts_from: date
    working_days: int = Field(ge=0)
    due_on: date
    provisional: bool = False
    clause: str
    explanation: str
    organisation_id: str | None = None
    part_id: str | None = None


@register_event
class DeadlineChanged(_DeadlineEvent):
    """A due date moved: the clock started for real, an extension, a resumed clock."""

    event_type: ClassVar[str] = "DeadlineChanged"

    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    due_on: date
    previous_due_on: date | None
    provisional: bool
    reason: str
    explanation: str
    extension_days: int = Field(0, ge=0)
    paused_working_days: int = Field(0, ge=0)
    #: set when the clock (re)starts from a new day, such as the acknowledgement
    counts_from: date | None = None


@register_event
class DeadlinePaused(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlinePaused"

    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    paused_on: date
    remaining_working_days: int = Field(ge=0)


@register_event
class DeadlineMet(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineMet"

    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    met_on: date
    due_on: date | None
    late: bool
    #: for reports: working days from the clock's start to the step, the days extensions added,
    #: and the working days the clock stood paused (so pausing never hides in a "met")
    working_days_taken: int | None = None
    extension_days: int = 0
    paused_working_days: int = 0


@register_event
class DeadlineCancelled(_DeadlineEvent):
    event_type: ClassVar[str] = "DeadlineCancelled"

    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    reason: str


@register_event
class DeadlineApproaching(_DeadlineEvent):
    """A reminder: the due date is this many working days away."""

    event_type: ClassVar[str] = "DeadlineApproaching"

    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    due_on: date
    working_days_left: int = Field(ge=0)


@register_event
class DeadlineMissed(_DeadlineEvent):
    """The due day ended with the step not done."""

    event_type: ClassVar[str] = "DeadlineMissed"

    kind: DeadlineKind
    stage: int = Field(ge=1, le=3)
    due_on: date


@register_event
class ExtensionNotAllowed(EventPayload):
    """Deadlines could not apply an extension: it would pass the procedure's limit. Reported
    back so that casework (and the officer) knows the due date did not move."""

    event_type: ClassVar[str] = "ExtensionNotAllowed"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = DEADLINE_TOPIC

    case_id: uuid.UUID
    stage: int = Field(ge=1, le=3)
    extension_id: str
    reason: str


@register_event
class NotificationFailed(EventPayload):
    """A notification could not be delivered after every retry; someone must act."""

    event_type: ClassVar[str] = "NotificationFailed"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = NOTIFICATION_TOPIC

    notification_id: uuid.UUID
    case_id: uuid.UUID
    template: str
    channel: str
    recipient: str
    attempts: int = Field(ge=1)
    error: str


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

"""Event contracts shared by every Redress service.

Only schemas, topic names and (de)serialisation live here: no I/O, and nothing here imports a
service. Services depend on this package; it depends on nothing of theirs.
"""

from contracts import case_events  # registers the lifecycle events
from contracts.envelope import Envelope, new_envelope
from contracts.errors import ContractError, UnknownEventType
from contracts.events import (
    Attachment,
    CaseOpened,
    Channel,
    Complainant,
    CorrespondenceReceived,
    DeadlineApproaching,
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineKind,
    DeadlineMet,
    DeadlineMissed,
    DeadlinePaused,
    DeadlineSet,
    ExtensionNotAllowed,
    FeedbackKind,
    FeedbackSubmitted,
    Nation,
    NotificationFailed,
    NotificationSent,
    Procedure,
)
from contracts.organisations import OrganisationConfigured
from contracts.people import ErasureReason, PersonErased
from contracts.registry import EventPayload, decode_payload, event_spec, registered_event_types
from contracts.roles import Role
from contracts.serialisation import decode_envelope, encode_envelope
from contracts.topics import (
    ALL_TOPICS,
    CASE_TOPIC,
    DEADLINE_TOPIC,
    INTAKE_TOPIC,
    NOTIFICATION_TOPIC,
    ORGANISATION_TOPIC,
    PERSON_TOPIC,
    dead_letter_topic,
)

__all__ = [
    "ALL_TOPICS",
    "CASE_TOPIC",
    "DEADLINE_TOPIC",
    "INTAKE_TOPIC",
    "NOTIFICATION_TOPIC",
    "ORGANISATION_TOPIC",
    "PERSON_TOPIC",
    "Attachment",
    "CaseOpened",
    "Channel",
    "Complainant",
    "ContractError",
    "CorrespondenceReceived",
    "DeadlineApproaching",
    "DeadlineCancelled",
    "DeadlineChanged",
    "DeadlineKind",
    "DeadlineMet",
    "DeadlineMissed",
    "DeadlinePaused",
    "DeadlineSet",
    "Envelope",
    "ErasureReason",
    "EventPayload",
    "ExtensionNotAllowed",
    "FeedbackKind",
    "FeedbackSubmitted",
    "Nation",
    "NotificationFailed",
    "NotificationSent",
    "OrganisationConfigured",
    "PersonErased",
    "Procedure",
    "Role",
    "UnknownEventType",
    "case_events",
    "dead_letter_topic",
    "decode_envelope",
    "decode_payload",
    "encode_envelope",
    "event_spec",
    "new_envelope",
    "registered_event_types",
]

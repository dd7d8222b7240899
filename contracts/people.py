"""Events about people rather than cases: a person's personal data was erased."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from contracts.registry import EventPayload, register_event
from contracts.topics import PERSON_TOPIC


class ErasureReason(StrEnum):
    REQUEST = "request"  # the person asked (UK GDPR art. 17), or an admin decided
    RETENTION = "retention"  # every case closed longer ago than the retention period


@register_event
class PersonErased(EventPayload):
    """A person's key was destroyed: every sealed field of theirs, in every event store,
    outbox and topic, now reads as a placeholder. Each service scrubs the clear copies it
    made in its own tables for these cases and submissions; counts and dates stay."""

    event_type: ClassVar[str] = "PersonErased"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = PERSON_TOPIC

    person_id: uuid.UUID
    case_ids: list[uuid.UUID] = Field(default_factory=list)
    submission_ids: list[uuid.UUID] = Field(default_factory=list)
    erased_on: date
    reason: ErasureReason

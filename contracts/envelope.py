"""The one envelope every event travels in (ARCHITECTURE.md, "The event log")."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.registry import EventPayload, event_spec


class Envelope(BaseModel):
    """Metadata plus payload. The payload is kept as plain JSON here so that an envelope can be
    routed, stored and dead-lettered without knowing every payload type; `decode_payload` turns
    it into the typed model (upcasting older versions on the way)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID
    event_type: str = Field(min_length=1)
    schema_version: int = Field(ge=1)
    stream_id: str = Field(min_length=1)
    stream_version: int = Field(ge=1)
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    actor: str = Field(min_length=1)
    payload: dict[str, Any]


def new_envelope(
    payload: EventPayload,
    *,
    stream_id: str,
    stream_version: int,
    occurred_at: datetime,
    actor: str,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    recorded_at: datetime | None = None,
) -> Envelope:
    """Wrap a payload at its current schema version.

    ``event_id`` may be passed to make an event deterministic (derived from what caused it), so
    that a retried command produces the same id and de-duplication catches it.
    """
    spec = event_spec(payload.event_type)
    return Envelope(
        event_id=event_id or uuid.uuid4(),
        event_type=spec.event_type,
        schema_version=spec.schema_version,
        stream_id=stream_id,
        stream_version=stream_version,
        occurred_at=occurred_at,
        recorded_at=recorded_at or datetime.now(UTC),
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=actor,
        payload=payload.model_dump(mode="json"),
    )

"""Bytes on the wire <-> envelopes. UTF-8 JSON, one envelope per Kafka message."""

from __future__ import annotations

import json

from pydantic import ValidationError

from contracts.envelope import Envelope
from contracts.errors import ContractError
from contracts.registry import EventPayload, decode_payload, event_spec

#: The largest message a consumer will parse: Kafka's default ``message.max.bytes``. Nothing
#: Redress publishes comes near it (evidence files travel by reference, never in events), and a
#: bigger one would only cost a consumer memory and time before being refused anyway.
MAX_MESSAGE_BYTES = 1024 * 1024


def encode_envelope(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode("utf-8")


def decode_envelope(raw: bytes) -> Envelope:
    """Parse and check an envelope; the event type must be known so that a typo'd or foreign
    message is caught at the door rather than deep in a handler."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ContractError(f"message of {len(raw)} bytes is over the {MAX_MESSAGE_BYTES} limit")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"not valid UTF-8 JSON: {exc}") from exc
    except ValueError as exc:  # an integer longer than Python's digit limit, say
        raise ContractError(f"not acceptable JSON: {str(exc)[:200]}") from exc
    except RecursionError as exc:
        raise ContractError("not acceptable JSON: nested too deeply") from exc
    if not isinstance(data, dict):
        raise ContractError(f"envelope must be a JSON object, got {type(data).__name__}")
    try:
        envelope = Envelope.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise ContractError(f"envelope invalid: {fields}") from exc
    event_spec(envelope.event_type)
    return envelope


def decode_event(raw: bytes) -> tuple[Envelope, EventPayload]:
    envelope = decode_envelope(raw)
    return envelope, decode_payload(envelope)

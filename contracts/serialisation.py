"""Bytes on the wire <-> envelopes. UTF-8 JSON, one envelope per Kafka message."""

from __future__ import annotations

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
    message is caught at the door rather than deep in a handler.

    The bytes are parsed and checked in one pass (pydantic's own JSON parser, no Python dict
    of the whole envelope first): every consumer does this for every event, and a replay does
    it a million times. That parser is stricter than ``json.loads`` where it matters here: it
    refuses nesting deeper than 200 levels and integers of more than 4,300 digits."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ContractError(f"message of {len(raw)} bytes is over the {MAX_MESSAGE_BYTES} limit")
    try:
        envelope = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0] if errors else None
        if first is not None and first["type"] == "json_invalid":
            said = str(first["msg"])[:200]
            too_big = "recursion limit" in said or "out of range" in said
            kind = "not acceptable JSON" if too_big else "not valid UTF-8 JSON"
            raise ContractError(f"{kind}: {said}") from exc
        if first is not None and first["type"] == "model_type" and not first["loc"]:
            got = type(first.get("input")).__name__
            raise ContractError(f"envelope must be a JSON object, got {got}") from exc
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors[:5]
        )
        raise ContractError(f"envelope invalid: {fields}") from exc
    event_spec(envelope.event_type)
    return envelope


def decode_event(raw: bytes) -> tuple[Envelope, EventPayload]:
    envelope = decode_envelope(raw)
    return envelope, decode_payload(envelope)

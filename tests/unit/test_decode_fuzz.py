"""Whatever bytes arrive on a topic, decoding either gives a typed event or raises ContractError
(which consumers dead-letter). Any other exception would crash or stall a consumer, so these
properties throw random, truncated, mislabelled and oversized messages at ``decode_event``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import ContractError, encode_envelope, new_envelope
from contracts.registry import (
    EventPayload,
    register_event,
    register_upcaster,
    registered_event_types,
    unregister_event,
)
from contracts.serialisation import decode_event
from tests.unit.test_contracts import submitted

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EVENT_TYPES = [s.event_type for s in registered_event_types()]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid_message() -> bytes:
    env = new_envelope(
        submitted(),
        stream_id="submission-1",
        stream_version=1,
        occurred_at=NOW,
        actor="test",
        correlation_id=uuid.uuid4(),
    )
    return encode_envelope(env)


VALID = valid_message()
VALID_DICT: dict[str, Any] = json.loads(VALID)


def rejected(raw: bytes) -> None:
    """Decoding ``raw`` fails, and only with ContractError."""
    with pytest.raises(ContractError):
        decode_event(raw)


def decodes_or_rejects(raw: bytes) -> None:
    try:
        decode_event(raw)
    except ContractError:
        pass


def test_the_valid_message_decodes() -> None:
    envelope, payload = decode_event(VALID)
    assert envelope.event_type == "FeedbackSubmitted"
    assert payload == submitted().model_copy(update={"submission_id": payload.submission_id})  # type: ignore[attr-defined]


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_are_rejected(raw: bytes) -> None:
    decodes_or_rejects(raw)


@FUZZ
@given(st.integers(min_value=0, max_value=len(VALID) - 1))
def test_every_truncation_of_a_valid_message_is_rejected(cut: int) -> None:
    rejected(VALID[:cut])


@FUZZ
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.binary(min_size=1, max_size=8))
def test_a_valid_message_with_bytes_spliced_in_never_crashes(at: int, junk: bytes) -> None:
    decodes_or_rejects(VALID[:at] + junk + VALID[at:])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)


@FUZZ
@given(st.sampled_from(sorted(VALID_DICT)), json_values)
def test_any_envelope_field_replaced_by_any_json_never_crashes(field: str, value: object) -> None:
    decodes_or_rejects(json.dumps({**VALID_DICT, field: value}).encode())


@FUZZ
@given(st.sampled_from(sorted(VALID_DICT["payload"])), json_values)
def test_any_payload_field_replaced_by_any_json_never_crashes(field: str, value: object) -> None:
    data = {**VALID_DICT, "payload": {**VALID_DICT["payload"], field: value}}
    decodes_or_rejects(json.dumps(data).encode())


@FUZZ
@given(
    st.sampled_from(EVENT_TYPES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.dictionaries(st.text(max_size=12), json_values, max_size=6),
)
def test_every_event_type_at_any_version_with_any_payload_is_rejected_or_typed(
    event_type: str, version: int, payload: dict[str, Any]
) -> None:
    data = {**VALID_DICT, "event_type": event_type, "schema_version": version, "payload": payload}
    decodes_or_rejects(json.dumps(data).encode())


@FUZZ
@given(st.integers(min_value=2, max_value=10**6))
def test_versions_newer_than_this_build_are_rejected(version: int) -> None:
    rejected(json.dumps({**VALID_DICT, "schema_version": version}).encode())


@FUZZ
@given(st.text(min_size=1, max_size=40).filter(lambda t: t not in EVENT_TYPES))
def test_unknown_event_types_are_rejected(event_type: str) -> None:
    rejected(json.dumps({**VALID_DICT, "event_type": event_type}).encode())


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=1, max_value=4), st.sampled_from(["text", "digits", "depth"]))
def test_huge_messages_are_rejected_not_crashing(megabytes: int, shape: str) -> None:
    size = megabytes * 1024 * 1024
    if shape == "text":  # a huge string where a short one belongs
        rejected(json.dumps({**VALID_DICT, "actor": "x" * size}).encode())
    elif shape == "digits":  # an integer beyond Python's digit limit for int()
        raw = VALID.replace(b'"schema_version":1', b'"schema_version":' + b"9" * size)
        rejected(raw)
    else:  # nesting deeper than the JSON parser's recursion allows
        rejected(b'{"payload": ' + b"[" * size + b"]" * size + b"}")


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=1000, max_value=200_000))
def test_deep_nesting_under_the_size_limit_is_rejected(depth: int) -> None:
    rejected(b'{"payload": ' + b"[" * depth + b"]" * depth + b"}")


class Renamed(EventPayload):
    """A throwaway type at v2 whose upcaster expects a v1 field, to feed it v1 payloads
    without that field."""

    event_type: ClassVar[str] = "RenamedForFuzz"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "redress.test.v1"

    full_name: str


@pytest.fixture(scope="module", autouse=True)
def renamed_type() -> Iterator[None]:
    """Registered only while this module runs, so no other test sees the throwaway type."""
    register_event(Renamed)
    register_upcaster("RenamedForFuzz", 1, lambda d: {"full_name": d.pop("name").strip()})
    yield
    unregister_event("RenamedForFuzz")


@FUZZ
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_an_upcaster_choking_on_an_old_payload_is_a_contract_error(
    payload: dict[str, Any],
) -> None:
    data = {**VALID_DICT, "event_type": "RenamedForFuzz", "schema_version": 1, "payload": payload}
    decodes_or_rejects(json.dumps(data).encode())


def test_an_upcaster_still_lifts_a_good_old_payload() -> None:
    data = {
        **VALID_DICT,
        "event_type": "RenamedForFuzz",
        "schema_version": 1,
        "payload": {"name": " Ada "},
    }
    _envelope, payload = decode_event(json.dumps(data).encode())
    assert payload == Renamed(full_name="Ada")

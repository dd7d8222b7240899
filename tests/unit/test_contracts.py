import json
import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pytest

from contracts import (
    CaseOpened,
    ContractError,
    FeedbackSubmitted,
    UnknownEventType,
    dead_letter_topic,
    decode_envelope,
    decode_payload,
    encode_envelope,
    new_envelope,
)
from contracts.events import Complainant
from contracts.export import SCHEMA_DIR, render, schemas
from contracts.registry import (
    EventPayload,
    register_event,
    register_upcaster,
    unregister_event,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def submitted(**overrides: object) -> FeedbackSubmitted:
    data: dict[str, object] = {
        "submission_id": uuid.uuid4(),
        "kind": "complaint",
        "channel": "web",
        "organisation_id": "org",
        "received_at": NOW,
        "summary": "Nobody came to fix the leak",
        "complainant": {"name": "A Resident", "email": "a@example.org"},
    }
    data.update(overrides)
    return FeedbackSubmitted.model_validate(data)


def envelope_for(payload: EventPayload) -> bytes:
    env = new_envelope(
        payload,
        stream_id="s-1",
        stream_version=1,
        occurred_at=NOW,
        actor="test",
        correlation_id=uuid.uuid4(),
    )
    return encode_envelope(env)


def test_round_trip_keeps_every_field() -> None:
    payload = submitted()
    raw = envelope_for(payload)
    env = decode_envelope(raw)
    assert env.event_type == "FeedbackSubmitted"
    assert env.schema_version == 1
    assert decode_payload(env) == payload


def test_someone_else_s_complaint_and_other_adjustments_round_trip_and_old_events_still_read() -> (
    None
):
    payload = submitted(
        complainant={"name": "A Carer", "email": "c@example.org", "other_adjustments": "BSL"},
        on_behalf_of={"name": "A Resident", "relationship": "mother", "consent_given": True},
    )
    assert decode_payload(decode_envelope(envelope_for(payload))) == payload
    # an event written before these fields existed has no such keys: it reads with none
    old = json.loads(envelope_for(submitted()))
    for key in ("on_behalf_of", "happened_on"):
        old["payload"].pop(key)
    old["payload"]["complainant"].pop("other_adjustments")
    decoded = decode_payload(decode_envelope(json.dumps(old).encode()))
    assert isinstance(decoded, FeedbackSubmitted)
    assert decoded.on_behalf_of is None and decoded.complainant.other_adjustments is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "envelope invalid"),
    ],
)
def test_garbage_is_a_contract_error(raw: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        decode_envelope(raw)


def test_unknown_event_type_is_rejected_at_the_door() -> None:
    data = json.loads(envelope_for(submitted()))
    data["event_type"] = "SomethingElse"
    with pytest.raises(UnknownEventType):
        decode_envelope(json.dumps(data).encode())


def test_invalid_payload_names_the_field() -> None:
    data = json.loads(envelope_for(submitted()))
    data["payload"]["kind"] = "rant"
    env = decode_envelope(json.dumps(data).encode())
    with pytest.raises(ContractError, match="kind"):
        decode_payload(env)


def test_newer_schema_version_than_known_is_rejected() -> None:
    data = json.loads(envelope_for(submitted()))
    data["schema_version"] = 99
    env = decode_envelope(json.dumps(data).encode())
    with pytest.raises(UnknownEventType, match="newer"):
        decode_payload(env)


def test_older_versions_are_upcast_step_by_step_on_read() -> None:
    @register_event
    class WidgetCounted(EventPayload):
        event_type: ClassVar[str] = "WidgetCountedForTest"
        schema_version: ClassVar[int] = 3
        topic: ClassVar[str] = "test.widgets"
        count: int
        unit: str

    try:
        register_upcaster("WidgetCountedForTest", 1, lambda d: {"count": int(d["n"])})
        register_upcaster("WidgetCountedForTest", 2, lambda d: {**d, "unit": "each"})
        raw = {
            "event_id": str(uuid.uuid4()),
            "event_type": "WidgetCountedForTest",
            "schema_version": 1,
            "stream_id": "w",
            "stream_version": 1,
            "occurred_at": NOW.isoformat(),
            "recorded_at": NOW.isoformat(),
            "correlation_id": str(uuid.uuid4()),
            "actor": "test",
            "payload": {"n": "7"},
        }
        env = decode_envelope(json.dumps(raw).encode())
        assert decode_payload(env) == WidgetCounted(count=7, unit="each")
        with pytest.raises(ValueError):
            register_upcaster("WidgetCountedForTest", 3, lambda d: d)
    finally:
        unregister_event("WidgetCountedForTest")


def test_missing_upcaster_is_reported() -> None:
    @register_event
    class Gapped(EventPayload):
        event_type: ClassVar[str] = "GappedForTest"
        schema_version: ClassVar[int] = 2
        topic: ClassVar[str] = "test.gapped"

    try:
        raw = json.loads(envelope_for(submitted()))
        raw["event_type"] = "GappedForTest"
        raw["schema_version"] = 1
        raw["payload"] = {}
        with pytest.raises(UnknownEventType, match="no upcaster from v1"):
            decode_payload(decode_envelope(json.dumps(raw).encode()))
    finally:
        unregister_event("GappedForTest")


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("sw1a1aa", "SW1A 1AA"),
        ("M1 1AE", "M1 1AE"),
        ("b33 8th", "B33 8TH"),
        ("EH1  2NG", "EH1 2NG"),
    ],
)
def test_postcodes_are_normalised(given: str, normalised: str) -> None:
    assert Complainant(name="x", postcode=given).postcode == normalised


@pytest.mark.parametrize("bad", ["12345", "SW1A", "ZZZZ ZZZ", "SW1A 1AAA"])
def test_bad_postcodes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="postcode"):
        Complainant(name="x", postcode=bad)


def test_case_reference_format_is_enforced() -> None:
    with pytest.raises(ValueError):
        CaseOpened.model_validate(
            {
                "case_id": uuid.uuid4(),
                "reference": "cmp-26-1",
                "submission_id": uuid.uuid4(),
                "kind": "complaint",
                "channel": "web",
                "organisation_id": "o",
                "procedure": "lgsco",
                "stage": 1,
                "received_at": NOW,
                "summary": "s",
                "complainant": {"name": "n"},
            }
        )


def test_dead_letter_topic_names() -> None:
    assert dead_letter_topic("redress.case.v1", "deadlines") == "redress.case.v1.dlq.deadlines"
    with pytest.raises(ValueError):
        dead_letter_topic("redress.case.v1", "")


def test_committed_json_schemas_match_the_models() -> None:
    """`redress contracts export` writes these; a model change without a re-export fails here."""
    expected = schemas()
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(expected), "run `make schemas` and commit contracts/schemas"
    for name, schema in expected.items():
        assert (SCHEMA_DIR / name).read_text() == render(schema), name

"""The pure parts of crypto-shredding: which fields are personal, sealing and opening a payload,
placeholders once a key is gone, and refusing a record that was tampered with."""

from __future__ import annotations

import json
import secrets
import typing
import uuid
from datetime import UTC, date, datetime

import pytest
from pydantic import BaseModel

from contracts import case_events as ev
from contracts import decode_payload, new_envelope
from contracts.events import FeedbackSubmitted
from contracts.personal import ERASED, PERSONAL_FIELDS, SEALED, extract, placeholder, replace
from contracts.registry import event_spec, registered_event_types
from redress.vault import (
    KeyCache,
    SealBroken,
    normalise_phone,
    open_payload,
    parse_master_key,
    seal_payload,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PERSON = uuid.uuid4()
KEY_ID = uuid.uuid4()


def submission() -> FeedbackSubmitted:
    return FeedbackSubmitted.model_validate(
        {
            "submission_id": uuid.uuid4(),
            "kind": "member_enquiry",
            "channel": "web",
            "organisation_id": "org",
            "received_at": NOW,
            "summary": "Damp in the bedroom since January",
            "outcome_sought": "Fix the damp",
            "complainant": {
                "name": "Ada Lovelace",
                "email": "ada@example.org",
                "phone": "07700 900123",
                "address": "1 Mill Lane",
                "postcode": "sw1a 1aa",
                "adjustments": ["large_print"],
            },
            "location": {"address": "2 Mill Lane", "postcode": "M1 1AE"},
            "member": {"name": "Cllr Jones", "role": "councillor", "email": "jones@example.com"},
            "person_id": PERSON,
        }
    )


def sealed(payload: object, key: bytes | None) -> tuple[uuid.UUID, dict[str, typing.Any]]:
    assert isinstance(payload, BaseModel)
    env = new_envelope(
        payload,  # type: ignore[arg-type]
        stream_id="s",
        stream_version=1,
        occurred_at=NOW,
        actor="t",
        correlation_id=uuid.uuid4(),
    )
    out = seal_payload(
        env.event_type, env.event_id, env.payload, person_id=PERSON, key_id=KEY_ID, key=key
    )
    return env.event_id, out


def test_sealing_leaves_no_personal_value_in_clear_and_opens_back_to_the_same() -> None:
    key = secrets.token_bytes(32)
    payload = submission()
    event_id, stored = sealed(payload, key)
    text = json.dumps(stored)
    for secret in ("Ada", "ada@example.org", "07700", "Mill Lane", "SW1A 1AA", "Damp", "Jones"):
        assert secret not in text
    # what reports need stays readable
    assert stored["organisation_id"] == "org" and stored["kind"] == "member_enquiry"
    assert stored["complainant"]["adjustments"] == ["large_print"]
    assert stored[SEALED]["person_id"] == str(PERSON) and stored[SEALED]["key_id"] == str(KEY_ID)
    opened = open_payload("FeedbackSubmitted", event_id, stored, key)
    assert opened == payload.model_dump(mode="json")


def test_an_erased_key_opens_as_placeholders_that_still_make_a_valid_payload() -> None:
    event_id, stored = sealed(submission(), secrets.token_bytes(32))
    opened = open_payload("FeedbackSubmitted", event_id, stored, None)
    env = new_envelope(
        submission(),
        stream_id="s",
        stream_version=1,
        occurred_at=NOW,
        actor="t",
        correlation_id=uuid.uuid4(),
    ).model_copy(update={"payload": opened})
    back = decode_payload(env)
    assert isinstance(back, FeedbackSubmitted)
    assert back.complainant.name == ERASED and back.summary == ERASED
    assert back.complainant.email is None and back.complainant.postcode is None
    assert back.member is not None and back.member.name == ERASED
    assert back.organisation_id == "org" and back.person_id == PERSON


def test_sealing_for_an_already_erased_person_writes_nothing_personal() -> None:
    event_id, stored = sealed(submission(), None)
    assert stored[SEALED]["ciphertext"] is None
    assert "Ada" not in json.dumps(stored)
    assert open_payload("FeedbackSubmitted", event_id, stored, None)["summary"] == ERASED


def test_the_wrong_key_or_a_moved_record_is_refused_not_read() -> None:
    key = secrets.token_bytes(32)
    event_id, stored = sealed(submission(), key)
    with pytest.raises(SealBroken):
        open_payload("FeedbackSubmitted", event_id, stored, secrets.token_bytes(32))
    with pytest.raises(SealBroken):  # the same record glued onto another event
        open_payload("FeedbackSubmitted", uuid.uuid4(), stored, key)
    broken = {**stored, SEALED: {**stored[SEALED], "ciphertext": "not base64!"}}
    with pytest.raises(SealBroken):
        open_payload("FeedbackSubmitted", event_id, broken, key)


def test_lists_of_text_are_sealed_item_by_item() -> None:
    ack = ev.CaseAcknowledged(
        case_id=uuid.uuid4(),
        stage=1,
        acknowledged_on=date(2026, 3, 2),
        points=[
            ev.PointOfComplaint(point_id="1", text="Missed visit"),
            ev.PointOfComplaint(point_id="2", text="Rude call"),
        ],
        outcomes_sought=["Apology", "Repair"],
    )
    event_id, stored = sealed(ack, secrets.token_bytes(32))
    assert stored["points"] == [{"point_id": "1", "text": None}, {"point_id": "2", "text": None}]
    opened = open_payload("CaseAcknowledged", event_id, stored, None)
    assert opened["outcomes_sought"] == [ERASED, ERASED]
    assert [p["point_id"] for p in opened["points"]] == ["1", "2"]


def test_an_event_without_personal_values_is_left_alone() -> None:
    closed = ev.CaseClosed(case_id=uuid.uuid4(), reason="Final response issued")
    _, stored = sealed(closed, secrets.token_bytes(32))
    assert SEALED in stored
    assigned = ev.CaseAssigned(case_id=uuid.uuid4(), stage=1, officer="olivia")
    _, stored = sealed(assigned, secrets.token_bytes(32))
    assert SEALED not in stored


def test_every_declared_path_names_a_field_of_its_event() -> None:
    for event_type, paths in PERSONAL_FIELDS.items():
        model = event_spec(event_type).model
        for path in paths:
            node: typing.Any = model
            for part in path.split("."):
                if part == "*":
                    continue
                node = _field_type(node, part)
            assert node is not None, f"{event_type}.{path}"


def _field_type(model: typing.Any, name: str) -> typing.Any:
    for candidate in _models(model):
        if name in candidate.model_fields:
            return candidate.model_fields[name].annotation
    raise AssertionError(f"{model} has no field {name}")


def _models(annotation: typing.Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


#: text fields that stay in clear: ids, codes and names of things, not of people; and the
#: organisation's own words (learning actions), computed explanations and staff user names
_CLEAR_LEAVES = {
    "reference", "organisation_id", "service_area", "category", "officer", "previous_officer",
    "point_id", "part_id", "point_ids", "contact_id", "flag_id", "remedy_id", "action_id",
    "extension_id", "evidence_id", "attachment_id", "content_type", "sha256", "template",
    "channel", "clause", "ombudsman_reference", "postcode_district", "ward", "agent_id",
    "approved_by", "contributor", "constituency_or_ward", "procedures_by_service",
    "shared_service", "owner", "destination", "signposting", "referred_to",
}  # fmt: skip
_CLEAR_FIELDS = {
    ("OrganisationConfigured", "name"),
    ("LearningActionAdded", "description"),
    ("LearningActionCompleted", "note"),
    ("DeadlineSet", "explanation"),
    ("DeadlineChanged", "explanation"),
    ("DeadlineChanged", "reason"),
    ("DeadlineCancelled", "reason"),
    ("ExtensionNotAllowed", "reason"),
}


def _text_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out: list[str] = []

    def walk(annotation: typing.Any, path: str) -> None:
        if annotation is str:
            out.append(path)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.extend(_text_fields(annotation, path + "."))
        else:
            many = typing.get_origin(annotation) in (list, dict)
            for arg in typing.get_args(annotation):
                walk(arg, path + (".*" if many else ""))

    for name, info in model.model_fields.items():
        walk(info.annotation, prefix + name)
    return out


def test_every_text_field_of_every_event_is_sealed_or_known_to_be_clear() -> None:
    """A new event or field carrying text must be declared in PERSONAL_FIELDS, or here as
    clear after thinking about whether it can describe a person."""
    undecided = []
    for spec in registered_event_types():
        if not spec.model.__module__.startswith("contracts."):
            continue  # throwaway events other tests register
        sealed = set(PERSONAL_FIELDS.get(spec.event_type, ()))
        for path in _text_fields(spec.model):
            leaf = path.replace(".*", "").rsplit(".", 1)[-1]
            if path in sealed or leaf in _CLEAR_LEAVES:
                continue
            if (spec.event_type, path) not in _CLEAR_FIELDS:
                undecided.append(f"{spec.event_type}.{path}")
    assert undecided == []


def test_placeholders_keep_formats_valid() -> None:
    assert placeholder("complainant.email") is None
    assert placeholder("location.postcode") is None
    assert placeholder("summary") == ERASED
    assert extract({"a": {"b": None}}, ("a.b",)) == {}


def test_phone_numbers_match_whichever_way_they_are_written() -> None:
    assert normalise_phone("+44 7700 900123") == normalise_phone("07700-900123")


def test_master_key_formats() -> None:
    raw = secrets.token_bytes(32)
    assert parse_master_key(raw.hex()) == raw
    import base64

    assert parse_master_key(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    with pytest.raises(ValueError):
        parse_master_key("too short")


def test_the_key_cache_forgets_an_erased_person_and_keeps_erasure_for_good() -> None:
    cache = KeyCache(size=2, ttl=60)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cache.put(a, PERSON, b"k" * 32)
    assert cache.get(a) == (True, b"k" * 32)
    cache.forget_person(PERSON)
    assert cache.get(a) == (False, None)
    cache.put(b, uuid.uuid4(), None)
    cache.put(c, uuid.uuid4(), b"x" * 32)
    cache.put(a, PERSON, b"k" * 32)  # least recently used (b) goes
    assert cache.get(b) == (False, None)
    expiring = KeyCache(ttl=-1)
    expiring.put(a, PERSON, b"k" * 32)
    expiring.put(b, PERSON, None)
    assert expiring.get(a) == (False, None) and expiring.get(b) == (True, None)


def test_replace_leaves_the_payload_it_was_given_as_it_was() -> None:
    """The copy shares nothing mutable with the original, however deep."""
    original = {"a": {"b": [{"c": "x"}, {"c": "y"}], "d": 1.5}, "e": None, "f": [1, [2]]}
    before = json.loads(json.dumps(original))
    out = replace(original, {"a.b.1.c": "z", "e": "set"})
    assert out == {"a": {"b": [{"c": "x"}, {"c": "z"}], "d": 1.5}, "e": "set", "f": [1, [2]]}
    assert original == before
    out["f"][1].append(3)
    out["a"]["b"][0]["c"] = "changed"
    assert original == before

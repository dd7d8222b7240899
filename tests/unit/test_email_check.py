"""Contracts check email addresses as pydantic's `EmailStr` does, remembering the ones already
checked for a while (decoding a submission was mostly that check). The remembered answers must
be the same answers, refusals must never be remembered, and personal data must not stay in
memory: a minute at most, and none once a person is erased."""

from __future__ import annotations

import pytest
from pydantic import EmailStr as PydanticEmailStr
from pydantic import TypeAdapter, ValidationError

from contracts import events
from contracts.events import EmailStr, forget_checked_emails

OURS: TypeAdapter[str] = TypeAdapter(EmailStr)
THEIRS: TypeAdapter[str] = TypeAdapter(PydanticEmailStr)

ADDRESSES = [
    "ada@example.org",
    " Ada.Lovelace@Example.ORG ",
    "A Resident <resident@example.org>",
    "üser@exämple.org",
    "x",
    "a@b",
    "a@localhost",
    "a@exa mple.org",
    "a" * 70 + "@example.org",
    "",
]


def _answer(adapter: TypeAdapter[str], value: str) -> str:
    try:
        return "ok: " + adapter.validate_python(value)
    except ValidationError as exc:
        return "refused: " + exc.errors(include_url=False)[0]["msg"]


@pytest.mark.parametrize("value", ADDRESSES)
def test_the_same_answer_as_pydantic_first_time_and_remembered(value: str) -> None:
    forget_checked_emails()
    expected = _answer(THEIRS, value)
    assert _answer(OURS, value) == expected
    assert _answer(OURS, value) == expected  # from memory, when it was accepted


def test_refusals_are_not_remembered_and_erasure_forgets_everything() -> None:
    forget_checked_emails()
    OURS.validate_python("ada@example.org")
    with pytest.raises(ValidationError):
        OURS.validate_python("not an address")
    assert set(events._CHECKED) == {"ada@example.org"}
    forget_checked_emails()
    assert events._CHECKED == {}


def test_addresses_are_forgotten_after_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(events.time, "monotonic", lambda: clock[0])
    forget_checked_emails()
    monkeypatch.setattr(events, "_checked_since", clock[0])
    OURS.validate_python("ada@example.org")
    clock[0] += 30
    OURS.validate_python("bob@example.org")
    assert set(events._CHECKED) == {"ada@example.org", "bob@example.org"}
    clock[0] += 31  # a minute after the first was remembered
    OURS.validate_python("cy@example.org")
    assert set(events._CHECKED) == {"cy@example.org"}


def test_at_most_so_many_addresses_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "_CHECKED_AT_MOST", 3)
    forget_checked_emails()
    for n in range(7):
        OURS.validate_python(f"r{n}@example.org")
        assert len(events._CHECKED) <= 3

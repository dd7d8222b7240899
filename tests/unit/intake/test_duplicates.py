"""The duplicate rule: same person, same organisation, same kind, same words, within the
window. Every condition on its own decides; the first submission is always the one linked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.duplicates import (
    Earlier,
    Fingerprint,
    contact_keys,
    is_duplicate,
    normalise_email,
    normalise_phone,
    original_of,
    similarity,
    text_keys,
    words,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY = timedelta(hours=24)
TEXT = "My boiler repair was booked three times and nobody came to fix it."


def fp(
    text: str = TEXT,
    email: str | None = "ada@example.org",
    phone: str | None = None,
    at: datetime = T0,
    organisation: str = "north",
    kind: str = "complaint",
) -> Fingerprint:
    return Fingerprint(organisation, kind, contact_keys(email, phone), text_keys(text), at)


@pytest.mark.parametrize(
    ("given_", "normalised"),
    [
        (" Ada@Example.ORG ", "ada@example.org"),
        ("ada@example.org", "ada@example.org"),
    ],
)
def test_emails_normalise(given_: str, normalised: str) -> None:
    assert normalise_email(given_) == normalised


@pytest.mark.parametrize(
    "number",
    ["07700 900123", "+44 7700 900123", "0044 7700 900123", "07700-900-123", "(07700) 900123"],
)
def test_uk_phone_numbers_normalise_to_one_form(number: str) -> None:
    assert normalise_phone(number) == "07700900123"


def test_words_fold_case_accents_and_punctuation() -> None:
    assert words("Café, CAFE! cafe's") == {"cafe", "s"}
    assert words("") == frozenset()


SAME_WORDS_REORDERED = "Nobody came to fix it: my boiler repair was booked three times and"


@pytest.mark.parametrize(
    ("name", "later", "duplicate"),
    [
        ("same everything a minute later", fp(at=T0 + timedelta(minutes=1)), True),
        ("exactly at the window's end", fp(at=T0 + DAY), True),
        ("just past the window", fp(at=T0 + DAY + timedelta(seconds=1)), False),
        ("earlier within the window (backdated letter)", fp(at=T0 - timedelta(hours=3)), True),
        ("case and punctuation differ", fp(TEXT.upper().replace(".", "!!")), True),
        ("same words in another order", fp(SAME_WORDS_REORDERED), True),
        ("one word added", fp(TEXT + " Again"), True),
        ("a different complaint", fp("The bins were not collected on my street this week."), False),
        ("same text, another person", fp(email="bob@example.org"), False),
        ("same person by phone only", fp(email=None, phone="07700 900123"), False),
        ("email differs only in case", fp(email="ADA@example.org"), True),
        ("another organisation", fp(organisation="south"), False),
        ("a compliment, not a complaint", fp(kind="compliment"), False),
        ("no contact details to compare", fp(email=None), False),
    ],
)
def test_when_a_later_submission_is_a_duplicate(
    name: str, later: Fingerprint, duplicate: bool
) -> None:
    first = fp()
    assert is_duplicate(later, first, window=DAY, threshold=0.85) is duplicate, name


def test_phone_matches_phone_across_formats() -> None:
    first = fp(email=None, phone="+44 7700 900123")
    assert is_duplicate(fp(email=None, phone="07700900123"), first, window=DAY, threshold=0.85)
    both = fp(email="ada@example.org", phone="07700 900123")
    assert is_duplicate(fp(email=None, phone="07700 900123"), both, window=DAY, threshold=0.85)


def test_a_zero_window_turns_the_rule_off() -> None:
    assert not is_duplicate(fp(), fp(), window=timedelta(0), threshold=0.85)


def test_threshold_is_the_share_of_words_in_common() -> None:
    a, b = text_keys("one two three four"), text_keys("one two three five")
    assert similarity(a, b) == pytest.approx(3 / 5)
    assert is_duplicate(
        fp("one two three five"), fp("one two three four"), window=DAY, threshold=0.6
    )
    assert not is_duplicate(
        fp("one two three five"), fp("one two three four"), window=DAY, threshold=0.61
    )


def test_empty_texts_are_never_alike() -> None:
    assert similarity([], []) == 0.0


def test_keys_hold_no_readable_details() -> None:
    keys = contact_keys("ada@example.org", "07700 900123") | text_keys(TEXT)
    assert not any("ada" in k or "boiler" in k or "07700" in k for k in keys)


def test_the_first_matching_submission_is_the_original() -> None:
    first = Earlier("s1", fp(at=T0))
    second = Earlier("s2", fp(at=T0 + timedelta(hours=1)))
    other = Earlier("s3", fp("Completely different matter about parking permits", at=T0 - DAY))
    new = fp(at=T0 + timedelta(hours=2))
    assert original_of(new, [second, other, first], window=DAY, threshold=0.85) == "s1"
    assert original_of(new, [other], window=DAY, threshold=0.85) is None
    assert original_of(new, [], window=DAY, threshold=0.85) is None


texts = st.lists(st.sampled_from(["boiler", "damp", "rent", "bins", "noise", "mould", "late"]))


@given(texts, texts)
def test_similarity_is_symmetric_and_bounded(a: list[str], b: list[str]) -> None:
    ka, kb = text_keys(" ".join(a)), text_keys(" ".join(b))
    assert similarity(ka, kb) == similarity(kb, ka)
    assert 0.0 <= similarity(ka, kb) <= 1.0
    if ka:
        assert similarity(ka, ka) == 1.0


@given(st.permutations(range(4)), st.integers(min_value=0, max_value=30))
def test_the_original_does_not_depend_on_candidate_order(order: list[int], hours: int) -> None:
    candidates = [
        Earlier(f"s{i}", replace(fp(), received_at=T0 + timedelta(hours=i))) for i in range(4)
    ]
    new = fp(at=T0 + timedelta(hours=hours))
    found = original_of(new, [candidates[i] for i in order], window=DAY, threshold=0.85)
    expected = next(
        (
            c.submission_id
            for c in candidates
            if abs(new.received_at - c.fingerprint.received_at) <= DAY
        ),
        None,
    )
    assert found == expected

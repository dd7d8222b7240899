"""Duplicate submissions: the same person sending the same complaint to the same organisation
twice in a short time (a double click, an email and then the form) is one complaint, linked to
the first, never two cases.

Deterministic on purpose: a person checking why two submissions were linked must be able to
redo the sum. "The same person" is a shared email address or phone number after normalising;
"the same complaint" is the share of distinct words two texts have in common (the Jaccard
index of their word sets) reaching a threshold.

Contact details and words are kept only as digests, so intake's duplicate index holds nothing
that reads as personal data.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

_WORD = re.compile(r"[^\W_]+")
_NOT_DIGIT = re.compile(r"\D")


def normalise_email(address: str) -> str:
    """Mailbox names are case-insensitive in practice; surrounding space is never meant."""
    return address.strip().lower()


def normalise_phone(number: str) -> str:
    """Digits only, with the UK country code written as a leading zero, so that
    ``+44 7700 900123``, ``0044 7700 900123`` and ``07700-900123`` are one number."""
    digits = _NOT_DIGIT.sub("", number)
    if digits.startswith("0044"):
        digits = "0" + digits[4:]
    elif digits.startswith("44") and len(digits) >= 12:
        digits = "0" + digits[2:]
    return digits


def words(text: str) -> frozenset[str]:
    """The distinct words of a text, case and accents folded, punctuation dropped."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return frozenset(_WORD.findall(plain))


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


def contact_keys(email: str | None, phone: str | None) -> frozenset[str]:
    """Digests of the ways to recognise a person; none for blank details."""
    keys = set()
    if email and normalise_email(email):
        keys.add(_digest("email", normalise_email(email)))
    if phone and len(normalise_phone(phone)) >= 6:
        keys.add(_digest("phone", normalise_phone(phone)))
    return frozenset(keys)


def text_keys(text: str) -> frozenset[str]:
    """Digests of a text's distinct words: comparing them compares the words."""
    return frozenset(_digest("word", w)[:16] for w in words(text))


def similarity(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard index of two word sets: 1.0 the same words, 0.0 none in common. Two empty
    texts say nothing about each other, so they score 0."""
    left, right = frozenset(a), frozenset(b)
    union = left | right
    if not union:
        return 0.0
    return len(left & right) / len(union)


@dataclass(frozen=True)
class Fingerprint:
    """What the duplicate rule looks at in one submission."""

    organisation_id: str
    kind: str
    contacts: frozenset[str]
    text: frozenset[str]
    received_at: datetime


@dataclass(frozen=True)
class Earlier:
    """A submission already taken (and not itself a duplicate)."""

    submission_id: str
    fingerprint: Fingerprint


def is_duplicate(
    new: Fingerprint, earlier: Fingerprint, *, window: timedelta, threshold: float
) -> bool:
    return (
        window > timedelta(0)
        and new.organisation_id == earlier.organisation_id
        and new.kind == earlier.kind
        and bool(new.contacts & earlier.contacts)
        and abs(new.received_at - earlier.received_at) <= window
        and similarity(new.text, earlier.text) >= threshold
    )


def original_of(
    new: Fingerprint, earlier: Sequence[Earlier], *, window: timedelta, threshold: float
) -> str | None:
    """The submission this one repeats: the earliest received that matches, so that every
    repeat links to the same first one whatever order the candidates come in."""
    matches = [
        e for e in earlier if is_duplicate(new, e.fingerprint, window=window, threshold=threshold)
    ]
    if not matches:
        return None
    first = min(matches, key=lambda e: (e.fingerprint.received_at, e.submission_id))
    return first.submission_id

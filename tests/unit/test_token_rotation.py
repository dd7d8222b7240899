"""Rotating the token key without refusing every staff member at once: tokens signed with a key
listed in REDRESS_TOKEN_KEY_PREVIOUS are still accepted, new ones are signed with the new key,
and nothing else gets in."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from contracts import Role
from redress.auth import mint, previous_token_keys, verify

OLD = "o" * 40
NEW = "n" * 40
OTHER = "x" * 40


def test_a_token_signed_with_the_previous_key_is_accepted_during_a_rotation() -> None:
    token = mint(OLD, user="olivia", role=Role.OFFICER)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(NEW, token)
    identity = verify(NEW, token, (OLD,))
    assert (identity.user, identity.role) == ("olivia", Role.OFFICER)
    assert verify(NEW, mint(NEW, user="maya", role=Role.MANAGER), (OLD,)).user == "maya"


def test_a_token_signed_with_any_other_key_is_still_refused() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        verify(NEW, mint(OTHER, user="mallory", role=Role.ADMIN), (OLD,))


def test_an_expired_token_of_the_previous_key_is_expired_not_accepted() -> None:
    issued = datetime.now(UTC) - timedelta(hours=9)
    token = mint(OLD, user="olivia", role=Role.OFFICER, now=issued)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(NEW, token, (OLD,))


def test_previous_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDRESS_TOKEN_KEY_PREVIOUS", raising=False)
    assert previous_token_keys() == ()
    monkeypatch.setenv("REDRESS_TOKEN_KEY_PREVIOUS", f"{OLD}, {OTHER},")
    assert previous_token_keys() == (OLD, OTHER)
    monkeypatch.setenv("REDRESS_TOKEN_KEY_PREVIOUS", "short")
    with pytest.raises(ValueError, match="32 characters"):
        previous_token_keys()


def test_a_token_verified_once_is_still_refused_once_expired_or_its_key_retired() -> None:
    """Verified tokens are remembered (not checked again on every request), but only under
    the keys they were checked with and only until their expiry."""
    issued = datetime.now(UTC) - timedelta(hours=8) + timedelta(seconds=2)
    token = mint(OLD, user="olivia", role=Role.OFFICER, now=issued)  # expires in 2 s
    assert verify(NEW, token, (OLD,)).user == "olivia"
    assert verify(NEW, token, (OLD,)).user == "olivia"  # remembered
    with pytest.raises(jwt.InvalidSignatureError):  # the rotation is over: OLD is retired
        verify(NEW, token)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            verify(NEW, token, (OLD,))
        except jwt.ExpiredSignatureError:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("a remembered token outlived its expiry")
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(NEW, token, (OLD,))
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(jwt.InvalidSignatureError):
        verify(NEW, mint(OTHER, user="olivia", role=Role.OFFICER), (OLD,))
    with pytest.raises(jwt.PyJWTError):
        verify(NEW, tampered, (OLD,))

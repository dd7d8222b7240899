"""Whose bucket a request takes from: the peer's, unless the peer is a proxy we trust."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.requests import Request

from redress.ratelimit import Proxies, RateLimitSettings, client_address


def request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


GATEWAY = Proxies.parse("10.0.0.0/8, 192.0.2.1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "counted"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # not our proxy: header ignored
        ("10.4.0.7", "198.51.100.1", "198.51.100.1"),  # our gateway, by network
        ("192.0.2.1", "198.51.100.1", "198.51.100.1"),  # our gateway, by address
        # a resident cannot hide behind a made-up first hop: we take the nearest one
        ("10.4.0.7", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        ("10.4.0.7", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # a chain of our proxies
        ("10.4.0.7", "not-an-address", "10.4.0.7"),
        ("10.4.0.7", None, "10.4.0.7"),
        ("2001:db8::1", "198.51.100.1", "2001:db8::1"),
    ],
)
def test_the_counted_address(peer: str, forwarded: str | None, counted: str) -> None:
    assert client_address(request(peer, forwarded), GATEWAY) == counted


def test_a_bad_proxy_setting_stops_start_up() -> None:
    with pytest.raises(ValidationError):
        RateLimitSettings(trusted_proxies="10.0.0.0/8, gateway")
    assert "10.1.2.3" in RateLimitSettings(trusted_proxies="10.0.0.0/8").proxies
    assert "10.1.2.3" not in RateLimitSettings().proxies

"""Per-client rate limits for public endpoints: a token bucket per (limit, client address).

A resident's browser or a script hammering the form from one address runs out of tokens and
gets 429 with ``Retry-After``; every other address keeps its own full bucket. The buckets live
in PostgreSQL (the service's own schema), so several replicas behind a load balancer share one
count, and the database's clock is the only clock, so replicas never disagree about refills.

One statement takes a token: it refills the bucket for the time since its last use, takes one
if there is one, and says whether it did, all under the row's lock.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import jwt
from fastapi import HTTPException, Request
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from redress.auth import verify
from redress.db import Connection


class RateLimitSettings(BaseSettings):
    """``per_minute`` 0 turns a limit off. ``REDRESS_TRUSTED_PROXIES`` lists the addresses of
    reverse proxies whose ``X-Forwarded-For`` we believe; from anyone else the header is
    ignored, or a flood could pick a fresh address for every request."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    submit_per_minute: float = Field(10, ge=0, validation_alias="REDRESS_RATE_SUBMIT_PER_MINUTE")
    submit_burst: int = Field(10, ge=1, validation_alias="REDRESS_RATE_SUBMIT_BURST")
    read_per_minute: float = Field(60, ge=0, validation_alias="REDRESS_RATE_READ_PER_MINUTE")
    read_burst: int = Field(30, ge=1, validation_alias="REDRESS_RATE_READ_BURST")
    trusted_proxies: str = Field("", validation_alias="REDRESS_TRUSTED_PROXIES")

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        Proxies.parse(value)  # a typo here must stop start-up, not every request
        return value

    def limit(self, name: str) -> Limit:
        if name == "submit":
            return Limit(name, self.submit_per_minute, self.submit_burst)
        if name == "read":
            return Limit(name, self.read_per_minute, self.read_burst)
        raise ValueError(f"no rate limit called {name!r}")

    @property
    def proxies(self) -> Proxies:
        return Proxies.parse(self.trusted_proxies)


@dataclass(frozen=True)
class Limit:
    name: str
    per_minute: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: whole seconds until a token is back (0 when allowed)
    retry_after: int = 0


_TAKE = """
INSERT INTO rate_limits AS b (bucket, client, tokens, updated_at, allowed)
VALUES ($1, $2, $3 - 1, COALESCE($5, clock_timestamp()), true)
ON CONFLICT (bucket, client) DO UPDATE SET
    tokens = {refilled} - CASE WHEN {refilled} >= 1 THEN 1 ELSE 0 END,
    updated_at = GREATEST(b.updated_at, COALESCE($5, clock_timestamp())),
    allowed = {refilled} >= 1
RETURNING allowed, tokens
""".format(
    # what the bucket holds now: what was left, plus the refill since, never above the burst
    refilled="LEAST($3, b.tokens + $4 * GREATEST(0, EXTRACT(EPOCH FROM "
    "COALESCE($5, clock_timestamp()) - b.updated_at))::float8)"
)


async def take(conn: Connection, limit: Limit, client: str, now: datetime | None = None) -> Verdict:
    """Take one token from ``client``'s bucket. ``now`` is for tests; by default the database's
    clock decides, the same for every replica."""
    if not limit.enabled:
        return Verdict(True)
    per_second = limit.per_minute / 60
    row = await conn.fetchrow(_TAKE, limit.name, client, float(limit.burst), per_second, now)
    assert row is not None
    if row["allowed"]:
        return Verdict(True)
    return Verdict(False, max(1, math.ceil((1 - row["tokens"]) / per_second)))


async def forget_idle(conn: Connection | asyncpg.Pool, older_than_minutes: int = 60) -> str:
    """Drop buckets nobody used for a while: they are full again, so a fresh row is the same."""
    return str(
        await conn.execute(
            "DELETE FROM rate_limits WHERE updated_at < clock_timestamp() - make_interval("
            "mins => $1)",
            older_than_minutes,
        )
    )


@dataclass(frozen=True)
class Proxies:
    """The reverse proxies we trust: addresses or networks (``10.0.0.0/8``), so that a proxy
    whose address a container platform picks at start-up can still be named."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Proxies:
        return _parsed(text)

    def __contains__(self, address: object) -> bool:
        return _trusted(self, str(address))


@functools.lru_cache(maxsize=16)
def _parsed(text: str) -> Proxies:
    """Parsed once per setting, not on every request (a few dozen microseconds each)."""
    return Proxies(
        tuple(ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip())
    )


@functools.lru_cache(maxsize=1024)
def _trusted(proxies: Proxies, address: str) -> bool:
    """Remembered per address: the peer of almost every request is one of a few proxies."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies.networks)


def client_address(request: Request, trusted_proxies: Proxies) -> str:
    """The address a request came from: the peer, or, when the peer is a proxy we trust, the
    nearest address in ``X-Forwarded-For`` that is not one of our proxies."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in forwarded if h]):
        if hop in trusted_proxies:
            continue
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:
            return peer  # a garbled header from our own proxy: count the proxy
    return peer


def client_key(address: str, secret: str) -> str:
    """What we store: a keyed hash, so the table holds no addresses (personal data) and the
    same address maps to the same bucket on every replica."""
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def settings_of(request: Request) -> RateLimitSettings:
    """Read once per process, like every other setting."""
    settings: RateLimitSettings | None = getattr(request.app.state, "rate_limit_settings", None)
    if settings is None:
        settings = RateLimitSettings()
        request.app.state.rate_limit_settings = settings
    return settings


async def check(request: Request, name: str, conn: Connection | None = None) -> Verdict:
    """Take a token for this request's client under the named limit, on ``conn`` if given
    (outside any transaction: the token is spent whatever the request goes on to do), else on
    a connection of the service's pool."""
    from redress.service import runtime_of

    settings = settings_of(request)
    limit = settings.limit(name)
    if not limit.enabled or getattr(request.app.state, "runtime", None) is None:
        # off, or an app whose lifespan never ran (a unit test of routes): nothing to count in
        return Verdict(True)
    if _staff(request):
        return Verdict(True)
    address = client_address(request, settings.proxies)
    key = client_key(address, str(request.app.state.token_key))
    if conn is not None:
        return await take(conn, limit, key, None)
    async with runtime_of(request).pool.acquire() as conn:
        return await take(conn, limit, key, None)


def _staff(request: Request) -> bool:
    """A valid staff token (an agent's screen, `redress demo`, a partner's integration) is
    accountable, so it is not counted. A made-up or expired one counts like no token at all."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        verify(
            str(request.app.state.token_key),
            token.strip(),
            getattr(request.app.state, "previous_token_keys", ()),
        )
    except (jwt.PyJWTError, ValueError, KeyError):
        return False
    return True


def reason(verdict: Verdict) -> str:
    return (
        "Too many requests from your address. "
        f"Please wait {verdict.retry_after} seconds and try again."
    )


def limited(name: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency: 429 with ``Retry-After`` and a reason once the bucket is empty."""

    async def dependency(request: Request) -> None:
        verdict = await check(request, name)
        if not verdict.allowed:
            raise too_many(verdict)

    return dependency


def limited_with_connection(
    name: str,
) -> Callable[[Request], AsyncIterator[Connection | None]]:
    """Like `limited`, for an endpoint that goes on to use the database: the connection that
    took the token is handed to the endpoint (``Depends(..., scope="function")`` gives it back
    to the pool as the endpoint returns), so the request borrows one connection, not two. None
    for an app whose lifespan never ran (no pool)."""

    async def dependency(request: Request) -> AsyncIterator[Connection | None]:
        from redress.service import runtime_of

        if getattr(request.app.state, "runtime", None) is None:
            yield None  # nothing to count in (see `check`)
            return
        async with runtime_of(request).pool.acquire() as conn:
            verdict = await check(request, name, conn)
            if not verdict.allowed:
                raise too_many(verdict)
            yield conn

    return dependency


def too_many(verdict: Verdict) -> HTTPException:
    return HTTPException(
        429, detail=reason(verdict), headers={"Retry-After": str(verdict.retry_after)}
    )


#: documented on each limited route, so clients (and schema-driven tests) expect it
RESPONSES: dict[int | str, dict[str, object]] = {
    429: {
        "description": "Too many requests from this address; retry after the number of "
        "seconds in the Retry-After header",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}

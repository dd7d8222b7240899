"""Who is calling a staff API, and in which role.

Bearer tokens are JWTs signed (HS256) with one configured key shared by the services, with an
expiry. The embedded stack keeps a key in its data directory so that ``redress token`` and the
services agree without any set-up; production sets ``REDRESS_TOKEN_KEY``. While a key is being
rotated, ``REDRESS_TOKEN_KEY_PREVIOUS`` (comma-separated) names keys whose tokens are still
accepted, so replicas restarted with the new key do not refuse tokens issued just before.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contracts import Role
from redress.keyfile import read_or_create

ISSUER = "redress"
KEY_FILE = "token.key"
_bearer = HTTPBearer(auto_error=False, description="A token from `redress token`")


@dataclass(frozen=True)
class Identity:
    user: str
    role: Role
    service_area: str | None = None


def token_key(data_dir: Path | None = None) -> str:
    """``REDRESS_TOKEN_KEY``, else the embedded stack's key file (created on first use)."""
    key = os.environ.get("REDRESS_TOKEN_KEY")
    if key:
        if len(key) < 32:
            raise ValueError("REDRESS_TOKEN_KEY must be at least 32 characters (HS256)")
        return key
    if data_dir is None:
        from redress.settings import RuntimeSettings

        data_dir = RuntimeSettings().data_dir
    return read_or_create(data_dir / KEY_FILE, lambda: secrets.token_urlsafe(48)).strip()


def previous_token_keys() -> tuple[str, ...]:
    """Keys being rotated out: their tokens are still accepted, nothing new is signed with
    them. Empty unless ``REDRESS_TOKEN_KEY_PREVIOUS`` is set."""
    raw = os.environ.get("REDRESS_TOKEN_KEY_PREVIOUS", "")
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if any(len(k) < 32 for k in keys):
        raise ValueError("every REDRESS_TOKEN_KEY_PREVIOUS key must be at least 32 characters")
    return keys


def mint(
    key: str,
    *,
    user: str,
    role: Role,
    service_area: str | None = None,
    lifetime: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    if role is Role.SERVICE_RESPONDER and not service_area:
        raise ValueError("a service responder's token names its service")
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": user,
        "role": role.value,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
    }
    if service_area:
        claims["svc"] = service_area
    return jwt.encode(claims, key, algorithm="HS256")


#: tokens already verified, with the keys they were checked against: (identity, expiry)
_verified: dict[tuple[str, tuple[str, ...]], tuple[Identity, int]] = {}
_VERIFIED_SIZE = 4096


def verify(key: str, token: str, previous: Sequence[str] = ()) -> Identity:
    """Raises `jwt.PyJWTError` for anything wrong: bad signature, expired, malformed. A token
    signed with one of the ``previous`` keys is accepted too (a rotation in progress).

    A token that verified once under the same keys is not checked again until it expires:
    its signature and claims cannot have changed, and of its times only the expiry can turn
    against it (a token valid since its ``iat`` stays so). An officer sends one token with
    every request, and checking its signature and claims each time cost about a twentieth of
    casework's CPU under load."""
    keys = (key, *previous)
    known = _verified.get((token, keys))
    if known is not None:
        identity, expires = known
        if expires <= datetime.now(UTC).timestamp():
            raise jwt.ExpiredSignatureError("Signature has expired")
        return identity
    identity, expires = _verify(keys, token)
    if len(_verified) >= _VERIFIED_SIZE:
        _verified.pop(next(iter(_verified)), None)  # the oldest
    _verified[(token, keys)] = (identity, expires)
    return identity


def _verify(keys: tuple[str, ...], token: str) -> tuple[Identity, int]:
    for n, candidate in enumerate(keys, 1):
        try:
            claims = jwt.decode(
                token,
                candidate,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "sub"]},
            )
            break
        except jwt.InvalidSignatureError:
            if n == len(keys):
                raise
    identity = Identity(
        user=str(claims["sub"]), role=Role(claims["role"]), service_area=claims.get("svc")
    )
    return identity, int(claims["exp"])


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(401, detail=reason, headers={"WWW-Authenticate": "Bearer"})


COOKIE = "redress_token"


async def current_identity(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """From the bearer token, or (for the pages people open in a browser) the same token kept
    in an HttpOnly cookie by the page's sign-in.

    A coroutine though it never waits: FastAPI runs a plain function dependency in a worker
    thread, and handing every request to a thread and back cost casework about a third of its
    CPU under load (the thread pool's locks and the GIL), far more than checking the token."""
    token = credentials.credentials if credentials is not None else request.cookies.get(COOKIE)
    if not token:
        raise _unauthorised("a bearer token is required")
    key: str = request.app.state.token_key
    previous: tuple[str, ...] = getattr(request.app.state, "previous_token_keys", ())
    try:
        return verify(key, token, previous)
    except jwt.ExpiredSignatureError:
        raise _unauthorised("the token has expired") from None
    except (jwt.PyJWTError, ValueError, KeyError):
        raise _unauthorised("the token is not valid") from None


def require(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that lets through only these roles (403 with the roles that may)."""
    allowed = frozenset(roles)

    async def check(identity: Annotated[Identity, Depends(current_identity)]) -> Identity:
        if identity.role not in allowed:
            names = ", ".join(sorted(r.value for r in allowed))
            raise HTTPException(403, detail=f"this needs one of these roles: {names}")
        return identity

    return check


STAFF = (Role.OFFICER, Role.MANAGER, Role.ADMIN)
READERS = (*STAFF, Role.AUDITOR, Role.SERVICE_RESPONDER)

"""Organisations the whole-system tests submit to, configured before they do.

Once any organisation is configured, intake refuses submissions for the others, and the
session's system is shared by every test: so each organisation a test submits to is
configured first (through casework's API, as an admin would) and the helper waits until intake
has heard of it."""

from __future__ import annotations

import asyncio

import httpx

from redress.demo import configure_organisation
from tests.e2e.conftest import System

#: what the tests that post to intake directly submit to (COMPLAINT, the agent's and the
#: mailbox's defaults, the duplicate tests)
COMMON = ("e2e-council", "default", "agent-council", "e2e-intake")

_done: set[tuple[str, str]] = set()
#: one at a time per organisation (and event loop): twenty complaints sent at once configure
#: it once, not in twenty racing requests
_locks: dict[tuple[int, str, str], asyncio.Lock] = {}


async def ensure_organisation(system: System, organisation_id: str) -> None:
    """Configured (unless it already was, whose configuration is kept) and known to intake."""
    which = (system.urls["intake"], organisation_id)
    lock = _locks.setdefault((id(asyncio.get_running_loop()), *which), asyncio.Lock())
    async with lock:
        if which in _done:
            return
        async with httpx.AsyncClient(timeout=30) as client:
            await configure_organisation(
                client, lambda s: system.urls[s], system.token_key, organisation_id
            )
        _done.add(which)

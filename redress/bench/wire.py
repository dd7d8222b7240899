"""A small HTTP/1.1 client for the load generator's submissions: keep-alive connections over
asyncio streams, one request at a time on each, JSON in and out.

Why not httpx: the generator shares the machine's two cores with the system it measures, and
httpx spends about a millisecond of CPU on each request (the last full run: 25 CPU-seconds of
generator for 1,475 complaints). Every CPU-second the generator takes is one the services do
not get, so the figures would measure the client as much as the pipeline. This client does the
least HTTP/1.1 needs (status line, headers, a Content-Length body) and nothing else; it is only
ever pointed at our own services.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class WireError(Exception):
    """The connection failed or the answer was not HTTP/1.1 this client understands."""


class _ClosedBeforeAnswer(Exception):
    """A reused connection turned out closed before any of the answer arrived."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


#: a kept connection idle longer than this is not reused: uvicorn closes idle keep-alive
#: connections after 5 s, and a request written as it does so would be lost
IDLE_REUSE_SECONDS = 3.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.reused = False

    def close(self) -> None:
        self.writer.close()


class WireClient:
    """Connections to one origin, reused; at most ``size`` open at once."""

    def __init__(self, base_url: str, size: int = 64, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"only plain http origins: {base_url}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.authority = f"{self.host}:{self.port}".encode()
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def post_json(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> Answer:
        return await self.request("POST", path, body, headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return await self.request("GET", path, None, headers)

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """``body`` is sent as JSON unless it is None (then no body at all)."""
        head = [method.encode() + b" " + path.encode() + b" HTTP/1.1", b"Host: " + self.authority]
        payload = b""
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            head.append(b"Content-Type: application/json")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: " + str(len(payload)).encode())
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}".encode("latin-1"))
        request = b"\r\n".join(head) + b"\r\n\r\n" + payload
        async with self._slots:
            try:
                return await self._send(request)
            except _ClosedBeforeAnswer:
                # a kept connection the server had just closed: nothing reached the app (not a
                # byte of answer came back), so the request is sent once more, on a new one
                return await self._send(request, fresh=True)

    async def _send(self, request: bytes, fresh: bool = False) -> Answer:
        conn = None if fresh else self._kept()
        try:
            if conn is None:
                conn = _Connection(*await asyncio.open_connection(self.host, self.port))
            async with asyncio.timeout(self.timeout):
                answer, keep = await self._exchange(conn, request)
        except _ClosedBeforeAnswer:
            assert conn is not None
            conn.close()
            raise
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
            if conn is not None:
                conn.close()
            raise WireError(repr(exc)) from exc
        if keep:
            conn.idle_since = time.monotonic()
            conn.reused = True
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    def _kept(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if time.monotonic() - conn.idle_since < IDLE_REUSE_SECONDS:
                return conn
            conn.close()
        return None

    async def _exchange(self, conn: _Connection, request: bytes) -> tuple[Answer, bool]:
        try:
            conn.writer.write(request)
            await conn.writer.drain()
            status_line = await conn.reader.readuntil(b"\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            nothing_came = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            if conn.reused and nothing_came:
                raise _ClosedBeforeAnswer from exc
            raise
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        status = int(parts[1])
        length: int | None = None
        keep = parts[0] == b"HTTP/1.1"
        chunked = False
        while True:
            line = await conn.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                keep = value.lower() == b"keep-alive" or (keep and value.lower() != b"close")
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            body = await _read_chunked(conn.reader)
        elif length is not None:
            body = await conn.reader.readexactly(length)
        else:
            body = await conn.reader.read()
            keep = False
        return Answer(status, body), keep

    async def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)

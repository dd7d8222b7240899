"""The load generator's lean HTTP client against a real socket: keep-alive reuse, chunked
bodies, a server that closes, and a server that answers nonsense."""

from __future__ import annotations

import asyncio
import json

import pytest

from redress.bench.wire import WireClient, WireError


async def _serve(answers: list[bytes]) -> tuple[asyncio.Server, list[bytes], list[int]]:
    """A server that answers each request with the next canned answer; it records the
    requests and how many connections it was given."""
    seen: list[bytes] = []
    connections: list[int] = []
    pending = iter(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                seen.append(head + await reader.readexactly(length))
                answer = next(pending)
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except (asyncio.IncompleteReadError, StopIteration):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen, connections


async def test_keeps_the_connection_and_reads_both_body_framings() -> None:
    body = json.dumps({"status": "received"}).encode()
    server, seen, connections = await _serve(
        [
            b"HTTP/1.1 202 Accepted\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 429 Too Many\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno",
        ]
    )
    port = server.sockets[0].getsockname()[1]
    client = WireClient(f"http://127.0.0.1:{port}", size=1)
    try:
        first = await client.post_json("/v1/submissions", {"a": 1}, {"X-Forwarded-For": "10.0.0.1"})
        second = await client.post_json("/v1/submissions", {"b": 2})
        third = await client.post_json("/v1/submissions", {"c": 3})
    finally:
        await client.close()
        server.close()
    assert (first.status, first.json()) == (202, {"status": "received"})
    assert (second.status, second.body) == (200, b"abcde")
    assert (third.status, third.text) == (429, "no")
    assert len(connections) == 1  # all three on one kept-alive connection
    assert seen[0].startswith(b"POST /v1/submissions HTTP/1.1\r\n")
    assert b"X-Forwarded-For: 10.0.0.1\r\n" in seen[0]
    assert seen[0].endswith(b'{"a":1}')


async def test_a_closed_connection_is_replaced_and_nonsense_is_an_error() -> None:
    server, _seen, connections = await _serve(
        [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"SMTP ready\r\n",
        ]
    )
    port = server.sockets[0].getsockname()[1]
    client = WireClient(f"http://127.0.0.1:{port}", size=1)
    try:
        assert (await client.post_json("/x", {})).status == 200
        assert (await client.post_json("/x", {})).status == 200
        with pytest.raises(WireError):
            await client.post_json("/x", {})
    finally:
        await client.close()
        server.close()
    assert len(connections) == 2


async def test_a_kept_connection_the_server_dropped_is_retried_once_on_a_new_one() -> None:
    """What uvicorn does to a keep-alive connection idle for 5 s: it closes it without a word.
    Nothing was answered on it, so the request goes again on a new connection."""
    connections: list[int] = []

    async def one_answer_then_hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connections.append(1)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(one_answer_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = WireClient(f"http://127.0.0.1:{port}", size=1)
    try:
        assert (await client.get("/a")).text == "ok"
        await asyncio.sleep(0.05)  # the server has hung up by now
        assert (await client.get("/b")).text == "ok"
    finally:
        await client.close()
        server.close()
    assert len(connections) == 2

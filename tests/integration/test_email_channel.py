"""The email channel against a real (loopback) SMTP server: several letters go over one
connection, closing lets it go, a connection the server dropped is replaced once, and the
message a mail client reads is what the letter says, attachment and all."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifications.channels import DeliveryError, EmailChannel, Outgoing
from tests.support import free_port


@dataclass
class Server:
    port: int
    received: list[email.message.EmailMessage] = field(default_factory=list)
    sessions: list[SMTP] = field(default_factory=list)

    @property
    def open_sessions(self) -> int:
        return sum(1 for s in self.sessions if s.transport and not s.transport.is_closing())


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    made = Server(free_port())

    class Keep:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            content: Any = envelope.original_content or envelope.content
            made.received.append(
                email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[arg-type]
            )
            return "250 kept"

    def protocol() -> SMTP:
        session = SMTP(Keep(), hostname="test-sink")
        made.sessions.append(session)
        return session

    loop = asyncio.get_running_loop()
    listening = await loop.create_server(protocol, host="127.0.0.1", port=made.port)
    try:
        yield made
    finally:
        listening.close()
        for s in made.sessions:
            if s.transport:
                s.transport.close()
        await listening.wait_closed()


def letter(n: int, pdf: bytes | None = None) -> Outgoing:
    return Outgoing(
        notification_id=f"00000000-0000-0000-0000-00000000000{n}",
        recipient="Zoë Tenant <zoe@example.org>",
        subject=f"Our response to your complaint (CMP-2026-00000{n})",
        html="<p>We will pay you £50.</p>",
        text="We will pay you £50.\n.\nA line that is only a dot, above.\n",
        pdf=pdf,
    )


async def test_letters_share_one_connection_until_closed(server: Server) -> None:
    channel = EmailChannel("127.0.0.1", server.port, "complaints@redress.localhost")
    for n in range(3):
        await channel.send(letter(n))
    assert len(server.received) == 3
    assert len(server.sessions) == 1  # one connection for the three
    await channel.close()
    for _ in range(100):
        if server.open_sessions == 0:
            break
        await asyncio.sleep(0.05)
    assert server.open_sessions == 0
    await channel.send(letter(4))  # and a new one when there is mail again
    assert len(server.sessions) == 2 and len(server.received) == 4
    await channel.close()


async def test_a_connection_the_server_dropped_is_replaced_once(server: Server) -> None:
    channel = EmailChannel("127.0.0.1", server.port, "complaints@redress.localhost")
    await channel.send(letter(1))
    transport = server.sessions[0].transport
    assert transport is not None
    transport.close()  # the server times the idle connection out
    await asyncio.sleep(0.1)
    await channel.send(letter(2))
    assert [m["Message-ID"] for m in server.received] == [
        "<00000000-0000-0000-0000-000000000001@redress>",
        "<00000000-0000-0000-0000-000000000002@redress>",
    ]
    await channel.close()


async def test_no_server_is_a_delivery_error() -> None:
    channel = EmailChannel("127.0.0.1", free_port(), "complaints@redress.localhost", timeout=2)
    with pytest.raises(DeliveryError, match=r"SMTP 127\.0\.0\.1"):
        await channel.send(letter(1))


async def test_the_message_reads_as_the_letter(server: Server) -> None:
    channel = EmailChannel("127.0.0.1", server.port, "complaints@redress.localhost")
    await channel.send(letter(1))
    await channel.send(letter(2, pdf=b"%PDF-1.4 the letter"))
    await channel.close()
    plain, with_pdf = server.received
    assert plain["To"].addresses[0].display_name == "Zoë Tenant"
    assert plain["To"].addresses[0].addr_spec == "zoe@example.org"
    assert plain["Subject"] == "Our response to your complaint (CMP-2026-000001)"
    assert plain["From"] == "complaints@redress.localhost"
    text = plain.get_body(preferencelist=("plain",))
    html = plain.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    # line by line as written (SMTP carries CRLF), a lone dot kept through dot-stuffing
    assert text.get_content().splitlines() == letter(1).text.splitlines()
    assert html.get_content().strip() == "<p>We will pay you £50.</p>"
    assert list(plain.iter_attachments()) == []
    (attached,) = with_pdf.iter_attachments()
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_filename() == "letter.pdf"
    assert attached.get_content() == b"%PDF-1.4 the letter"

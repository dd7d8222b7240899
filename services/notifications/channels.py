"""How a notification leaves: email over SMTP, SMS through a pluggable provider, or print
(a PDF in the posting queue). Each raises `DeliveryError` with a reason a person can act on."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Protocol, runtime_checkable

import aiosmtplib


class DeliveryError(Exception):
    pass


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    recipient: str
    subject: str
    html: str
    text: str
    pdf: bytes | None


class Channel(Protocol):
    async def send(self, message: Outgoing) -> None: ...


@runtime_checkable
class Closable(Protocol):
    """A channel holding a connection between messages, closed when there is nothing to send."""

    async def close(self) -> None: ...


@dataclass
class EmailChannel:
    """One SMTP connection, kept open while there is mail to send: a connection per message
    (connect, EHLO, maybe STARTTLS, QUIT) cost more round trips than the message itself. The
    delivery worker closes it when a poll finds nothing to send, so it is never left idle
    for a mail server to time out; one the server dropped anyway is replaced once."""

    host: str
    port: int
    sender: str
    timeout: float = 15.0
    _client: aiosmtplib.SMTP | None = field(default=None, init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    async def send(self, message: Outgoing) -> None:
        mail = mime_message(message, self.sender)
        async with self._lock:
            try:
                reused = self._client is not None
                try:
                    await (await self._connected()).send_message(mail)
                except aiosmtplib.SMTPServerDisconnected:
                    await self._drop()
                    if not reused:
                        raise
                    # the server closed a connection we had kept: one fresh try
                    await (await self._connected()).send_message(mail)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._drop()  # whatever state it is in, the next message starts afresh
                raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc

    async def close(self) -> None:
        async with self._lock:
            client, self._client = self._client, None
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is None or not self._client.is_connected:
            client = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout)
            await client.connect()
            self._client = client
        return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in a mail file, unlike base64


def _header(value: str) -> str:
    """Non-ASCII header text as RFC 2047 encoded words."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def mime_message(message: Outgoing, sender: str) -> Message:
    """The email: text and HTML alternatives, and the PDF when there is one. Built with the
    classic MIME classes: the same message as `EmailMessage.set_content` makes, at a third of
    the CPU (its header objects parse and refold every header, once per letter)."""
    body = MIMEMultipart("alternative")
    for content, subtype in ((message.text, "plain"), (message.html, "html")):
        part = MIMENonMultipart("text", subtype, charset="utf-8")
        del part["MIME-Version"]  # once, on the whole message
        part.set_payload(content, _UTF8)
        body.attach(part)
    mail: Message = body
    if message.pdf:
        mail = MIMEMultipart("mixed")
        del body["MIME-Version"]
        mail.attach(body)
        pdf = MIMEApplication(message.pdf, "pdf")
        del pdf["MIME-Version"]
        pdf.add_header("Content-Disposition", "attachment", filename="letter.pdf")
        mail.attach(pdf)
    mail["From"] = sender
    mail["To"] = (
        message.recipient
        if message.recipient.isascii()
        else formataddr(parseaddr(message.recipient), charset="utf-8")
    )
    mail["Subject"] = _header(message.subject)
    # the notification id, so any mail system can tell a resend from a new letter
    mail["Message-ID"] = f"<{message.notification_id}@redress>"
    return mail


class SmsProvider(Protocol):
    async def send_sms(self, to: str, text: str, reference: str) -> None: ...


@dataclass
class FileSmsProvider:
    """The loopback provider: each text message is a line in a file a test (or a person) can
    read. A real gateway implements the same one method."""

    path: Path

    async def send_sms(self, to: str, text: str, reference: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"to": to, "text": text, "reference": reference, "at": datetime.now().isoformat()}
        )
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


@dataclass
class SmsChannel:
    provider: SmsProvider

    async def send(self, message: Outgoing) -> None:
        digits = "".join(c for c in message.recipient if c.isdigit() or c == "+")
        if len(digits) < 10:
            raise DeliveryError(f"{message.recipient!r} is not a phone number")
        text = f"{message.subject}. We have written to you with the details."
        await self.provider.send_sms(digits, text, message.notification_id)


@dataclass
class PrintChannel:
    """Letters for post: the PDF goes to the posting queue (a folder a print room collects)."""

    queue: Path

    async def send(self, message: Outgoing) -> None:
        if not message.pdf:
            raise DeliveryError("no PDF to print")
        self.queue.mkdir(parents=True, exist_ok=True)
        target = self.queue / f"{message.notification_id}.pdf"
        tmp = self.queue / f".{message.notification_id}.pdf"
        tmp.write_bytes(message.pdf)
        tmp.rename(target)

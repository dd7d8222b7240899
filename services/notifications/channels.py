"""How a notification leaves: email over SMTP, SMS through a pluggable provider, or print
(a PDF in the posting queue). Each raises `DeliveryError` with a reason a person can act on."""

from __future__ import annotations

import asyncio
import base64
import binascii
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
        envelope = smtp_envelope(message, self.sender)
        async with self._lock:
            try:
                reused = self._client is not None
                try:
                    await self._send(envelope, message)
                except aiosmtplib.SMTPServerDisconnected:
                    await self._drop()
                    if not reused:
                        raise
                    # the server closed a connection we had kept: one fresh try
                    await self._send(envelope, message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._drop()  # whatever state it is in, the next message starts afresh
                raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc

    async def _send(self, envelope: tuple[str, str] | None, message: Outgoing) -> None:
        client = await self._connected()
        if envelope is None:  # an address only SMTPUTF8 can carry: aiosmtplib's way
            await client.send_message(mime_message(message, self.sender))
            return
        sender, recipient = envelope
        await client.sendmail(sender, [recipient], mail_bytes(message, self.sender))

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
    """The email: text and HTML alternatives, and the PDF when there is one. `mail_bytes`
    writes the same message out directly; this one is for addresses only SMTPUTF8 carries.
    Built with the classic MIME classes: the same message as `EmailMessage.set_content`
    makes, at a third of the CPU (its header objects parse and refold every header)."""
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


def smtp_envelope(message: Outgoing, sender: str) -> tuple[str, str] | None:
    """The envelope's sender and recipient addresses, or None when either is not plain ASCII
    (or missing) and the message must go the general way (`mime_message`)."""
    envelope = parseaddr(sender)[1], parseaddr(message.recipient)[1]
    if not all(a and a.isascii() for a in envelope):
        return None
    return envelope


def _line(value: str) -> str:
    """A header value on one logical line: a line break in a subject or an address must not
    start a header of its own."""
    return " ".join(value.splitlines()) if "\n" in value or "\r" in value else value


def mail_bytes(message: Outgoing, sender: str) -> bytes:
    """The message `mime_message` describes, written out directly: the letter's parts
    quoted-printable (the PDF base64), headers ASCII with encoded words. The email package's
    generator (which aiosmtplib runs on every message) refolded every header and compiled a
    regular expression per message to choose a boundary, about a third of the delivery
    worker's CPU per letter. A boundary starting ``=_`` cannot occur in quoted-printable or
    base64 text, so none needs choosing."""
    boundary = f"=_redress_{message.notification_id}"
    to = _line(message.recipient)
    head = [
        f"From: {_line(sender)}",
        f"To: {to if to.isascii() else formataddr(parseaddr(to), charset='utf-8')}",
        f"Subject: {_header(_line(message.subject))}",
        f"Message-ID: <{message.notification_id}@redress>",
        "MIME-Version: 1.0",
    ]
    body = [
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(message.text),
        f"--{boundary}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _qp(message.html),
        f"--{boundary}--",
    ]
    if not message.pdf:
        parts = [*head, f'Content-Type: multipart/alternative; boundary="{boundary}"', "", *body]
    else:
        outer = f"=_redress_mixed_{message.notification_id}"
        parts = [
            *head,
            f'Content-Type: multipart/mixed; boundary="{outer}"',
            "",
            f"--{outer}",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
            "",
            *body,
            f"--{outer}",
            "Content-Type: application/pdf",
            "Content-Transfer-Encoding: base64",
            'Content-Disposition: attachment; filename="letter.pdf"',
            "",
            base64.encodebytes(message.pdf).decode("ascii"),
            f"--{outer}--",
        ]
    return "\r\n".join(parts).encode("ascii") + b"\r\n"


def _qp(text: str) -> str:
    """Quoted-printable in C (binascii), lines as the text has them."""
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")


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

"""Reading an email sent to the complaints mailbox: who sent it, what it says as plain text, the
files that came with it, and whether its subject quotes a case reference. Pure: bytes in,
values out. HTML is only ever read for its text, never rendered.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Final

from services.intake.attachments import ReceivedFile

#: a case reference as casework writes it (contracts.CaseOpened.reference): CMP-2026-000123
REFERENCE: Final = re.compile(r"(?<![A-Z0-9])([A-Z]{3}-\d{4}-\d{6,})(?![0-9])")


class Unreadable(ValueError):
    """The message cannot be taken; ``reply`` is the SMTP answer (code, enhanced code, text)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class ReadEmail:
    sender_name: str
    sender_address: str
    subject: str
    text: str
    files: tuple[ReceivedFile, ...]
    message_id: str | None

    @property
    def reference(self) -> str | None:
        """The case reference the subject quotes (a reply about that case), if any."""
        match = REFERENCE.search(self.subject.upper())
        return match.group(1) if match else None


def read_email(raw: bytes, max_files: int) -> ReadEmail:
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return _read(message, max_files)
    except Unreadable:
        raise
    except Exception as exc:  # the stdlib parser has many ways to give up on a broken message
        raise Unreadable(f"550 5.6.0 The message could not be read ({type(exc).__name__})") from exc


def _read(message: EmailMessage, max_files: int) -> ReadEmail:
    # RFC 5322 3.6: every message has a From field; one without is not a message at all
    if message.get("From") is None:
        raise Unreadable("550 5.6.0 The message has no From header")
    name, address = parseaddr(_printable(str(message.get("From", "") or "")))
    if not _looks_like_address(address):
        raise Unreadable("550 5.1.7 The message has no sender address we can reply to")
    name = " ".join(name.split()) or address.split("@", 1)[0]
    subject = " ".join(_printable(str(message.get("Subject", "") or "")).split())
    attachments = [p for p in message.iter_attachments() if isinstance(p, Message)]
    if len(attachments) > max_files:
        raise Unreadable(
            f"552 5.3.4 Too many attachments: at most {max_files} files in one message"
        )
    files = tuple(
        ReceivedFile(
            filename=p.get_filename() or "attachment",
            declared_type=p.get_content_type(),
            content=_payload_bytes(p),
        )
        for p in attachments
    )
    text = _body_text(message)
    if not text and not subject and not files:
        raise Unreadable("550 5.6.0 The message is empty: there is no subject, text or file")
    message_id = _printable(str(message.get("Message-ID", "") or "")).strip()[:500] or None
    return ReadEmail(name[:200], address, subject, text, files, message_id)


def _looks_like_address(address: str) -> bool:
    local, _, domain = address.partition("@")
    return bool(local) and "." in domain and " " not in address


def _payload_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _body_text(message: EmailMessage) -> str:
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        text = _part_text(plain)
        if text.strip():
            return _tidy(text)
    html = message.get_body(preferencelist=("html",))
    if html is not None:
        return _tidy(text_from_html(_part_text(html)))
    return ""


def _part_text(part: Message) -> str:
    raw = _payload_bytes(part)
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(text: str) -> str:
    """Control characters (a NUL, say) are never part of what someone wrote, and PostgreSQL
    cannot store some of them."""
    return _CONTROL.sub("", text)


def _tidy(text: str) -> str:
    text = _printable(text)
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_BLOCKS = frozenset(
    {"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"}
)
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def text_from_html(html: str) -> str:
    """The words a reader of the HTML would see, as plain text: no markup, no scripts."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return _tidy("".join(parser.parts))

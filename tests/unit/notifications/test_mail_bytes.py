"""The email written out directly (`mail_bytes`) reads, to a mail client, as the one the email
package builds (`mime_message`): same headers, same text, HTML and PDF, whatever the letter
holds (non-ASCII, long lines, trailing spaces, '=' signs, a lone dot, a line break where a
header must have none)."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.channels import Outgoing, mail_bytes, mime_message, smtp_envelope

SENDER = "complaints@redress.localhost"


def read(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def seen(message: EmailMessage) -> dict[str, Any]:
    """What a mail client shows of a message."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return {
        "headers": {k: str(message[k]) for k in ("From", "To", "Subject", "Message-ID")},
        "text": text.get_content(),
        "html": html.get_content(),
        "attachments": [
            (a.get_content_type(), a.get_filename(), a.get_content())
            for a in message.iter_attachments()
        ],
    }


def both(letter: Outgoing) -> tuple[dict[str, Any], dict[str, Any]]:
    direct = read(mail_bytes(letter, SENDER))
    general = read(mime_message(letter, SENDER).as_bytes())
    return seen(direct), seen(general)


def letter(**changes: Any) -> Outgoing:
    values: dict[str, Any] = {
        "notification_id": "6f1c0b8e-3a52-5d0e-9d38-2f4c1e7a9b10",
        "recipient": "Zoë Tenant <zoe@example.org>",
        "subject": "Our response to your complaint (CMP-2026-000001)",
        "html": "<p>We will pay you £50.</p>",
        "text": "We will pay you £50.\n.\nA line that is only a dot, above.\n",
        "pdf": None,
    }
    return Outgoing(**(values | changes))


@pytest.mark.parametrize("pdf", [None, b"%PDF-1.4 the letter\n" * 50])
def test_the_letter_reads_the_same_either_way(pdf: bytes | None) -> None:
    direct, general = both(letter(pdf=pdf))
    assert direct == general
    assert direct["headers"]["To"] == "Zoë Tenant <zoe@example.org>"
    assert len(direct["attachments"]) == (pdf is not None)


text_chars = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(
    ["\n", "=", " ", "\t", ".", "-", "--=_redress_", "é", "£"]
)


@settings(max_examples=60, deadline=None)
@given(
    text=st.lists(text_chars, max_size=400).map("".join),
    html=st.lists(text_chars, max_size=200).map("".join),
    subject=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=90),
)
def test_any_letter_reads_the_same_either_way(text: str, html: str, subject: str) -> None:
    direct, general = both(letter(text=text + "\n", html=html + "\n", subject=subject or "x"))
    assert direct["text"] == general["text"]
    assert direct["html"] == general["html"]
    # the subject as written; the email package's refolding can add a space to an encoded one
    assert direct["headers"].pop("Subject") == (subject or "x")
    general["headers"].pop("Subject")
    assert direct["headers"] == general["headers"]


def test_a_line_break_in_a_subject_starts_no_header() -> None:
    message = read(mail_bytes(letter(subject="Hello\r\nBcc: everyone@example.org"), SENDER))
    assert message["Bcc"] is None
    assert message["Subject"] == "Hello Bcc: everyone@example.org"


def test_addresses_only_smtputf8_carries_go_the_general_way() -> None:
    assert smtp_envelope(letter(), SENDER) == (SENDER, "zoe@example.org")
    assert smtp_envelope(letter(recipient="zoë@example.org"), SENDER) is None
    assert smtp_envelope(letter(recipient=""), SENDER) is None

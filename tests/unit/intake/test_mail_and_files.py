"""Reading email sent to the complaints mailbox, and which files intake keeps: the type comes
from the bytes, never from the name or the sender's label."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest

from services.intake.attachments import (
    DOCX,
    JPEG,
    PDF,
    PNG,
    TEXT,
    FileRefused,
    ReceivedFile,
    identify,
    keep,
    safe_filename,
)
from services.intake.domain.mail import Unreadable, read_email, text_from_html

PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
EXE_BYTES = b"MZ\x90\x00\x03" + b"\x00" * 32


def message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Ada Resident <ada@example.org>")
    msg["To"] = "complaints@redress.localhost"
    msg["Subject"] = headers.pop("Subject", "Boiler still broken")
    msg["Message-ID"] = "<m1@example.org>"
    for name, value in headers.items():
        msg[name] = value
    return msg


def test_plain_text_email() -> None:
    msg = message()
    msg.set_content("Nobody came.\n\n\n\nThree times.  Really.")
    mail = read_email(msg.as_bytes(), 10)
    assert (mail.sender_name, mail.sender_address) == ("Ada Resident", "ada@example.org")
    assert mail.subject == "Boiler still broken"
    assert mail.text == "Nobody came.\n\nThree times. Really."
    assert mail.files == () and mail.message_id == "<m1@example.org>"
    assert mail.reference is None


def test_html_only_email_gives_its_words_never_its_markup() -> None:
    msg = message()
    msg.set_content(
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<p>The <b>damp</b> is back &amp; worse.</p><script>alert('x')</script>"
        "<div>Please help</div></body></html>",
        subtype="html",
    )
    mail = read_email(msg.as_bytes(), 10)
    assert mail.text == "The damp is back & worse.\n\nPlease help"
    assert "<" not in mail.text and "alert" not in mail.text and "color" not in mail.text


def test_plain_part_is_preferred_to_html() -> None:
    msg = message()
    msg.set_content("plain words")
    msg.add_alternative("<p>html words</p>", subtype="html")
    assert read_email(msg.as_bytes(), 10).text == "plain words"


def test_attachments_are_read_with_their_bytes() -> None:
    msg = message()
    msg.set_content("See the photo")
    msg.add_attachment(PNG_BYTES, maintype="image", subtype="png", filename="damp.png")
    msg.add_attachment(PDF_BYTES, maintype="application", subtype="octet-stream", filename="x.pdf")
    mail = read_email(msg.as_bytes(), 10)
    assert [(f.filename, f.declared_type, f.content) for f in mail.files] == [
        ("damp.png", "image/png", PNG_BYTES),
        ("x.pdf", "application/octet-stream", PDF_BYTES),
    ]


def test_too_many_attachments_is_refused_with_552() -> None:
    msg = message()
    msg.set_content("many")
    for i in range(3):
        msg.add_attachment(PNG_BYTES, maintype="image", subtype="png", filename=f"{i}.png")
    with pytest.raises(Unreadable) as refused:
        read_email(msg.as_bytes(), 2)
    assert refused.value.reply.startswith("552 ")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"Subject: hi\r\n\r\nno sender at all\r\n", "550 5.6.0"),
        (b"From: nobody\r\nSubject: hi\r\n\r\ntext\r\n", "550 5.1.7"),
        (b"From: a@example.org\r\n\r\n", "550 5.6.0"),
        (b"\x00\xff\xfe garbage \x00", "550 5.6.0"),
        (b"\x00\xff\xfe\r\n\r\n\x00 not a message \xff", "550 5.6.0"),
    ],
    ids=["no From", "From without address", "empty message", "garbage", "garbage with lines"],
)
def test_unreadable_messages_are_refused_with_a_5xx_code(raw: bytes, code: str) -> None:
    with pytest.raises(Unreadable) as refused:
        read_email(raw, 10)
    assert refused.value.reply.startswith(code)


def test_control_characters_never_reach_the_text() -> None:
    raw = b"From: Nul <nul@example.org>\r\nSubject: a\x00b\r\n\r\nline\x00one\x07\r\n"
    mail = read_email(raw, 10)
    assert (mail.subject, mail.text) == ("ab", "lineone")


@pytest.mark.parametrize(
    ("subject", "reference"),
    [
        ("Re: Your complaint CMP-2026-000123", "CMP-2026-000123"),
        ("RE: [meq-2026-0001234] more", "MEQ-2026-0001234"),
        ("about CMP-2026-12345", None),  # too few digits
        ("XCMP-2026-000123", None),
        ("no reference", None),
    ],
)
def test_a_reference_in_the_subject_marks_a_reply(subject: str, reference: str | None) -> None:
    msg = message(Subject=subject)
    msg.set_content("text")
    assert read_email(msg.as_bytes(), 10).reference == reference


def test_html_text_extraction_is_text_only() -> None:
    assert text_from_html("<p>a<br>b</p><noscript>n</noscript>&lt;script&gt;") == "a\nb\n<script>"


@pytest.mark.parametrize(
    ("name", "declared", "content", "expected"),
    [
        ("letter.pdf", "application/pdf", PDF_BYTES, PDF),
        ("scan", "application/octet-stream", PDF_BYTES, PDF),
        ("photo.JPG", "image/jpeg", b"\xff\xd8\xff\xe0rest", JPEG),
        ("damp.png", "image/png", PNG_BYTES, PNG),
        ("notes.txt", "text/plain", "Café notes".encode(), TEXT),
        ("letter.docx", "application/octet-stream", b"PK\x03\x04rest", DOCX),
    ],
)
def test_accepted_files_are_typed_by_their_bytes(
    name: str, declared: str, content: bytes, expected: str
) -> None:
    assert identify(ReceivedFile(name, declared, content)) == expected


@pytest.mark.parametrize(
    ("name", "declared", "content", "reason"),
    [
        ("invoice.pdf", "application/pdf", EXE_BYTES, "program"),
        ("run.exe", "application/octet-stream", PDF_BYTES, "program"),
        ("x.sh", "text/plain", b"echo hi", "program"),
        ("tool", "application/octet-stream", b"\x7fELF\x02\x01", "program"),
        ("script.txt", "text/plain", b"#!/bin/sh\nrm -rf /", "program"),
        ("archive.zip", "application/zip", b"PK\x03\x04rest", "not a type we accept"),
        ("page.html", "text/html", b"<html></html>", "not a type we accept"),
        ("bin.txt", "text/plain", b"\x00\x01\x02", "not a type we accept"),
        ("empty.pdf", "application/pdf", b"", "empty"),
    ],
)
def test_refused_files_say_why(name: str, declared: str, content: bytes, reason: str) -> None:
    with pytest.raises(FileRefused, match=reason):
        identify(ReceivedFile(name, declared, content))


def test_keep_checks_size_and_records_the_digest() -> None:
    kept = keep(ReceivedFile("../../etc/letter.pdf", "application/pdf", PDF_BYTES), 1_000)
    assert kept.filename == "letter.pdf" and kept.content_type == PDF
    assert kept.reference.size_bytes == len(PDF_BYTES) and len(kept.sha256) == 64
    with pytest.raises(FileRefused, match="larger"):
        keep(ReceivedFile("big.pdf", "application/pdf", PDF_BYTES), 10)


def test_filenames_are_names_not_paths() -> None:
    assert safe_filename('C:\\Users\\a\\"scan"?.pdf') == "scan.pdf"
    assert safe_filename(None) == "attachment"
    assert len(safe_filename("a" * 400 + ".pdf")) == 255


def test_the_forms_date_travels_as_happened_on() -> None:
    from services.intake.api import SubmissionRequest
    from services.intake.domain.form import read_form
    from tests.unit.test_intake_form import GOOD, ORGS, TODAY

    result = read_form(GOOD, ORGS, TODAY)
    assert result.request is not None
    assert SubmissionRequest.model_validate(result.request).happened_on == date(2026, 3, 2)

"""What a file sent to intake (an email's attachment, a letter's scan) may be.

The type is decided by the file's first bytes, not by its name or the sender's label: a
program renamed ``scan.pdf`` is refused, and so is anything named like a program whatever it
contains. Only what a case file holds is kept: PDF, JPEG, PNG, plain text and Word.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from contracts import Attachment

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TEXT = "text/plain"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOC = "application/msword"
ACCEPTED = (PDF, JPEG, PNG, TEXT, DOCX, DOC)

_EXECUTABLE_MAGIC = (
    b"MZ",  # Windows PE
    b"\x7fELF",  # Linux
    b"\xfe\xed\xfa\xce",  # Mach-O, both byte orders, 32 and 64 bit
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal (and Java classes)
    b"#!",  # scripts
)
_EXECUTABLE_NAMES = (
    ".exe", ".dll", ".com", ".bat", ".cmd", ".scr", ".pif", ".msi", ".js", ".jse", ".vbs",
    ".vbe", ".wsf", ".ps1", ".sh", ".jar", ".app", ".lnk", ".hta", ".cpl", ".docm", ".xlsm",
)  # fmt: skip
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class FileRefused(ValueError):
    """A file intake will not keep, with a reason the sender can read."""


@dataclass(frozen=True)
class ReceivedFile:
    """A file as it arrived: what the sender called it and its bytes."""

    filename: str
    declared_type: str
    content: bytes


@dataclass(frozen=True)
class KeptFile:
    """A file intake keeps: checked, typed by its content, with its digest."""

    attachment_id: str
    filename: str
    content_type: str
    content: bytes
    sha256: str

    @property
    def reference(self) -> Attachment:
        return Attachment(
            attachment_id=self.attachment_id,
            filename=self.filename,
            content_type=self.content_type,
            size_bytes=len(self.content),
            sha256=self.sha256,
        )


def safe_filename(name: str | None) -> str:
    """The last path part, printable, at most 255 characters: a name to show, never a path."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip()
    return cleaned[:255] or "attachment"


def identify(file: ReceivedFile) -> str:
    """The file's real type, or `FileRefused` saying why it cannot be kept."""
    name = file.filename.lower()
    data = file.content
    if not data:
        raise FileRefused(f"{file.filename} is empty")
    if name.endswith(_EXECUTABLE_NAMES) or data.startswith(_EXECUTABLE_MAGIC):
        raise FileRefused(f"{file.filename} is a program or script; those are never accepted")
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"PK\x03\x04") and (name.endswith(".docx") or file.declared_type == DOCX):
        return DOCX
    if data.startswith(_OLE) and (name.endswith(".doc") or file.declared_type == DOC):
        return DOC
    if _is_text(data) and (name.endswith(".txt") or file.declared_type.startswith("text/plain")):
        return TEXT
    raise FileRefused(
        f"{file.filename} is not a type we accept (PDF, JPEG, PNG, plain text or Word)"
    )


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def keep(file: ReceivedFile, max_bytes: int) -> KeptFile:
    """Check one file and give it an id and digest; `FileRefused` if it cannot be kept."""
    if len(file.content) > max_bytes:
        raise FileRefused(f"{file.filename} is larger than the {max_bytes // 1024} KiB allowed")
    content_type = identify(file)
    return KeptFile(
        attachment_id=uuid.uuid4().hex,
        filename=safe_filename(file.filename),
        content_type=content_type,
        content=file.content,
        sha256=hashlib.sha256(file.content).hexdigest(),
    )

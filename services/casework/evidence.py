"""What an evidence upload may be. The declared type must be one a case file holds, and the
bytes must look like that type: a renamed executable is refused, not stored."""

from __future__ import annotations

import os

from starlette.datastructures import UploadFile

MAX_BYTES = int(os.environ.get("REDRESS_EVIDENCE_MAX_BYTES", str(10 * 1024 * 1024)))

#: type -> the leading bytes a real file of that type starts with (None: text, checked below)
ALLOWED: dict[str, tuple[bytes, ...] | None] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "text/plain": None,
    "message/rfc822": None,
}


class EvidenceRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def check_upload(file: UploadFile, max_bytes: int = MAX_BYTES) -> tuple[bytes, str]:
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    if content_type not in ALLOWED:
        raise EvidenceRejected(
            415,
            f"{content_type or 'unknown type'} is not accepted; send one of: "
            + ", ".join(sorted(ALLOWED)),
        )
    content = await file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise EvidenceRejected(413, f"files are limited to {max_bytes} bytes")
    if not content:
        raise EvidenceRejected(422, "the file is empty")
    signatures = ALLOWED[content_type]
    if signatures is None:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise EvidenceRejected(415, f"the file is not {content_type} text") from None
    elif not content.startswith(signatures):
        raise EvidenceRejected(415, f"the file's content is not {content_type}")
    return content, content_type

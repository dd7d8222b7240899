"""The shared complaints mailbox: an SMTP listener run by intake. An email to the complaints
address becomes a submission on the email channel, through the same path as the API; a reply
quoting a case reference is added to that case's contact log instead. Whatever arrives, the
listener answers with an SMTP code and carries on: a bad message is refused (5xx) or has its
bad files dropped and noted, never crashes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import Counter
from pydantic import ValidationError

from contracts import Channel, Complainant, FeedbackKind
from contracts.events import ContactMethod, Sender
from redress.logging import get_logger
from redress.service import Runtime
from services.intake import settings, store, submitting
from services.intake.attachments import FileRefused, KeptFile, keep
from services.intake.domain.mail import ReadEmail, Unreadable, read_email

log = get_logger(__name__)

MAILBOX_MESSAGES = Counter(
    "redress_mailbox_messages_total",
    "Messages the complaints mailbox answered, by outcome: received (a new submission), "
    "duplicate, reply (added to a case), refused (5xx), deferred (4xx, the sender retries)",
    ["outcome"],
)


def outcome_of(reply: str) -> str:
    if reply.startswith("250"):
        if "Added to case" in reply:
            return "reply"
        return "duplicate" if "Already received" in reply else "received"
    return "deferred" if reply.startswith("4") else "refused"


_SUMMARY_LIMIT = 20_000


class ComplaintsMailbox:
    """The aiosmtpd handler: it accepts mail for the complaints addresses only."""

    def __init__(self, runtime: Runtime, config: settings.IntakeSettings) -> None:
        self.runtime = runtime
        self.config = config

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.strip().lower() not in self.config.complaints_addresses:
            return "550 5.1.1 No such mailbox here: write to " + ", ".join(
                sorted(self.config.complaints_addresses)
            )
        if len(envelope.rcpt_tos) >= self.config.mailbox_max_recipients:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        try:
            reply = await self.receive(raw)
        except Exception as exc:
            # the database away, say: the sender's server keeps the message and tries again
            log.error("mailbox could not take a message", error=repr(exc))
            reply = "451 4.3.0 Temporary failure; please try again later"
        MAILBOX_MESSAGES.labels(outcome_of(reply)).inc()
        return reply

    async def receive(self, raw: bytes) -> str:
        """The SMTP answer to one message."""
        try:
            mail = read_email(raw, self.config.max_attachments)
            sender = Sender(name=mail.sender_name, email=mail.sender_address)
        except Unreadable as refused:
            log.info("mailbox refused a message", reply=refused.reply)
            return refused.reply
        except ValidationError:
            return "550 5.1.7 The sender's address is not one we can reply to"
        kept, notes = self._keep_files(mail)
        key = f"email:{mail.message_id}" if mail.message_id else None
        fingerprint = submitting.request_hash(
            "email", mail.sender_address, mail.subject, mail.text, [f.sha256 for f in kept]
        )
        reference = mail.reference
        if reference is not None:
            async with self.runtime.pool.acquire() as conn:
                case = await store.case_by_reference(conn, reference)
            if case is not None:
                return await self._reply(mail, sender, case, kept, notes, key, fingerprint)
        return await self._new_submission(mail, sender, kept, notes, key, fingerprint)

    def _keep_files(self, mail: ReadEmail) -> tuple[list[KeptFile], list[str]]:
        kept, notes = [], []
        for file in mail.files:
            try:
                kept.append(keep(file, self.config.attachment_max_bytes))
            except FileRefused as refused:
                notes.append(f"[Not kept: {refused}]")
        return kept, notes

    async def _reply(
        self,
        mail: ReadEmail,
        sender: Sender,
        case: Any,
        kept: list[KeptFile],
        notes: list[str],
        key: str | None,
        fingerprint: str,
    ) -> str:
        text = "\n\n".join(part for part in (mail.text, *notes) if part)
        taken = await submitting.take_correspondence(
            self.runtime,
            case_id=case["case_id"],
            reference=case["reference"],
            sender=sender,
            subject=mail.subject,
            text=text,
            files=kept,
            idempotency_key=key,
            fingerprint=fingerprint,
            actor="channel:email",
        )
        if isinstance(taken, submitting.Refused):
            return "554 5.6.0 This Message-ID was already used for a different message"
        log.info("mailbox added a reply to a case", reference=taken.reference)
        return f"250 2.0.0 Added to case {taken.reference}"

    async def _new_submission(
        self,
        mail: ReadEmail,
        sender: Sender,
        kept: list[KeptFile],
        notes: list[str],
        key: str | None,
        fingerprint: str,
    ) -> str:
        summary = "\n\n".join(part for part in (mail.subject, mail.text) if part)
        tail = "\n\n".join(notes)
        room = _SUMMARY_LIMIT - len(tail) - 20
        if len(summary) > room:
            summary = summary[:room].rstrip() + " [...]"
        summary = "\n\n".join(part for part in (summary, tail) if part) or "(no text)"
        try:
            complainant = Complainant(
                name=mail.sender_name,
                email=mail.sender_address,
                preferred_contact=ContactMethod.EMAIL,
            )
        except ValidationError:
            return "550 5.1.7 The sender's address is not one we can reply to"
        fields: dict[str, Any] = {
            "kind": FeedbackKind.COMPLAINT,
            "channel": Channel.EMAIL,
            "organisation_id": self.config.mailbox_organisation,
            "service_area": None,
            "summary": summary,
            "outcome_sought": None,
            "complainant": complainant.model_dump(),
            "location": None,
        }
        taken = await submitting.take(
            self.runtime,
            fields,
            None,
            "channel:email",
            key,
            files=kept,
            duplicate_text=mail.text or mail.subject,
            fingerprint=fingerprint,
        )
        if isinstance(taken, submitting.Refused):
            if taken.field == "organisation_id":
                # the mailbox's organisation (REDRESS_MAILBOX_ORGANISATION) is not configured:
                # a temporary failure, so the sender's server tries again once it is
                log.error(
                    "mailbox organisation is not configured; mail deferred",
                    organisation_id=self.config.mailbox_organisation,
                )
                return "451 4.3.0 The complaints mailbox is not ready; please try again later"
            return "554 5.6.0 This Message-ID was already used for a different message"
        if taken.status == "duplicate":
            answer = f"250 2.0.0 Already received as submission {taken.submission_id}"
            if kept:
                reference = await self._files_to_case_of(
                    taken.submission_id, mail, sender, kept, key, fingerprint
                )
                if reference is not None:
                    answer += f"; the files were added to case {reference}"
            return answer
        log.info("mailbox took a complaint", submission_id=str(taken.submission_id))
        return f"250 2.0.0 Received as submission {taken.submission_id}"

    async def _files_to_case_of(
        self,
        submission_id: uuid.UUID,
        mail: ReadEmail,
        sender: Sender,
        kept: list[KeptFile],
        key: str | None,
        fingerprint: str,
    ) -> str | None:
        """The same complaint again, with files: they join the first one's case file, once
        casework has opened it (before that they cannot be placed, and are not kept)."""
        async with self.runtime.pool.acquire() as conn:
            case = await store.case_of_submission(conn, submission_id)
        if case is None:
            return None
        taken = await submitting.take_correspondence(
            self.runtime,
            case_id=case["case_id"],
            reference=case["reference"],
            sender=sender,
            subject=mail.subject,
            text="The same complaint sent again, with files.\n\n" + mail.text,
            files=kept,
            idempotency_key=key,
            fingerprint=fingerprint,
            actor="channel:email",
        )
        return None if isinstance(taken, submitting.Refused) else taken.reference


async def run_mailbox(runtime: Runtime) -> None:
    """Intake's background job: listen until the service stops. A port already taken is
    logged and tried again, so the HTTP side of intake keeps working meanwhile."""
    config = settings.current()
    if not config.mailbox_enabled:
        return
    host, port = runtime.settings.mailbox_host, runtime.settings.mailbox_port
    handler = ComplaintsMailbox(runtime, config)
    loop = asyncio.get_running_loop()
    while True:
        try:
            server = await loop.create_server(
                lambda: SMTP(
                    handler,
                    hostname="redress-intake",
                    ident="Redress complaints mailbox",
                    data_size_limit=config.mailbox_max_bytes,
                ),
                host=host,
                port=port,
                # every replica of intake listens on the one port; the kernel shares out
                # the connections
                reuse_port=True,
            )
            break
        except OSError as exc:
            log.error(
                "mailbox cannot listen; will try again",
                host=host,
                port=port,
                error=repr(exc),
            )
            await asyncio.sleep(5)
    log.info("mailbox listening", host=host, port=port)
    try:
        await asyncio.Event().wait()
    finally:
        server.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await server.wait_closed()

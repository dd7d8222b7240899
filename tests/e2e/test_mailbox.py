"""The shared complaints mailbox, through real SMTP to the running system's intake: an email
becomes a case with its attachments as evidence; a reply quoting the reference joins that case;
bad mail gets SMTP error codes and the listener carries on; the same email and then the form
is one complaint."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import asyncpg
import httpx
import pytest

from contracts import Role
from tests.e2e.casework_client import Staff
from tests.e2e.conftest import ATTACHMENT_MAX_BYTES, MAILBOX_MAX_BYTES, System
from tests.e2e.test_flow import case_for
from tests.support import eventually

TO = "complaints@redress.localhost"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03" + b"\x00" * 200


def email(
    sender: str,
    subject: str,
    text: str | None = None,
    html: str | None = None,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = TO
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    for name, content, kind in attachments:
        maintype, subtype = kind.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg


async def send(system: System, msg: EmailMessage, **kw: Any) -> str:
    """Send and return the listener's answer to the message."""

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", system.mailbox_port)
        except OSError:
            return False
        writer.close()
        return True

    try:
        await eventually(listening, timeout=90, what="the mailbox listening")
    except AssertionError as exc:
        log = system.stack.data_dir / "system" / "logs" / "intake.log"
        tail = log.read_text()[-3000:] if log.exists() else "(no log)"
        raise AssertionError(f"{exc}\nintake's log ends:\n{tail}") from None
    _, answer = await aiosmtplib.send(
        msg, hostname="127.0.0.1", port=system.mailbox_port, timeout=15, **kw
    )
    return answer


def submission_of(answer: str) -> str:
    match = re.search(r"submission ([0-9a-f-]{36})", answer)
    assert match, answer
    return match.group(1)


async def known_to_intake(system: System, reference: str) -> None:
    """Intake learns references from casework's CaseOpened; until it has, a reply would be a
    new complaint."""
    conn = await asyncpg.connect(system.stack.dsn)
    try:

        async def known() -> bool:
            sql = "SELECT 1 FROM intake.tracked_cases WHERE reference = $1"
            return bool(await conn.fetchval(sql, reference))

        await eventually(known, what="intake knowing the reference")
    finally:
        await conn.close()


async def history(client: httpx.AsyncClient, system: System, case_id: str) -> list[Any]:
    auditor = Staff(client, system, "audrey", Role.AUDITOR)
    return (await auditor.get(f"/v1/cases/{case_id}/history"))["events"]  # type: ignore[no-any-return]


async def test_an_email_becomes_a_case_with_its_attachments_as_evidence(system: System) -> None:
    who = uuid.uuid4().hex[:8]
    msg = email(
        f"Ada Mailer <ada.{who}@example.org>",
        f"Damp in flat {who}",
        text="The damp in my bedroom is back.\nPlease send someone.",
        attachments=(
            ("photo-report.pdf", PDF, "application/pdf"),
            ("invoice.pdf.exe", EXE, "application/octet-stream"),
            ("sneaky.pdf", EXE, "application/pdf"),
        ),
    )
    answer = await send(system, msg)
    assert answer.startswith("2.0.0 Received as submission")
    async with httpx.AsyncClient(timeout=15) as client:
        case = await case_for(client, system, submission_of(answer))
        assert case["channel"] == "email"
        events = await history(client, system, case["case_id"])
        opened = events[0]["payload"]
        assert opened["complainant"]["name"] == "Ada Mailer"
        assert opened["complainant"]["email"] == f"ada.{who}@example.org"
        assert opened["summary"].startswith(f"Damp in flat {who}\n\nThe damp in my bedroom")
        assert "[Not kept: invoice.pdf.exe is a program" in opened["summary"]
        assert "[Not kept: sneaky.pdf is a program" in opened["summary"]
        # the case file lists it, with where to download it
        officer = Staff(client, system, "olivia", Role.OFFICER)
        [evidence] = (await officer.get(f"/v1/cases/{case['case_id']}/evidence"))["evidence"]
        assert evidence["filename"] == "photo-report.pdf"
        assert evidence["content_type"] == "application/pdf"
        assert evidence["size_bytes"] == len(PDF)
        assert evidence["download"]["service"] == "intake"
        got = await client.get(
            system.url("intake", evidence["download"]["path"]), headers=officer.headers
        )
        assert got.status_code == 200 and got.content == PDF
        assert hashlib.sha256(got.content).hexdigest() == evidence["sha256"]

        # the same message delivered twice (a sending server's retry) is one case
        again = await send(system, msg)
        assert submission_of(again) == submission_of(answer)


async def test_an_html_only_email_is_read_as_text(system: System) -> None:
    who = uuid.uuid4().hex[:8]
    html = (
        "<html><body><p>Bins not <b>collected</b> on street "
        f"{who}.</p><script>document.write('x')</script></body></html>"
    )
    answer = await send(system, email(f"b.{who}@example.org", "Bins", html=html))
    async with httpx.AsyncClient(timeout=15) as client:
        case = await case_for(client, system, submission_of(answer))
        opened = (await history(client, system, case["case_id"]))[0]["payload"]
        assert opened["summary"] == f"Bins\n\nBins not collected on street {who}."
        assert opened["complainant"]["name"] == f"b.{who}"


async def test_a_reply_quoting_the_reference_joins_that_case(system: System) -> None:
    who = uuid.uuid4().hex[:8]
    sender = f"Cal Replier <cal.{who}@example.org>"
    first = await send(system, email(sender, "Noisy pipes", text=f"Pipes bang all night {who}."))
    async with httpx.AsyncClient(timeout=15) as client:
        case = await case_for(client, system, submission_of(first))
        reply = email(
            sender,
            f"RE: Your complaint {case['reference']}",
            text="Here is a recording log of the noise.",
            attachments=(("log.txt", b"02:00 bang\n03:00 bang\n", "text/plain"),),
        )

        await known_to_intake(system, case["reference"])
        answer = await send(system, reply)
        assert answer == f"2.0.0 Added to case {case['reference']}"

        async def logged() -> list[Any] | None:
            events = await history(client, system, case["case_id"])
            return events if any(e["event_type"] == "ContactLogged" for e in events) else None

        events = await eventually(logged, what="the reply on the contact log")
        [contact] = [e["payload"] for e in events if e["event_type"] == "ContactLogged"]
        assert contact["contact_kind"] == "email"
        assert contact["with_whom"] == f"Cal Replier <cal.{who}@example.org>"
        assert "recording log of the noise" in contact["summary"]
        [log] = [
            e["payload"]
            for e in events
            if e["event_type"] == "EvidenceAttached" and e["payload"]["filename"] == "log.txt"
        ]
        got = await client.get(
            system.url("intake", f"/v1/attachments/{log['evidence_id']}"), headers=system.auth()
        )
        assert got.content == b"02:00 bang\n03:00 bang\n"
        # no second case for the reply
        found = await Staff(client, system, "olivia", Role.OFFICER).get(
            "/v1/cases", email=f"cal.{who}@example.org"
        )
        assert [c["case_id"] for c in found["cases"]] == [case["case_id"]]
        # the same reply delivered again is logged once
        await send(system, reply)
        events = await history(client, system, case["case_id"])
        assert sum(e["event_type"] == "ContactLogged" for e in events) == 1


async def test_an_email_then_the_same_complaint_on_the_form_is_one_complaint(
    system: System,
) -> None:
    who = uuid.uuid4().hex[:8]
    words = f"The streetlight outside number {who} has been out for three weeks now."
    answer = await send(system, email(f"Dee <dee.{who}@example.org>", "Streetlight", text=words))
    async with httpx.AsyncClient(timeout=15) as client:
        form = {
            "summary": words,
            "organisation_id": "default",
            "complainant": {"name": "Dee Resident", "email": f"DEE.{who}@example.org"},
        }
        r = await client.post(system.url("intake", "/v1/submissions"), json=form)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "duplicate"
        assert r.json()["submission_id"] == submission_of(answer)
        # and the form first, then the email
        words2 = f"Graffiti on the bus shelter by {who} again, third time this month."
        r = await client.post(
            system.url("intake", "/v1/submissions"), json={**form, "summary": words2}
        )
        answer2 = await send(system, email(f"dee.{who}@example.org", "Graffiti", text=words2))
        assert answer2 == f"2.0.0 Already received as submission {r.json()['submission_id']}"


async def refused(system: System, msg: EmailMessage, **kw: Any) -> int:
    """The SMTP code the listener refused the message with."""
    try:
        answer = await send(system, msg, **kw)
    except aiosmtplib.SMTPRecipientsRefused as every_recipient:
        return every_recipient.recipients[0].code
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code
    raise AssertionError(f"accepted: {answer}")


async def test_bad_mail_gets_smtp_errors_and_the_listener_carries_on(system: System) -> None:
    ok = email("eve@example.org", "fine", text="fine")
    wrong = await refused(system, ok, recipients=["someone.else@redress.localhost"])
    assert wrong == 550
    # the same mailbox written eleven ways: the eleventh recipient is one too many
    spellings = [TO[:i] + TO[i].upper() + TO[i + 1 :] for i in range(11)]
    errors, _ = await aiosmtplib.send(
        email("eve@example.org", "many", text="to many"),
        hostname="127.0.0.1",
        port=system.mailbox_port,
        recipients=spellings,
        timeout=15,
    )
    assert [code for code, _ in errors.values()] == [452]

    big = email("eve@example.org", "big", text="x" * (MAILBOX_MAX_BYTES + 1000))
    assert await refused(system, big) == 552

    files = tuple((f"{i}.pdf", PDF, "application/pdf") for i in range(11))
    assert (await refused(system, email("eve@example.org", "files", "t", attachments=files))) == 552

    nobody = EmailMessage()
    nobody["To"] = TO
    nobody["Subject"] = "who am I"
    nobody.set_content("no From header")
    assert (await refused(system, nobody, sender="eve@example.org")) == 550

    empty = EmailMessage()
    empty["From"] = "eve@example.org"
    empty["To"] = TO
    assert (await refused(system, empty)) == 550

    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=system.mailbox_port, timeout=15)
    await smtp.connect()
    try:
        await smtp.mail("eve@example.org")
        await smtp.rcpt(TO)
        with pytest.raises(aiosmtplib.SMTPResponseException) as garbage:
            await smtp.data(b"\x00\xff\xfe\r\n\r\n\x00 not a message \xff")
        assert garbage.value.code == 550
    finally:
        smtp.close()

    # a file larger than allowed is dropped and noted; the message is taken
    who = uuid.uuid4().hex[:8]
    large = email(
        f"eve.{who}@example.org",
        "large file",
        text=f"See attached {who}",
        attachments=(("huge.pdf", PDF + b"0" * ATTACHMENT_MAX_BYTES, "application/pdf"),),
    )
    answer = await send(system, large)
    async with httpx.AsyncClient(timeout=15) as client:
        case = await case_for(client, system, submission_of(answer))
        events = await history(client, system, case["case_id"])
        assert "[Not kept: huge.pdf is larger than" in events[0]["payload"]["summary"]
        assert not any(e["event_type"] == "EvidenceAttached" for e in events)

    # after all that, a good email is still taken
    good = email(f"eve.{who}@example.org", "still there?", text=f"Yes {who} still works")
    assert (await send(system, good)).startswith("2.0.0 Received as submission")

    async with httpx.AsyncClient(timeout=15) as client:
        metrics = (await client.get(system.url("intake", "/metrics"))).text
    for outcome in ("received", "refused"):
        assert re.search(
            rf'redress_mailbox_messages_total\{{outcome="{outcome}"\}} [1-9]', metrics
        ), outcome


async def test_the_same_complaint_again_with_a_file_adds_the_file_to_the_case(
    system: System,
) -> None:
    who = uuid.uuid4().hex[:8]
    sender = f"Fay <fay.{who}@example.org>"
    words = f"The fence at number {who} fell down in the storm and is still lying there."
    first = submission_of(await send(system, email(sender, "Fence", text=words)))
    async with httpx.AsyncClient(timeout=15) as client:
        case = await case_for(client, system, first)
        await known_to_intake(system, case["reference"])
        again = email(
            sender, "Fence", text=words, attachments=(("fence.pdf", PDF, "application/pdf"),)
        )
        answer = await send(system, again)
        assert answer == (
            f"2.0.0 Already received as submission {first}; "
            f"the files were added to case {case['reference']}"
        )
        assert await send(system, again) == answer  # delivered twice: added once
        officer = Staff(client, system, "olivia", Role.OFFICER)

        async def filed() -> list[Any] | None:
            files = (await officer.get(f"/v1/cases/{case['case_id']}/evidence"))["evidence"]
            return files or None

        [evidence] = await eventually(filed, what="the file in the case file")
        assert evidence["filename"] == "fence.pdf" and evidence["download"]["service"] == "intake"
        events = await history(client, system, case["case_id"])
        assert sum(e["event_type"] == "ContactLogged" for e in events) == 1

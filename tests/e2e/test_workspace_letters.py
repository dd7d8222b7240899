"""The case page's letters, from notifications' own events: an acknowledged complaint lists its
acknowledgement letter as sent; a letter notifications gave up on stands out with its error and
attempts; only staff who may read the case see them."""

from __future__ import annotations

import asyncio
import html
import re
import time
import uuid
from datetime import UTC, datetime

import httpx

from contracts import NOTIFICATION_TOPIC, NotificationFailed, Role, encode_envelope, new_envelope
from redress.kafka import new_producer
from redress.rebuild import rebuild
from redress.settings import RuntimeSettings
from tests.e2e.casework_client import Staff, new_case
from tests.e2e.conftest import System
from tests.e2e.test_workspace_forms import desk
from tests.support import eventually

ORG = "ws-letters"


def letter_rows(page: str) -> dict[str, str]:
    """Each row of the Letters table as its letter's name -> the row's text."""
    section = page[page.index('id="letters"') : page.index('id="contacts"')]
    rows = re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)
    out = {}
    for row in rows:
        name = re.search(r'<th scope="row"[^>]*>(.*?)</th>', row, flags=re.S)
        if name:
            text = re.sub(r"<[^>]+>", " ", row)
            out[html.unescape(name.group(1).strip())] = " ".join(html.unescape(text).split())
    return out


async def test_an_acknowledged_complaint_lists_its_acknowledgement_letter_as_sent(
    system: System,
) -> None:
    async with httpx.AsyncClient(timeout=20) as api:
        case = await new_case(api, system, organisation_id=ORG, service_area="repairs")
        cid = case["case_id"]
        officer = Staff(api, system, "olga", Role.OFFICER)
        await officer.do(
            cid,
            "triage",
            {
                "kind": "complaint",
                "procedure": "housing_ombudsman",
                "service_area": "repairs",
                "category": "repairs",
            },
        )
        await officer.do(
            cid,
            "acknowledge",
            {
                "points": [{"point_id": "1", "text": "Three missed repair appointments"}],
                "outcomes_sought": ["Boiler repaired"],
            },
        )

    async with desk(system, "olga", Role.OFFICER) as client:

        async def acknowledged_and_sent() -> dict[str, str] | None:
            page = await client.get(f"/cases/{cid}")
            assert page.status_code == 200, page.text
            rows = letter_rows(page.text)
            return rows if "Sent" in rows.get("Acknowledgement letter", "") else None

        rows = await eventually(
            acknowledged_and_sent,
            what="the case page lists the acknowledgement as sent",
            timeout=60,
        )
        ack = rows["Acknowledgement letter"]
        assert "Email" in ack and "ada@example.org" in ack and "Failed" not in ack
        assert "Sent" in rows["Receipt (case opened)"]
        page = (await client.get(f"/cases/{cid}")).text
        assert "casework does not hear of deliveries" not in page
        assert f"/v1/notifications?case_id={cid}" in page  # the delivery log, still linked
        assert f"/v1/cases/{cid}/preview/acknowledgement" in page
        assert "not delivered" not in page

        listed = (await client.get(f"/v1/cases/{cid}/letters")).json()["letters"]
        by_template = {x["template"]: x for x in listed}
        assert by_template["acknowledgement"]["status"] == "sent"
        assert by_template["acknowledgement"]["recipient"] == "ada@example.org"
        assert by_template["receipt"]["status"] == "sent"

    # the notifications service gives up on a letter: the case page says so, with the error
    # and the attempts, at the top and in the Letters section
    failed = NotificationFailed(
        notification_id=uuid.uuid4(),
        case_id=uuid.UUID(cid),
        template="delay_notice",
        channel="letter",
        recipient="Flat 2, 10 Mill Lane, M1 1AE",
        attempts=5,
        error="no PDF to print",
    )
    envelope = new_envelope(
        failed,
        stream_id=f"notification-{failed.notification_id}",
        stream_version=1,
        occurred_at=datetime.now(UTC),
        actor="service:notifications",
        correlation_id=uuid.uuid4(),
    )
    producer = new_producer(system.stack.bootstrap, "e2e-letters")
    await producer.start()
    try:
        await producer.send_and_wait(
            NOTIFICATION_TOPIC, value=encode_envelope(envelope), key=envelope.stream_id.encode()
        )
    finally:
        await producer.stop()

    async with desk(system, "olga", Role.OFFICER) as client:

        async def failure_shown() -> str | None:
            page = (await client.get(f"/cases/{cid}")).text
            return page if "1 letter not delivered" in page else None

        page = await eventually(
            failure_shown, what="the failed letter on the case page", timeout=60
        )
        row = letter_rows(page)["Delay notice (extension)"]
        assert "Failed: not delivered after 5 attempts" in row
        assert "no PDF to print" in row and "Letter by post" in row
        assert 'href="#letters-failed"' in page and 'id="letters-failed"' in page

    # a service responder for another service sees neither the page nor the letters
    async with desk(system, "pam", Role.SERVICE_RESPONDER, "parks") as parks:
        assert (await parks.get(f"/v1/cases/{cid}/letters")).status_code == 403
        page = await parks.get(f"/cases/{cid}")
        assert page.status_code == 403 and "ada@example.org" not in page.text


async def test_casework_rebuilt_from_the_log_lists_the_same_letters(system: System) -> None:
    """`redress rebuild casework` replays the notification topic too: its letters table equals
    the live one (every column comes from the events, none from the clock)."""
    async with httpx.AsyncClient(timeout=20) as api:
        case = await new_case(api, system, organisation_id=ORG)

        async def receipt_listed() -> bool:
            r = await api.get(
                system.url("casework", f"/v1/cases/{case['case_id']}/letters"),
                headers=system.auth(),
            )
            return any(x["status"] == "sent" for x in r.json()["letters"])

        await eventually(receipt_listed, what="the receipt listed on the case", timeout=60)
    settings = RuntimeSettings(
        database_url=system.stack.dsn,
        kafka_bootstrap_servers=system.stack.bootstrap,
        data_dir=system.data_dir,  # whose master key opens the sealed recipients
    )
    deadline = time.monotonic() + 60
    while True:
        report = await rebuild("casework", settings)
        letters = next(t for t in report.tables if t.table == "case_letters")
        if not (letters.only_live or letters.only_rebuilt) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)  # the live service may still be catching up
    assert letters.live_rows == letters.rebuilt_rows > 0
    assert letters.only_live == letters.only_rebuilt == 0, letters.examples

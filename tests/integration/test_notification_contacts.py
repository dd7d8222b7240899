"""Each write to a case's contact row returns the row as a fresh read would show it (the
organisation's name and the letters already queued included): the handlers decide a case's
letters from what the write returned instead of reading the row again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from contracts import CaseOpened
from redress.db import create_pool
from services.notifications import store
from services.notifications.compose import Route, queue
from tests.conftest import Stack
from tests.integration.test_notifications_delivery import schema  # noqa: F401  (fixture)


async def test_every_write_returns_the_row_a_read_would(stack: Stack, schema: str) -> None:  # noqa: F811
    pool = await create_pool(stack.dsn, schema)
    case_id = uuid.uuid4()
    opened = CaseOpened.model_validate(
        {
            "case_id": case_id,
            "reference": "CMP-2026-000777",
            "submission_id": uuid.uuid4(),
            "kind": "complaint",
            "channel": "web",
            "organisation_id": "contacts-org",
            "procedure": "lgsco",
            "stage": 1,
            "received_at": datetime(2026, 3, 2, 10, tzinfo=UTC),
            "summary": "x",
            "complainant": {
                "name": "Ada",
                "email": "ada@example.org",
                "address": "1 Mill Lane",
                "postcode": "M1 1AE",
                "adjustments": ["large_print"],
            },
        }
    )
    try:
        async with pool.acquire() as conn, conn.transaction():
            # an event before the case: the row is made by the write, partly filled
            early = await store.merge(
                conn, case_id, "deadlines", "response:1", {"due_on": "2026-03-23"}
            )
            assert early["reference"] is None and early["letters_made"] == set()
            await store.save_organisation(conn, "contacts-org", "Contacts Council")
            writes: list[Any] = [
                lambda: store.remember_case(conn, opened),
                lambda: store.update(conn, case_id, procedure="spso", kind="complaint"),
                lambda: store.merge(conn, case_id, "stages", "1", {"acknowledged_on": "x"}),
                lambda: store.merge(conn, case_id, "stages", "1", {"extension:E1": "why"}),
                lambda: store.merge(conn, case_id, "deadlines", "response:1", {"provisional": 0}),
                lambda: store.append(conn, case_id, "remedies", {"description": "sorry"}),
                lambda: store.append(conn, case_id, "learning", {"description": "train"}),
                lambda: store.update(conn, case_id, allowed_channels=["letter"], contact_via=None),
            ]
            for i, write in enumerate(writes):
                if i == 3:  # a letter queued meanwhile shows in the next row returned
                    await queue(
                        conn,
                        case_id=case_id,
                        cause="receipt",
                        template="thanks",
                        route=Route("email", "ada@example.org"),
                        context={
                            "organisation": "Contacts Council",
                            "reference": "CMP-2026-000777",
                            "name": "Ada",
                            "signature": "S",
                            "kind": "complaint",
                        },
                        audience="resident",
                        now=datetime(2026, 3, 2, 11, tzinfo=UTC),
                    )
                returned = await write()
                assert returned == await store.contact_and_letters(conn, case_id)
            assert returned["organisation_name"] == "Contacts Council"
            assert returned["stages"] == {"1": {"acknowledged_on": "x", "extension:E1": "why"}}
            assert returned["deadlines"]["response:1"] == {"due_on": "2026-03-23", "provisional": 0}
            assert len(returned["letters_made"]) == 1
    finally:
        await pool.close()

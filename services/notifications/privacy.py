"""Notifications' part in erasure: scrub what it kept in clear about an erased person's cases
(the contact row, every letter's recipient, text and PDF, delivery errors that may quote an
address), suppress what was still queued, and send the resident nothing more.

What already left the building (an email in someone's mailbox, a letter in the post, or the
embedded stack's mail sink and print folder standing in for them) is outside Redress's reach.
"""

from __future__ import annotations

from contracts import PersonErased
from contracts.personal import ERASED
from redress.consumer import EventContext


async def on_person_erased(ctx: EventContext) -> None:
    erased = ctx.payload
    assert isinstance(erased, PersonErased)
    cases = erased.case_ids
    conn = ctx.conn
    await conn.execute(
        """UPDATE case_contacts SET recipient_name = $2, email = NULL, address = NULL,
               phone = NULL, contact_via = NULL, stages = '{}', parts = '{}', remedies = '[]',
               learning = '[]', erased_at = coalesce(erased_at, $3)
           WHERE case_id = ANY($1::uuid[])""",
        cases,
        ERASED,
        ctx.envelope.occurred_at,
    )
    scrubbed = await conn.fetchval(
        """WITH done AS (
               UPDATE notifications SET
                   recipient = CASE WHEN audience = 'resident' THEN $2 ELSE recipient END,
                   subject = $2, html = $2, text_body = $2, pdf = NULL, printable = false,
                   note = NULL,
                   last_error = NULL,
                   status = CASE WHEN status = 'queued' THEN 'suppressed' ELSE status END
               WHERE case_id = ANY($1::uuid[]) RETURNING notification_id)
           SELECT count(*) FROM done""",
        cases,
        ERASED,
    )
    await conn.execute(
        """UPDATE delivery_attempts SET error = NULL WHERE notification_id IN
               (SELECT notification_id FROM notifications WHERE case_id = ANY($1::uuid[]))""",
        cases,
    )
    await conn.execute(
        """UPDATE deliveries SET recipient = $2, subject = $2, body = $2
           WHERE case_id = ANY($1::uuid[])""",
        cases,
        ERASED,
    )
    ctx.log.info("erased person's letters scrubbed", cases=len(cases), letters=scrubbed)

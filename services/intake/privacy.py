"""Intake's part in erasure: delete the files that came with an erased person's submissions and
correspondence (an email's attachments, a letter's scans), and forget the digests kept to spot
duplicates (a digest of a known email address, or of a summary's words, can be matched)."""

from __future__ import annotations

from contracts import PersonErased
from redress.consumer import EventContext


async def on_person_erased(ctx: EventContext) -> None:
    erased = ctx.payload
    assert isinstance(erased, PersonErased)
    conn = ctx.conn
    await conn.execute(
        """WITH forgotten AS (
               DELETE FROM first_submissions_by_contact f
               USING submissions s
               WHERE s.submission_id = ANY($1::uuid[])
                 AND f.organisation_id = s.organisation_id AND f.kind = s.kind
                 AND f.contact_key = ANY(s.contact_keys) AND f.received_at = s.received_at
                 AND f.submission_id = s.submission_id)
           UPDATE submissions SET contact_keys = '{}', text_keys = '{}'
           WHERE submission_id = ANY($1::uuid[])""",
        erased.submission_ids,
    )
    files = await conn.fetchval(
        """WITH gone AS (
               DELETE FROM attachments
               WHERE submission_id = ANY($1::uuid[])
                  OR correspondence_id IN (
                      SELECT correspondence_id FROM correspondence
                      WHERE case_id = ANY($2::uuid[]))
               RETURNING 1)
           SELECT count(*) FROM gone""",
        erased.submission_ids,
        erased.case_ids,
    )
    ctx.log.info("erased person's files deleted", files=files)

"""Reporting's read models: each handler folds one event into the facts tables."""

from __future__ import annotations

from contracts import CaseOpened, DeadlineKind, DeadlineSet, FeedbackSubmitted, NotificationSent
from redress.consumer import EventContext


async def on_feedback_submitted(ctx: EventContext) -> None:
    p = ctx.payload
    assert isinstance(p, FeedbackSubmitted)
    await ctx.conn.execute(
        """INSERT INTO submission_facts (submission_id, kind, channel, organisation_id, received_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (submission_id) DO NOTHING""",
        p.submission_id,
        p.kind.value,
        p.channel.value,
        p.organisation_id,
        p.received_at,
    )


async def on_case_opened(ctx: EventContext) -> None:
    p = ctx.payload
    assert isinstance(p, CaseOpened)
    await ctx.conn.execute(
        """INSERT INTO case_facts (case_id, reference, kind, channel, organisation_id, procedure,
               received_at, opened_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (case_id) DO UPDATE SET reference = $2, kind = $3, channel = $4,
               organisation_id = $5, procedure = $6, received_at = $7, opened_at = $8""",
        p.case_id,
        p.reference,
        p.kind.value,
        p.channel.value,
        p.organisation_id,
        p.procedure.value,
        p.received_at,
        ctx.envelope.occurred_at,
    )


async def on_deadline_set(ctx: EventContext) -> None:
    p = ctx.payload
    assert isinstance(p, DeadlineSet)
    column = (
        "acknowledgement_due_on" if p.kind is DeadlineKind.ACKNOWLEDGEMENT else "response_due_on"
    )
    if p.stage != 1:
        return
    await ctx.conn.execute(
        f"""INSERT INTO case_facts (case_id, {column}) VALUES ($1, $2)
            ON CONFLICT (case_id) DO UPDATE SET {column} = $2""",
        p.case_id,
        p.due_on,
    )


async def on_notification_sent(ctx: EventContext) -> None:
    p = ctx.payload
    assert isinstance(p, NotificationSent)
    # the receipt (or the formal acknowledgement, whichever is first) acknowledges the resident
    acknowledged = p.sent_at if p.template in ("receipt", "acknowledgement") else None
    await ctx.conn.execute(
        """INSERT INTO case_facts (case_id, acknowledgement_sent_at, notifications_sent)
           VALUES ($1, $2, 1)
           ON CONFLICT (case_id) DO UPDATE SET
               acknowledgement_sent_at = coalesce(case_facts.acknowledgement_sent_at, $2),
               notifications_sent = case_facts.notifications_sent + 1""",
        p.case_id,
        acknowledged,
    )

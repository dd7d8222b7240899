"""Deadlines' subscribers: an opened complaint gets its stage 1 due dates."""

from __future__ import annotations

import uuid

from contracts import CaseOpened, DeadlineSet, FeedbackKind, OrganisationConfigured
from redress import eventstore
from redress.consumer import EventContext
from services.deadlines import store
from services.deadlines.domain.compute import initial_deadlines
from services.deadlines.settings import DeadlinesSettings

DEADLINE_NAMESPACE = uuid.UUID("5d7c1f0e-2b6a-4c8e-9f3d-8a1b2c3d4e5f")

#: compliments and comments are logged and passed on; they carry no response timescale
_TIMED_KINDS = {FeedbackKind.COMPLAINT, FeedbackKind.MEMBER_ENQUIRY}


def deadline_id(case_id: uuid.UUID, kind: str, stage: int) -> uuid.UUID:
    return uuid.uuid5(DEADLINE_NAMESPACE, f"{case_id}:{kind}:{stage}")


async def on_case_opened(ctx: EventContext) -> None:
    opened = ctx.payload
    assert isinstance(opened, CaseOpened)
    if opened.kind not in _TIMED_KINDS:
        ctx.log.info("no deadlines for this kind", kind=opened.kind.value)
        return
    calendar = await store.calendar_for(
        ctx.conn, opened.organisation_id, DeadlinesSettings().default_nation
    )
    computed = initial_deadlines(opened.procedure, opened.received_at, calendar)
    stream = f"deadlines-{opened.case_id}"
    version = await eventstore.stream_version(ctx.conn, stream)
    envelopes = []
    for i, c in enumerate(computed, start=1):
        payload = DeadlineSet(
            deadline_id=deadline_id(opened.case_id, c.kind.value, c.stage),
            case_id=opened.case_id,
            kind=c.kind,
            stage=c.stage,
            procedure=opened.procedure,
            counts_from=c.counts_from,
            working_days=c.working_days,
            due_on=c.due_on,
            provisional=c.provisional,
            clause=c.clause,
            explanation=c.explanation,
        )
        await store.insert(ctx.conn, payload, created_at=ctx.now)
        envelopes.append(ctx.caused_event(payload, stream_id=stream, stream_version=version + i))
    await ctx.append(envelopes, expected_version=version)


async def on_organisation_configured(ctx: EventContext) -> None:
    """Later cases count on the new calendar; dates already set keep the rules they were set
    under (their explanations say which)."""
    org = ctx.payload
    assert isinstance(org, OrganisationConfigured)
    await store.save_calendar(ctx.conn, org.organisation_id, org.nation, org.closure_days)

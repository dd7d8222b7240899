"""Deadlines' subscribers: every casework event that moves a clock, and organisations'
configuration. Each case's deadlines are an event-sourced aggregate (stream
``deadlines-<case_id>``); the ``deadlines`` table and the timers are its projection."""

from __future__ import annotations

import uuid

from contracts import (
    CaseOpened,
    Envelope,
    EventPayload,
    OrganisationConfigured,
    decode_payload,
)
from contracts import case_events as ev
from contracts.procedures import rules_for
from redress import eventstore, vault
from redress.clock import london_today
from redress.consumer import EventContext
from redress.db import Connection
from services.deadlines import settings as deadline_settings
from services.deadlines import store
from services.deadlines.domain.case_deadlines import (
    CaseDeadlines,
    decide,
    evolve,
    note_case_event,
)


def stream(case_id: uuid.UUID) -> str:
    return f"deadlines-{case_id}"


async def load(
    conn: Connection, case_id: uuid.UUID, organisation_id: str | None = None
) -> tuple[CaseDeadlines, store.OrganisationSettings, bool]:
    """The case's deadlines aggregate, its organisation's settings (``organisation_id``'s when
    the case facts do not name one yet) and whether events wait parked for it: one query."""
    found = await store.case_record(conn, case_id, stream(case_id), organisation_id)
    state = found.facts
    the_vault = vault.current()
    for row in found.events:
        envelope = await the_vault.open(conn, eventstore.row_to_envelope(row))
        state = evolve(state, decode_payload(envelope))
    settings = store.settings_from(found.organisation, deadline_settings.current().default_nation)
    return state, settings, found.parked


#: what a batch's events keep of each case's deadlines, whether events wait parked for it, and
#: each organisation's settings, so that the next event of the batch about them reads nothing
#: (`EventContext.batch`)
_CASES = "deadlines.cases"
_PARKED = "deadlines.parked"
_ORGANISATIONS = "deadlines.organisations"


async def _case(
    ctx: EventContext, case_id: uuid.UUID, organisation_id: str | None
) -> CaseDeadlines:
    """The case's deadlines as `load` reads them, or as an earlier event of this transaction
    left them. A concurrent writer to the stream makes the append fail on its version, and
    the event is applied again on its own, from what is stored."""
    cases: dict[uuid.UUID, CaseDeadlines] = ctx.batch.setdefault(_CASES, {})
    state = cases.get(case_id)
    if state is None:
        state, settings, parked = await load(ctx.conn, case_id, organisation_id)
        cases[case_id] = state
        ctx.batch.setdefault(_PARKED, {})[case_id] = parked
        ctx.batch.setdefault(_ORGANISATIONS, {})[
            state.organisation_id if state.opened else organisation_id
        ] = settings
    return state


async def _organisation(
    ctx: EventContext, organisation_id: str | None
) -> store.OrganisationSettings:
    known: dict[str | None, store.OrganisationSettings] = ctx.batch.setdefault(_ORGANISATIONS, {})
    settings = known.get(organisation_id)
    if settings is None:
        settings = known[organisation_id] = await store.organisation(
            ctx.conn, organisation_id, deadline_settings.current().default_nation
        )
    return settings


async def on_case_event(ctx: EventContext) -> None:
    case_id = getattr(ctx.payload, "case_id", None)
    assert isinstance(case_id, uuid.UUID)
    opening = ctx.payload if isinstance(ctx.payload, CaseOpened) else None
    state = await _case(ctx, case_id, opening.organisation_id if opening else None)
    parked: dict[uuid.UUID, bool] = ctx.batch.setdefault(_PARKED, {})
    if not state.opened and opening is None:
        # a case event ahead of its case: keep it and apply it, in order, once the case opens;
        # kept sealed, as it came, so the parked copy holds no personal data in clear
        (sealed,) = await vault.current().seal(ctx.conn, [ctx.envelope])
        await store.park(ctx.conn, case_id, sealed.model_dump(mode="json"))
        parked[case_id] = True
        ctx.log.warning("case event before CaseOpened; parked", event_type=ctx.envelope.event_type)
        return
    state = await _apply(ctx, state, ctx.envelope, ctx.payload)
    if opening is not None and parked.get(case_id, True):
        for kept in await store.unpark(ctx.conn, case_id):
            envelope = await vault.current().open(ctx.conn, Envelope.model_validate(kept))
            state = await _apply(ctx, state, envelope, decode_payload(envelope))
        parked[case_id] = False


async def _apply(
    ctx: EventContext, state: CaseDeadlines, envelope: Envelope, payload: EventPayload
) -> CaseDeadlines:
    """Decide, record and project; the case's deadlines as `load` would now read them."""
    facts = note_case_event(state, payload)
    settings = await _organisation(ctx, facts.organisation_id)
    procedure = facts.procedure
    rules = rules_for(procedure, settings.stricter_timescales) if procedure else None
    today = london_today(envelope.occurred_at)
    decided = decide(state, payload, rules, settings.calendar, today)
    if facts.opened and facts != state:
        held = _held_projections(ctx)
        if held is None:
            await store.save_case_facts(ctx.conn, facts)
        else:
            assert facts.case_id is not None
            held.add(facts.case_id, store.case_facts(facts))
    after = facts if facts.opened else state
    for p in decided:
        after = evolve(after, p)
    if after.case_id is not None:
        ctx.batch.setdefault(_CASES, {})[after.case_id] = after
    if not decided:
        return after
    assert facts.case_id is not None
    envelopes = [
        ctx.caused_event(p, stream_id=stream(facts.case_id), stream_version=state.version + i)
        for i, p in enumerate(decided, start=1)
    ]
    # written with the batch's other appends as it commits: the case's state is kept in
    # `ctx.batch`, so nothing here reads the stream back before then
    await ctx.append_at_commit(envelopes, expected_version=state.version)
    held = _held_projections(ctx)
    for p in decided:
        if held is None:
            await store.project(
                ctx.conn, p, organisation_id=facts.organisation_id, settings=settings, now=ctx.now
            )
            continue
        statement = store.projection(
            p, organisation_id=facts.organisation_id, settings=settings, now=ctx.now
        )
        deadline_id = getattr(p, "deadline_id", None)
        if statement is not None:
            assert isinstance(deadline_id, uuid.UUID)
            held.add(deadline_id, statement)
    return after


_PROJECTIONS = "deadlines.projections"


def _held_projections(ctx: EventContext) -> store.HeldProjections | None:
    """The transaction's deadline statements, sent together as it commits (nothing in the
    transaction reads the deadlines table or the timers back); None when the consumer holds
    nothing (then each goes at once)."""
    held: store.HeldProjections | None = ctx.batch.get(_PROJECTIONS)
    if held is None:
        held = store.HeldProjections()
        conn = ctx.conn

        async def write() -> None:
            assert held is not None
            await held.write(conn)

        if not ctx.at_commit(_PROJECTIONS, write):
            return None
        ctx.batch[_PROJECTIONS] = held
    return held


async def on_organisation_configured(ctx: EventContext) -> None:
    """Later cases count on the new calendar; dates already set keep the rules they were set
    under (their explanations say which)."""
    org = ctx.payload
    assert isinstance(org, OrganisationConfigured)
    await store.save_organisation(ctx.conn, org)
    ctx.batch.get(_ORGANISATIONS, {}).pop(org.organisation_id, None)


#: every casework event that can move, meet or cancel a clock
CASE_EVENTS = [
    "CaseOpened",
    *(
        cls.event_type
        for cls in (
            ev.CaseTriaged,
            ev.CaseAcknowledged,
            ev.ExtensionGranted,
            ev.ClockPaused,
            ev.ClockResumed,
            ev.ResponseIssued,
            ev.CaseEscalated,
            ev.ServiceResponseRequested,
            ev.ServiceResponseReceived,
            ev.OmbudsmanEnquiryReceived,
            ev.OmbudsmanInformationProvided,
            ev.CaseClosed,
            ev.CaseWithdrawn,
            ev.CaseNotAccepted,
            ev.CaseRedirected,
            ev.CaseReclassifiedAsServiceRequest,
            ev.FeedbackPassedToService,
        )
    ),
]

"""Casework's event subscribers: a submission opens a case; a due date from deadlines is shown
on it; a letter notifications sent, or failed to send, is listed on it."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from contracts import (
    CaseOpened,
    CorrespondenceReceived,
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineMet,
    DeadlineMissed,
    DeadlinePaused,
    DeadlineSet,
    EventPayload,
    ExtensionNotAllowed,
    FeedbackSubmitted,
    NotificationFailed,
    NotificationSent,
    Procedure,
    decode_payload,
)
from redress import eventstore
from redress.consumer import EventContext
from services.casework import settings, store
from services.casework.domain import case as domain
from services.casework.domain.commands import OpenCase, RecordCorrespondence, Rejection
from services.casework.domain.decide import decide

_LONDON = ZoneInfo("Europe/London")


async def on_feedback_submitted(ctx: EventContext) -> None:
    submission = ctx.payload
    assert isinstance(submission, FeedbackSubmitted)
    case_id = domain.case_id_for(submission.submission_id)
    stream = domain.stream_id(case_id)
    year = submission.received_at.astimezone(_LONDON).year
    taken = await store.take_reference_number(
        ctx.conn,
        stream,
        domain.REFERENCE_PREFIX[submission.kind],
        year,
        submission.organisation_id,
        submission.service_area,
    )
    if taken is None:
        history = await eventstore.load_stream(ctx.conn, stream)
        state = domain.replay([decode_payload(e) for e in history])
        ctx.log.info("case already open for this submission", reference=state.reference)
        return
    number, configured = taken
    state = domain.Case()  # not opened: its stream is empty
    command = OpenCase(
        today=ctx.now.astimezone(_LONDON).date(),
        case_id=case_id,
        reference=domain.format_reference(submission.kind, year, number),
        procedure=Procedure(configured or settings.current().default_procedure),
        submission=submission,
    )
    decision = decide(state, command)
    if isinstance(decision, Rejection):
        ctx.log.info("open case rejected", reason=decision.reason)
        return
    new_state = await _append(ctx, stream, state, decision)
    opened = decision[0]  # the case opens first; evidence the submission carried follows
    assert isinstance(opened, CaseOpened)
    await store.open_case(ctx.conn, opened, new_state, opened_at=ctx.now)
    ctx.log.info("case opened", reference=command.reference, case_id=str(case_id))


async def on_correspondence_received(ctx: EventContext) -> None:
    """A reply about an existing case joins its contact log and case file."""
    mail = ctx.payload
    assert isinstance(mail, CorrespondenceReceived)
    stream = domain.stream_id(mail.case_id)
    history = await eventstore.load_stream(ctx.conn, stream)
    state = domain.replay([decode_payload(e) for e in history])
    decision = decide(
        state,
        RecordCorrespondence(today=ctx.now.astimezone(_LONDON).date(), correspondence=mail),
    )
    if isinstance(decision, Rejection):
        # the case is unknown here: intake only matches references of cases it saw opened, so
        # this is a bug or a replay out of order; raising retries, then dead-letters
        raise LookupError(f"correspondence for {mail.reference}: {decision.reason}")
    if not decision:
        return
    new_state = await _append(ctx, stream, state, decision)
    await store.save_view(ctx.conn, new_state, updated_at=ctx.now)
    ctx.log.info("correspondence logged", reference=mail.reference)


async def on_deadline_set(ctx: EventContext) -> None:
    deadline = ctx.payload
    assert isinstance(deadline, DeadlineSet)
    await store.record_deadline(ctx.conn, deadline)


async def on_deadline_moved(ctx: EventContext) -> None:
    """Keep the due dates shown on the case in step with deadlines."""
    e = ctx.payload
    match e:
        case DeadlineChanged():
            await store.update_deadline(
                ctx.conn,
                e.deadline_id,
                due_on=e.due_on,
                provisional=e.provisional,
                explanation=e.explanation,
            )
        case DeadlinePaused():
            await store.update_deadline(ctx.conn, e.deadline_id, clear_due=True)
        case DeadlineMet():
            state = "met_late" if e.late else "met"
            await store.update_deadline(ctx.conn, e.deadline_id, state=state)
        case DeadlineMissed():
            await store.update_deadline(ctx.conn, e.deadline_id, state="missed")
        case DeadlineCancelled():
            await store.update_deadline(ctx.conn, e.deadline_id, state="cancelled")
        case ExtensionNotAllowed():
            ctx.log.warning("deadlines refused an extension", reason=e.reason)


async def on_notification(ctx: EventContext) -> None:
    """A letter or message notifications sent, or gave up on, joins the case's list of letters.

    A projection for the case page, not a fact about the case: nothing is decided or emitted.
    It is stored even when the case is not here yet, since the notification topic and the
    intake topic are read independently and the case page will find it by case id."""
    letter = ctx.payload
    assert isinstance(letter, NotificationSent | NotificationFailed)
    happened_at = (
        letter.sent_at if isinstance(letter, NotificationSent) else ctx.envelope.occurred_at
    )
    await store.record_letter(
        ctx.conn, letter, event_id=ctx.envelope.event_id, happened_at=happened_at
    )
    ctx.log.info(
        "letter recorded",
        notification_id=str(letter.notification_id),
        template=letter.template,
        channel=letter.channel,
        outcome="failed" if isinstance(letter, NotificationFailed) else "sent",
    )


async def _append(
    ctx: EventContext, stream: str, state: domain.Case, decision: Sequence[EventPayload]
) -> domain.Case:
    """Append what casework decided, caused by the event being handled; the case as it now is."""
    envelopes = [
        ctx.caused_event(payload, stream_id=stream, stream_version=state.version + i)
        for i, payload in enumerate(decision, start=1)
    ]
    await ctx.append(envelopes, expected_version=state.version)
    for payload in decision:
        state = domain.evolve(state, payload)
    return state

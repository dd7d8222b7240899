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
    Envelope,
    EventPayload,
    ExtensionNotAllowed,
    FeedbackSubmitted,
    NotificationFailed,
    NotificationSent,
    Procedure,
    decode_payload,
)
from redress import eventstore
from redress.consumer import BatchHandler, EventContext, Handler
from redress.db import Connection
from redress.projection import Fold, InsertNew, Keys, Latest, UpdateExisting, Write, apply
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


# -- what other services' events show on cases: written as values (`redress.projection`), so
# that a batch of them is folded and written with a few statements per table

#: the tables kept for deadlines' and notifications' events, by their keys
KEYS: Keys = {"case_deadlines": ("deadline_id",), "case_letters": ("notification_id",)}


def projection_writes(envelope: Envelope, e: EventPayload) -> list[Write] | None:
    """What a deadline or letter event writes; None for an event with more to it than that."""
    key = (getattr(e, "deadline_id", None),)
    match e:
        case DeadlineSet():
            # a (re)computed deadline replaces what the case showed for it
            shown = {
                "due_on": e.due_on,
                "provisional": e.provisional,
                "clause": e.clause,
                "explanation": e.explanation,
                "state": "pending",
            }
            made = {"case_id": e.case_id, "kind": e.kind.value, "stage": e.stage}
            return [
                InsertNew("case_deadlines", key, {**made, **shown, "part_id": e.part_id}),
                UpdateExisting("case_deadlines", key, shown),
            ]
        case DeadlineChanged():
            moved = {"due_on": e.due_on, "provisional": e.provisional}
            return [UpdateExisting("case_deadlines", key, {**moved, "explanation": e.explanation})]
        case DeadlinePaused():
            return [UpdateExisting("case_deadlines", key, {"due_on": None})]
        case DeadlineMet():
            state = "met_late" if e.late else "met"
            return [UpdateExisting("case_deadlines", key, {"state": state})]
        case DeadlineMissed():
            return [UpdateExisting("case_deadlines", key, {"state": "missed"})]
        case DeadlineCancelled():
            return [UpdateExisting("case_deadlines", key, {"state": "cancelled"})]
        case NotificationSent() | NotificationFailed():
            # a notification ends once, sent or failed; should a later word on it come (a
            # resend, say), the latest by time wins, and an older one delivered late changes
            # nothing
            failed = isinstance(e, NotificationFailed)
            at = e.sent_at if isinstance(e, NotificationSent) else envelope.occurred_at
            letter = {
                "case_id": e.case_id,
                "template": e.template,
                "channel": e.channel,
                "recipient": e.recipient,
                "status": "failed" if failed else "sent",
                "attempts": e.attempts if isinstance(e, NotificationFailed) else None,
                "error": e.error if isinstance(e, NotificationFailed) else None,
                "happened_at": at,
                "event_id": envelope.event_id,
            }
            return [Latest("case_letters", (e.notification_id,), letter, by="happened_at")]
    return None


def _letter_logged(ctx: EventContext) -> None:
    letter = ctx.payload
    assert isinstance(letter, NotificationSent | NotificationFailed)
    ctx.log.info(
        "letter recorded",
        notification_id=str(letter.notification_id),
        template=letter.template,
        channel=letter.channel,
        outcome="failed" if isinstance(letter, NotificationFailed) else "sent",
    )


async def _project(ctx: EventContext) -> None:
    for write in projection_writes(ctx.envelope, ctx.payload) or ():
        await apply(ctx.conn, KEYS, write)


async def on_deadline_set(ctx: EventContext) -> None:
    await _project(ctx)


async def on_deadline_moved(ctx: EventContext) -> None:
    """Keep the due dates shown on the case in step with deadlines."""
    if isinstance(ctx.payload, ExtensionNotAllowed):
        ctx.log.warning("deadlines refused an extension", reason=ctx.payload.reason)
        return
    await _project(ctx)


async def on_notification(ctx: EventContext) -> None:
    """A letter or message notifications sent, or gave up on, joins the case's list of letters.

    A projection for the case page, not a fact about the case: nothing is decided or emitted.
    It is stored even when the case is not here yet, since the notification topic and the
    intake topic are read independently and the case page will find it by case id."""
    await _project(ctx)
    _letter_logged(ctx)


def fold_projections(handlers: dict[str, Handler]) -> BatchHandler:
    """Apply a batch: deadline and letter events folded and written together at the end, every
    other event through its handler in its turn. The folded tables are written by nothing
    else here (an erasure, which scrubs letters, always goes alone), so their order against
    the other events' writes does not matter."""

    async def apply_batch(conn: Connection, contexts: Sequence[EventContext]) -> None:
        batch = Fold(KEYS)
        for ctx in contexts:
            writes = projection_writes(ctx.envelope, ctx.payload)
            if writes is None:
                await handlers[ctx.envelope.event_type](ctx)
                continue
            for write in writes:
                batch.add(write)
            if isinstance(ctx.payload, NotificationSent | NotificationFailed):
                _letter_logged(ctx)
        await batch.write(conn)

    return apply_batch


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

"""Casework's event subscribers: a submission opens a case; a due date from deadlines is shown
on it; a letter notifications sent, or failed to send, is listed on it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
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


def _asking(submission: FeedbackSubmitted) -> tuple[str, str, int, str, str | None]:
    """What taking a reference number for the submission's case needs (`store`)."""
    stream = domain.stream_id(domain.case_id_for(submission.submission_id))
    year = submission.received_at.astimezone(_LONDON).year
    prefix = domain.REFERENCE_PREFIX[submission.kind]
    return stream, prefix, year, submission.organisation_id, submission.service_area


async def on_feedback_submitted(ctx: EventContext) -> None:
    submission = ctx.payload
    assert isinstance(submission, FeedbackSubmitted)
    stream = _asking(submission)[0]
    taken = await store.take_reference_number(ctx.conn, *_asking(submission))
    if taken is None:
        history = await eventstore.load_stream(ctx.conn, stream)
        state = domain.replay([decode_payload(e) for e in history])
        ctx.log.info("case already open for this submission", reference=state.reference)
        return
    opening = await _open(ctx, *taken)
    if opening is not None:
        await store.open_case(ctx.conn, *opening)


async def _open(
    ctx: EventContext, number: int, configured: str | None
) -> tuple[CaseOpened, domain.Case, datetime] | None:
    """Decide the opening of the submission's case, its reference number taken, and append
    what was decided (at the transaction's commit); what the case's view row is made from."""
    submission = ctx.payload
    assert isinstance(submission, FeedbackSubmitted)
    case_id = domain.case_id_for(submission.submission_id)
    stream, _, year, _, _ = _asking(submission)
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
        return None
    envelopes = [
        ctx.caused_event(payload, stream_id=stream, stream_version=i)
        for i, payload in enumerate(decision, start=1)
    ]
    # nothing here reads the stream back: the case's state is made from the decision, and a
    # second opening of the same case in one batch clashes at the commit (the batch then goes
    # again event by event, and the second finds the case open)
    await ctx.append_at_commit(envelopes, expected_version=0)
    for payload in decision:
        state = domain.evolve(state, payload)
    opened = decision[0]  # the case opens first; evidence the submission carried follows
    assert isinstance(opened, CaseOpened)
    ctx.log.info("case opened", reference=command.reference, case_id=str(case_id))
    return opened, state, ctx.now


async def open_cases(conn: Connection, contexts: Sequence[EventContext]) -> None:
    """A batch's submissions opened together: their reference numbers taken, their events
    appended and their view rows written with a round trip each for all of them (statements
    pipelined), not four round trips per case. In the batch's order, so numbers are given
    as one at a time would give them."""
    submissions = [ctx.payload for ctx in contexts]
    assert all(isinstance(s, FeedbackSubmitted) for s in submissions)
    taken = await store.take_reference_numbers(
        conn, [_asking(s) for s in submissions if isinstance(s, FeedbackSubmitted)]
    )
    rows = []
    for ctx in contexts:
        assert isinstance(ctx.payload, FeedbackSubmitted)
        number = taken.get(_asking(ctx.payload)[0])
        if number is None:  # the case is open already: said so as one at a time says it
            await on_feedback_submitted(ctx)
            continue
        opening = await _open(ctx, *number)
        if opening is not None:
            rows.append(opening)
    await store.open_cases(conn, rows)


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
        # the submissions first, together: opening a case sooner in its transaction changes
        # nothing for the batch's other events (its events are appended at the commit; a
        # reply about it in the same batch fails, and the batch goes again event by event)
        submissions = [ctx for ctx in contexts if isinstance(ctx.payload, FeedbackSubmitted)]
        if len(submissions) > 1:
            await open_cases(conn, submissions)
        for ctx in contexts:
            if len(submissions) > 1 and isinstance(ctx.payload, FeedbackSubmitted):
                continue
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

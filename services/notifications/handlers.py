"""Notifications' subscribers: they learn about each case from casework's and deadlines'
events and queue the letters and alerts those events call for. Sending is the delivery
worker's job (`delivery.py`), so a slow mail server never holds up the consumer."""

from __future__ import annotations

import uuid
from typing import Any

from contracts import (
    CaseOpened,
    DeadlineApproaching,
    DeadlineChanged,
    DeadlineKind,
    DeadlineMissed,
    DeadlineSet,
    FeedbackKind,
    OrganisationConfigured,
    Procedure,
)
from contracts import case_events as ev
from redress.consumer import EventContext
from services.notifications import settings as notification_settings
from services.notifications import store
from services.notifications.compose import (
    HeldLetters,
    Route,
    long_date,
    queue,
    resident_route,
)
from services.notifications.letters import signposting

_TIMED = {FeedbackKind.COMPLAINT.value, FeedbackKind.MEMBER_ENQUIRY.value}
_OUTCOME_WORDS = {"upheld": "upheld", "partly_upheld": "partly upheld", "not_upheld": "not upheld"}
_STEP_WORDS = {
    "acknowledgement": "acknowledgement",
    "response": "response",
    "panel": "review panel",
}


def _case_id(ctx: EventContext) -> uuid.UUID:
    case_id = getattr(ctx.payload, "case_id", None)
    assert isinstance(case_id, uuid.UUID)
    return case_id


_LETTERS = "notifications.letters"
_ROWS = "notifications.rows"


def _rows(ctx: EventContext) -> store.CaseRows:
    """The case rows of this transaction (`store.CaseRows`): a case's later events in a batch
    change the row kept from its first, and the changed rows are written as it commits."""
    rows: store.CaseRows | None = ctx.batch.get(_ROWS)
    if rows is None:
        rows = store.CaseRows(ctx.conn, held=False)
        rows.held = ctx.at_commit(_ROWS, rows.write)
        ctx.batch[_ROWS] = rows
    return rows


def _held(ctx: EventContext) -> HeldLetters | None:
    """The transaction's letters, inserted together as it commits; None when the consumer
    holds nothing (then each letter is inserted at once)."""
    held: HeldLetters | None = ctx.batch.get(_LETTERS)
    if held is None:
        held = HeldLetters()
        conn = ctx.conn

        async def insert() -> None:
            assert held is not None
            await held.insert(conn)

        if not ctx.at_commit(_LETTERS, insert):
            return None
        ctx.batch[_LETTERS] = held
    return held


def _base(contact: dict[str, Any]) -> dict[str, Any]:
    return {
        # an organisation not configured yet has no name to print: never show its raw id
        "organisation": contact.get("organisation_name") or "Customer Relations",
        "reference": contact.get("reference") or "your complaint",
        "name": contact.get("recipient_name") or "resident",
        "signature": "Customer Relations Team",
        "kind": (contact.get("kind") or "complaint").replace("_", " "),
    }


async def _to_resident(
    ctx: EventContext, contact: dict[str, Any], template: str, cause: str, **context: Any
) -> None:
    if contact.get("erased_at") is not None:
        ctx.log.info("resident erased; letter not made", template=template)
        return
    await queue(
        ctx.conn,
        case_id=contact["case_id"],
        cause=cause,
        template=template,
        route=resident_route(contact),
        context={**_base(contact), **context},
        audience="resident",
        now=ctx.now,
        adjustments=list(contact.get("adjustments") or []),
        made=contact.get("letters_made"),
        held=_held(ctx),
    )


async def _to_staff(
    ctx: EventContext,
    contact: dict[str, Any],
    template: str,
    cause: str,
    recipient: str,
    **context: Any,
) -> None:
    await queue(
        ctx.conn,
        case_id=contact["case_id"],
        cause=cause,
        template=template,
        route=Route("email", recipient),
        context={**_base(contact), **context},
        audience="staff",
        now=ctx.now,
        made=contact.get("letters_made"),
        held=_held(ctx),
    )


def _staff_email(user: str | None) -> str:
    settings = notification_settings.current()
    if not user:
        return settings.managers_email
    return user if "@" in user else f"{user}@{settings.staff_email_domain}"


# -- what notifications learns ----------------------------------------------------------------


async def on_case_event(ctx: EventContext) -> None:
    e = ctx.payload
    case_id = _case_id(ctx)
    # the row as the event left it, from the write itself; None: read it before deciding
    after: dict[str, Any] | None = None
    match e:
        case CaseOpened():
            after = await _rows(ctx).remember_case(e)
        case ev.CaseTriaged():
            after = await _rows(ctx).update(case_id, procedure=e.procedure.value, kind=e.kind.value)
        case ev.CaseAssigned():
            after = await _rows(ctx).update(case_id, officer=e.officer)
        case ev.CaseAcknowledged():
            after = await _rows(ctx).merge(
                case_id,
                "stages",
                str(e.stage),
                {
                    "acknowledged_on": e.acknowledged_on.isoformat(),
                    "points": [p.model_dump() for p in e.points],
                    "outcomes_sought": e.outcomes_sought,
                },
            )
        case ev.ExtensionGranted():
            after = await _rows(ctx).merge(
                case_id, "stages", str(e.stage), {f"extension:{e.extension_id}": e.reason}
            )
        case ev.ServiceResponseRequested():
            after = await _rows(ctx).merge(
                case_id,
                "parts",
                e.part_id,
                {
                    "service_area": e.service_area,
                    "contributor": e.contributor,
                    "request": e.request,
                    "due_on": e.due_on.isoformat(),
                },
            )
        case ev.RemedyRecorded():
            after = await _rows(ctx).append(
                case_id,
                "remedies",
                {
                    "type": e.remedy_type.value,
                    "description": e.description,
                    "amount": None if e.amount is None else str(e.amount),
                },
            )
        case ev.LearningActionAdded():
            learning = {"description": e.description}
            after = await _rows(ctx).append(case_id, "learning", learning)
        case ev.FlagRaised() if e.flag_type is ev.FlagType.UNREASONABLE_BEHAVIOUR:
            after = await _rows(ctx).update(
                case_id,
                allowed_channels=(
                    None if e.allowed_channels is None else [c.value for c in e.allowed_channels]
                ),
                contact_via=e.contact_via,
                restriction_flag=e.flag_id,
            )
        case ev.FlagLifted():
            contact = await _rows(ctx).contact(case_id)
            if contact and contact.get("restriction_flag") == e.flag_id:
                after = await _rows(ctx).update(
                    case_id,
                    allowed_channels=None,
                    contact_via=None,
                    restriction_flag=None,
                )
    await _send_what_is_due(ctx, case_id, after)


async def on_deadline_event(ctx: EventContext) -> None:
    e = ctx.payload
    case_id = _case_id(ctx)
    after: dict[str, Any] | None = None
    if isinstance(e, DeadlineSet | DeadlineChanged) and e.kind in (
        DeadlineKind.ACKNOWLEDGEMENT,
        DeadlineKind.RESPONSE,
    ):
        after = await _rows(ctx).merge(
            case_id,
            "deadlines",
            f"{e.kind.value}:{e.stage}",
            {
                "due_on": e.due_on.isoformat(),
                "provisional": e.provisional,
            },
        )
    await _send_what_is_due(ctx, case_id, after)


async def on_organisation_configured(ctx: EventContext) -> None:
    org = ctx.payload
    assert isinstance(org, OrganisationConfigured)
    await store.save_organisation(ctx.conn, org.organisation_id, org.name)
    _rows(ctx).organisation_named(org.organisation_id, org.name)


# -- what it sends ---------------------------------------------------------------------------


async def _send_what_is_due(
    ctx: EventContext, case_id: uuid.UUID, contact: dict[str, Any] | None = None
) -> None:
    """``contact`` is the case's row as this event's own write returned it; without one it is
    read (and locked) here."""
    if contact is None:
        contact = await _rows(ctx).contact_and_letters(case_id)
    if contact is None or contact.get("reference") is None:
        return  # the case itself has not arrived yet; whichever event completes it sends
    e = ctx.payload
    kind = contact.get("kind")
    deadlines = contact.get("deadlines") or {}
    stages = contact.get("stages") or {}
    procedure = Procedure(contact.get("procedure") or Procedure.HOUSING_OMBUDSMAN.value)

    if kind in _TIMED and "response:1" in deadlines:
        # a receipt as soon as the dates are known, once per case
        await _to_resident(
            ctx,
            contact,
            "receipt",
            "receipt",
            received_on=long_date(contact["received_at"].date()),
            acknowledge_by=long_date(deadlines.get("acknowledgement:1", {}).get("due_on")),
            response_due_on=long_date(deadlines["response:1"]["due_on"]),
        )
    elif kind not in _TIMED and isinstance(e, CaseOpened):
        await _to_resident(ctx, contact, "thanks", "thanks")

    for stage, record in stages.items():
        due = deadlines.get(f"response:{stage}")
        if "acknowledged_on" in record and due and not due.get("provisional"):
            await _to_resident(
                ctx,
                contact,
                "acknowledgement",
                f"acknowledged:{stage}",
                stage=int(stage),
                received_on=long_date(contact["received_at"].date()),
                points=record["points"],
                outcomes_sought=record["outcomes_sought"],
                response_due_on=long_date(due["due_on"]),
            )

    match e:
        case DeadlineChanged() if (
            e.reason.startswith("extension ") and e.kind is DeadlineKind.RESPONSE
        ):
            extension_id = e.reason.removeprefix("extension ")
            reason = stages.get(str(e.stage), {}).get(f"extension:{extension_id}", e.reason)
            await _to_resident(
                ctx,
                contact,
                "delay_notice",
                f"extension:{e.stage}:{extension_id}",
                reason=reason,
                new_due_on=long_date(e.due_on),
                signposting=signposting(procedure, e.stage, False),
            )
        case ev.ResponseIssued():
            points = {
                p["point_id"]: p["text"] for p in stages.get(str(e.stage), {}).get("points", [])
            }
            await _to_resident(
                ctx,
                contact,
                "outcome",
                f"response:{e.stage}",
                stage=e.stage,
                overall=_OUTCOME_WORDS[e.overall.value],
                outcomes=[
                    {
                        "point": points.get(o.point_id, f"Point {o.point_id}"),
                        "outcome": _OUTCOME_WORDS[o.outcome.value],
                        "reasons": o.reasons,
                    }
                    for o in e.point_outcomes
                ],
                remedies=[_remedy(r) for r in contact.get("remedies") or []],
                learning=[item["description"] for item in contact.get("learning") or []],
                signposting=signposting(procedure, e.stage, e.final),
            )
        case ev.CaseNotAccepted():
            await _to_resident(
                ctx,
                contact,
                "not_accepted",
                "not_accepted",
                reason=e.reason.value.replace("_", " "),
                explanation=e.explanation,
                signposting_given=e.signposting,
                signposting=signposting(procedure, 1, True),
            )
        case DeadlineApproaching():
            await _approaching(ctx, contact, e)
        case DeadlineMissed():
            step = _STEP_WORDS.get(e.kind.value, e.kind.value.replace("_", " "))
            if e.kind is DeadlineKind.OMBUDSMAN_INFORMATION:
                await _to_staff(
                    ctx,
                    contact,
                    "ombudsman_alert",
                    f"missed:{e.deadline_id}",
                    _staff_email(None),
                    due_on=long_date(e.due_on),
                    days_left=None,
                    missed=True,
                )
            elif e.kind is not DeadlineKind.SERVICE_PART:
                await _to_staff(
                    ctx,
                    contact,
                    "breach_alert",
                    f"missed:{e.deadline_id}",
                    _staff_email(None),
                    step=step,
                    stage=e.stage,
                    due_on=long_date(e.due_on),
                    procedure=procedure.value,
                    officer=contact.get("officer"),
                )


async def _approaching(ctx: EventContext, contact: dict[str, Any], e: DeadlineApproaching) -> None:
    cause = f"approaching:{e.deadline_id}:{e.due_on}"
    if e.kind is DeadlineKind.SERVICE_PART:
        part = next(
            (
                p | {"part_id": k}
                for k, p in (contact.get("parts") or {}).items()
                if p.get("due_on") == e.due_on.isoformat()
            ),
            None,
        )
        if part is None:
            return
        who = part.get("contributor") or part["service_area"]
        await _to_staff(
            ctx,
            contact,
            "responder_reminder",
            cause,
            _staff_email(who),
            part_id=part["part_id"],
            due_on=long_date(e.due_on),
            days_left=e.working_days_left,
            request=part["request"],
        )
    elif e.kind is DeadlineKind.OMBUDSMAN_INFORMATION:
        await _to_staff(
            ctx,
            contact,
            "ombudsman_alert",
            cause,
            _staff_email(contact.get("officer")),
            due_on=long_date(e.due_on),
            days_left=e.working_days_left,
            missed=False,
        )
    else:
        await _to_staff(
            ctx,
            contact,
            "deadline_warning",
            cause,
            _staff_email(contact.get("officer")),
            step=_STEP_WORDS.get(e.kind.value, e.kind.value),
            stage=e.stage,
            due_on=long_date(e.due_on),
            days_left=e.working_days_left,
        )


def _remedy(r: dict[str, Any]) -> str:
    if r.get("amount"):
        return f"We will pay you £{r['amount']}: {r['description']}"
    return str(r["description"])


CASE_EVENTS = [
    "CaseOpened",
    *(
        c.event_type
        for c in (
            ev.CaseTriaged,
            ev.CaseAssigned,
            ev.CaseAcknowledged,
            ev.ExtensionGranted,
            ev.ServiceResponseRequested,
            ev.RemedyRecorded,
            ev.LearningActionAdded,
            ev.FlagRaised,
            ev.FlagLifted,
            ev.ResponseIssued,
            ev.CaseNotAccepted,
        )
    ),
]
DEADLINE_EVENTS = ["DeadlineSet", "DeadlineChanged", "DeadlineApproaching", "DeadlineMissed"]

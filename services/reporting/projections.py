"""Reporting's read models: each handler folds one event into the facts tables. Every write is
an upsert keyed by what the event is about, so events from different topics may arrive in any
order and a replay from the log builds the same tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts import (
    CaseOpened,
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineKind,
    DeadlineMet,
    DeadlineMissed,
    DeadlineSet,
    Envelope,
    EventPayload,
    FeedbackSubmitted,
    NotificationSent,
)
from contracts import case_events as ev
from redress.clock import london_today
from redress.consumer import EventContext
from redress.db import Connection
from redress.projection import (
    Count,
    Fold,
    InsertNew,
    Keys,
    Statement,
    UpdateExisting,
    Upsert,
    Write,
    apply,
)

_CLOSING = {
    "CaseClosed": "responded",
    "CaseWithdrawn": "withdrawn",
    "CaseNotAccepted": "not_accepted",
    "CaseRedirected": "redirected",
    "CaseReclassifiedAsServiceRequest": "service_request",
    "FeedbackPassedToService": "passed_to_service",
}


def district(postcode: str | None) -> str | None:
    return postcode.split(" ")[0] if postcode else None


# -- what an event writes ------------------------------------------------------------------------
#
# Each event is turned into a list of writes (pure, no I/O; `redress.projection`). Applied one
# event at a time they are the upserts below; a batch folds them in memory and writes each table
# with a few set-based statements (`apply_batch`). Both paths start from the same writes, so a
# rebuilt read model equals the live one.


#: each table's key, in the order of its primary key
KEYS: Keys = {
    "case_facts": ("case_id",),
    "stage_facts": ("case_id", "stage"),
    "submission_facts": ("submission_id",),
    "remedy_facts": ("case_id", "remedy_id"),
    "learning_facts": ("case_id", "action_id"),
}


def _case(case_id: Any, **columns: Any) -> Upsert:
    return Upsert("case_facts", (case_id,), columns)


def _stage(case_id: Any, stage: int, **columns: Any) -> Upsert:
    return Upsert("stage_facts", (case_id, stage), columns)


def writes(envelope: Envelope, payload: EventPayload) -> list[Write]:
    """What one event does to the read models."""
    match payload:
        case FeedbackSubmitted():
            return _submission_writes(payload)
        case NotificationSent():
            return _notification_writes(payload)
        case (
            DeadlineSet()
            | DeadlineChanged()
            | DeadlineMet()
            | DeadlineMissed()
            | (DeadlineCancelled())
        ):
            return _deadline_writes(payload)
        case _:
            return _case_writes(envelope, payload)


def _submission_writes(p: FeedbackSubmitted) -> list[Write]:
    return [
        InsertNew(
            "submission_facts",
            (p.submission_id,),
            {
                "kind": p.kind.value,
                "channel": p.channel.value,
                "organisation_id": p.organisation_id,
                "received_at": p.received_at,
            },
        )
    ]


def _case_writes(envelope: Envelope, e: EventPayload) -> list[Write]:
    today = london_today(envelope.occurred_at)
    match e:
        case CaseOpened():
            return [
                _case(
                    e.case_id,
                    reference=e.reference,
                    kind=e.kind.value,
                    channel=e.channel.value,
                    organisation_id=e.organisation_id,
                    procedure=e.procedure.value,
                    received_at=e.received_at,
                    received_on=london_today(e.received_at),
                    opened_at=envelope.occurred_at,
                    service_area=e.service_area,
                    # the clear district; an erased complainant's postcode opens as None
                    postcode_district=e.postcode_district or district(e.complainant.postcode),
                ),
                _stage(e.case_id, 1, started_on=london_today(e.received_at)),
            ]
        case ev.CaseTriaged():
            location = e.location
            columns: dict[str, Any] = {
                "kind": e.kind.value,
                "procedure": e.procedure.value,
                "service_area": e.service_area,
                "category": e.category,
            }
            if location is not None:
                columns["ward"] = location.ward
                found = e.postcode_district or district(location.postcode)
                if found:
                    columns["postcode_district"] = found
            return [_case(e.case_id, **columns)]
        case ev.CaseAcknowledged():
            return [_stage(e.case_id, e.stage, acknowledged_on=e.acknowledged_on)]
        case ev.ResponseIssued():
            return [_stage(e.case_id, e.stage, responded_on=e.issued_on, overall=e.overall.value)]
        case ev.CaseEscalated():
            return [
                _case(e.case_id, stage=e.to_stage),
                _stage(e.case_id, e.to_stage, started_on=e.requested_on),
            ]
        case ev.RemedyRecorded():
            return [
                InsertNew(
                    "remedy_facts",
                    (e.case_id, e.remedy_id),
                    {"remedy_type": e.remedy_type.value, "amount": e.amount, "recorded_on": today},
                )
            ]
        case ev.RedressApproved():
            return [UpdateExisting("remedy_facts", (e.case_id, e.remedy_id), {"approved": True})]
        case ev.RedressPaid():
            return [
                UpdateExisting("remedy_facts", (e.case_id, e.remedy_id), {"paid_on": e.paid_on})
            ]
        case ev.RemedyCompleted():
            return [
                UpdateExisting(
                    "remedy_facts", (e.case_id, e.remedy_id), {"completed_on": e.completed_on}
                )
            ]
        case ev.LearningActionAdded():
            return [
                InsertNew(
                    "learning_facts",
                    (e.case_id, e.action_id),
                    {"description": e.description, "owner": e.owner, "due_on": e.due_on},
                )
            ]
        case ev.LearningActionCompleted():
            return [
                UpdateExisting(
                    "learning_facts", (e.case_id, e.action_id), {"completed_on": e.completed_on}
                )
            ]
        case ev.OmbudsmanEnquiryReceived():
            return [
                Statement(
                    "ombudsman_facts",
                    """INSERT INTO ombudsman_facts (case_id, reference, body, stage, received_on)
                       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, reference) DO NOTHING""",
                    (
                        e.case_id,
                        e.ombudsman_reference,
                        e.body.value,
                        e.stage.value,
                        e.received_on,
                    ),
                )
            ]
        case ev.OmbudsmanDecisionRecorded():
            return [
                Statement(
                    "ombudsman_facts",
                    """UPDATE ombudsman_facts SET decided_on = $2, finding = $3,
                           compliance_due_on = $4
                       WHERE case_id = $1 AND decided_on IS NULL""",
                    (e.case_id, e.decided_on, e.finding.value, e.compliance_due_on),
                )
            ]
        case ev.OmbudsmanComplianceCompleted():
            return [
                Statement(
                    "ombudsman_facts",
                    "UPDATE ombudsman_facts SET complied_on = $2 "
                    "WHERE case_id = $1 AND decided_on IS NOT NULL AND complied_on IS NULL",
                    (e.case_id, e.completed_on),
                )
            ]
        case ev.CaseNotAccepted():
            return [
                _case(
                    e.case_id,
                    resolution="not_accepted",
                    closed_on=today,
                    not_accepted_reason=e.reason.value,
                )
            ]
        case ev.CaseReopened():
            return [_case(e.case_id, resolution=None, closed_on=None)]
        case _ if e.event_type in _CLOSING:
            case_id = getattr(e, "case_id")  # noqa: B009 - every closing event has one
            return [_case(case_id, resolution=_CLOSING[e.event_type], closed_on=today)]
    return []


def _deadline_writes(
    e: DeadlineSet | DeadlineChanged | DeadlineMet | DeadlineMissed | DeadlineCancelled,
) -> list[Write]:
    if e.kind not in (DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RESPONSE):
        return []
    prefix = "acknowledgement" if e.kind is DeadlineKind.ACKNOWLEDGEMENT else "response"
    due, state = f"{prefix}_due", f"{prefix}_state"
    match e:
        case DeadlineSet():
            out: list[Write] = [_stage(e.case_id, e.stage, **{due: e.due_on, state: "pending"})]
            if e.stage == 1:  # keep the case row's headline dates
                column = (
                    "acknowledgement_due_on" if prefix == "acknowledgement" else ("response_due_on")
                )
                out.append(_case(e.case_id, **{column: e.due_on}))
            return out
        case DeadlineChanged():
            return [_stage(e.case_id, e.stage, **{due: e.due_on})]
        case DeadlineMet():
            columns: dict[str, Any] = {state: "met_late" if e.late else "met"}
            if prefix == "response":
                columns.update(
                    working_days_taken=e.working_days_taken,
                    extension_days=e.extension_days,
                    paused_working_days=e.paused_working_days,
                )
            return [_stage(e.case_id, e.stage, **columns)]
        case DeadlineMissed():
            return [_stage(e.case_id, e.stage, **{state: "missed"})]
        case DeadlineCancelled():
            return [_stage(e.case_id, e.stage, **{state: "cancelled"})]
    return []


def _notification_writes(p: NotificationSent) -> list[Write]:
    # the receipt or the formal acknowledgement, whichever went first, acknowledges the resident;
    # "first" by when it was sent, not by when its event arrived, so that a replay agrees
    acknowledged = p.sent_at if p.template in ("receipt", "acknowledgement") else None
    return [
        Count(
            "case_facts",
            (p.case_id,),
            add={"notifications_sent": 1},
            earliest={"acknowledgement_sent_at": acknowledged},
        )
    ]


# -- one event at a time (the live path), or a batch at once (replays, polls) ----------------


async def on_event(ctx: EventContext) -> None:
    for write in writes(ctx.envelope, ctx.payload):
        await apply(ctx.conn, KEYS, write)


# the handlers each topic's subscription names: one function, the writes say what differs
on_feedback_submitted = on_case_event = on_deadline_event = on_notification_sent = on_event


async def apply_batch(conn: Connection, contexts: Sequence[EventContext]) -> None:
    """The batch's events, in log order, folded into the rows they leave behind and written
    with a few statements per table: the same tables as `on_event` for each in turn."""
    batch = Fold(KEYS)
    for ctx in contexts:
        for write in writes(ctx.envelope, ctx.payload):
            batch.add(write)
    await batch.write(conn)


CASE_EVENTS = [
    "CaseOpened",
    *(
        c.event_type
        for c in (
            ev.CaseTriaged,
            ev.CaseAcknowledged,
            ev.ResponseIssued,
            ev.CaseEscalated,
            ev.RemedyRecorded,
            ev.RedressApproved,
            ev.RedressPaid,
            ev.RemedyCompleted,
            ev.LearningActionAdded,
            ev.LearningActionCompleted,
            ev.OmbudsmanEnquiryReceived,
            ev.OmbudsmanDecisionRecorded,
            ev.OmbudsmanComplianceCompleted,
            ev.CaseReopened,
        )
    ),
    *_CLOSING,
]
DEADLINE_EVENTS = [
    "DeadlineSet",
    "DeadlineChanged",
    "DeadlineMet",
    "DeadlineMissed",
    "DeadlineCancelled",
]

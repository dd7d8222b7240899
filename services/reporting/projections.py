"""Reporting's read models: each handler folds one event into the facts tables. Every write is
an upsert keyed by what the event is about, so events from different topics may arrive in any
order and a replay from the log builds the same tables."""

from __future__ import annotations

from typing import Any

from contracts import (
    CaseOpened,
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineKind,
    DeadlineMet,
    DeadlineMissed,
    DeadlineSet,
    FeedbackSubmitted,
    NotificationSent,
)
from contracts import case_events as ev
from redress.clock import london_today
from redress.consumer import EventContext
from redress.db import Connection

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


async def _case(conn: Connection, case_id: Any, **columns: Any) -> None:
    names = list(columns)
    await conn.execute(
        f"""INSERT INTO case_facts (case_id, {", ".join(names)})
            VALUES ($1, {", ".join(f"${i}" for i in range(2, len(names) + 2))})
            ON CONFLICT (case_id) DO UPDATE SET
            {", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))}""",
        case_id,
        *columns.values(),
    )


async def _stage(conn: Connection, case_id: Any, stage: int, **columns: Any) -> None:
    names = list(columns)
    await conn.execute(
        f"""INSERT INTO stage_facts (case_id, stage, {", ".join(names)})
            VALUES ($1, $2, {", ".join(f"${i}" for i in range(3, len(names) + 3))})
            ON CONFLICT (case_id, stage) DO UPDATE SET
            {", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=3))}""",
        case_id,
        stage,
        *columns.values(),
    )


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


async def on_case_event(ctx: EventContext) -> None:
    e = ctx.payload
    conn = ctx.conn
    today = london_today(ctx.envelope.occurred_at)
    match e:
        case CaseOpened():
            await _case(
                conn,
                e.case_id,
                reference=e.reference,
                kind=e.kind.value,
                channel=e.channel.value,
                organisation_id=e.organisation_id,
                procedure=e.procedure.value,
                received_at=e.received_at,
                received_on=london_today(e.received_at),
                opened_at=ctx.envelope.occurred_at,
                service_area=e.service_area,
                # the clear district; an erased complainant's postcode opens as None
                postcode_district=e.postcode_district or district(e.complainant.postcode),
            )
            await _stage(conn, e.case_id, 1, started_on=london_today(e.received_at))
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
            await _case(conn, e.case_id, **columns)
        case ev.CaseAcknowledged():
            await _stage(conn, e.case_id, e.stage, acknowledged_on=e.acknowledged_on)
        case ev.ResponseIssued():
            await _stage(
                conn, e.case_id, e.stage, responded_on=e.issued_on, overall=e.overall.value
            )
        case ev.CaseEscalated():
            await _case(conn, e.case_id, stage=e.to_stage)
            await _stage(conn, e.case_id, e.to_stage, started_on=e.requested_on)
        case ev.RemedyRecorded():
            await conn.execute(
                """INSERT INTO remedy_facts (case_id, remedy_id, remedy_type, amount, recorded_on)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, remedy_id) DO NOTHING""",
                e.case_id,
                e.remedy_id,
                e.remedy_type.value,
                e.amount,
                today,
            )
        case ev.RedressApproved():
            await conn.execute(
                "UPDATE remedy_facts SET approved = true WHERE case_id = $1 AND remedy_id = $2",
                e.case_id,
                e.remedy_id,
            )
        case ev.RedressPaid():
            await conn.execute(
                "UPDATE remedy_facts SET paid_on = $3 WHERE case_id = $1 AND remedy_id = $2",
                e.case_id,
                e.remedy_id,
                e.paid_on,
            )
        case ev.RemedyCompleted():
            await conn.execute(
                "UPDATE remedy_facts SET completed_on = $3 WHERE case_id = $1 AND remedy_id = $2",
                e.case_id,
                e.remedy_id,
                e.completed_on,
            )
        case ev.LearningActionAdded():
            await conn.execute(
                """INSERT INTO learning_facts (case_id, action_id, description, owner, due_on)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, action_id) DO NOTHING""",
                e.case_id,
                e.action_id,
                e.description,
                e.owner,
                e.due_on,
            )
        case ev.LearningActionCompleted():
            await conn.execute(
                "UPDATE learning_facts SET completed_on = $3 WHERE case_id = $1 AND action_id = $2",
                e.case_id,
                e.action_id,
                e.completed_on,
            )
        case ev.OmbudsmanEnquiryReceived():
            await conn.execute(
                """INSERT INTO ombudsman_facts (case_id, reference, body, stage, received_on)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, reference) DO NOTHING""",
                e.case_id,
                e.ombudsman_reference,
                e.body.value,
                e.stage.value,
                e.received_on,
            )
        case ev.OmbudsmanDecisionRecorded():
            await conn.execute(
                """UPDATE ombudsman_facts SET decided_on = $2, finding = $3,
                       compliance_due_on = $4
                   WHERE case_id = $1 AND decided_on IS NULL""",
                e.case_id,
                e.decided_on,
                e.finding.value,
                e.compliance_due_on,
            )
        case ev.OmbudsmanComplianceCompleted():
            await conn.execute(
                "UPDATE ombudsman_facts SET complied_on = $2 "
                "WHERE case_id = $1 AND decided_on IS NOT NULL AND complied_on IS NULL",
                e.case_id,
                e.completed_on,
            )
        case ev.CaseNotAccepted():
            await _case(
                conn,
                e.case_id,
                resolution="not_accepted",
                closed_on=today,
                not_accepted_reason=e.reason.value,
            )
        case ev.CaseReopened():
            await _case(conn, e.case_id, resolution=None, closed_on=None)
        case _ if e.event_type in _CLOSING:
            case_id = getattr(e, "case_id")  # noqa: B009 - every closing event has one
            await _case(conn, case_id, resolution=_CLOSING[e.event_type], closed_on=today)


async def on_deadline_event(ctx: EventContext) -> None:
    e = ctx.payload
    if not isinstance(
        e, DeadlineSet | DeadlineChanged | DeadlineMet | DeadlineMissed | DeadlineCancelled
    ):
        return
    if e.kind not in (DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RESPONSE):
        return
    prefix = "acknowledgement" if e.kind is DeadlineKind.ACKNOWLEDGEMENT else "response"
    due, state = f"{prefix}_due", f"{prefix}_state"
    conn = ctx.conn
    match e:
        case DeadlineSet():
            await _stage(conn, e.case_id, e.stage, **{due: e.due_on, state: "pending"})
            if e.stage == 1:  # keep the case row's headline dates
                column = (
                    "acknowledgement_due_on" if prefix == "acknowledgement" else ("response_due_on")
                )
                await _case(conn, e.case_id, **{column: e.due_on})
        case DeadlineChanged():
            await _stage(conn, e.case_id, e.stage, **{due: e.due_on})
        case DeadlineMet():
            columns: dict[str, Any] = {state: "met_late" if e.late else "met"}
            if prefix == "response":
                columns.update(
                    working_days_taken=e.working_days_taken,
                    extension_days=e.extension_days,
                    paused_working_days=e.paused_working_days,
                )
            await _stage(conn, e.case_id, e.stage, **columns)
        case DeadlineMissed():
            await _stage(conn, e.case_id, e.stage, **{state: "missed"})
        case DeadlineCancelled():
            await _stage(conn, e.case_id, e.stage, **{state: "cancelled"})


async def on_notification_sent(ctx: EventContext) -> None:
    p = ctx.payload
    assert isinstance(p, NotificationSent)
    # the receipt or the formal acknowledgement, whichever went first, acknowledges the resident;
    # "first" by when it was sent, not by when its event arrived, so that a replay agrees
    acknowledged = p.sent_at if p.template in ("receipt", "acknowledgement") else None
    await ctx.conn.execute(
        """INSERT INTO case_facts (case_id, acknowledgement_sent_at, notifications_sent)
           VALUES ($1, $2, 1)
           ON CONFLICT (case_id) DO UPDATE SET
               acknowledgement_sent_at = least(case_facts.acknowledgement_sent_at, $2),
               notifications_sent = case_facts.notifications_sent + 1""",
        p.case_id,
        acknowledged,
    )


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

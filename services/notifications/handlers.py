"""Notifications' subscribers: acknowledge a complaint once its response date is known; thank
someone for a compliment or comment straight away."""

from __future__ import annotations

import uuid

from contracts import CaseOpened, DeadlineKind, DeadlineSet, FeedbackKind, NotificationSent
from redress import eventstore
from redress.consumer import EventContext
from services.notifications import letters, store

NOTIFICATION_NAMESPACE = uuid.UUID("9e2d4c6b-8a1f-4e3d-b5c7-1a2b3c4d5e6f")
_ACKNOWLEDGED_KINDS = {FeedbackKind.COMPLAINT, FeedbackKind.MEMBER_ENQUIRY}


def notification_id(case_id: uuid.UUID, template: str, recipient: str) -> uuid.UUID:
    return uuid.uuid5(NOTIFICATION_NAMESPACE, f"{case_id}:{template}:{recipient}")


async def on_case_opened(ctx: EventContext) -> None:
    opened = ctx.payload
    assert isinstance(opened, CaseOpened)
    await store.remember_case(ctx.conn, opened)
    await _send_what_is_ready(ctx, opened.case_id)


async def on_deadline_set(ctx: EventContext) -> None:
    deadline = ctx.payload
    assert isinstance(deadline, DeadlineSet)
    if deadline.kind is not DeadlineKind.RESPONSE or deadline.stage != 1:
        return
    await store.remember_response_due(ctx.conn, deadline.case_id, deadline.due_on)
    await _send_what_is_ready(ctx, deadline.case_id)


async def _send_what_is_ready(ctx: EventContext, case_id: uuid.UUID) -> None:
    contact = await store.contact(ctx.conn, case_id)
    if contact is None or contact["reference"] is None:
        return  # the case event has not arrived yet; the other handler will send
    kind = FeedbackKind(contact["kind"])
    if kind in _ACKNOWLEDGED_KINDS:
        if contact["response_due_on"] is None:
            return  # wait for the response date, so the letter can give it
        template = "acknowledgement"
        subject, body = letters.acknowledgement(
            contact["recipient_name"], contact["reference"], contact["response_due_on"]
        )
    else:
        template = "thanks"
        subject, body = letters.thanks(contact["recipient_name"], contact["reference"])
    channel, recipient = _route(contact)
    nid = notification_id(case_id, template, recipient)
    created = await store.record_delivery(
        ctx.conn,
        notification_id=nid,
        case_id=case_id,
        template=template,
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
        created_at=ctx.now,
    )
    if not created:
        return
    sent = NotificationSent(
        notification_id=nid,
        case_id=case_id,
        template=template,
        channel=channel,
        recipient=recipient,
        sent_at=ctx.now,
    )
    stream = f"notifications-{case_id}"
    version = await eventstore.stream_version(ctx.conn, stream)
    await ctx.append(
        [ctx.caused_event(sent, stream_id=stream, stream_version=version + 1, event_id=nid)],
        expected_version=version,
    )
    ctx.log.info("notification recorded", template=template, channel=channel)


def _route(contact: dict[str, str | None]) -> tuple[str, str]:
    """The resident's preferred way, falling back to whatever we can reach them by."""
    email, address = contact["email"], contact["address"]
    if contact["preferred_contact"] == "letter" and address:
        return "letter", address
    if email:
        return "email", email
    if address:
        return "letter", address
    return "phone", contact["recipient_name"] or "unknown"

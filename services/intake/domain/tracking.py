"""What a resident may see about their own case on the tracking page: its status, its stage and
the next date we have promised something by. Worked out from case and deadline events alone, so
that nothing an officer writes (notes, drafts, flags) can ever reach the page."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from contracts import CaseOpened, DeadlineKind, EventPayload
from contracts import case_events as ev
from contracts.events import (
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineMet,
    DeadlinePaused,
    DeadlineSet,
)


class Status(StrEnum):
    RECEIVED = "received"
    CASE_OPENED = "case opened"
    ACKNOWLEDGED = "acknowledged"
    RESPONDED = "responded"
    ESCALATED = "escalated"
    CLOSED = "closed"


class Ending(StrEnum):
    """Why a case is closed, in the few kinds a resident is told about (never the note)."""

    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    NOT_ACCEPTED = "not_accepted"
    REDIRECTED = "redirected"
    SERVICE_REQUEST = "service_request"
    PASSED_TO_SERVICE = "passed_to_service"


@dataclass(frozen=True)
class Progress:
    status: Status
    stage: int
    ending: Ending | None = None


_ENDINGS: dict[type[EventPayload], Ending] = {
    ev.CaseClosed: Ending.CLOSED,
    ev.CaseWithdrawn: Ending.WITHDRAWN,
    ev.CaseNotAccepted: Ending.NOT_ACCEPTED,
    ev.CaseRedirected: Ending.REDIRECTED,
    ev.CaseReclassifiedAsServiceRequest: Ending.SERVICE_REQUEST,
    ev.FeedbackPassedToService: Ending.PASSED_TO_SERVICE,
}

#: the case events that move what the resident sees; everything else on the topic is internal
CASE_EVENTS: tuple[type[EventPayload], ...] = (
    CaseOpened,
    ev.CaseAcknowledged,
    ev.ResponseIssued,
    ev.CaseEscalated,
    ev.CaseReopened,
    *_ENDINGS,
)


def progress_after(current: Progress | None, event: EventPayload) -> Progress | None:
    """The progress after ``event``, or None when the event changes nothing a resident sees."""
    if isinstance(event, CaseOpened):
        return Progress(Status.CASE_OPENED, event.stage)
    if current is None:
        return None  # a case event for a case we never saw open: nothing to show it on
    if isinstance(event, ev.CaseAcknowledged):
        return Progress(Status.ACKNOWLEDGED, event.stage)
    if isinstance(event, ev.ResponseIssued):
        return Progress(Status.RESPONDED, event.stage)
    if isinstance(event, ev.CaseEscalated):
        return Progress(Status.ESCALATED, event.to_stage)
    if isinstance(event, ev.CaseReopened):
        return Progress(Status.CASE_OPENED, current.stage)
    ending = _ENDINGS.get(type(event))
    if ending is not None:
        return Progress(Status.CLOSED, current.stage, ending)
    return None


class DeadlineState(StrEnum):
    OPEN = "open"
    PAUSED = "paused"
    DONE = "done"


@dataclass(frozen=True)
class DeadlineChange:
    """How one deadline event changes the row we keep for it."""

    deadline_id: uuid.UUID
    case_id: uuid.UUID
    kind: DeadlineKind
    stage: int
    state: DeadlineState
    due_on: date | None


DEADLINE_EVENTS: tuple[type[EventPayload], ...] = (
    DeadlineSet,
    DeadlineChanged,
    DeadlinePaused,
    DeadlineMet,
    DeadlineCancelled,
)


def deadline_change(event: EventPayload) -> DeadlineChange | None:
    if isinstance(event, DeadlineSet | DeadlineChanged):
        return DeadlineChange(
            event.deadline_id,
            event.case_id,
            event.kind,
            event.stage,
            DeadlineState.OPEN,
            event.due_on,
        )
    if isinstance(event, DeadlinePaused):
        return DeadlineChange(
            event.deadline_id, event.case_id, event.kind, event.stage, DeadlineState.PAUSED, None
        )
    if isinstance(event, DeadlineMet | DeadlineCancelled):
        return DeadlineChange(
            event.deadline_id, event.case_id, event.kind, event.stage, DeadlineState.DONE, None
        )
    return None


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    stage: int
    state: DeadlineState
    due_on: date | None


#: promises made to the resident; a service's internal part or our reply to an Ombudsman is not
_RESIDENT_FACING = (DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RESPONSE, DeadlineKind.PANEL)


def next_due(status: Status, deadlines: Iterable[Deadline]) -> Deadline | None:
    """The earliest open promise to the resident, if the case is still going."""
    if status is Status.CLOSED:
        return None
    due = [
        d
        for d in deadlines
        if d.state is DeadlineState.OPEN and d.kind in _RESIDENT_FACING and d.due_on is not None
    ]
    return min(due, key=lambda d: (d.due_on, d.stage), default=None)

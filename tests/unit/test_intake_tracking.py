"""What the tracking page shows, worked out from case and deadline events alone."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from contracts import CaseOpened, DeadlineKind, EventPayload
from contracts import case_events as ev
from contracts.events import DeadlineChanged, DeadlineMet, DeadlinePaused, DeadlineSet
from services.intake.domain.tracking import (
    Deadline,
    DeadlineState,
    Ending,
    Progress,
    Status,
    deadline_change,
    next_due,
    progress_after,
)

CASE = uuid.uuid4()
OPEN = Progress(Status.CASE_OPENED, 1)


def build(cls: type[EventPayload], **fields: object) -> EventPayload:
    """An event with just the fields this logic reads; the rest does not matter here."""
    return cls.model_construct(case_id=CASE, **fields)


@pytest.mark.parametrize(
    ("current", "event", "after"),
    [
        (None, build(CaseOpened, stage=1), OPEN),
        (OPEN, build(ev.CaseAcknowledged, stage=1), Progress(Status.ACKNOWLEDGED, 1)),
        (OPEN, build(ev.ResponseIssued, stage=1), Progress(Status.RESPONDED, 1)),
        (
            Progress(Status.RESPONDED, 1),
            build(ev.CaseEscalated, from_stage=1, to_stage=2),
            Progress(Status.ESCALATED, 2),
        ),
        (
            Progress(Status.ESCALATED, 2),
            build(ev.CaseAcknowledged, stage=2),
            Progress(Status.ACKNOWLEDGED, 2),
        ),
        (OPEN, build(ev.CaseClosed), Progress(Status.CLOSED, 1, Ending.CLOSED)),
        (OPEN, build(ev.CaseWithdrawn), Progress(Status.CLOSED, 1, Ending.WITHDRAWN)),
        (OPEN, build(ev.CaseNotAccepted), Progress(Status.CLOSED, 1, Ending.NOT_ACCEPTED)),
        (OPEN, build(ev.CaseRedirected), Progress(Status.CLOSED, 1, Ending.REDIRECTED)),
        (
            OPEN,
            build(ev.FeedbackPassedToService),
            Progress(Status.CLOSED, 1, Ending.PASSED_TO_SERVICE),
        ),
        (
            Progress(Status.CLOSED, 2, Ending.CLOSED),
            build(ev.CaseReopened),
            Progress(Status.CASE_OPENED, 2),
        ),
        # internal steps change nothing the resident sees
        (OPEN, build(ev.CaseAssigned, stage=1), None),
        (OPEN, build(ev.FlagRaised), None),
        (OPEN, build(ev.ContactLogged), None),
        (OPEN, build(ev.ResponseDrafted, stage=1), None),
        # nothing to show a later event on if we never saw the case open
        (None, build(ev.CaseAcknowledged, stage=1), None),
    ],
)
def test_progress(current: Progress | None, event: EventPayload, after: Progress | None) -> None:
    assert progress_after(current, event) == after


def _deadline(kind: DeadlineKind, due: date, state: DeadlineState = DeadlineState.OPEN) -> Deadline:
    return Deadline(kind, 1, state, due)


def test_the_next_date_is_the_earliest_open_promise_to_the_resident() -> None:
    ack = _deadline(DeadlineKind.ACKNOWLEDGEMENT, date(2026, 3, 4), DeadlineState.DONE)
    response = _deadline(DeadlineKind.RESPONSE, date(2026, 3, 30))
    internal = _deadline(DeadlineKind.SERVICE_PART, date(2026, 3, 10))
    paused = _deadline(DeadlineKind.PANEL, date(2026, 3, 12), DeadlineState.PAUSED)
    assert next_due(Status.ACKNOWLEDGED, [ack, response, internal, paused]) == response
    assert next_due(Status.CASE_OPENED, [internal]) is None
    assert next_due(Status.CLOSED, [response]) is None


def test_deadline_events_become_row_changes() -> None:
    d = uuid.uuid4()
    common = {"deadline_id": d, "case_id": CASE, "kind": DeadlineKind.RESPONSE, "stage": 1}
    set_ = deadline_change(DeadlineSet.model_construct(**common, due_on=date(2026, 4, 1)))
    assert set_ is not None and set_.state is DeadlineState.OPEN and set_.due_on == date(2026, 4, 1)
    moved = deadline_change(DeadlineChanged.model_construct(**common, due_on=date(2026, 4, 9)))
    assert moved is not None and moved.due_on == date(2026, 4, 9)
    paused = deadline_change(DeadlinePaused.model_construct(**common))
    assert paused is not None and paused.state is DeadlineState.PAUSED
    met = deadline_change(DeadlineMet.model_construct(**common))
    assert met is not None and met.state is DeadlineState.DONE and met.deadline_id == d

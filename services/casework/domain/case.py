"""The Case aggregate: ``decide`` turns a command into events or a rejection with a reason,
``evolve`` folds an event into the state. Replaying a case's events rebuilds the same state.

This issue opens cases; the full lifecycle (triage, acknowledgement, responses, escalation,
Ombudsman) grows here in the casework issue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

from contracts import CaseOpened, EventPayload, FeedbackKind, FeedbackSubmitted, Procedure

#: case ids derive from the submission they came from, so a redelivered submission can never
#: open a second case, whatever path it takes
CASE_NAMESPACE: Final = uuid.UUID("0b8f3f4e-6d0a-4f51-9a4e-6f1e2d3c4b5a")

REFERENCE_PREFIX: Final = {
    FeedbackKind.COMPLAINT: "CMP",
    FeedbackKind.COMPLIMENT: "CPL",
    FeedbackKind.COMMENT: "CMT",
    FeedbackKind.MEMBER_ENQUIRY: "MEQ",
}


class CaseStatus(StrEnum):
    NOT_OPENED = "not_opened"
    OPEN = "open"


@dataclass(frozen=True)
class Case:
    case_id: uuid.UUID | None = None
    reference: str | None = None
    status: CaseStatus = CaseStatus.NOT_OPENED
    kind: FeedbackKind | None = None
    procedure: Procedure | None = None
    stage: int = 0
    received_at: datetime | None = None
    version: int = 0


@dataclass(frozen=True)
class OpenCase:
    case_id: uuid.UUID
    reference: str
    procedure: Procedure
    submission: FeedbackSubmitted


@dataclass(frozen=True)
class Rejection:
    reason: str


Command = OpenCase


def case_id_for(submission_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(CASE_NAMESPACE, str(submission_id))


def stream_id(case_id: uuid.UUID) -> str:
    return f"case-{case_id}"


def format_reference(kind: FeedbackKind, year: int, number: int) -> str:
    """``CMP-2026-000001``: the prefix says what it is, the year when it came in, the number
    counts up within that prefix and year."""
    if number < 1:
        raise ValueError("reference numbers start at 1")
    return f"{REFERENCE_PREFIX[kind]}-{year:04d}-{number:06d}"


def decide(state: Case, command: Command) -> list[EventPayload] | Rejection:
    if isinstance(command, OpenCase):
        return _open(state, command)
    raise TypeError(f"unknown command {type(command).__name__}")  # pragma: no cover


def _open(state: Case, command: OpenCase) -> list[EventPayload] | Rejection:
    if state.status is not CaseStatus.NOT_OPENED:
        return Rejection(f"case {state.reference} is already open")
    sub = command.submission
    if command.case_id != case_id_for(sub.submission_id):
        return Rejection("case id does not belong to this submission")
    return [
        CaseOpened(
            case_id=command.case_id,
            reference=command.reference,
            submission_id=sub.submission_id,
            kind=sub.kind,
            channel=sub.channel,
            organisation_id=sub.organisation_id,
            service_area=sub.service_area,
            procedure=command.procedure,
            stage=1,
            received_at=sub.received_at,
            summary=sub.summary,
            complainant=sub.complainant,
        )
    ]


def evolve(state: Case, event: EventPayload) -> Case:
    if isinstance(event, CaseOpened):
        return replace(
            state,
            case_id=event.case_id,
            reference=event.reference,
            status=CaseStatus.OPEN,
            kind=event.kind,
            procedure=event.procedure,
            stage=event.stage,
            received_at=event.received_at,
            version=state.version + 1,
        )
    return replace(state, version=state.version + 1)


def replay(events: list[EventPayload]) -> Case:
    state = Case()
    for event in events:
        state = evolve(state, event)
    return state

"""A case's deadlines as an aggregate: ``decide`` turns a casework event into deadline events,
``evolve`` folds them in. The rules (timescales, limits) and the calendar come in as arguments,
so every date is computed the same way live, on replay and in a test."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from contracts import (
    CaseOpened,
    DeadlineCancelled,
    DeadlineChanged,
    DeadlineKind,
    DeadlineMet,
    DeadlineMissed,
    DeadlinePaused,
    DeadlineSet,
    EventPayload,
    ExtensionNotAllowed,
    FeedbackKind,
    Procedure,
)
from contracts import case_events as ev
from contracts.procedures import (
    PANEL_REPORT_WORKING_DAYS,
    CountsFrom,
    ProcedureRules,
    Timescale,
)
from services.deadlines.domain.calendar import WorkingDayCalendar
from services.deadlines.domain.compute import (
    day,
    due_from,
    extended,
    receipt_lead_in,
    resumed,
)

DEADLINE_NAMESPACE: Final = uuid.UUID("5d7c1f0e-2b6a-4c8e-9f3d-8a1b2c3d4e5f")
TIMED_KINDS: Final = frozenset({FeedbackKind.COMPLAINT, FeedbackKind.MEMBER_ENQUIRY})
CLOSING_EVENTS: Final = (
    ev.CaseClosed,
    ev.CaseWithdrawn,
    ev.CaseNotAccepted,
    ev.CaseRedirected,
    ev.CaseReclassifiedAsServiceRequest,
    ev.FeedbackPassedToService,
)


class DeadlineState(StrEnum):
    PENDING = "pending"
    MET = "met"
    MET_LATE = "met_late"
    MISSED = "missed"
    CANCELLED = "cancelled"


OPEN_STATES: Final = frozenset({DeadlineState.PENDING, DeadlineState.MISSED})


@dataclass(frozen=True)
class Deadline:
    deadline_id: uuid.UUID
    kind: DeadlineKind
    stage: int
    due_on: date | None  # None while the clock is paused
    counts_from: date
    working_days: int
    provisional: bool
    clause: str
    explanation: str
    state: DeadlineState = DeadlineState.PENDING
    paused_remaining: int | None = None
    extension_days: int = 0
    part_id: str | None = None
    started_on: date | None = None  # the clock's start, kept through pauses
    paused_on: date | None = None
    paused_working_days: int = 0

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class CaseDeadlines:
    case_id: uuid.UUID | None = None
    organisation_id: str | None = None
    procedure: Procedure | None = None
    kind: FeedbackKind | None = None
    received_at: datetime | None = None
    deadlines: tuple[Deadline, ...] = ()
    version: int = 0

    @property
    def opened(self) -> bool:
        return self.case_id is not None

    def find(self, kind: DeadlineKind, stage: int, part_id: str | None = None) -> Deadline | None:
        return next(
            (
                d
                for d in self.deadlines
                if d.kind is kind and d.stage == stage and d.part_id == part_id
            ),
            None,
        )

    def open_at(self, stage: int) -> list[Deadline]:
        return [d for d in self.deadlines if d.stage == stage and d.is_open and not d.part_id]


def deadline_id(case_id: uuid.UUID, kind: DeadlineKind, stage: int, part: str = "") -> uuid.UUID:
    suffix = f":{part}" if part else ""
    return uuid.uuid5(DEADLINE_NAMESPACE, f"{case_id}:{kind.value}:{stage}{suffix}")


# -- decide ----------------------------------------------------------------------------------


def decide(
    state: CaseDeadlines,
    event: EventPayload,
    rules: ProcedureRules | None,
    calendar: WorkingDayCalendar,
    today: date,
) -> list[EventPayload]:
    """The deadline events a casework event causes. ``rules`` are the case's procedure's (with
    the organisation's stricter timescales), looked up by the caller; ``today`` is the day the
    casework event happened, in London."""
    if isinstance(event, CaseOpened):
        if state.opened or event.kind not in TIMED_KINDS or rules is None:
            return []
        start, lead_in = receipt_lead_in(event.received_at, calendar)
        return _stage_deadlines(
            event.case_id, event.organisation_id, rules, 1, start, lead_in, calendar
        )
    if not state.opened or state.case_id is None:
        return []
    case_id = state.case_id
    match event:
        case ev.CaseTriaged():
            return _retriaged(state, event, rules, calendar)
        case ev.CaseAcknowledged():
            return _acknowledged(state, event, rules, calendar)
        case ev.ExtensionGranted():
            return _extension(state, event, rules, calendar)
        case ev.ClockPaused():
            return [
                DeadlinePaused(
                    deadline_id=d.deadline_id,
                    case_id=case_id,
                    kind=d.kind,
                    stage=d.stage,
                    paused_on=event.paused_on,
                    remaining_working_days=calendar.working_days_between(event.paused_on, d.due_on),
                )
                for d in state.open_at(event.stage)
                if d.due_on is not None and d.kind is not DeadlineKind.ACKNOWLEDGEMENT
            ]
        case ev.ClockResumed():
            out: list[EventPayload] = []
            for d in state.open_at(event.stage):
                if d.paused_remaining is None:
                    continue
                due, text = resumed(event.resumed_on, d.paused_remaining, calendar)
                paused = d.paused_working_days + calendar.working_days_between(
                    d.paused_on or event.resumed_on, event.resumed_on
                )
                out.append(_changed(d, case_id, due, text, reason="clock restarted", paused=paused))
            return out
        case ev.ResponseIssued():
            return [
                _met(d, case_id, event.issued_on, calendar)
                for d in state.open_at(event.stage)
                if d.kind in (DeadlineKind.RESPONSE, DeadlineKind.PANEL)
            ]
        case ev.CaseEscalated():
            if rules is None or event.to_stage > rules.final_stage:
                return []
            start = calendar.on_or_after(event.requested_on)
            lead_in = f"escalation requested {day(event.requested_on)}"
            if start != event.requested_on:
                lead_in += f" → counted from {day(start)}"
            cancelled = [
                _cancelled(d, case_id, "the case moved to the next stage")
                for d in state.deadlines
                if d.stage == event.from_stage and d.is_open and not d.part_id
            ]
            return cancelled + _stage_deadlines(
                case_id, state.organisation_id, rules, event.to_stage, start, lead_in, calendar
            )
        case ev.ServiceResponseRequested():
            did = deadline_id(case_id, DeadlineKind.SERVICE_PART, event.stage, event.part_id)
            if any(d.deadline_id == did for d in state.deadlines):
                return []
            return [
                DeadlineSet(
                    deadline_id=did,
                    case_id=case_id,
                    kind=DeadlineKind.SERVICE_PART,
                    stage=event.stage,
                    procedure=state.procedure or Procedure.HOUSING_OMBUDSMAN,
                    counts_from=event.due_on,
                    working_days=0,
                    due_on=event.due_on,
                    clause="set by the officer",
                    explanation=(
                        f"{event.service_area}'s part {event.part_id}: due {day(event.due_on)}, "
                        "as the officer asked"
                    ),
                    organisation_id=state.organisation_id,
                    part_id=event.part_id,
                )
            ]
        case ev.ServiceResponseReceived():
            part = state.find(DeadlineKind.SERVICE_PART, event.stage, event.part_id)
            return [_met(part, case_id, today, calendar)] if part and part.is_open else []
        case ev.OmbudsmanEnquiryReceived():
            if event.information_due_on is None:
                return []
            did = deadline_id(
                case_id, DeadlineKind.OMBUDSMAN_INFORMATION, 1, event.ombudsman_reference
            )
            return [
                DeadlineSet(
                    deadline_id=did,
                    case_id=case_id,
                    kind=DeadlineKind.OMBUDSMAN_INFORMATION,
                    stage=1,
                    procedure=state.procedure or Procedure.HOUSING_OMBUDSMAN,
                    counts_from=event.received_on,
                    working_days=0,
                    due_on=event.information_due_on,
                    clause=f"{event.body.value} request {event.ombudsman_reference}",
                    explanation=(
                        f"the Ombudsman asked on {day(event.received_on)} for information by "
                        f"{day(event.information_due_on)}"
                    ),
                    organisation_id=state.organisation_id,
                    part_id=event.ombudsman_reference,
                )
            ]
        case ev.OmbudsmanInformationProvided():
            return [
                _met(d, case_id, event.provided_on, calendar)
                for d in state.deadlines
                if d.kind is DeadlineKind.OMBUDSMAN_INFORMATION and d.is_open
            ]
        case _ if isinstance(event, CLOSING_EVENTS):
            return [
                _cancelled(d, case_id, f"{event.event_type}: nothing more is due")
                for d in state.deadlines
                if d.is_open
            ]
    return []


def _stage_deadlines(
    case_id: uuid.UUID,
    organisation_id: str | None,
    rules: ProcedureRules,
    stage: int,
    start: date,
    lead_in: str,
    calendar: WorkingDayCalendar,
) -> list[EventPayload]:
    """A stage's deadlines. A clock that runs from a step not yet taken (acknowledgement, the
    panel's report) is provisional: counted from the latest day that step is due."""
    stage_rules = rules.stage(stage)
    computed: dict[DeadlineKind, tuple[date, bool]] = {}
    out: list[EventPayload] = []
    for t in stage_rules.timescales:
        if t.counts_from in (CountsFrom.RECEIPT, CountsFrom.ESCALATION_REQUEST):
            origin, text, provisional = start, lead_in, False
        elif t.counts_from is CountsFrom.ACKNOWLEDGEMENT:
            ack = computed.get(DeadlineKind.ACKNOWLEDGEMENT)
            origin = ack[0] if ack else start
            text = (
                f"provisional until the case is acknowledged: counted from the acknowledgement "
                f"due date {day(origin)}"
            )
            provisional = True
        else:  # the panel's report, due a fixed number of working days after the panel
            panel = computed.get(DeadlineKind.PANEL)
            meeting = panel[0] if panel else start
            origin = calendar.add_working_days(meeting, PANEL_REPORT_WORKING_DAYS)
            text = (
                f"provisional until the panel reports: counted from {day(origin)}, "
                f"{PANEL_REPORT_WORKING_DAYS} working days after the panel's latest date"
            )
            provisional = True
        due = due_from(t, origin, calendar, text)
        computed[t.kind] = (due.due_on, provisional)
        out.append(
            DeadlineSet(
                deadline_id=deadline_id(case_id, t.kind, stage),
                case_id=case_id,
                kind=t.kind,
                stage=stage,
                procedure=rules.procedure,
                counts_from=due.counts_from,
                working_days=due.working_days,
                due_on=due.due_on,
                provisional=provisional,
                clause=t.clause,
                explanation=due.explanation,
                organisation_id=organisation_id,
            )
        )
    return out


def _retriaged(
    state: CaseDeadlines,
    event: ev.CaseTriaged,
    rules: ProcedureRules | None,
    calendar: WorkingDayCalendar,
) -> list[EventPayload]:
    """Triage may change the procedure or the kind before the clocks have moved on."""
    assert state.case_id is not None and state.received_at is not None
    stage_one = [d for d in state.deadlines if d.stage == 1 and not d.part_id]
    if any(d.state is not DeadlineState.PENDING for d in stage_one):
        return []  # too late to change: the record stands as it was
    timed = event.kind in TIMED_KINDS
    same = event.procedure is state.procedure and (state.kind in TIMED_KINDS) == timed
    if same:
        return []
    out: list[EventPayload] = [
        _cancelled(d, state.case_id, f"triaged as {event.kind.value} under {event.procedure.value}")
        for d in stage_one
    ]
    if timed and rules is not None:
        start, lead_in = receipt_lead_in(state.received_at, calendar)
        fresh = _stage_deadlines(
            state.case_id, state.organisation_id, rules, 1, start, lead_in, calendar
        )
        # the deadline ids are per (case, kind, stage): a re-set replaces the cancelled one
        out.extend(fresh)
    return out


def _acknowledged(
    state: CaseDeadlines,
    event: ev.CaseAcknowledged,
    rules: ProcedureRules | None,
    calendar: WorkingDayCalendar,
) -> list[EventPayload]:
    assert state.case_id is not None
    out: list[EventPayload] = []
    ack = state.find(DeadlineKind.ACKNOWLEDGEMENT, event.stage)
    if ack is not None and ack.is_open:
        out.append(_met(ack, state.case_id, event.acknowledged_on, calendar))
    if rules is None:
        return out
    timescale: Timescale | None = rules.stage(event.stage).timescale(DeadlineKind.RESPONSE)
    response = state.find(DeadlineKind.RESPONSE, event.stage)
    if (
        timescale is not None
        and timescale.counts_from is CountsFrom.ACKNOWLEDGEMENT
        and response is not None
        and response.is_open
    ):
        due = due_from(
            timescale, event.acknowledged_on, calendar, f"acknowledged {day(event.acknowledged_on)}"
        )
        out.append(
            _changed(
                response,
                state.case_id,
                due.due_on,
                due.explanation,
                reason="the response clock starts at acknowledgement",
                provisional=False,
                counts_from=event.acknowledged_on,
            )
        )
    return out


def _extension(
    state: CaseDeadlines,
    event: ev.ExtensionGranted,
    rules: ProcedureRules | None,
    calendar: WorkingDayCalendar,
) -> list[EventPayload]:
    assert state.case_id is not None
    response = state.find(DeadlineKind.RESPONSE, event.stage)
    if response is None or not response.is_open:
        return []
    limit = rules.stage(event.stage).extension_limit if rules else None
    if limit is not None and response.extension_days + event.working_days > limit:
        return [
            ExtensionNotAllowed(
                case_id=state.case_id,
                stage=event.stage,
                extension_id=event.extension_id,
                reason=(
                    f"{event.working_days} more working days would make "
                    f"{response.extension_days + event.working_days}, past the limit of {limit} "
                    f"at stage {event.stage}"
                ),
            )
        ]
    if response.due_on is None:  # paused: the extension adds to the time left
        assert response.paused_remaining is not None
        return [
            DeadlinePaused(
                deadline_id=response.deadline_id,
                case_id=state.case_id,
                kind=response.kind,
                stage=response.stage,
                paused_on=response.paused_on or response.counts_from,
                remaining_working_days=response.paused_remaining + event.working_days,
            )
        ]
    due, text = extended(response.due_on, event.working_days, calendar)
    return [
        _changed(
            response,
            state.case_id,
            due,
            # the extension by its id, not its reason: the reason is the resident's personal
            # text, sealed in the case's events, and an explanation is read by everyone
            f"{response.explanation}; {text} (extension {event.extension_id})",
            reason=f"extension {event.extension_id}",
            extension_days=response.extension_days + event.working_days,
        )
    ]


def _changed(
    d: Deadline,
    case_id: uuid.UUID,
    due: date,
    explanation: str,
    *,
    reason: str,
    provisional: bool | None = None,
    extension_days: int | None = None,
    paused: int | None = None,
    counts_from: date | None = None,
) -> DeadlineChanged:
    return DeadlineChanged(
        deadline_id=d.deadline_id,
        case_id=case_id,
        kind=d.kind,
        stage=d.stage,
        due_on=due,
        previous_due_on=d.due_on,
        provisional=d.provisional if provisional is None else provisional,
        reason=reason,
        explanation=explanation,
        extension_days=d.extension_days if extension_days is None else extension_days,
        paused_working_days=d.paused_working_days if paused is None else paused,
        counts_from=counts_from,
    )


def _met(
    d: Deadline, case_id: uuid.UUID, met_on: date, calendar: WorkingDayCalendar | None = None
) -> DeadlineMet:
    late = d.state is DeadlineState.MISSED or (d.due_on is not None and met_on > d.due_on)
    return DeadlineMet(
        deadline_id=d.deadline_id,
        case_id=case_id,
        kind=d.kind,
        stage=d.stage,
        met_on=met_on,
        due_on=d.due_on,
        late=late,
        working_days_taken=(
            None
            if calendar is None or d.started_on is None
            else calendar.working_days_between(d.started_on, met_on)
        ),
        extension_days=d.extension_days,
        paused_working_days=d.paused_working_days,
    )


def _cancelled(d: Deadline, case_id: uuid.UUID, reason: str) -> DeadlineCancelled:
    return DeadlineCancelled(
        deadline_id=d.deadline_id, case_id=case_id, kind=d.kind, stage=d.stage, reason=reason
    )


# -- evolve ----------------------------------------------------------------------------------


def opened_from(event: CaseOpened) -> CaseDeadlines:
    """The case facts deadlines keeps, taken from `CaseOpened` (recorded separately from the
    deadline events because a compliment has a case but no deadlines)."""
    return CaseDeadlines(
        case_id=event.case_id,
        organisation_id=event.organisation_id,
        procedure=event.procedure,
        kind=event.kind,
        received_at=event.received_at,
    )


def note_case_event(state: CaseDeadlines, event: EventPayload) -> CaseDeadlines:
    """Case facts that change what later events mean (triage may change procedure or kind)."""
    if isinstance(event, CaseOpened) and not state.opened:
        return opened_from(event)
    if isinstance(event, ev.CaseTriaged):
        return replace(state, procedure=event.procedure, kind=event.kind)
    return state


def _swap(case: CaseDeadlines, deadline: uuid.UUID, **changes: object) -> CaseDeadlines:
    return replace(
        case,
        deadlines=tuple(
            replace(d, **changes) if d.deadline_id == deadline else d  # type: ignore[arg-type]
            for d in case.deadlines
        ),
    )


def evolve(state: CaseDeadlines, event: EventPayload) -> CaseDeadlines:
    state = replace(state, version=state.version + 1)
    match event:
        case DeadlineSet():
            fresh = Deadline(
                deadline_id=event.deadline_id,
                kind=event.kind,
                stage=event.stage,
                due_on=event.due_on,
                counts_from=event.counts_from,
                working_days=event.working_days,
                provisional=event.provisional,
                clause=event.clause,
                explanation=event.explanation,
                part_id=event.part_id,
                started_on=event.counts_from,
            )
            others = tuple(d for d in state.deadlines if d.deadline_id != event.deadline_id)
            return replace(state, deadlines=(*others, fresh))
        case DeadlineChanged():
            changes: dict[str, object] = {}
            if event.counts_from is not None:
                changes["started_on"] = event.counts_from
                changes["counts_from"] = event.counts_from
            return _swap(
                state,
                event.deadline_id,
                due_on=event.due_on,
                provisional=event.provisional,
                explanation=event.explanation,
                paused_remaining=None,
                paused_on=None,
                extension_days=event.extension_days,
                paused_working_days=event.paused_working_days,
                **changes,
            )
        case DeadlinePaused():
            return _swap(
                state,
                event.deadline_id,
                due_on=None,
                paused_on=event.paused_on,
                paused_remaining=event.remaining_working_days,
            )
        case DeadlineMet():
            return _swap(
                state,
                event.deadline_id,
                state=DeadlineState.MET_LATE if event.late else DeadlineState.MET,
            )
        case DeadlineMissed():
            return _swap(state, event.deadline_id, state=DeadlineState.MISSED)
        case DeadlineCancelled():
            return _swap(state, event.deadline_id, state=DeadlineState.CANCELLED)
    return state

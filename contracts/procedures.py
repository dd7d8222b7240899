"""The regulators' timescales and limits, stage by stage (PROCEDURES.md), as shared
configuration: casework enforces the limits when an officer acts, deadlines counts the days.
Both read this one table, so they cannot disagree. Every number is a default that an
organisation may make stricter (`apply_overrides`), never looser.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import DeadlineKind, Procedure


class CountsFrom(StrEnum):
    RECEIPT = "receipt"
    ACKNOWLEDGEMENT = "acknowledgement"
    ESCALATION_REQUEST = "escalation_request"
    PANEL_REPORT = "panel_report"


@dataclass(frozen=True)
class Timescale:
    kind: DeadlineKind
    counts_from: CountsFrom
    clause: str
    working_days: int | None = None
    calendar_months: int | None = None

    def describe(self) -> str:
        if self.calendar_months is not None:
            return f"{self.calendar_months} calendar months"
        return f"{self.working_days} working days"


@dataclass(frozen=True)
class StageRules:
    number: int
    timescales: tuple[Timescale, ...]
    #: working days an extension may add in total at this stage; None: by agreement, no cap
    extension_limit: int | None
    extension_needs_manager: bool
    pause_allowed: bool

    def timescale(self, kind: DeadlineKind) -> Timescale | None:
        return next((t for t in self.timescales if t.kind is kind), None)


@dataclass(frozen=True)
class ProcedureRules:
    procedure: Procedure
    stages: tuple[StageRules, ...]
    #: a different person handles the next stage (HOS Code 6.12, LGSCO Code)
    different_handler_after_escalation: bool
    #: months after the matter (or becoming aware of it) within which to complain; later
    #: complaints may still be taken at the organisation's discretion (HOS Code 2.3)
    time_limit_months: int = 12

    def stage(self, number: int) -> StageRules:
        return self.stages[number - 1]

    @property
    def final_stage(self) -> int:
        return len(self.stages)


ACK, RESPONSE, PANEL = DeadlineKind.ACKNOWLEDGEMENT, DeadlineKind.RESPONSE, DeadlineKind.PANEL
R, A, E, P = (
    CountsFrom.RECEIPT,
    CountsFrom.ACKNOWLEDGEMENT,
    CountsFrom.ESCALATION_REQUEST,
    CountsFrom.PANEL_REPORT,
)


def _two_stage_code(procedure: Procedure, code: str) -> ProcedureRules:
    # HOS Code 2024 and the LGSCO Code (aligned): 6.2 acknowledge within 5 working days of
    # receipt; 6.3 respond within 10 of acknowledgement; 6.4 extend up to 10; 6.11 stage 2
    # acknowledgement within 5 of the escalation request; 6.14 respond within 20 of
    # acknowledgement; 6.15 extend up to 20 (unconfirmed); 6.12 a different person at stage 2
    return ProcedureRules(
        procedure,
        (
            StageRules(
                1,
                (
                    Timescale(ACK, R, f"{code} 6.2", working_days=5),
                    Timescale(RESPONSE, A, f"{code} 6.3", working_days=10),
                ),
                extension_limit=10,
                extension_needs_manager=False,
                pause_allowed=False,
            ),
            StageRules(
                2,
                (
                    Timescale(ACK, E, f"{code} 6.11", working_days=5),
                    Timescale(RESPONSE, A, f"{code} 6.14", working_days=20),
                ),
                extension_limit=20,
                extension_needs_manager=False,
                pause_allowed=False,
            ),
        ),
        different_handler_after_escalation=True,
    )


PROCEDURES: dict[Procedure, ProcedureRules] = {
    Procedure.HOUSING_OMBUDSMAN: _two_stage_code(Procedure.HOUSING_OMBUDSMAN, "HOS Code 2024"),
    Procedure.LGSCO: _two_stage_code(Procedure.LGSCO, "LGSCO Code"),
    # SPSO model CHP: frontline decision within 5 working days, extendable to 10 in total with a
    # manager's authority (unconfirmed); investigation acknowledged within 3 and answered
    # within 20 working days, extended only with a senior manager's agreement
    Procedure.SPSO: ProcedureRules(
        Procedure.SPSO,
        (
            StageRules(
                1,
                (Timescale(RESPONSE, R, "SPSO MCHP stage 1", working_days=5),),
                extension_limit=5,
                extension_needs_manager=True,
                pause_allowed=False,
            ),
            StageRules(
                2,
                (
                    Timescale(ACK, E, "SPSO MCHP stage 2", working_days=3),
                    Timescale(RESPONSE, E, "SPSO MCHP stage 2", working_days=20),
                ),
                extension_limit=None,
                extension_needs_manager=True,
                pause_allowed=False,
            ),
        ),
        different_handler_after_escalation=False,
        # SPSO model CHP: six months from the event or from becoming aware of it
        time_limit_months=6,
    ),
    # SI 2009/309: one local stage; reg 13(2) acknowledge within 3 working days; reg 14 respond
    # within the period agreed, by default 6 months from receipt, longer only by agreement
    Procedure.ADULT_SOCIAL_CARE: ProcedureRules(
        Procedure.ADULT_SOCIAL_CARE,
        (
            StageRules(
                1,
                (
                    Timescale(ACK, R, "SI 2009/309 reg 13(2)", working_days=3),
                    Timescale(RESPONSE, R, "SI 2009/309 reg 14(2)", calendar_months=6),
                ),
                extension_limit=None,
                extension_needs_manager=False,
                pause_allowed=True,
            ),
        ),
        different_handler_after_escalation=False,
    ),
    # SI 2006/1738: acknowledge within 3 working days; stage 1 within 10, extendable to 20;
    # stage 2 investigation within 25, extendable to 65; stage 3 review panel meets within 30
    # working days of the request, reports within 5 and the council responds within 15 of it
    Procedure.CHILDRENS_SOCIAL_CARE: ProcedureRules(
        Procedure.CHILDRENS_SOCIAL_CARE,
        (
            StageRules(
                1,
                (
                    Timescale(ACK, R, "SI 2006/1738 reg 9", working_days=3),
                    Timescale(RESPONSE, R, "SI 2006/1738 reg 14", working_days=10),
                ),
                extension_limit=10,
                extension_needs_manager=False,
                pause_allowed=True,
            ),
            StageRules(
                2,
                (Timescale(RESPONSE, E, "SI 2006/1738 reg 17", working_days=25),),
                extension_limit=40,
                extension_needs_manager=False,
                pause_allowed=True,
            ),
            StageRules(
                3,
                (
                    Timescale(PANEL, E, "SI 2006/1738 reg 19", working_days=30),
                    Timescale(RESPONSE, P, "SI 2006/1738 reg 20", working_days=15),
                ),
                extension_limit=0,
                extension_needs_manager=False,
                pause_allowed=False,
            ),
        ),
        different_handler_after_escalation=True,
    ),
}

#: working days between a stage 3 panel and its report (SI 2006/1738)
PANEL_REPORT_WORKING_DAYS = 5


class TimescaleOverride(BaseModel):
    """An organisation's stricter local timescale for one step of one procedure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    procedure: Procedure
    stage: int = Field(ge=1, le=3)
    kind: DeadlineKind
    working_days: int = Field(ge=1)


def apply_overrides(
    rules: ProcedureRules, overrides: list[TimescaleOverride] | tuple[TimescaleOverride, ...]
) -> ProcedureRules:
    """The procedure with an organisation's stricter timescales. A looser one, or one for a
    step the procedure does not have, is a configuration error."""
    stages = list(rules.stages)
    for o in overrides:
        if o.procedure is not rules.procedure:
            continue
        if o.stage > len(stages):
            raise ValueError(f"{o.procedure.value} has no stage {o.stage}")
        stage = stages[o.stage - 1]
        current = stage.timescale(o.kind)
        if current is None or current.working_days is None:
            raise ValueError(
                f"{o.procedure.value} stage {o.stage} has no {o.kind.value} counted in working days"
            )
        if o.working_days > current.working_days:
            raise ValueError(
                f"{o.procedure.value} stage {o.stage} {o.kind.value}: {o.working_days} working "
                f"days is looser than the {current.working_days} of {current.clause}"
            )
        local = replace(
            current, working_days=o.working_days, clause=f"{current.clause}, local standard"
        )
        timescales = tuple(local if t.kind is o.kind else t for t in stage.timescales)
        stages[o.stage - 1] = replace(stage, timescales=timescales)
    return replace(rules, stages=tuple(stages))


def outside_time_limit(happened_on: date | None, received_on: date, months: int) -> bool:
    """Whether a complaint about something on ``happened_on`` arrived after the time limit.
    Unknown dates are never late: a person asks. A limit ending on a day the month lacks
    (12 months after 29 February) ends on that month's last day."""
    if happened_on is None:
        return False
    return received_on > add_months(happened_on, months)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def rules_for(
    procedure: Procedure, overrides: list[TimescaleOverride] | tuple[TimescaleOverride, ...] = ()
) -> ProcedureRules:
    return apply_overrides(PROCEDURES[procedure], overrides)

"""What each procedure allows at each stage (PROCEDURES.md). Defaults in configuration, not
constants scattered through the rules: an organisation may adopt stricter ones."""

from __future__ import annotations

from dataclasses import dataclass

from contracts import Procedure


@dataclass(frozen=True)
class StageRule:
    #: working days an extension may add in total at this stage; None: by agreement, no cap
    extension_limit: int | None
    extension_needs_manager: bool
    pause_allowed: bool


@dataclass(frozen=True)
class ProcedureRules:
    stages: int
    stage_rules: dict[int, StageRule]
    #: a different person handles the next stage (HOS Code 6.12, LGSCO Code)
    different_handler_after_escalation: bool


PROCEDURE_RULES: dict[Procedure, ProcedureRules] = {
    # HOS Code 2024: two stages (5.2-5.5); stage 1 extension up to 10 working days (6.4),
    # stage 2 up to 20 (6.15, unconfirmed); stage 2 handled by a different person (6.12)
    Procedure.HOUSING_OMBUDSMAN: ProcedureRules(
        stages=2,
        stage_rules={1: StageRule(10, False, False), 2: StageRule(20, False, False)},
        different_handler_after_escalation=True,
    ),
    # LGSCO Complaint Handling Code: aligned with the HOS code
    Procedure.LGSCO: ProcedureRules(
        stages=2,
        stage_rules={1: StageRule(10, False, False), 2: StageRule(20, False, False)},
        different_handler_after_escalation=True,
    ),
    # SPSO model CHP: frontline extension to 10 working days in total (5 more), authorised by
    # a manager (unconfirmed); investigation extension only with a senior manager's agreement
    Procedure.SPSO: ProcedureRules(
        stages=2,
        stage_rules={1: StageRule(5, True, False), 2: StageRule(None, True, False)},
        different_handler_after_escalation=False,
    ),
    # SI 2009/309: one local stage; the response period is agreed with the complainant and may
    # be lengthened by agreement (reg 14), so no fixed cap; waiting on the complainant pauses
    Procedure.ADULT_SOCIAL_CARE: ProcedureRules(
        stages=1,
        stage_rules={1: StageRule(None, False, True)},
        different_handler_after_escalation=False,
    ),
    # SI 2006/1738: stage 1 10 working days extendable to 20; stage 2 25 extendable to 65;
    # stage 3 review panel timescales are fixed
    Procedure.CHILDRENS_SOCIAL_CARE: ProcedureRules(
        stages=3,
        stage_rules={
            1: StageRule(10, False, True),
            2: StageRule(40, False, True),
            3: StageRule(0, False, False),
        },
        different_handler_after_escalation=True,
    ),
}

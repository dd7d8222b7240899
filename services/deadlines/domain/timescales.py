"""Default timescales per procedure, stage 1 (PROCEDURES.md). Numbers are defaults in
configuration, not constants: the deadlines issue lets an organisation make them stricter and
adds the later stages, extensions and pauses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from contracts import DeadlineKind, Procedure


class CountsFrom(StrEnum):
    RECEIPT = "receipt"
    ACKNOWLEDGEMENT = "acknowledgement"


@dataclass(frozen=True)
class Timescale:
    kind: DeadlineKind
    working_days: int
    counts_from: CountsFrom
    clause: str


STAGE_ONE: dict[Procedure, tuple[Timescale, Timescale]] = {
    # Housing Ombudsman Complaint Handling Code 2024: 6.2 acknowledge within 5 working days of
    # receipt; 6.3 respond within 10 working days of acknowledgement
    Procedure.HOUSING_OMBUDSMAN: (
        Timescale(DeadlineKind.ACKNOWLEDGEMENT, 5, CountsFrom.RECEIPT, "HOS Code 2024 6.2"),
        Timescale(DeadlineKind.RESPONSE, 10, CountsFrom.ACKNOWLEDGEMENT, "HOS Code 2024 6.3"),
    ),
    # LGSCO Complaint Handling Code: aligned with the HOS code at stage 1
    Procedure.LGSCO: (
        Timescale(DeadlineKind.ACKNOWLEDGEMENT, 5, CountsFrom.RECEIPT, "LGSCO Code stage 1"),
        Timescale(DeadlineKind.RESPONSE, 10, CountsFrom.ACKNOWLEDGEMENT, "LGSCO Code stage 1"),
    ),
    # SPSO model CHP: frontline decision within 5 working days of receipt; acknowledgement is
    # part of the frontline response, so it shares the same date
    Procedure.SPSO: (
        Timescale(DeadlineKind.ACKNOWLEDGEMENT, 5, CountsFrom.RECEIPT, "SPSO MCHP stage 1"),
        Timescale(DeadlineKind.RESPONSE, 5, CountsFrom.RECEIPT, "SPSO MCHP stage 1"),
    ),
    # SI 2009/309 reg 13: acknowledge within 3 working days; response period is agreed with
    # the complainant, default 6 months from receipt (about 126 working days), set properly in
    # the deadlines issue
    Procedure.ADULT_SOCIAL_CARE: (
        Timescale(DeadlineKind.ACKNOWLEDGEMENT, 3, CountsFrom.RECEIPT, "SI 2009/309 reg 13(2)"),
        Timescale(DeadlineKind.RESPONSE, 126, CountsFrom.RECEIPT, "SI 2009/309 reg 14"),
    ),
    # SI 2006/1738: acknowledge within 3 working days; stage 1 local resolution in 10
    Procedure.CHILDRENS_SOCIAL_CARE: (
        Timescale(DeadlineKind.ACKNOWLEDGEMENT, 3, CountsFrom.RECEIPT, "SI 2006/1738 stage 1"),
        Timescale(DeadlineKind.RESPONSE, 10, CountsFrom.RECEIPT, "SI 2006/1738 stage 1"),
    ),
}

"""Organisations as configured data, the one event that says how an organisation works."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field, model_validator

from contracts.events import Nation, Procedure
from contracts.procedures import TimescaleOverride, rules_for
from contracts.registry import EventPayload, register_event
from contracts.topics import ORGANISATION_TOPIC


@register_event
class OrganisationConfigured(EventPayload):
    """A council, housing association or one side of a shared service, as configured: the
    nation whose bank holidays count, the procedure each service area's complaints follow, and
    its own closure days. The latest event for an organisation is its configuration."""

    event_type: ClassVar[str] = "OrganisationConfigured"
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = ORGANISATION_TOPIC

    organisation_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")
    name: str = Field(min_length=1, max_length=200)
    nation: Nation
    default_procedure: Procedure
    procedures_by_service: dict[str, Procedure] = Field(default_factory=dict)
    closure_days: list[date] = Field(default_factory=list)
    reminder_working_days: int = Field(2, ge=0, le=20)
    stricter_timescales: list[TimescaleOverride] = Field(default_factory=list)
    shared_service: str | None = Field(
        None, max_length=200, description="The shared service team that handles it, if any"
    )
    #: how long personal data is kept after a person's last case closes (the retention job
    #: then erases them); six years is the usual schedule for complaint records
    retention_years: int = Field(6, ge=1, le=100)

    @model_validator(mode="after")
    def _only_stricter(self) -> OrganisationConfigured:
        for procedure in {o.procedure for o in self.stricter_timescales}:
            rules_for(procedure, self.stricter_timescales)  # raises on a looser timescale
        return self

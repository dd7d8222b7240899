"""The case as officers, services, managers and auditors read it: the aggregate's state turned
into plain JSON. Pure, so the same view comes from live state or from a replay to any date."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

from services.casework.domain.case import Case


def jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def case_view(state: Case) -> dict[str, Any]:
    view: dict[str, Any] = jsonable(state)
    view["active_flags"] = [jsonable(f) for f in state.flags if f.active]
    if state.stages:
        current = state.current
        view["current_stage"] = {
            "number": current.number,
            "acknowledged": current.acknowledged_on is not None,
            "response_issued": current.issued_on is not None,
            "outstanding_parts": current.outstanding_parts(),
            "paused": current.paused_since is not None,
        }
    return view

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

#: values that are already JSON as they are (exactly these types: a str enum is not one)
_PLAIN = frozenset({str, int, float, bool, type(None)})
#: the field names of each dataclass met, looked up once per class
_FIELDS: dict[type, tuple[str, ...]] = {}


def jsonable(value: Any) -> Any:
    """Most of a case is text, numbers and None: those are answered first, and a dataclass's
    fields are looked up once per class, since every command and every stored view turns the
    whole case into JSON."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    names = _FIELDS.get(kind)
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
        return {name: jsonable(getattr(value, name)) for name in names}
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

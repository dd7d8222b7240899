"""The case as JSON: every kind of value the aggregate holds comes out as plain JSON, the same
the first time a class is met and after its fields are remembered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from contracts import case_events as ev
from services.casework.view import case_view, jsonable
from tests.unit.casework.scenario import acknowledge, open_case, run, triage


class Colour(StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    colour: Colour
    amount: Decimal
    on: date


@dataclass(frozen=True)
class Outer:
    name: str
    flag: bool
    count: int
    ratio: float
    nothing: None
    inners: tuple[Inner, ...]
    by_key: dict[int, Inner] = field(default_factory=dict)
    point: ev.PointOfComplaint | None = None


def test_every_kind_of_value_becomes_plain_json_every_time() -> None:
    inner = Inner(Colour.RED, Decimal("50.00"), date(2026, 3, 2))
    value = Outer(
        "n",
        True,
        3,
        0.5,
        None,
        (inner,),
        {7: inner},
        ev.PointOfComplaint(point_id="1", text="t"),
    )
    expected = {
        "name": "n",
        "flag": True,
        "count": 3,
        "ratio": 0.5,
        "nothing": None,
        "inners": [{"colour": "red", "amount": "50.00", "on": "2026-03-02"}],
        "by_key": {"7": {"colour": "red", "amount": "50.00", "on": "2026-03-02"}},
        "point": {"point_id": "1", "text": "t"},
    }
    assert jsonable(value) == expected
    again = jsonable(value)  # the classes' fields now remembered
    assert again == expected
    assert type(again["inners"][0]["colour"]) is str  # the enum's value, not the enum
    assert jsonable(datetime(2026, 3, 2, 9, tzinfo=UTC)) == "2026-03-02T09:00:00+00:00"


def test_a_case_view_is_json_and_the_same_twice() -> None:
    state, _ = run(open_case(), triage(), acknowledge())
    view = case_view(state)
    assert json.loads(json.dumps(view)) == view
    assert case_view(state) == view
    assert view["version"] == state.version and view["current_stage"]["acknowledged"] is True

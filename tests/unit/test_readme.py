"""The README documents the staff API with an example per command; this keeps it honest."""

import json
from pathlib import Path

import pytest

from services.casework.command_routes import ROUTES

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.parametrize("route", ROUTES, ids=[r.path for r in ROUTES])
def test_every_command_is_documented_with_its_example(route) -> None:  # type: ignore[no-untyped-def]
    assert f"| `{route.path}` |" in README
    if route.example:
        documented = json.dumps(route.example, ensure_ascii=False).replace("|", "\\|")
        assert documented in README, f"README example for {route.path} is out of date"


def test_the_two_commands_open_the_readme() -> None:
    head = README[:1500]
    assert "make up" in head and "make test" in head


@pytest.mark.parametrize("route", ROUTES, ids=[r.path for r in ROUTES])
def test_every_documented_example_is_a_valid_request(route) -> None:  # type: ignore[no-untyped-def]
    from services.casework.command_routes import body_model

    body_model(route.command).model_validate(route.example)

"""Write the JSON Schemas of the envelope and every registered payload.

The files under ``contracts/schemas/`` are committed so that other teams (and a future consumer
in another language) can read the contract without running Python; a unit test fails when they
drift from the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.envelope import Envelope
from contracts.registry import registered_event_types

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document."""
    out: dict[str, dict[str, Any]] = {"Envelope.schema.json": Envelope.model_json_schema()}
    for spec in registered_event_types():
        if not spec.model.__module__.startswith("contracts."):
            continue  # only the project's own contracts, not types a test registered
        schema = spec.model.model_json_schema()
        schema["x-event-type"] = spec.event_type
        schema["x-schema-version"] = spec.schema_version
        schema["x-topic"] = spec.topic
        out[f"{spec.event_type}.v{spec.schema_version}.schema.json"] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written

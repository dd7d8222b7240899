"""Which event types exist, at which schema version, on which topic, and how older versions are
upcast. Upcasting happens on read; stored events are never rewritten."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.errors import ContractError, UnknownEventType

if TYPE_CHECKING:
    from contracts.envelope import Envelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventPayload(BaseModel):
    """Base of every payload. Subclasses set the three class variables and are registered with
    `register_event`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int]
    topic: ClassVar[str]


@dataclass(frozen=True)
class EventSpec:
    event_type: str
    schema_version: int
    topic: str
    model: type[EventPayload]
    upcasters: dict[int, Upcaster] = field(default_factory=dict)


_REGISTRY: dict[str, EventSpec] = {}
P = TypeVar("P", bound=EventPayload)


def register_event(model: type[P]) -> type[P]:
    """Class decorator: make a payload model known by its ``event_type``."""
    name = model.event_type
    if name in _REGISTRY and _REGISTRY[name].model is not model:
        raise ValueError(f"event type {name!r} registered twice")
    _REGISTRY[name] = EventSpec(name, model.schema_version, model.topic, model)
    return model


def register_upcaster(event_type: str, from_version: int, upcaster: Upcaster) -> None:
    """Teach the registry to lift a payload from ``from_version`` to ``from_version + 1``."""
    spec = event_spec(event_type)
    if from_version >= spec.schema_version or from_version < 1:
        raise ValueError(
            f"{event_type}: upcaster from v{from_version} is outside 1..v{spec.schema_version - 1}"
        )
    spec.upcasters[from_version] = upcaster


def unregister_event(event_type: str) -> None:
    """Only for tests that register throwaway types."""
    _REGISTRY.pop(event_type, None)


def event_spec(event_type: str) -> EventSpec:
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def registered_event_types() -> list[EventSpec]:
    return sorted(_REGISTRY.values(), key=lambda s: s.event_type)


def upcast(event_type: str, schema_version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """Lift a raw payload to the current schema version, one step at a time."""
    spec = event_spec(event_type)
    if schema_version > spec.schema_version:
        raise UnknownEventType(
            f"{event_type} v{schema_version} is newer than this build knows "
            f"(v{spec.schema_version}); upgrade the consumer"
        )
    data = payload
    for version in range(schema_version, spec.schema_version):
        step = spec.upcasters.get(version)
        if step is None:
            raise UnknownEventType(f"{event_type}: no upcaster from v{version}")
        try:
            data = step(dict(data))
        except Exception as exc:
            # an old payload missing what its upcaster expects is a bad message, not a crash
            raise ContractError(
                f"{event_type} v{version} payload cannot be upcast: {exc!r}"[:500]
            ) from exc
    return data


def decode_payload(envelope: Envelope) -> EventPayload:
    """The typed payload of an envelope, at the current schema version."""
    spec = event_spec(envelope.event_type)
    data = upcast(envelope.event_type, envelope.schema_version, envelope.payload)
    try:
        return spec.model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"{envelope.event_type} payload invalid: {_summary(exc)}") from exc


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)

"""Which fields of which events are personal data, and the pure steps of sealing them.

Issue 8 asks that an erased person become unreadable in every copy of every event while the log
keeps its shape and its statistics. So each event's personal fields (names, contact details,
addresses, free text that can describe someone) are declared here, once, by path; the runtime
(`redress.vault`) lifts them out of the payload, encrypts them together with the person's key
and leaves in the payload only the blanked positions and a ``$sealed`` record (person id, key
id, which fields, ciphertext). Everything not declared stays in clear: dates, organisation,
procedure, stage, outcomes, amounts, references, wards and postcode districts, so reports are
still right after an erasure.

When a key has been destroyed the fields come back as placeholders that still satisfy the
payload models: ``"[erased]"`` for text, ``None`` for contact details (an email address or a
postcode cannot be ``"[erased]"``), so replaying or rebuilding from the log never fails on an
erased person.

Paths are dotted field names; ``*`` stands for every item of a list (``points.*.text``).
A declared field that is absent or ``None`` in a payload is simply not sealed.
"""

from __future__ import annotations

import copy
from typing import Any, Final

#: the text an erased field reads as
ERASED: Final = "[erased]"
#: the payload key that holds the sealed record; payload models never have such a field
SEALED: Final = "$sealed"

_COMPLAINANT = tuple(
    f"complainant.{f}"
    for f in ("name", "email", "phone", "address", "postcode", "other_adjustments")
)
_ON_BEHALF_OF = ("on_behalf_of.name", "on_behalf_of.relationship")
_LOCATION = ("location.address", "location.postcode")
_MEMBER = ("member.name", "member.email")

#: event type -> the paths of its personal fields
PERSONAL_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "FeedbackSubmitted": (
        "summary",
        "outcome_sought",
        *_COMPLAINANT,
        *_LOCATION,
        *_MEMBER,
        *_ON_BEHALF_OF,
        "attachments.*.filename",
    ),
    "CorrespondenceReceived": (
        "sender.name",
        "sender.email",
        "subject",
        "text",
        "attachments.*.filename",
    ),
    "CaseOpened": ("summary", *_COMPLAINANT, *_LOCATION, *_MEMBER, *_ON_BEHALF_OF),
    "CaseTriaged": _LOCATION,
    "CaseNotAccepted": ("explanation",),
    "CaseRedirected": ("note",),
    "CaseReclassifiedAsServiceRequest": ("note",),
    "FeedbackPassedToService": ("note",),
    "ServiceResponseRequested": ("request",),
    "ServiceResponseReceived": ("response",),
    "ServiceResponseChased": ("note",),
    "CaseAcknowledged": ("points.*.text", "outcomes_sought.*"),
    "RepresentativeRecorded": ("name", "contact"),
    "ConsentReceived": ("note",),
    "ExtensionRequested": ("reason",),
    "ExtensionGranted": ("reason",),
    "ExtensionRefused": ("reason",),
    "ClockPaused": ("reason",),
    "ResponseDrafted": ("text", "point_outcomes.*.reasons"),
    "ResponseQualityChecked": ("notes",),
    "ResponseIssued": ("point_outcomes.*.reasons",),
    "RemedyRecorded": ("description",),
    "RemedyCompleted": ("note",),
    "CaseEscalated": ("reasons",),
    "OmbudsmanInformationProvided": ("summary",),
    "OmbudsmanDecisionRecorded": ("remedy_ordered",),
    "OmbudsmanComplianceCompleted": ("evidence",),
    "FlagRaised": ("detail", "contact_restriction", "contact_via"),
    "FlagLifted": ("reason",),
    "ContactLogged": ("with_whom", "summary", "minutes"),
    "EvidenceAttached": ("filename", "description"),
    "CaseWithdrawn": ("reason",),
    "CaseClosed": ("reason",),
    "CaseReopened": ("reason",),
    "NotificationSent": ("recipient",),
    "NotificationFailed": ("recipient", "error"),
}

#: fields whose erased value is ``None``: contact details have formats "[erased]" would break
_CONTACT_LEAVES: Final = frozenset(
    {"email", "phone", "address", "postcode", "contact", "contact_via"}
)


def personal_paths(event_type: str) -> tuple[str, ...]:
    return PERSONAL_FIELDS.get(event_type, ())


def placeholder(path: str) -> str | None:
    """What an erased field reads as: ``None`` for contact details, ``"[erased]"`` otherwise."""
    leaf = path.rsplit(".", 1)[-1]
    return None if leaf in _CONTACT_LEAVES else ERASED


def extract(payload: dict[str, Any], patterns: tuple[str, ...]) -> dict[str, Any]:
    """The personal values present in a payload, by concrete path (``points.0.text``)."""
    found: dict[str, Any] = {}
    for pattern in patterns:
        _walk(payload, pattern.split("."), [], found)
    return found


def _walk(node: Any, rest: list[str], here: list[str], found: dict[str, Any]) -> None:
    if not rest:
        if node is not None:
            found[".".join(here)] = node
        return
    head, tail = rest[0], rest[1:]
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                _walk(item, tail, [*here, str(i)], found)
        return
    if isinstance(node, dict) and head in node:
        _walk(node[head], tail, [*here, head], found)


def _copied(value: Any) -> Any:
    """A deep copy of a JSON value, made directly: `copy.deepcopy`'s memo and dispatch cost
    several times as much, and every sealed event read anywhere is copied once. Anything not
    JSON still goes through `copy.deepcopy`; strings, numbers and None are immutable."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return copy.deepcopy(value)


def replace(payload: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the payload with each concrete path set to its value."""
    out: dict[str, Any] = _copied(payload)
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return out


def blanked(payload: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The payload with its personal values taken out (``None`` where each was)."""
    return replace(payload, dict.fromkeys(paths))


def erased(paths: list[str]) -> dict[str, Any]:
    """The placeholder for each path, for a person whose key is gone."""
    return {path: placeholder(path) for path in paths}


def sealed_record(payload: dict[str, Any]) -> dict[str, Any] | None:
    record = payload.get(SEALED)
    return record if isinstance(record, dict) else None

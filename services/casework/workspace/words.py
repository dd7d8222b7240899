"""How the workspace says things: due dates in words, events as sentences, names for codes.

Pure functions of their arguments, so the wording is tested without a browser. Colour on a page
only ever repeats what these words already say (WCAG 1.4.1).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from redress.clock import LONDON

OPEN_DEADLINE_STATES = ("pending", "missed")
#: the deadlines that decide whether a case is late (services' parts and the Ombudsman's
#: requests are shown on the case, but a case is not "overdue" because a service is)
CASE_STEPS = ("acknowledgement", "response", "panel")


def label(code: str | None) -> str:
    """``housing_ombudsman`` reads "Housing ombudsman"; the code stays in the data."""
    if not code:
        return ""
    text = code.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def event_label(event_type: str) -> str:
    """``CaseAcknowledged`` reads "Case acknowledged"."""
    words = re.findall(r"[A-Z][a-z]*|[a-z]+|\d+", event_type)
    text = " ".join(w.lower() for w in words)
    return text[:1].upper() + text[1:]


def days_left(due_on: date | None, today: date) -> str:
    if due_on is None:
        return "no open due date"
    days = (due_on - today).days
    if days < 0:
        late = -days
        return f"overdue by {late} day{'s' if late != 1 else ''}"
    if days == 0:
        return "due today"
    if days == 1:
        return "due tomorrow"
    return f"{days} days left"


def urgency(due_on: date | None, today: date) -> str:
    """A class name for the badge; the words beside it say the same."""
    if due_on is None:
        return "none"
    days = (due_on - today).days
    if days < 0:
        return "overdue"
    if days <= 2:
        return "soon"
    return "ok"


def long_date(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        local = value.astimezone(LONDON)
        return f"{local.day} {local:%b %Y} at {local:%H:%M}"
    return f"{value.day} {value:%b %Y}"


def next_due(case: dict[str, Any]) -> dict[str, Any] | None:
    """The case's next open acknowledgement, response or panel date at its current stage."""
    candidates = [
        d
        for d in case.get("deadlines", [])
        if d["stage"] == case["stage"]
        and d["state"] in OPEN_DEADLINE_STATES
        and d["kind"] in CASE_STEPS
        and d["due_on"] is not None
    ]
    return min(candidates, key=lambda d: d["due_on"]) if candidates else None


_DETAIL_KEYS = (
    "officer",
    "service_area",
    "category",
    "priority",
    "part_id",
    "contributor",
    "due_on",
    "extension_id",
    "working_days",
    "remedy_id",
    "remedy_type",
    "amount",
    "action_id",
    "flag_id",
    "flag_type",
    "contact_kind",
    "with_whom",
    "filename",
    "overall",
    "finding",
    "ombudsman_reference",
    "from_stage",
    "to_stage",
    "target",
    "destination",
    "reason",
    "reasons",
    "explanation",
    "note",
    "summary",
    "request",
    "response",
    "description",
    "passed",
    "draft",
)


def event_details(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """The few facts of an event worth a line in the timeline, in a steady order."""
    details = []
    for key in _DETAIL_KEYS:
        value = payload.get(key)
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = str(value)
        if len(text) > 300:
            text = text[:297] + "..."
        details.append((label(key), label(text) if key in _CODED else text))
    return details


_CODED = {"priority", "remedy_type", "flag_type", "contact_kind", "overall", "finding", "target"}


def actor_name(actor: str) -> str:
    """``officer:olivia`` reads "olivia (officer)"; the system's own reads "casework"."""
    role, _, user = actor.partition(":")
    if not user:
        return actor
    return f"{user} ({label(role).lower()})"


#: notifications' template names, as an officer calls the letter or alert
LETTER_NAMES = {
    "receipt": "Receipt (case opened)",
    "acknowledgement": "Acknowledgement letter",
    "delay_notice": "Delay notice (extension)",
    "outcome": "Response letter (outcome)",
    "not_accepted": "Not accepted letter",
    "thanks": "Thank-you letter",
    "responder_reminder": "Reminder to the service (staff)",
    "deadline_warning": "Deadline warning (staff)",
    "breach_alert": "Missed deadline alert (staff)",
    "ombudsman_alert": "Ombudsman alert (staff)",
    "delivery_failed": "Failed delivery alert (managers)",
}

CHANNEL_NAMES = {"email": "Email", "letter": "Letter by post", "sms": "Text message (SMS)"}


def letter_name(template: str) -> str:
    """``acknowledgement`` reads "Acknowledgement letter"; a template added later reads as
    its name in words rather than not at all."""
    return LETTER_NAMES.get(template) or label(template)


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel) or label(channel)


def letter_status(letter: dict[str, Any]) -> str:
    """What happened to it, in words (the badge's colour only repeats this)."""
    if letter["status"] == "sent":
        return "Sent"
    attempts = letter.get("attempts")
    if attempts:
        return f"Failed: not delivered after {attempts} attempt{'s' if attempts != 1 else ''}"
    return "Failed: not delivered"

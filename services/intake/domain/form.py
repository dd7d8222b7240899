"""The public web form's rules: read what a resident typed, and either say what to fix, field
by field, in words they understand, or build the same request the JSON API takes.

The API's own validation still runs on the result; this is here so that a resident reads
"Enter your email address in the correct format, like name@example.com" and not a parser's
message, and so that each message points at the field it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError

from contracts.events import Adjustment, ContactMethod, FeedbackKind, uk_postcode

#: the form's three kinds; member enquiries come through agents, not the public form
KINDS: tuple[tuple[str, str, str], ...] = (
    ("complaint", "Complaint", "Something went wrong and you want us to put it right"),
    ("compliment", "Compliment", "Someone did something well and you want to tell us"),
    ("comment", "Comment", "A suggestion or a view about one of our services"),
)
CONTACT_METHODS: tuple[tuple[str, str], ...] = (
    ("email", "Email"),
    ("phone", "Phone"),
    ("letter", "Letter by post"),
)
ADJUSTMENTS: tuple[tuple[str, str], ...] = (
    ("large_print", "Letters in large print"),
    ("easy_read", "Letters in easy read"),
)

MAX_WHAT_HAPPENED = 10_000
MAX_OUTCOME = 5_000
MAX_SHORT = 1_000

_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()\-]+$")


@dataclass(frozen=True)
class FieldError:
    #: the id of the input the message is about (the error summary links to it)
    field: str
    message: str


@dataclass
class FormResult:
    errors: list[FieldError] = field(default_factory=list)
    #: the JSON API's request body, when there are no errors
    request: dict[str, Any] | None = None

    def error(self, field: str, message: str) -> None:
        if all(e.field != field for e in self.errors):
            self.errors.append(FieldError(field, message))


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).replace("\r\n", "\n").strip()


def _many(values: Mapping[str, Any], name: str) -> list[str]:
    value = values.get(name, [])
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _too_long(result: FormResult, name: str, label: str, text: str, limit: int) -> None:
    if len(text) > limit:
        result.error(name, f"{label} must be {limit:,} characters or fewer")


def read_form(values: Mapping[str, Any], organisations: Sequence[str], today: date) -> FormResult:
    """``values`` maps each field name to its text (or a list, for checkboxes). An empty
    ``organisations`` means none is configured yet: the submission goes to ``default``."""
    result = FormResult()

    kind = _text(values, "kind")
    if kind not in {k for k, _, _ in KINDS}:
        result.error("kind", "Select whether this is a complaint, a compliment or a comment")

    organisation = _text(values, "organisation_id")
    if organisations:
        if not organisation:
            result.error("organisation_id", "Select the organisation this is about")
        elif organisation not in organisations:
            result.error("organisation_id", "Select an organisation from the list")
    else:
        organisation = "default"

    service_area = _text(values, "service_area")
    _too_long(result, "service_area", "The service", service_area, 100)

    what = _text(values, "summary")
    if not what:
        result.error("summary", "Enter what happened")
    _too_long(result, "summary", "What happened", what, MAX_WHAT_HAPPENED)

    happened = _date(result, values, today)

    outcome = _text(values, "outcome_sought")
    _too_long(result, "outcome_sought", "What you would like us to do", outcome, MAX_OUTCOME)

    place = _text(values, "location_address")
    _too_long(result, "location_address", "The address where it happened", place, 500)
    place_postcode = _postcode(
        result, "location_postcode", _text(values, "location_postcode"), "the postcode"
    )

    name = _text(values, "name")
    if not name:
        result.error("name", "Enter your full name")
    _too_long(result, "name", "Your name", name, 200)

    preferred = _text(values, "preferred_contact")
    if preferred not in {m for m, _ in CONTACT_METHODS}:
        result.error("preferred_contact", "Select how you would like us to contact you")

    email = _text(values, "email")
    if email:
        try:
            email = _EMAIL.validate_python(email)
        except ValidationError:
            result.error(
                "email", "Enter your email address in the correct format, like name@example.com"
            )
    elif preferred == "email":
        result.error("email", "Enter your email address, or choose another way to contact you")

    phone = _text(values, "phone")
    digits = re.sub(r"\D", "", phone)
    if phone and (not _PHONE_CHARS.match(phone) or not 10 <= len(digits) <= 15):
        result.error(
            "phone",
            "Enter a telephone number, like 01632 960 001, 07700 900 982 or +44 808 157 0192",
        )
    elif not phone and preferred == "phone":
        result.error("phone", "Enter your telephone number, or choose another way to contact you")

    address = _text(values, "address")
    _too_long(result, "address", "Your address", address, 500)
    if not address and preferred == "letter":
        result.error("address", "Enter your address, or choose another way to contact you")
    postcode = _postcode(result, "postcode", _text(values, "postcode"), "your postcode")
    if postcode is None and preferred == "letter" and not _text(values, "postcode"):
        result.error("postcode", "Enter your postcode")

    behalf = _on_behalf(result, values)

    adjustments = _many(values, "adjustments")
    if any(a not in {v for v, _ in ADJUSTMENTS} for a in adjustments):
        result.error("adjustments", "Select the adjustments you need from the list")
    other_needs = _text(values, "adjustments_other")
    _too_long(result, "adjustments_other", "Other adjustments", other_needs, MAX_SHORT)

    if result.errors:
        return result

    complainant: dict[str, Any] = {
        "name": name,
        "email": email or None,
        "phone": phone or None,
        "address": address or None,
        "postcode": postcode,
        "preferred_contact": ContactMethod(preferred).value,
        "adjustments": [Adjustment(a).value for a in dict.fromkeys(adjustments)],
        "other_adjustments": other_needs or None,
    }
    result.request = {
        "kind": FeedbackKind(kind).value,
        "channel": "web",
        "organisation_id": organisation,
        "service_area": service_area or None,
        "summary": what,
        "outcome_sought": outcome or None,
        # casework compares it with the procedure's time limit
        "happened_on": happened.isoformat() if happened is not None else None,
        "complainant": complainant,
        "location": (
            {"address": place or None, "postcode": place_postcode}
            if place or place_postcode
            else None
        ),
        "on_behalf_of": behalf,
    }
    return result


def _postcode(result: FormResult, name: str, text: str, what: str) -> str | None:
    if not text:
        return None
    try:
        return uk_postcode(text)
    except ValueError:
        result.error(name, f"Enter {what} in the correct format, like SW1A 1AA")
        return None


def _date(result: FormResult, values: Mapping[str, Any], today: date) -> date | None:
    parts = {p: _text(values, f"happened-{p}") for p in ("day", "month", "year")}
    if not any(parts.values()):
        return None
    missing = [p for p, v in parts.items() if not v]
    if missing:
        result.error(f"happened-{missing[0]}", f"The date it happened must include a {missing[0]}")
        return None
    try:
        day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        result.error("happened-day", "The date it happened must be a real date, like 27 3 2026")
        return None
    if day.year < 1900:
        result.error("happened-year", "The year must include 4 numbers, like 2026")
        return None
    if day > today:
        result.error("happened-day", "The date it happened must be today or in the past")
        return None
    return day


def _on_behalf(result: FormResult, values: Mapping[str, Any]) -> dict[str, Any] | None:
    ticked = _text(values, "on_behalf") == "yes"
    their_name = _text(values, "behalf_name")
    relationship = _text(values, "behalf_relationship")
    consent = _text(values, "behalf_consent") == "yes"
    if not (ticked or their_name or relationship or consent):
        return None
    if not ticked:
        result.error(
            "on_behalf",
            "Tick the box if you are complaining for someone else, or clear their details",
        )
    if not their_name:
        result.error("behalf_name", "Enter the name of the person you are complaining for")
    _too_long(result, "behalf_name", "Their name", their_name, 200)
    _too_long(result, "behalf_relationship", "How you know them", relationship, 200)
    if not consent:
        result.error(
            "behalf_consent", "Confirm that the person has agreed to you complaining for them"
        )
    return {"name": their_name, "relationship": relationship or None, "consent_given": consent}

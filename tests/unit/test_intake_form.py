"""The public form's rules: every field's mistakes get a message a resident understands, tied to
the field; a good form becomes exactly the JSON API's request."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.events import OnBehalfOf
from services.intake.api import SubmissionRequest
from services.intake.domain.form import FieldError, read_form

TODAY = date(2026, 3, 27)
ORGS = ["north-council", "south-homes"]
GOOD: dict[str, Any] = {
    "kind": "complaint",
    "organisation_id": "north-council",
    "service_area": "housing repairs",
    "summary": "The boiler has been broken for a month.",
    "happened-day": "2",
    "happened-month": "3",
    "happened-year": "2026",
    "outcome_sought": "Fix it",
    "name": "Ada Resident",
    "preferred_contact": "email",
    "email": "ada@example.org",
    "phone": "",
    "address": "",
    "postcode": "",
    "location_address": "Flat 2, 10 Mill Lane",
    "location_postcode": "m1 1ae",
    "adjustments": ["large_print"],
    "adjustments_other": "",
}


def test_a_good_form_is_the_api_request() -> None:
    result = read_form(GOOD, ORGS, TODAY)
    assert result.errors == []
    assert result.request is not None
    body = SubmissionRequest.model_validate(result.request)
    assert body.channel.value == "web" and body.organisation_id == "north-council"
    assert body.summary == "The boiler has been broken for a month."
    assert body.happened_on == date(2026, 3, 2)
    assert body.on_behalf_of is None and body.complainant.other_adjustments is None
    assert body.complainant.adjustments[0].value == "large_print"
    assert body.location is not None and body.location.postcode == "M1 1AE"
    assert body.complainant.email == "ada@example.org"


def test_someone_else_s_complaint_carries_their_name_and_agreement() -> None:
    result = read_form(
        {
            **GOOD,
            "on_behalf": "yes",
            "behalf_name": "Bob Neighbour",
            "behalf_relationship": "his carer",
            "behalf_consent": "yes",
            "adjustments_other": "Call after 2pm",
        },
        ORGS,
        TODAY,
    )
    assert result.request is not None
    body = SubmissionRequest.model_validate(result.request)
    # fields of their own, not lines folded into what happened
    assert body.summary == "The boiler has been broken for a month."
    assert body.on_behalf_of == OnBehalfOf(
        name="Bob Neighbour", relationship="his carer", consent_given=True
    )
    assert body.complainant.other_adjustments == "Call after 2pm"


def test_someone_else_s_complaint_needs_their_agreement() -> None:
    result = read_form({**GOOD, "on_behalf": "yes", "behalf_name": "Bob Neighbour"}, ORGS, TODAY)
    assert result.request is None
    assert [e.field for e in result.errors] == ["behalf_consent"]
    # and the API says the same to a client that skips the form
    request = {
        **read_form(GOOD, ORGS, TODAY).request,  # type: ignore[dict-item]
        "on_behalf_of": {"name": "Bob Neighbour", "consent_given": False},
    }
    with pytest.raises(ValidationError, match="needs their consent"):
        SubmissionRequest.model_validate(request)


def test_no_configured_organisation_means_the_default() -> None:
    result = read_form({**GOOD, "organisation_id": ""}, [], TODAY)
    assert result.request is not None and result.request["organisation_id"] == "default"


def test_markup_is_kept_as_text() -> None:
    script = "<script>alert('x')</script> & <b>bold</b>"
    result = read_form({**GOOD, "summary": script}, ORGS, TODAY)
    assert result.request is not None and result.request["summary"].startswith(script)


def errors(**changes: Any) -> list[FieldError]:
    return read_form({**GOOD, **changes}, ORGS, TODAY).errors


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"kind": ""}, "kind", "Select whether this is a complaint"),
        ({"kind": "member_enquiry"}, "kind", "Select whether"),
        ({"organisation_id": ""}, "organisation_id", "Select the organisation"),
        ({"organisation_id": "evil-corp"}, "organisation_id", "from the list"),
        ({"summary": "   "}, "summary", "Enter what happened"),
        ({"summary": "x" * 10_001}, "summary", "10,000 characters or fewer"),
        ({"name": ""}, "name", "Enter your full name"),
        ({"preferred_contact": ""}, "preferred_contact", "Select how you would like"),
        ({"email": "ada@"}, "email", "like name@example.com"),
        ({"email": ""}, "email", "Enter your email address"),
        ({"preferred_contact": "phone"}, "phone", "Enter your telephone number"),
        ({"phone": "call me maybe"}, "phone", "like 01632 960 001"),
        ({"phone": "123"}, "phone", "like 01632 960 001"),
        ({"preferred_contact": "letter"}, "address", "Enter your address"),
        ({"preferred_contact": "letter", "address": "1 St"}, "postcode", "Enter your postcode"),
        ({"postcode": "ABC 123"}, "postcode", "like SW1A 1AA"),
        ({"location_postcode": "12345"}, "location_postcode", "like SW1A 1AA"),
        ({"happened-day": "31", "happened-month": "2"}, "happened-day", "a real date"),
        ({"happened-month": ""}, "happened-month", "must include a month"),
        ({"happened-year": "2027"}, "happened-day", "today or in the past"),
        ({"happened-year": "26"}, "happened-year", "4 numbers"),
        ({"happened-day": "x"}, "happened-day", "a real date"),
        ({"behalf_name": "Bob"}, "on_behalf", "Tick the box"),
        ({"on_behalf": "yes"}, "behalf_name", "Enter the name of the person"),
        ({"on_behalf": "yes", "behalf_name": "Bob"}, "behalf_consent", "has agreed"),
        ({"adjustments": ["braille"]}, "adjustments", "from the list"),
        ({"outcome_sought": "y" * 5_001}, "outcome_sought", "5,000 characters"),
    ],
)
def test_each_mistake_is_named_at_its_field(
    changes: dict[str, Any], field: str, words: str
) -> None:
    found = {e.field: e.message for e in errors(**changes)}
    assert field in found, found
    assert words in found[field]


def test_the_errors_come_in_the_order_of_the_form_and_once_per_field() -> None:
    found = errors(kind="", summary="", name="", email="nope", on_behalf="yes")
    assert [e.field for e in found] == [
        "kind",
        "summary",
        "name",
        "email",
        "behalf_name",
        "behalf_consent",
    ]


def test_email_with_letter_preferred_is_optional_but_still_checked() -> None:
    by_post = {"preferred_contact": "letter", "address": "1 High St", "postcode": "SW1A1AA"}
    assert errors(**by_post, email="") == []
    assert errors(**by_post) == []
    assert [e.field for e in errors(**by_post, email="ada at home")] == ["email"]

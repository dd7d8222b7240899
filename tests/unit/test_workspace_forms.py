"""The workspace's wording and its forms: every command gets a form, posted text becomes the
API's own request body, and each error lands on the input it is about."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from starlette.datastructures import FormData

from contracts import Role
from services.casework.command_routes import ROUTES
from services.casework.workspace import forms, words

TODAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("due", "said", "urgency"),
    [
        (date(2026, 2, 27), "overdue by 3 days", "overdue"),
        (date(2026, 3, 1), "overdue by 1 day", "overdue"),
        (date(2026, 3, 2), "due today", "soon"),
        (date(2026, 3, 3), "due tomorrow", "soon"),
        (date(2026, 3, 4), "2 days left", "soon"),
        (date(2026, 3, 12), "10 days left", "ok"),
        (None, "no open due date", "none"),
    ],
)
def test_days_left_in_words(due: date | None, said: str, urgency: str) -> None:
    assert words.days_left(due, TODAY) == said
    assert words.urgency(due, TODAY) == urgency


def test_names_for_codes_and_people() -> None:
    assert words.event_label("ServiceResponseRequested") == "Service response requested"
    assert words.label("housing_ombudsman") == "Housing ombudsman"
    assert words.actor_name("service_responder:ravi") == "ravi (service responder)"
    assert words.actor_name("casework") == "casework"
    details = dict(words.event_details({"officer": "olga", "priority": "high", "case_id": "x"}))
    assert details == {"Officer": "olga", "Priority": "High"}


def test_letters_and_their_delivery_in_words() -> None:
    from services.notifications.letters import RESIDENT_TEMPLATES, STAFF_TEMPLATES

    # every template notifications has is named on purpose, not only by its code
    assert set(words.LETTER_NAMES) == {*RESIDENT_TEMPLATES, *STAFF_TEMPLATES}
    assert words.letter_name("acknowledgement") == "Acknowledgement letter"
    assert words.letter_name("some_new_letter") == "Some new letter"
    assert words.channel_name("letter") == "Letter by post"
    assert words.channel_name("sms") == "Text message (SMS)"
    assert words.letter_status({"status": "sent", "attempts": None}) == "Sent"
    failed = {"status": "failed", "attempts": 5, "error": "SMTP refused"}
    assert words.letter_status(failed) == "Failed: not delivered after 5 attempts"
    assert words.letter_status({**failed, "attempts": 1}).endswith("after 1 attempt")
    assert words.letter_status({**failed, "attempts": None}) == "Failed: not delivered"


def test_the_next_due_date_is_the_earliest_open_step_of_the_current_stage() -> None:
    case = {
        "stage": 2,
        "deadlines": [
            {"stage": 1, "kind": "response", "state": "pending", "due_on": date(2026, 1, 1)},
            {"stage": 2, "kind": "response", "state": "pending", "due_on": date(2026, 4, 1)},
            {"stage": 2, "kind": "acknowledgement", "state": "met", "due_on": date(2026, 3, 1)},
            {"stage": 2, "kind": "service_part", "state": "pending", "due_on": date(2026, 3, 2)},
            {"stage": 2, "kind": "response", "state": "missed", "due_on": date(2026, 3, 20)},
        ],
    }
    assert words.next_due(case) == case["deadlines"][4]
    assert words.next_due({"stage": 1, "deadlines": []}) is None


def _case(**state: Any) -> dict[str, Any]:
    base = {
        "lifecycle": "open",
        "stage": 1,
        "kind": "complaint",
        "stages": [{"number": 1, "points": [], "parts": [], "pending_extensions": []}],
        "remedies": [],
        "flags": [],
        "learning_actions": [],
        "contacts": [],
    }
    return {"service_area": "repairs", "postcode": "M1 1AE", "state": {**base, **state}}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
def test_every_command_has_a_form_that_an_empty_post_does_not_crash(route: Any) -> None:
    form = forms.build(route, _case(), "olga")
    parsed = forms.parse(form, FormData([]))
    body, errors = forms.validate(form, parsed)
    names = {i.name for f in form.fields for i in f.inputs}
    assert all(name in names for name, _ in errors), errors
    assert (body is None) == bool(errors)


def test_acknowledging_turns_rows_and_lines_into_the_api_body() -> None:
    form = forms.build(forms.BY_PATH["acknowledge"], _case(), "olga")
    posted = FormData(
        [
            ("points.0", " Missed appointments "),
            ("points.1", ""),
            ("points.2", "Calls not returned"),
            ("outcomes_sought", "Repair\n\n An apology \n"),
        ]
    )
    body, errors = forms.validate(form, forms.parse(form, posted))
    assert errors == [] and body is not None
    assert [(p.point_id, p.text) for p in body.points] == [
        ("1", "Missed appointments"),
        ("2", "Calls not returned"),
    ]
    assert body.outcomes_sought == ("Repair", "An apology")


def test_outcomes_are_asked_per_point_and_errors_land_on_the_point() -> None:
    points = [{"point_id": "1", "text": "Late"}, {"point_id": "2", "text": "Rude"}]
    case = _case(stages=[{"number": 1, "points": points, "parts": []}])
    form = forms.build(forms.BY_PATH["draft-response"], case, "olga")
    posted = FormData(
        [
            ("text", "Dear resident"),
            ("point_outcomes.1.outcome", "upheld"),
            ("point_outcomes.1.reasons", "We were late"),
            ("point_outcomes.2.outcome", ""),
            ("point_outcomes.2.reasons", "Not rude"),
        ]
    )
    body, errors = forms.validate(form, forms.parse(form, posted))
    assert body is None
    assert [name for name, _ in errors] == ["point_outcomes.2.outcome"]
    assert errors[0][1].startswith("Choose outcome for point 2")


def test_ids_are_chosen_from_the_case_or_made_fresh() -> None:
    case = _case(
        stages=[
            {
                "number": 1,
                "points": [],
                "parts": [],
                "pending_extensions": [
                    {"extension_id": "E1", "working_days": 5, "reason": "x"},
                ],
                "extension_ids": ["E2"],
            }
        ]
    )
    approve = forms.build(forms.BY_PATH["extension-approvals"], case, "maya")
    assert approve.defaults["extension_id"] == "E1"
    extend = forms.build(forms.BY_PATH["extensions"], case, "olga")
    assert extend.defaults["extension_id"] == "E3"
    assert not forms.may(Role.OFFICER, forms.BY_PATH["extension-approvals"])
    assert forms.may(Role.MANAGER, forms.BY_PATH["extension-approvals"])


def test_a_bad_date_and_a_bad_postcode_name_their_inputs() -> None:
    form = forms.build(forms.BY_PATH["triage"], _case(), "olga")
    posted = FormData(
        [
            ("kind", "complaint"),
            ("procedure", "lgsco"),
            ("service_area", "repairs"),
            ("category", "repairs"),
            ("location.postcode", "nowhere"),
        ]
    )
    _, errors = forms.validate(form, forms.parse(form, posted))
    assert [n for n, _ in errors] == ["location.postcode"]
    requests = forms.build(forms.BY_PATH["service-requests"], _case(), "olga")
    posted = FormData(
        [
            ("part_id", "A1"),
            ("service_area", "repairs"),
            ("due_on", "31/02/2026"),
            ("request", "Why?"),
        ]
    )
    _, errors = forms.validate(requests, forms.parse(requests, posted))
    assert errors == [("due_on", "Due on must be a real date, like 2026-03-09")]


def test_a_contact_time_is_uk_time() -> None:
    form = forms.build(forms.BY_PATH["contacts"], _case(), "olga")
    posted = FormData(
        [
            ("contact_id", "C1"),
            ("contact_kind", "call"),
            ("occurred_at", "2026-07-01T09:30"),
            ("with_whom", "resident"),
            ("summary", "Agreed the points"),
        ]
    )
    body, errors = forms.validate(form, forms.parse(form, posted))
    assert errors == [] and body is not None
    assert body.occurred_at.isoformat() == "2026-07-01T09:30:00+01:00"

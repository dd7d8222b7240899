"""Every template, for every procedure, standard and easy read: it renders with nothing
missing, and says what the procedure requires about the next step."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import UndefinedError

from contracts import Procedure
from services.notifications import letters
from services.notifications.compose import resident_route

BASE: dict[str, Any] = {
    "organisation": "Glen Housing Association",
    "reference": "CMP-2026-000123",
    "today": "Wednesday 25 November 2026",
    "signature": "Customer Relations Team",
    "name": "Ada Resident",
    "kind": "complaint",
}


def context(template: str, procedure: Procedure, stage: int, final: bool) -> dict[str, Any]:
    sign = letters.signposting(procedure, stage, final)
    return {
        **BASE,
        "receipt": {
            "received_on": "Monday 2 March 2026",
            "acknowledge_by": "Monday 9 March 2026",
            "response_due_on": "Monday 23 March 2026",
        },
        "acknowledgement": {
            "stage": stage,
            "received_on": "Monday 2 March 2026",
            "points": [{"point_id": "1", "text": "Missed repairs"}],
            "outcomes_sought": ["A working boiler"],
            "response_due_on": "Monday 16 March 2026",
        },
        "delay_notice": {
            "reason": "we are waiting for a surveyor",
            "new_due_on": "Friday 20 March 2026",
            "signposting": sign,
        },
        "outcome": {
            "stage": stage,
            "overall": "partly upheld",
            "outcomes": [
                {
                    "point": "Missed repairs",
                    "outcome": "upheld",
                    "reasons": "Two visits were missed",
                }
            ],
            "remedies": ["We will pay you £50.00: time and trouble"],
            "learning": ["Text residents before visits"],
            "signposting": sign,
        },
        "not_accepted": {
            "reason": "outside time limit",
            "explanation": "Over 12 months ago",
            "signposting_given": "Citizens Advice can help",
            "signposting": sign,
        },
        "thanks": {},
        "responder_reminder": {
            "part_id": "A",
            "due_on": "Friday 6 March 2026",
            "days_left": 2,
            "request": "Why were visits missed?",
        },
        "deadline_warning": {
            "step": "response",
            "stage": stage,
            "due_on": "Friday 6 March 2026",
            "days_left": 2,
        },
        "breach_alert": {
            "step": "response",
            "stage": stage,
            "due_on": "Friday 6 March 2026",
            "procedure": procedure.value,
            "officer": "olivia",
        },
        "ombudsman_alert": {"due_on": "Friday 6 March 2026", "days_left": 3, "missed": False},
        "delivery_failed": {
            "failed_template": "outcome",
            "failed_recipient": "a@b.org",
            "failed_channel": "email",
            "attempts": 5,
            "error": "refused",
        },
    }[template]


TEMPLATES = [*letters.RESIDENT_TEMPLATES, *letters.STAFF_TEMPLATES]


@pytest.mark.parametrize("procedure", list(Procedure))
@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("easy_read", [False, True])
def test_every_template_renders_for_every_procedure(
    template: str, procedure: Procedure, easy_read: bool
) -> None:
    for stage in (1, 2):
        final = stage == 2
        rendered = letters.render(
            template, {**BASE, **context(template, procedure, stage, final)}, easy_read=easy_read
        )
        assert "CMP-2026-000123" in rendered.subject
        assert "CMP-2026-000123" in rendered.text
        assert "{{" not in rendered.html and "None" not in rendered.text
        assert letters.to_pdf(rendered).startswith(b"%PDF")


@pytest.mark.parametrize("procedure", list(Procedure))
def test_outcome_letters_signpost_the_next_step(procedure: Procedure) -> None:
    ombudsman = letters.OMBUDSMAN[procedure].split(",")[0]
    final = letters.render("outcome", {**BASE, **context("outcome", procedure, 2, True)})
    assert "final response" in final.text and ombudsman in final.text
    first = letters.render("outcome", {**BASE, **context("outcome", procedure, 1, False)})
    if procedure is Procedure.CHILDRENS_SOCIAL_CARE:
        assert "stage 2" in first.text and "20 working days" in first.text
    else:
        assert "stage 2" in first.text
    delay = letters.render("delay_notice", {**BASE, **context("delay_notice", procedure, 1, False)})
    assert ombudsman in delay.text  # HOS Code 6.5: the Ombudsman's details with a delay notice
    assert "Friday 20 March 2026" in delay.text
    if procedure is Procedure.SPSO:
        assert "12 months" in final.text


def test_a_missing_value_is_an_error_not_a_blank() -> None:
    with pytest.raises(UndefinedError):
        letters.render("acknowledgement", dict(BASE))


def test_letters_escape_what_residents_typed() -> None:
    rendered = letters.render("thanks", {**BASE, "name": "<script>alert(1)</script>"})
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


def test_large_print_and_easy_read() -> None:
    ctx = {**BASE, **context("acknowledgement", Procedure.LGSCO, 1, False)}
    large = letters.render("acknowledgement", ctx, large_print=True)
    normal = letters.render("acknowledgement", ctx)
    assert "18pt" in large.html and "12pt" in normal.html
    assert len(letters.to_pdf(large)) != len(letters.to_pdf(normal))
    easy = letters.render("acknowledgement", ctx, easy_read=True)
    assert "We got your complaint" in easy.text


CONTACT = {
    "recipient_name": "Ada",
    "email": "ada@example.org",
    "address": "1 High St",
    "phone": "07700 900123",
    "preferred_contact": "email",
}


@pytest.mark.parametrize(
    ("changes", "channel", "recipient", "note"),
    [
        ({}, "email", "ada@example.org", None),
        ({"preferred_contact": "letter"}, "letter", "1 High St", None),
        ({"preferred_contact": "phone"}, "sms", "07700 900123", None),
        ({"email": None}, "letter", "1 High St", "email not possible"),
        ({"allowed_channels": ["letter"]}, "letter", "1 High St", "only way allowed"),
        ({"allowed_channels": []}, "none", "Ada", "suppressed"),
        ({"allowed_channels": ["phone"], "phone": None}, "none", "Ada", "suppressed"),
        (
            {"contact_via": "solicitor@law.example"},
            "email",
            "solicitor@law.example",
            "named contact",
        ),
        ({"email": None, "address": None, "phone": None}, "none", "Ada", "no way to reach"),
    ],
    ids=[
        "preferred email",
        "preferred post",
        "preferred phone",
        "fallback",
        "restricted to post",
        "no contact allowed",
        "restricted to an unknown number",
        "named contact only",
        "unreachable",
    ],
)
def test_routes_respect_preferences_and_restrictions(
    changes: dict[str, Any], channel: str, recipient: str, note: str | None
) -> None:
    route = resident_route({**CONTACT, **changes})
    assert (route.channel, route.recipient) == (channel, recipient)
    if note is None:
        assert route.note is None
    else:
        assert route.note is not None and note in route.note

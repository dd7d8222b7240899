"""Which request bodies carry text PostgreSQL cannot store (a NUL, an unpaired surrogate)."""

from __future__ import annotations

import json

import pytest

from redress.service import has_unstorable_text

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "content_type", "refused"),
    [
        (json.dumps({"summary": "boiler\u0000broken"}).encode(), JSON, True),
        (json.dumps({"points": [{"text": "x\ud800"}]}).encode(), JSON, True),
        (json.dumps({"we\u0000ird key": "fine"}).encode(), JSON, True),
        (b'{"summary": "raw \x00 byte"}', JSON, True),
        (
            json.dumps({"summary": "\U0001f600 paired surrogates are one character"}).encode(),
            JSON,
            False,
        ),
        (json.dumps({"summary": "a literal backslash-u: \\u0000"}).encode(), JSON, False),
        (b'{"summary": "ordinary"}', JSON, False),
        (b"not json at all \\u0000", JSON, False),  # the endpoint's own 422 says why
        (b"summary=a%00b&kind=complaint", FORM, True),
        (b"summary=caf%C3%A9", FORM, False),
    ],
)
def test_unstorable_text_is_found_wherever_it_is(
    body: bytes, content_type: str, refused: bool
) -> None:
    assert has_unstorable_text(body, content_type) is refused

"""Email addresses never reach a log line, even inside an error's text or a traceback."""

from __future__ import annotations

import io
import logging

from redress.logging import _ScrubbingFilter, scrub, scrub_personal_data


def test_email_addresses_are_masked_wherever_they_are() -> None:
    error = "SMTPRecipientsRefused({'ada.obrien+x@mail.example.org': (550, 'no such user')})"
    assert scrub(error) == "SMTPRecipientsRefused({'<email>': (550, 'no such user')})"
    assert scrub("case 6f1c opened; no address") == "case 6f1c opened; no address"
    event = {"event": "delivery failed", "error": "to ada@example.org", "attempt": 2}
    assert scrub_personal_data(None, "warning", event) == {
        "event": "delivery failed",
        "error": "to <email>",
        "attempt": 2,
    }


def test_standard_library_lines_and_tracebacks_are_masked() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(_ScrubbingFilter())
    logger = logging.getLogger("scrub-test")
    logger.addHandler(handler)
    try:
        logger.warning("could not send to %s", "pat@example.org")
        try:
            raise ValueError("bad recipient jo@example.org")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "@example.org" not in text
    assert "could not send to <email>" in text and "ValueError: bad recipient <email>" in text

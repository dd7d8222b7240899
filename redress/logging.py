"""structlog JSON logging. Handlers bind ``event_id``, ``case_id`` and ``correlation_id`` with
`structlog.contextvars.bound_contextvars` so every line about an event carries them."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

#: An email address, wherever it turns up: handlers never log one on purpose, but an error's
#: text can carry one (a mail server refusing a recipient, say) and logs are kept and shared
#: far more widely than the case record. Names cannot be recognised this way; they are kept out
#: by never logging personal fields (tests/e2e/test_no_personal_data_in_logs.py checks).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def scrub(text: str) -> str:
    return _EMAIL.sub("<email>", text)


def scrub_personal_data(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask email addresses in every string the line carries."""
    for key, value in event.items():
        if isinstance(value, str) and "@" in value:
            event[key] = scrub(value)
    return event


class _ScrubbingFilter(logging.Filter):
    """The same for the standard library's loggers (uvicorn's, aiokafka's), tracebacks too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and "@" in record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(
        stream=sys.stdout, level=max(numeric, logging.WARNING), format="%(message)s"
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            scrub_personal_data,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _ScrubbingFilter) for f in handler.filters):
                handler.addFilter(_ScrubbingFilter())
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]

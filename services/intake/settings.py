"""Intake's own settings: the shared mailbox and the duplicate rule."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    #: the shared mailbox's SMTP listener (where it listens: REDRESS_MAILBOX_HOST and
    #: REDRESS_MAILBOX_PORT, with the runtime's settings)
    mailbox_enabled: bool = Field(True, validation_alias="REDRESS_MAILBOX_ENABLED")
    #: the complaints addresses the listener accepts mail for (comma-separated)
    mailbox_addresses: str = Field(
        "complaints@redress.localhost", validation_alias="REDRESS_MAILBOX_ADDRESSES"
    )
    #: the organisation whose complaints the mailbox takes; once any organisation is
    #: configured it must be one of them, or mail is deferred (451) until it is
    mailbox_organisation: str = Field("default", validation_alias="REDRESS_MAILBOX_ORGANISATION")
    mailbox_max_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, validation_alias="REDRESS_MAILBOX_MAX_BYTES"
    )
    mailbox_max_recipients: int = Field(10, ge=1, validation_alias="REDRESS_MAILBOX_MAX_RECIPIENTS")
    #: files per email or letter; more and the whole message is refused
    max_attachments: int = Field(10, ge=1, validation_alias="REDRESS_MAX_ATTACHMENTS")
    #: bytes per file; a larger email attachment is dropped (and noted), a larger scan refused
    attachment_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1, validation_alias="REDRESS_ATTACHMENT_MAX_BYTES"
    )
    #: the same person, organisation and complaint within this many hours is one complaint
    duplicate_window_hours: float = Field(
        24.0, ge=0, validation_alias="REDRESS_DUPLICATE_WINDOW_HOURS"
    )
    #: how alike two texts must be (share of distinct words in common) to count as the same
    duplicate_similarity: float = Field(
        0.85, gt=0, le=1, validation_alias="REDRESS_DUPLICATE_SIMILARITY"
    )

    @property
    def complaints_addresses(self) -> frozenset[str]:
        return frozenset(a.strip().lower() for a in self.mailbox_addresses.split(",") if a.strip())


@lru_cache(maxsize=1)
def current() -> IntakeSettings:
    """Read once per process."""
    return IntakeSettings()

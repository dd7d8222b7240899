"""Notifications' own settings."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotificationSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    smtp_host: str = Field("127.0.0.1", validation_alias="REDRESS_SMTP_HOST")
    smtp_port: int = Field(2525, validation_alias="REDRESS_SMTP_PORT")
    mail_from: str = Field("complaints@redress.localhost", validation_alias="REDRESS_MAIL_FROM")
    smtp_timeout: float = Field(10.0, gt=0, validation_alias="REDRESS_SMTP_TIMEOUT")
    #: staff are written to at <user>@<domain>; managers at one shared address
    staff_email_domain: str = Field(
        "staff.redress.localhost", validation_alias="REDRESS_STAFF_EMAIL_DOMAIN"
    )
    managers_email: str = Field(
        "complaints-managers@staff.redress.localhost", validation_alias="REDRESS_MANAGERS_EMAIL"
    )
    max_attempts: int = Field(5, ge=1, validation_alias="REDRESS_DELIVERY_ATTEMPTS")
    retry_base_seconds: float = Field(5.0, gt=0, validation_alias="REDRESS_DELIVERY_RETRY_SECONDS")
    poll_seconds: float = Field(0.5, gt=0, validation_alias="REDRESS_DELIVERY_POLL_SECONDS")
    #: letters claimed, sent and marked per transaction; also the most a crash between a mail
    #: server accepting letters and the batch's commit can make go twice
    batch_size: int = Field(20, ge=1, validation_alias="REDRESS_DELIVERY_BATCH")
    #: the least time from one delivery round's start to the next when woken: under load, a
    #: wake-up per queueing commit would otherwise make a round (and a transaction) per letter
    round_gap_seconds: float = Field(
        0.05, ge=0, validation_alias="REDRESS_DELIVERY_ROUND_GAP_SECONDS"
    )
    data_dir: Path = Field(Path(".redress"), validation_alias="REDRESS_DATA_DIR")

    @property
    def sms_file(self) -> Path:
        return self.data_dir / "sms" / "messages.jsonl"

    @property
    def print_queue(self) -> Path:
        return self.data_dir / "print"


@lru_cache(maxsize=1)
def current() -> NotificationSettings:
    """Read once per process: handlers ask for it on every event."""
    return NotificationSettings()

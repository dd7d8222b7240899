"""Deadlines' own settings."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import Nation


class DeadlinesSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    #: until organisations are configured data, every case counts on this nation's bank holidays
    default_nation: Nation = Field(Nation.ENGLAND, validation_alias="REDRESS_DEFAULT_NATION")
    #: how often the timer scheduler looks for due reminders and breaches
    timer_poll_seconds: float = Field(1.0, gt=0, validation_alias="REDRESS_TIMER_POLL_SECONDS")


@lru_cache(maxsize=1)
def current() -> DeadlinesSettings:
    """Read once per process: handlers ask for it on every event."""
    return DeadlinesSettings()

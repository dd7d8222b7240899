"""Casework's own settings."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import Procedure


class CaseworkSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    #: until organisations are configured data (the casework issue), every case is handled
    #: under this procedure
    default_procedure: Procedure = Field(
        Procedure.HOUSING_OMBUDSMAN, validation_alias="REDRESS_DEFAULT_PROCEDURE"
    )
    #: the workspace's sign-in also offers "pick a user and role" (development only: anyone
    #: who can reach the page can then act as anyone)
    workspace_dev_login: bool = Field(False, validation_alias="REDRESS_WORKSPACE_DEV_LOGIN")
    #: where browsers reach notifications, for the letter previews and delivery log the
    #: workspace links to (default: the same host as the workspace, notifications' port)
    notifications_url: str | None = Field(None, validation_alias="REDRESS_NOTIFICATIONS_URL")
    #: retention for organisations not configured (each organisation may set its own)
    retention_years: int = Field(6, ge=1, le=100, validation_alias="REDRESS_RETENTION_YEARS")
    retention_poll_seconds: float = Field(
        3600, gt=0, validation_alias="REDRESS_RETENTION_POLL_SECONDS"
    )


@lru_cache(maxsize=1)
def current() -> CaseworkSettings:
    """Read once per process: handlers ask for it on every event."""
    return CaseworkSettings()

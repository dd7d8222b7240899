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


@lru_cache(maxsize=1)
def current() -> CaseworkSettings:
    """Read once per process: handlers ask for it on every event."""
    return CaseworkSettings()

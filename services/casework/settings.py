"""Casework's own settings."""

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

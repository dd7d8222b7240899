"""Deadlines' own settings."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.deadlines.domain.calendar import Nation


class DeadlinesSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    #: until organisations are configured data, every case counts on this nation's bank holidays
    default_nation: Nation = Field(Nation.ENGLAND, validation_alias="REDRESS_DEFAULT_NATION")

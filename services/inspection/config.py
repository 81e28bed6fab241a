"""Inspection service settings (env prefix INSPECTION_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from kernel.settings import AppEnv, ServiceSettings


class InspectionSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INSPECTION_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    service_name: str = "inspection"
    # Where to backfill missed events from (INSPECTION_SOURCE_URLS='{"insurance": "..."}').
    source_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "insurance": "http://127.0.0.1:8004",
            "credit": "http://127.0.0.1:8002",
            "permits": "http://127.0.0.1:8001",
        }
    )
    # Moves the business date for rehearsals and end-to-end tests of month-long workflows (a
    # draw committed before its public value is out, revealed after). Refused in production.
    clock_offset_days: int = Field(default=0, ge=-3650, le=3650)

    @model_validator(mode="after")
    def _no_time_travel_in_production(self) -> InspectionSettings:
        if self.app_env is AppEnv.production and self.clock_offset_days:
            raise ValueError("INSPECTION_CLOCK_OFFSET_DAYS must be 0 in production")
        return self


@lru_cache
def get_settings() -> InspectionSettings:
    return InspectionSettings()

"""Inspection service settings (env prefix INSPECTION_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


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


@lru_cache
def get_settings() -> InspectionSettings:
    return InspectionSettings()

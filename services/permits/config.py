"""Permits service settings (env prefix PERMITS_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class PermitsSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="PERMITS_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    service_name: str = "permits"


@lru_cache
def get_settings() -> PermitsSettings:
    return PermitsSettings()

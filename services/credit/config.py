"""Credit service settings (env prefix CREDIT_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class CreditSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDIT_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    service_name: str = "credit"


@lru_cache
def get_settings() -> CreditSettings:
    return CreditSettings()

"""Insurance service settings (env prefix INSURANCE_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class InsuranceSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INSURANCE_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    service_name: str = "insurance"
    # Pending policies are activated when their start date arrives (Asia/Shanghai).
    activation_check_seconds: float = 300.0


@lru_cache
def get_settings() -> InsuranceSettings:
    return InsuranceSettings()

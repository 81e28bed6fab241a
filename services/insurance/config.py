"""Insurance service settings (env prefix INSURANCE_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class InsuranceSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INSURANCE_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    service_name: str = "insurance"
    # Where to backfill missed events from (INSURANCE_SOURCE_URLS='{"inspection": "..."}'):
    # hazards the government found and the supervision registry.
    source_urls: dict[str, str] = Field(
        default_factory=lambda: {"inspection": "http://127.0.0.1:8003"}
    )
    # Pending policies are activated, ended ones expired, whistle SLAs checked this often.
    activation_check_seconds: float = Field(default=300.0, gt=0)
    # 起保后一次风险评估: calendar days after the policy starts.
    risk_assessment_days: int = Field(default=30, ge=1, le=180)
    # 一企一策: the enterprise's own plan, calendar days after the policy starts.
    one_plan_days: int = Field(default=60, ge=1, le=180)
    # Help with a government-found hazard is due by its rectification deadline, or this many
    # calendar days after it was found while that deadline is unknown.
    hazard_assistance_days: int = Field(default=15, ge=1, le=90)
    # 企业吹哨、保险报到: the insurer acknowledges within, and delivers within, these hours.
    whistle_ack_hours: int = Field(default=24, ge=1, le=168)
    whistle_delivery_hours: int = Field(default=72, ge=1, le=720)
    whistle_check_seconds: float = Field(default=60.0, gt=0)


@lru_cache
def get_settings() -> InsuranceSettings:
    return InsuranceSettings()

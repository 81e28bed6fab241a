"""Credit service settings (env prefix CREDIT_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import ServiceSettings


class CreditSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="CREDIT_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    service_name: str = "credit"
    # Where to backfill missed events from (CREDIT_SOURCE_URLS='{"inspection": "..."}').
    source_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "inspection": "http://127.0.0.1:8003",
            "permits": "http://127.0.0.1:8001",
        }
    )
    # The daily pass (expiry of publicity and list terms, the daily export) runs at start and
    # then this often; each run is idempotent for its business date.
    daily_pass_seconds: float = Field(default=300.0, gt=0)
    # The external credit website (信用网站) repair results are pushed to. Unset: deliveries
    # wait, queued, until it is configured; nothing is dropped.
    website_url: str | None = None
    website_token: str | None = Field(default=None, description="Bearer token for the website")
    website_timeout_seconds: float = Field(default=10.0, gt=0)
    website_poll_seconds: float = Field(default=5.0, gt=0)
    # Retry backoff: first retry after this, doubling, capped at website_backoff_max_seconds.
    website_backoff_seconds: float = Field(default=30.0, gt=0)
    website_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # After this many failed attempts a delivery is marked failed and waits for an operator
    # (POST /website-deliveries/{id}/retry); the metric of failed deliveries alerts.
    website_max_attempts: int = Field(default=20, ge=1)


@lru_cache
def get_settings() -> CreditSettings:
    return CreditSettings()

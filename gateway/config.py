"""Gateway settings (env prefix GATEWAY_): upstream services, timeouts, pools, limits."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.settings import AppEnv, AuthSettings

# The services behind the gateway, in the order /health reports them.
UPSTREAM_NAMES = ("permits", "credit", "inspection", "insurance")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    app_env: AppEnv = Field(default=AppEnv.local, validation_alias="APP_ENV")

    permits_url: str = "http://127.0.0.1:8001"
    credit_url: str = "http://127.0.0.1:8002"
    inspection_url: str = "http://127.0.0.1:8003"
    insurance_url: str = "http://127.0.0.1:8004"

    # Seconds. Connecting covers waiting for a pooled connection, DNS and the TCP handshake:
    # an upstream that cannot be reached (or a pool that stays full) answers 503 this fast.
    connect_timeout: float = Field(default=2.0, gt=0)
    # Longest silence while waiting for the upstream's response head or its next body chunk.
    read_timeout: float = Field(default=15.0, gt=0)
    health_timeout: float = Field(default=2.0, gt=0)
    # Keep-alive connections per upstream (one aiohttp connector each).
    pool_size: int = Field(default=100, ge=1, le=10_000)
    # Below uvicorn's 5 s keep-alive, so the gateway drops an idle connection before the
    # upstream does and never writes a request into a socket that is being closed.
    keepalive_timeout: float = Field(default=4.0, gt=0)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=0)

    auth: AuthSettings = Field(default_factory=AuthSettings)

    @field_validator("permits_url", "credit_url", "inspection_url", "insurance_url")
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not rest or "?" in rest:
            raise ValueError(f"expected an http(s) base URL without a query, got {value!r}")
        return value

    @model_validator(mode="after")
    def _production_guards(self) -> GatewaySettings:
        if self.app_env is AppEnv.production:
            if self.auth.dev_issuer_enabled:
                raise ValueError("AUTH_DEV_ISSUER_ENABLED must be false in production")
            if self.auth.jwks_path is None and self.auth.jwks_url is None:
                raise ValueError("production needs AUTH_JWKS_URL or AUTH_JWKS_PATH")
        return self

    def upstream_urls(self) -> dict[str, str]:
        """Base URL of each service behind the gateway, by route name."""
        return {
            "permits": self.permits_url,
            "credit": self.credit_url,
            "inspection": self.inspection_url,
            "insurance": self.insurance_url,
        }


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()

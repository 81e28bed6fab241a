"""Permits service settings (env prefix PERMITS_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kernel.settings import VAR_DIR, ServiceSettings


class PermitsSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="PERMITS_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    service_name: str = "permits"
    # Electronic licences: who signs them, with which keys, and where they are verified.
    licence_issuer: str = "did:web:yjj.qingdao.gov.cn"
    licence_key_dir: Path = VAR_DIR / "permits-keys"
    licence_initial_key_id: str = "key-2026-1"
    # Public address of this service's API as the world reaches it (through the gateway).
    public_base_url: str = "http://127.0.0.1:8000/api/permits"
    # The page a licence's QR code opens: the public portal's verification page, which calls
    # GET /licences/verify with the same query (token or licence number).
    licence_verify_url: str = "http://127.0.0.1:8000/portal/licences/verify"
    # Where to backfill missed events from (PERMITS_SOURCE_URLS='{"credit": "..."}').
    source_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "inspection": "http://127.0.0.1:8003",
            "credit": "http://127.0.0.1:8002",
        }
    )


@lru_cache
def get_settings() -> PermitsSettings:
    return PermitsSettings()

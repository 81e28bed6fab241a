"""Gateway settings (env prefix GATEWAY_): upstream services, timeouts, pools, limits."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.settings import VAR_DIR, AppEnv, AuthSettings, TraceExporter

# The services behind the gateway, in the order /health reports them.
UPSTREAM_NAMES = ("permits", "credit", "inspection", "insurance")

# Route classes rate limits are set for (see gateway/ratelimit.py):
#   public  calls without credentials, limited per client address
#   read    GET/HEAD/OPTIONS with credentials, per client
#   write   every other method with credentials, per client
#   token   the OAuth2 token endpoint, per client address (guessing secrets is slow)
#   data    inter-department data-set reads, per department
ROUTE_CLASSES = ("public", "read", "write", "token", "data")


class Bucket(BaseModel):
    """A token bucket: `rate` requests per second sustained, bursts up to `burst`."""

    rate: float = Field(gt=0, le=1_000_000)
    burst: int = Field(ge=1, le=10_000_000)


def _default_limits() -> dict[str, Bucket]:
    return {
        "public": Bucket(rate=20, burst=60),
        "read": Bucket(rate=50, burst=200),
        "write": Bucket(rate=10, burst=50),
        "token": Bucket(rate=1, burst=10),
        "data": Bucket(rate=5, burst=20),
    }


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
    # Per-upstream read timeouts overriding `read_timeout`, in seconds:
    # GATEWAY_UPSTREAM_TIMEOUTS='{"inspection": 30}'.
    upstream_timeouts: dict[str, float] = Field(default_factory=dict)
    # Idempotent requests (GET, HEAD, OPTIONS, or any carrying an Idempotency-Key) are tried
    # again this many times when the upstream could not be reached or dropped the connection.
    retries: int = Field(default=2, ge=0, le=5)
    retry_backoff_seconds: float = Field(default=0.05, ge=0, le=5)
    # Circuit breaker per upstream: this many consecutive failures open it for `open_seconds`,
    # then one trial request decides whether it closes again.
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_open_seconds: float = Field(default=10.0, gt=0, le=3600)

    # The gateway's own tables (clients, API keys, grants, read log).
    database_url: str = ""
    auto_migrate: bool = True

    # rate limits
    # Shared rate-limit buckets across replicas; in-process buckets when unset.
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    # Prepended to every bucket key, so several deployments can share one Redis.
    redis_key_prefix: str = Field(default="gateway:ratelimit:", max_length=200)
    # Longest wait for Redis per request; past it (or on any Redis error) the request is
    # decided by the in-process buckets, so a Redis outage never holds traffic up.
    redis_timeout: float = Field(default=0.05, gt=0, le=5)
    rate_limits_enabled: bool = True
    # GATEWAY_RATE_LIMITS='{"read": {"rate": 100, "burst": 400}}' overrides single classes.
    rate_limits: dict[str, Bucket] = Field(default_factory=_default_limits)

    # Browser origins allowed to call the API (the web frontends), exact matches.
    cors_origins: list[str] = Field(default_factory=list)
    # Verified tokens are remembered (by their exact bytes) until they expire, at most this many.
    token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    # Lifetime of the tokens the gateway issues (client credentials, API-key exchanges).
    issued_token_seconds: int = Field(default=900, ge=60, le=86_400)
    # How long a resolved API key is trusted before it is looked up again; a revocation made
    # through this gateway takes effect at once, one made through another replica within this.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Signing key of the tokens this gateway issues (Ed25519 PEM) and its issuer name. Unset
    # in the embedded default: the development issuer's key and AUTH_ISSUER are used.
    signing_key_path: Path | None = None
    issuer: str | None = None
    # The merged OpenAPI document is rebuilt from the services at most this often.
    openapi_cache_seconds: float = Field(default=60.0, ge=0)
    # Each part of an aggregated answer (enterprise profile) waits at most this long.
    aggregate_timeout: float = Field(default=3.0, gt=0, le=60)
    # Traces (kernel.tracing): otlp sends to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or
    # OTEL_EXPORTER_OTLP_ENDPOINT). The ratio decides for traces that start at the gateway.
    trace_exporter: TraceExporter = TraceExporter.none
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)

    auth: AuthSettings = Field(default_factory=AuthSettings)

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _merge_limits(cls, value: object) -> object:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(ROUTE_CLASSES))
            if unknown:
                raise ValueError(f"unknown route classes {unknown}; known: {list(ROUTE_CLASSES)}")
            return {**_default_limits(), **value}
        return value

    @field_validator("upstream_timeouts")
    @classmethod
    def _known_upstreams(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(UPSTREAM_NAMES))
        if unknown:
            raise ValueError(f"unknown upstreams {unknown}; known: {list(UPSTREAM_NAMES)}")
        if any(not 0 < v <= 600 for v in value.values()):
            raise ValueError("each timeout must be more than 0 and at most 600 seconds")
        return value

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
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{VAR_DIR / 'gateway.db'}"
        if self.app_env is AppEnv.production:
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs a PostgreSQL GATEWAY_DATABASE_URL")
            if self.signing_key_path is None or not self.issuer:
                raise ValueError(
                    "production needs GATEWAY_SIGNING_KEY_PATH and GATEWAY_ISSUER "
                    "(the tokens the gateway issues to machine clients)"
                )
            if self.auth.dev_issuer_enabled:
                raise ValueError("AUTH_DEV_ISSUER_ENABLED must be false in production")
            if self.auth.jwks_path is None and self.auth.jwks_url is None:
                raise ValueError("production needs AUTH_JWKS_URL or AUTH_JWKS_PATH")
        return self

    def read_timeout_of(self, upstream: str) -> float:
        return self.upstream_timeouts.get(upstream, self.read_timeout)

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

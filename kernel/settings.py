"""Settings shared by every app: validated once at start, one env prefix per service."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = REPO_ROOT / "var"
DEV_KEYS_DIR = VAR_DIR / "dev-keys"

# Secrets that ship in the repository for local use; refused anywhere else.
_PLACEHOLDER_SECRETS = frozenset({"", "change-me", "dev", "secret"})


class AppEnv(StrEnum):
    local = "local"
    test = "test"
    production = "production"


class TraceExporter(StrEnum):
    """Where an app's spans go (kernel.tracing): nowhere (still created and propagated, so
    ids reach logs and the next hop), OTLP over HTTP, or stdout."""

    none = "none"
    otlp = "otlp"
    console = "console"


class AuthSettings(BaseSettings):
    """How tokens are verified (every app) and, in local use, minted."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    issuer: str = "http://127.0.0.1:8000/auth"
    audience: str = "safety-platform"
    # A JWKS file or URL holding the issuer's public keys (EdDSA and RS256 accepted).
    jwks_path: Path | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: int = Field(default=300, ge=1)
    # Further issuers whose tokens are trusted beside `issuer`, each with its JWKS URL or file
    # (the gateway's, for the tokens it issues to machine clients while people's tokens come
    # from the identity provider): AUTH_EXTRA_ISSUERS='{"https://gw.example": "https://..."}'.
    extra_issuers: dict[str, str] = Field(default_factory=dict)
    # The roles a token of an extra issuer may carry, per issuer (unlisted: any role). The
    # gateway issues only insurer, department and service tokens; saying so here means a leaked
    # gateway key cannot mint an officer or an admin:
    # AUTH_EXTRA_ISSUER_ROLES='{"https://gw.example": ["insurer", "department", "service"]}'.
    extra_issuer_roles: dict[str, list[str]] = Field(default_factory=dict)
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    # The development issuer signs with a local key; it must never run in production.
    dev_issuer_enabled: bool = True
    dev_key_dir: Path = DEV_KEYS_DIR
    # Machine-to-machine: OAuth2 client credentials used for service calls (replay reads).
    client_token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @model_validator(mode="after")
    def _distinct_issuers(self) -> AuthSettings:
        for name, source in self.extra_issuers.items():
            if not name.strip() or not source.strip():
                raise ValueError("AUTH_EXTRA_ISSUERS needs an issuer name and a JWKS URL or path")
            if name == self.issuer:
                raise ValueError(
                    f"{name!r} is AUTH_ISSUER already; AUTH_EXTRA_ISSUERS lists other issuers"
                )
        for name, roles in self.extra_issuer_roles.items():
            if name not in self.extra_issuers:
                raise ValueError(f"AUTH_EXTRA_ISSUER_ROLES names {name!r}, not an extra issuer")
            from kernel.auth.principal import Role  # kernel.auth imports these settings

            known = {r.value for r in Role}
            unknown = sorted(set(roles) - known)
            if unknown or not roles:
                raise ValueError(f"AUTH_EXTRA_ISSUER_ROLES[{name!r}]: unknown roles {unknown}")
        return self

    def effective_jwks_path(self) -> Path | None:
        """The JWKS file to read: explicit, or the dev issuer's when that is enabled."""
        if self.jwks_path is not None:
            return self.jwks_path
        if self.jwks_url is None and self.dev_issuer_enabled:
            return self.dev_key_dir / "jwks.json"
        return None


class ServiceSettings(BaseSettings):
    """Base settings for one service; subclasses set `env_prefix` (PERMITS_, CREDIT_, ...)."""

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    service_name: str
    app_env: AppEnv = Field(default=AppEnv.local, validation_alias="APP_ENV")
    database_url: str = ""
    # Dev broker default; Apache Kafka in production (deploy/).
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    # Tansu cannot serve InitProducerId: idempotence off here, on for Apache Kafka.
    kafka_enable_idempotence: bool = Field(
        default=False, validation_alias="KAFKA_ENABLE_IDEMPOTENCE"
    )
    kafka_timeout_seconds: float = Field(default=10.0, gt=0)
    auto_migrate: bool = True
    relay_enabled: bool = True
    relay_poll_seconds: float = Field(default=0.5, gt=0)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_lease_seconds: float = Field(default=15.0, gt=0)
    outbox_retention_days: int = Field(default=30, ge=1)
    # How long a stored answer to an Idempotency-Key is kept: the window a client has to retry.
    idempotency_retention_hours: int = Field(default=24, ge=1, le=24 * 30)
    consumers_enabled: bool = True
    consumer_max_attempts: int = Field(default=5, ge=1, le=50)
    # How often an idle consumer asks its sources for events the broker may have lost.
    consumer_sweep_seconds: float = Field(default=30.0, gt=0)
    # Base URLs of the services this one consumes from, for gap backfill (replay endpoint).
    source_urls: dict[str, str] = Field(default_factory=dict)
    calendar_dir: Path | None = None
    # The service's own periodic jobs (expiry passes, outbound deliveries). Tests that drive
    # those passes themselves turn them off, as they do the relay and the consumers.
    background_enabled: bool = True
    # Moves the service's business date for rehearsals and end-to-end tests of long workflows
    # (a repair a year after listing, an overdue application, a draw's reveal). Refused in
    # production: <PREFIX>CLOCK_OFFSET_DAYS must be 0 there.
    clock_offset_days: int = Field(default=0, ge=-3650, le=3650)
    # Traces: otlp sends to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or OTEL_EXPORTER_OTLP_ENDPOINT).
    trace_exporter: TraceExporter = TraceExporter.none
    # Share of the traces starting here that are kept; a caller's decision is followed.
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @model_validator(mode="after")
    def _defaults_and_guards(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{VAR_DIR / (self.service_name + '.db')}"
        if self.app_env is AppEnv.production:
            if self.auth.dev_issuer_enabled:
                raise ValueError("AUTH_DEV_ISSUER_ENABLED must be false in production")
            if self.auth.jwks_path is None and self.auth.jwks_url is None:
                raise ValueError("production needs AUTH_JWKS_URL or AUTH_JWKS_PATH")
            if (
                self.auth.client_token_url
                and (self.auth.client_secret or "").strip().lower() in _PLACEHOLDER_SECRETS
            ):
                raise ValueError("AUTH_CLIENT_SECRET is a placeholder; set a real secret")
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs a PostgreSQL DATABASE_URL")
            if self.clock_offset_days:
                prefix = str(self.model_config.get("env_prefix", ""))
                raise ValueError(f"{prefix}CLOCK_OFFSET_DAYS must be 0 in production")
        return self

    @property
    def topic(self) -> str:
        """This service's own event topic."""
        return f"{self.service_name}.events"

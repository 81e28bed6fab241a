"""Service settings: env prefixes, shared variables, defaults, validation and production guards."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings.exceptions import SettingsError

from kernel.settings import REPO_ROOT, VAR_DIR, AppEnv, AuthSettings
from kernel.workdays import shanghai_today
from services.credit.config import CreditSettings
from services.credit.dependencies import business_date
from services.inspection.config import InspectionSettings
from services.insurance.config import InsuranceSettings
from services.permits.config import PermitsSettings

PG_URL = "postgresql+asyncpg://insurance:pw@db.internal:5432/insurance"
_PREFIXES = ("INSURANCE_", "INSPECTION_", "AUTH_")
_SHARED = ("APP_ENV", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_ENABLE_IDEMPOTENCE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the variables it sets, whatever the developer's shell exports."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name in _SHARED:
            monkeypatch.delenv(name)


def production_auth(**overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "dev_issuer_enabled": False,
        "jwks_url": "https://idp.safety.example/realms/platform/protocol/openid-connect/certs",
        "client_token_url": "https://idp.safety.example/realms/platform/token",
        "client_id": "insurance",
        "client_secret": "Xk29-real-secret-from-vault",
    }
    values.update(overrides)
    return AuthSettings(**values)


class TestEnvironment:
    def test_service_prefix_sets_fields(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("INSURANCE_RELAY_BATCH_SIZE", "42")
        monkeypatch.setenv("INSURANCE_RELAY_ENABLED", "false")
        monkeypatch.setenv("INSURANCE_DATABASE_URL", PG_URL)
        monkeypatch.setenv("INSURANCE_ACTIVATION_CHECK_SECONDS", "12.5")
        s = InsuranceSettings()
        assert s.relay_batch_size == 42
        assert s.relay_enabled is False
        assert s.database_url == PG_URL
        assert s.activation_check_seconds == 12.5

    def test_other_services_prefix_and_bare_names_are_ignored(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INSPECTION_RELAY_BATCH_SIZE", "7")
        monkeypatch.setenv("RELAY_BATCH_SIZE", "8")
        assert InsuranceSettings().relay_batch_size == 500
        assert InspectionSettings().relay_batch_size == 7

    def test_shared_kafka_and_app_env_apply_to_every_service(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092,kafka-1:9092")
        monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "true")
        monkeypatch.setenv("APP_ENV", "test")
        for s in (InsuranceSettings(), InspectionSettings()):
            assert s.kafka_bootstrap_servers == "kafka-0:9092,kafka-1:9092"
            assert s.kafka_enable_idempotence is True
            assert s.app_env is AppEnv.test

    def test_shared_fields_also_accept_their_python_names(self) -> None:
        # Tests and tools build settings in code; the env aliases must not block that.
        s = InsuranceSettings(kafka_bootstrap_servers="127.0.0.1:19092", app_env="test")
        assert s.kafka_bootstrap_servers == "127.0.0.1:19092"
        assert s.app_env is AppEnv.test

    def test_auth_comes_from_auth_prefix_and_nested_service_variables(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUTH_AUDIENCE", "qd-safety")
        monkeypatch.setenv("INSPECTION_AUTH__LEEWAY_SECONDS", "7")
        s = InspectionSettings()
        assert s.auth.audience == "qd-safety"
        assert s.auth.leeway_seconds == 7

    def test_source_urls_as_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "INSPECTION_SOURCE_URLS",
            '{"insurance": "http://insurance:8000", "credit": "http://credit:8000"}',
        )
        assert InspectionSettings().source_urls == {
            "insurance": "http://insurance:8000",
            "credit": "http://credit:8000",
        }

    def test_source_urls_default_to_local_ports(self) -> None:
        assert set(InspectionSettings().source_urls) == {"insurance", "credit", "permits"}

    def test_malformed_json_source_urls_fail_at_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("INSPECTION_SOURCE_URLS", "{insurance: nope")
        with pytest.raises(SettingsError, match="source_urls"):
            InspectionSettings()


class TestDefaults:
    def test_default_database_is_a_sqlite_file_under_var(self) -> None:
        s = InsuranceSettings()
        assert VAR_DIR == REPO_ROOT / "var"
        assert s.database_url == f"sqlite+aiosqlite:///{VAR_DIR / 'insurance.db'}"
        assert InspectionSettings().database_url.endswith("/var/inspection.db")

    def test_local_defaults(self) -> None:
        s = InsuranceSettings()
        assert s.app_env is AppEnv.local
        assert s.service_name == "insurance"
        assert s.topic == "insurance.events"
        assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
        assert s.kafka_enable_idempotence is False
        assert s.auth.dev_issuer_enabled is True


class TestValidation:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("relay_batch_size", 0),
            ("relay_batch_size", 10_001),
            ("relay_poll_seconds", 0),
            ("relay_lease_seconds", -1),
            ("kafka_timeout_seconds", 0),
            ("outbox_retention_days", 0),
            ("consumer_max_attempts", 0),
            ("consumer_max_attempts", 51),
            ("consumer_sweep_seconds", 0),
            ("app_env", "staging"),
        ],
    )
    def test_bad_values_are_refused_at_start(self, field: str, value: Any) -> None:
        values: dict[str, Any] = {field: value}
        with pytest.raises(ValidationError) as exc:
            InsuranceSettings(**values)
        assert field in str(exc.value) or "APP_ENV" in str(exc.value)

    def test_bad_env_value_is_refused_at_start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("INSURANCE_RELAY_BATCH_SIZE", "0")
        with pytest.raises(ValidationError, match="relay_batch_size"):
            InsuranceSettings()
        monkeypatch.setenv("INSURANCE_RELAY_BATCH_SIZE", "many")
        with pytest.raises(ValidationError, match="relay_batch_size"):
            InsuranceSettings()

    @pytest.mark.parametrize(
        ("field", "value"),
        [("leeway_seconds", 301), ("leeway_seconds", -1), ("jwks_cache_seconds", 0)],
    )
    def test_bad_auth_values_are_refused(self, field: str, value: int) -> None:
        values: dict[str, Any] = {field: value}
        with pytest.raises(ValidationError, match=field):
            AuthSettings(**values)


class TestProductionGuards:
    def test_correct_production_config_passes(self) -> None:
        s = InsuranceSettings(app_env="production", database_url=PG_URL, auth=production_auth())
        assert s.app_env is AppEnv.production
        assert s.database_url == PG_URL

    def test_correct_production_config_from_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("APP_ENV", "production")
        monkeypatch.setenv("INSURANCE_DATABASE_URL", PG_URL)
        monkeypatch.setenv("AUTH_DEV_ISSUER_ENABLED", "false")
        monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.safety.example/certs")
        s = InsuranceSettings()
        assert s.app_env is AppEnv.production
        assert s.auth.jwks_url == "https://idp.safety.example/certs"

    def test_jwks_file_is_enough_in_production(self) -> None:
        auth = production_auth(jwks_url=None, jwks_path=Path("/etc/safety/jwks.json"))
        InsuranceSettings(app_env="production", database_url=PG_URL, auth=auth)

    def test_refuses_dev_issuer(self) -> None:
        with pytest.raises(ValidationError, match="AUTH_DEV_ISSUER_ENABLED"):
            InsuranceSettings(
                app_env="production",
                database_url=PG_URL,
                auth=production_auth(dev_issuer_enabled=True),
            )

    def test_refuses_dev_issuer_left_at_its_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("APP_ENV", "production")
        monkeypatch.setenv("INSURANCE_DATABASE_URL", PG_URL)
        monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.safety.example/certs")
        with pytest.raises(ValidationError, match="AUTH_DEV_ISSUER_ENABLED"):
            InsuranceSettings()

    def test_refuses_missing_jwks(self) -> None:
        with pytest.raises(ValidationError, match="AUTH_JWKS_URL or AUTH_JWKS_PATH"):
            InsuranceSettings(
                app_env="production",
                database_url=PG_URL,
                auth=production_auth(jwks_url=None, jwks_path=None),
            )

    @pytest.mark.parametrize(
        "url", ["sqlite+aiosqlite:////srv/insurance.db", "sqlite:///insurance.db", ""]
    )
    def test_refuses_sqlite(self, url: str) -> None:
        with pytest.raises(ValidationError, match="PostgreSQL"):
            InsuranceSettings(app_env="production", database_url=url, auth=production_auth())

    @pytest.mark.parametrize("secret", [None, "", "change-me", "dev", "secret"])
    def test_refuses_placeholder_client_secret(self, secret: str | None) -> None:
        with pytest.raises(ValidationError, match="AUTH_CLIENT_SECRET"):
            InsuranceSettings(
                app_env="production",
                database_url=PG_URL,
                auth=production_auth(client_secret=secret),
            )

    def test_placeholder_secret_is_fine_locally(self) -> None:
        s = InsuranceSettings(
            app_env="local",
            auth=AuthSettings(client_token_url="http://127.0.0.1:8080/token", client_secret="dev"),
        )
        assert s.auth.client_secret == "dev"

    def test_guards_apply_to_every_service(self) -> None:
        with pytest.raises(ValidationError, match="PostgreSQL"):
            InspectionSettings(app_env="production", auth=production_auth())


class TestCreditClock:
    def test_clock_offset_moves_the_business_date(self) -> None:
        assert business_date(CreditSettings(clock_offset_days=400)) == shanghai_today() + (
            timedelta(days=400)
        )
        assert business_date(CreditSettings()) == shanghai_today()

    def test_no_time_travel_in_production(self) -> None:

        with pytest.raises(ValidationError, match="CREDIT_CLOCK_OFFSET_DAYS"):
            CreditSettings(
                app_env="production",
                database_url=PG_URL,
                auth=production_auth(),
                clock_offset_days=1,
            )
        assert CreditSettings(app_env="production", database_url=PG_URL, auth=production_auth())


class TestPermitsAndInspectionClocks:
    """Rehearsal clocks (overdue applications, a draw's reveal): never in production."""

    @pytest.mark.parametrize(
        ("settings_class", "variable"),
        [
            (PermitsSettings, "PERMITS_CLOCK_OFFSET_DAYS"),
            (InspectionSettings, "INSPECTION_CLOCK_OFFSET_DAYS"),
        ],
    )
    def test_no_time_travel_in_production(self, settings_class: Any, variable: str) -> None:
        with pytest.raises(ValidationError, match=variable):
            settings_class(
                app_env="production",
                database_url=PG_URL,
                auth=production_auth(),
                clock_offset_days=1,
            )
        settings = settings_class(app_env="production", database_url=PG_URL, auth=production_auth())
        assert settings.clock_offset_days == 0

    @pytest.mark.parametrize("settings_class", [PermitsSettings, InspectionSettings])
    def test_the_offset_is_read_from_the_environment(
        self, settings_class: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        prefix = "PERMITS" if settings_class is PermitsSettings else "INSPECTION"
        monkeypatch.setenv(f"{prefix}_CLOCK_OFFSET_DAYS", "30")
        assert settings_class().clock_offset_days == 30
        monkeypatch.setenv(f"{prefix}_CLOCK_OFFSET_DAYS", "9999")
        with pytest.raises(ValidationError, match="clock_offset_days"):
            settings_class()

"""The operator CLI in-process (typer's runner): usage, migrate, token, audit verify."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from kernel.auth.verifier import TokenVerifier
from kernel.db import make_engine, make_session_factory, unit_of_work
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from ops.cli import app
from ops.publish import next_publishable_month
from ops.tokens import parse_ttl

runner = CliRunner()
PUBLISH = ["publish-list", "--source-round", "1", "--source-date", "2027-02-13"]
APPS = ("permits", "credit", "inspection", "insurance", "gateway")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class TestUsage:
    @pytest.mark.parametrize(
        "command",
        [[], ["migrate"], ["token"], ["replay"], ["audit", "verify"], ["publish-list"], ["health"]],
    )
    def test_every_command_has_help(self, command: list[str]) -> None:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["token"], "Missing argument 'ROLE'"),
            (["token", "service"], "'service' is not one of"),
            (["token", "officer", "--ttl", "forever"], "not a duration"),
            (["token", "officer", "--ttl", "10s"], "between 1 minute and 30 days"),
            (["migrate", "nowhere"], "unknown nowhere"),
            (["migrate", "--database-url", "sqlite+aiosqlite:///x.db"], "exactly one app"),
            (["audit", "verify", "gateway", "permits", "--database-url", "x"], "exactly one app"),
            (["replay", "gateway"], "consumes no events"),
            (["replay", "inspection", "--source", "gateway"], "does not consume gateway"),
            (["replay", "inspection", "--source-url", "insurance"], "SOURCE=http"),
            (["publish-list", "--source-date", "2027-02-13"], "--source-round"),
            (["publish-list", "--source-round", "1", "--source-date", "2027-02-13"], "--count"),
            (
                ["publish-list", "--source-round", "1", "--source-date", "x", "--count", "3"],
                "not a date",
            ),
            (
                [*PUBLISH, "--count", "3", "--month", "2027-13"],
                "not a month",
            ),
            (["frobnicate"], "No such command"),
        ],
    )
    def test_bad_usage_is_exit_2_naming_the_problem(self, args: list[str], message: str) -> None:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output

    def test_ttl_units(self) -> None:
        assert parse_ttl("3600") == 3600
        assert parse_ttl("90m") == 5400
        assert parse_ttl("8h") == 8 * 3600
        assert parse_ttl("2d") == 2 * 86400

    def test_the_next_publishable_month_is_at_least_15_days_ahead(self) -> None:
        # The March 2027 list is due by 14 February; a day later it is April's turn.
        assert next_publishable_month(date(2027, 2, 14)) == (2027, 3)
        assert next_publishable_month(date(2027, 2, 15)) == (2027, 4)
        assert next_publishable_month(date(2027, 12, 20)) == (2028, 2)


class TestMigrate:
    def test_check_then_migrate_then_check_on_fresh_sqlite_files(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in APPS:
            monkeypatch.setenv(f"{name.upper()}_DATABASE_URL", sqlite_url(tmp_path / f"{name}.db"))

        before = runner.invoke(app, ["migrate", "--check", "--json"])
        assert before.exit_code == 1, before.output
        states = json.loads(before.stdout)
        assert [s["app"] for s in states] == list(APPS)
        assert all(s["current"] is None and s["pending"] for s in states)
        assert "error: pending migrations: permits" in before.stderr
        # --check changes nothing, not even by creating empty database files.
        assert not list(tmp_path.glob("*.db"))

        done = runner.invoke(app, ["migrate", "--json", "--no-progress"])
        assert done.exit_code == 0, done.output
        migrated = json.loads(done.stdout)
        assert all(s["migrated"] and s["pending"] for s in migrated)
        assert "migrations: 5/5" in done.stderr

        after = runner.invoke(app, ["migrate", "--check"])
        assert after.exit_code == 0, after.output
        assert after.stdout.count("up to date") == len(APPS)
        for state in migrated:
            assert f"{state['head']}" in after.stdout

    def test_one_app_with_an_explicit_url(self, tmp_path: Path) -> None:
        url = sqlite_url(tmp_path / "elsewhere.db")
        result = runner.invoke(app, ["migrate", "credit", "--database-url", url])
        assert result.exit_code == 0, result.output
        assert "credit" in result.stdout
        assert "migrated" in result.stdout
        again = runner.invoke(app, ["migrate", "credit", "--database-url", url, "--json"])
        assert json.loads(again.stdout)[0]["pending"] == []

    def test_an_unreachable_database_is_one_line_and_exit_1(self) -> None:
        url = "postgresql+asyncpg://nobody:secret-pw@127.0.0.1:1/none"
        result = runner.invoke(app, ["migrate", "permits", "--database-url", url])
        assert result.exit_code == 1
        line = result.stderr.strip()
        assert line.startswith("error: permits: cannot read")
        assert "\n" not in line
        assert "secret-pw" not in result.output


class TestToken:
    def test_minted_token_verifies_with_the_development_key(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUTH_DEV_KEY_DIR", str(tmp_path))
        uscc = make_uscc(4242)
        result = runner.invoke(app, ["token", "enterprise", "--sub", uscc, "--ttl", "90m"])
        assert result.exit_code == 0, result.output
        token = result.stdout.strip()

        async def check() -> None:
            verifier = TokenVerifier(AuthSettings(dev_key_dir=tmp_path))
            try:
                principal = await verifier.verify(token)
            finally:
                await verifier.aclose()
            assert principal.role.value == "enterprise"
            assert principal.subject == uscc

        asyncio.run(check())

    def test_an_enterprise_subject_must_be_a_uscc(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUTH_DEV_KEY_DIR", str(tmp_path))
        result = runner.invoke(app, ["token", "enterprise", "--sub", "not-a-uscc"])
        assert result.exit_code == 2
        assert "USCC" in result.stderr

    @pytest.mark.parametrize(
        ("variable", "message"),
        [("APP_ENV", "refused in production"), ("AUTH_DEV_ISSUER_ENABLED", "disabled")],
    )
    def test_refused_in_production(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, message: str
    ) -> None:
        monkeypatch.setenv("AUTH_DEV_KEY_DIR", str(tmp_path))
        monkeypatch.setenv(variable, "production" if variable == "APP_ENV" else "false")
        result = runner.invoke(app, ["token", "admin"])
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("error: ")
        assert message in result.stderr
        assert not (tmp_path / "ed25519.pem").exists()


def audited_permits_db(path: Path) -> str:
    """A migrated permits database with three sealed audit records."""
    from kernel import audit
    from kernel.migrate import upgrade
    from services.permits.models import TABLES as PERMITS

    url = sqlite_url(path)
    upgrade("permits", url)

    async def history() -> None:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            for i in range(3):
                async with unit_of_work(factory) as session:
                    await session.execute(
                        sa.insert(PERMITS.audit).values(
                            at=datetime(2026, 12, 7, tzinfo=UTC),
                            actor="officer:zhang",
                            action="update",
                            entity="licences",
                            entity_key=f'"L-{i}"',
                            before={"status": "valid"},
                            after={"status": "revoked"},
                        )
                    )
            await audit.seal(factory, PERMITS.audit)
        finally:
            await engine.dispose()

    asyncio.run(history())
    return url


async def tamper(url: str, seq: int) -> None:
    from services.permits.models import TABLES as PERMITS

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(PERMITS.audit)
                .where(PERMITS.audit.c.seq == seq)
                .values(after={"status": "valid"})
            )
    finally:
        await engine.dispose()


class TestAuditVerify:
    def test_intact_then_tampered_chain(self, tmp_path: Path) -> None:
        url = audited_permits_db(tmp_path / "permits.db")
        ok = runner.invoke(app, ["audit", "verify", "permits", "--database-url", url, "--json"])
        assert ok.exit_code == 0, ok.output
        (report,) = json.loads(ok.stdout)
        assert report["ok"]
        assert report["records"] == 3
        assert report["checked"] == 3

        asyncio.run(tamper(url, 2))
        broken = runner.invoke(app, ["audit", "verify", "permits", "--database-url", url])
        assert broken.exit_code == 1
        assert "link 2 (row id" in broken.stdout
        (error,) = [line for line in broken.stderr.splitlines() if line.startswith("error:")]
        assert error == (
            "error: permits: audit chain BROKEN at link 2 (row id 2): "
            "record changed after it was sealed"
        )
        assert "Traceback" not in broken.output

    def test_every_app_from_its_settings_and_a_missing_one_still_fails(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        permits = audited_permits_db(tmp_path / "permits.db")
        monkeypatch.setenv("PERMITS_DATABASE_URL", permits)
        monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url(tmp_path / "missing.db"))
        result = runner.invoke(app, ["audit", "verify", "permits", "gateway", "--json"])
        assert result.exit_code == 1
        reports = {r["app"]: r for r in json.loads(result.stdout)}
        assert reports["permits"]["ok"]
        assert reports["permits"]["checked"] == 3
        assert not reports["gateway"]["ok"]
        assert "no database" in reports["gateway"]["error"]
        assert "gateway: no database" in result.stderr

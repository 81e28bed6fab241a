"""Session-wide test resources: a real broker process, real databases, signing keys."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings

PG_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_reachable() -> bool:
    host_port = PG_ADMIN_DSN.split("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _postgres_reachable()


@pytest.fixture(scope="session")
def broker() -> Iterator[DevBroker]:
    """A real Kafka-compatible broker process (Tansu) on a free port."""
    with DevBroker() as dev_broker:
        yield dev_broker


@pytest.fixture(scope="session")
def auth_settings(tmp_path_factory: pytest.TempPathFactory) -> AuthSettings:
    """Token settings with a development key made for this test session."""
    key_dir: Path = tmp_path_factory.mktemp("dev-keys")
    settings = AuthSettings(dev_key_dir=key_dir, jwks_path=None, jwks_url=None)
    DevIssuer(settings)  # creates the key and JWKS file once
    return settings


@pytest.fixture(scope="session")
def issuer(auth_settings: AuthSettings) -> DevIssuer:
    return DevIssuer(auth_settings)


async def _create_pg_database() -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind this platform runs on (SQLite file, PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not POSTGRES_AVAILABLE:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI but is not reachable")
        pytest.skip("PostgreSQL not reachable on this machine")
    name = await _create_pg_database()
    try:
        yield pg_url(name)
    finally:
        await _drop_pg_database(name)


@pytest.fixture
async def make_database_url(tmp_path: Path) -> AsyncIterator[object]:
    """A factory of extra empty databases of the same kind, for multi-service tests."""
    created: list[str] = []

    async def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / (uuid.uuid4().hex + '.db')}"
        name = await _create_pg_database()
        created.append(name)
        return pg_url(name)

    yield make
    for name in created:
        await _drop_pg_database(name)

"""The permits app over ASGI on a fresh database (SQLite and PostgreSQL), relay and consumers
off: API tests drive the HTTP surface and read the database themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kernel.app import ServiceRuntime
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.permits.config import PermitsSettings
from services.permits.main import create_app
from tests.support import running

API = tuple[httpx.AsyncClient, ServiceRuntime]


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, tmp_path: Path
) -> AsyncIterator[API]:
    settings = PermitsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        consumers_enabled=False,
        licence_key_dir=tmp_path / "licence-keys",
    )
    async with running(create_app(settings)) as pair:
        yield pair

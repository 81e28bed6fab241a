"""Gateway test fixtures: four stand-in services over real HTTP and a gateway database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import UPSTREAM_NAMES
from kernel.settings import AuthSettings
from tests.gateway.support import gateway_settings, running_gateway, upstream_app
from tests.support import serving


@pytest.fixture(scope="module")
async def upstream_urls() -> AsyncIterator[dict[str, str]]:
    """Echoing stand-ins for the four services (tests/gateway/support.py), served over HTTP."""
    async with AsyncExitStack() as stack:
        urls = {}
        for name in UPSTREAM_NAMES:
            urls[name] = await stack.enter_async_context(serving(upstream_app(name)))
        yield urls


@pytest.fixture(scope="module")
def gateway_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file for the gateway's own tables, migrated by the gateway at its first start."""
    path: Path = tmp_path_factory.mktemp("gateway-db") / "gateway.db"
    return f"sqlite+aiosqlite:///{path}"


GatewayFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_gateway(
    upstream_urls: dict[str, str], auth_settings: AuthSettings, gateway_database: str
) -> GatewayFactory:
    """`async with make_gateway(**overrides) as client:` a gateway in front of the stand-ins,
    trusting the session's development key (`issuer` fixture), on the module's database
    unless `database_url=` says otherwise (the `database_url` fixture gives SQLite and
    PostgreSQL). `urls=` replaces some upstream URLs."""

    def make(*, urls: dict[str, str] | None = None, **overrides: Any) -> Any:
        overrides.setdefault("database_url", gateway_database)
        settings = gateway_settings(
            {**upstream_urls, **(urls or {})}, auth=auth_settings, **overrides
        )
        return running_gateway(settings)

    return make

"""The portal's test stack: the four real services served over HTTP in this event loop, each
on a migrated SQLite file, and the gateway with the portal in front of them (over ASGI), the
way the public reaches it. Plus a phone-sized browser for the browser tests."""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.config import UPSTREAM_NAMES
from gateway.main import create_app as create_gateway
from gateway.portal import install_portal
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import REPO_ROOT, AuthSettings
from tests.gateway.support import gateway_settings
from tests.support import bearer, serving
from tests.support.databases import DatabaseMaker

SETTINGS_CLASSES = {
    "permits": "services.permits.config:PermitsSettings",
    "credit": "services.credit.config:CreditSettings",
    "inspection": "services.inspection.config:InspectionSettings",
    "insurance": "services.insurance.config:InsuranceSettings",
}
# The portal is public traffic from one test address: budgets no test can spend.
UNLIMITED = {"rate": 100_000, "burst": 1_000_000}


def _load(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class Service:
    """One running service: its app (for dependency overrides such as the business date)
    and a client on its own API (for creating data as the bureau would)."""

    name: str
    app: FastAPI
    url: str
    client: httpx.AsyncClient


@dataclass
class PortalStack:
    portal: httpx.AsyncClient
    services: dict[str, Service]
    issuer: DevIssuer
    gateway: FastAPI
    url: str
    notes: dict[str, Any] = field(default_factory=dict)

    def as_(self, role: str, sub: str = "tester") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    def __getitem__(self, name: str) -> Service:
        return self.services[name]


@pytest.fixture(scope="module")
async def portal_stack(
    tmp_path_factory: pytest.TempPathFactory,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
    database_maker: DatabaseMaker,
) -> AsyncIterator[PortalStack]:
    """Four services with their background work off (tests drive them through their APIs)
    and a gateway with the portal; one per test module."""
    root = tmp_path_factory.mktemp("portal")
    async with AsyncExitStack() as stack:
        services: dict[str, Service] = {}
        for name in UPSTREAM_NAMES:
            settings = _load(SETTINGS_CLASSES[name])(
                database_url=await database_maker.sqlite(root / f"{name}.db", name),
                kafka_bootstrap_servers=broker.bootstrap,
                auth=auth_settings,
                relay_enabled=False,
                consumers_enabled=False,
                background_enabled=False,
                **({"licence_key_dir": root / "licence-keys"} if name == "permits" else {}),
            )
            app = importlib.import_module(f"services.{name}.main").create_app(settings)
            url = await stack.enter_async_context(serving(app))
            client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
            services[name] = Service(name, app, url, client)
        settings = gateway_settings(
            {name: s.url for name, s in services.items()},
            auth=auth_settings,
            database_url=f"sqlite+aiosqlite:///{root / 'gateway.db'}",
            rate_limits={k: UNLIMITED for k in ("public", "read", "write")},
        )
        gateway = create_gateway(settings)
        # A no-op once the gateway's create_app installs the portal itself.
        install_portal(gateway)
        # Over real HTTP, so that a browser can open the same pages.
        gateway_url = await stack.enter_async_context(serving(gateway))
        portal = await stack.enter_async_context(
            httpx.AsyncClient(base_url=gateway_url, timeout=30)
        )
        yield PortalStack(portal, services, issuer, gateway, gateway_url)


CHROMIUM = Path("/usr/bin/chromium")
# A phone: the portal is mobile-first.
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where browser tests save their screenshots: $PORTAL_SCREENSHOTS_DIR when set, else
    var/screenshots/portal in the checkout (kept after the run, out of git; the README's
    copies live in docs/screenshots)."""
    chosen = os.environ.get("PORTAL_SCREENSHOTS_DIR")
    path = Path(chosen) if chosen else REPO_ROOT / "var" / "screenshots" / "portal"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium driven by Playwright, headless; skipped where it is not installed.
    Async: the services of `portal_stack` run in the test event loop and must keep serving
    while the browser waits."""
    if not await asyncio.to_thread(CHROMIUM.exists):
        # `make install` and .ci/run install it; in CI a missing browser is a failure.
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed at /usr/bin/chromium (make browser)")
        pytest.skip("chromium is not installed at /usr/bin/chromium (make browser)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def phone(browser: Any) -> AsyncIterator[Any]:
    """A fresh page in a phone-sized, touch, zh-CN browser context."""
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()

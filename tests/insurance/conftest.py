"""Shared fixtures for insurance tests: the real app on SQLite and PostgreSQL, a movable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.insurance.config import InsuranceSettings
from services.insurance.dependencies import business_now, business_today
from services.insurance.main import create_app
from tests.support import bearer, running
from tests.support.seed import seed_insurer

# The business date tests start from: a Monday in a year the official calendar knows.
TODAY = date(2026, 3, 16)


@dataclass
class InsuranceApi:
    """The running app, its runtime, a token minter and the business clock tests move."""

    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer
    today: date = TODAY
    now: datetime = field(default_factory=lambda: datetime.combine(TODAY, time(2, 0), UTC))

    def set_today(self, day: date) -> None:
        """Move the business date (and the instant to 10:00 Shanghai time that day)."""
        self.today = day
        self.now = datetime.combine(day, time(2, 0), UTC)

    def advance(self, delta: timedelta) -> None:
        """Move the instant (and the business date with it, in Asia/Shanghai)."""
        self.now = self.now + delta
        self.today = (self.now + timedelta(hours=8)).date()

    def as_(self, role: str, sub: str = "tester") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    async def register_insurer(self, insurer_id: str, name: str | None = None) -> None:
        """Register an insurer the way the admin endpoint would, directly in the table."""
        await seed_insurer(self.runtime, insurer_id, name)

    async def count(self, table: Any) -> int:
        async with self.runtime.session_factory() as session:
            return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)

    async def outbox_types(self) -> list[str]:
        outbox = self.runtime.tables.outbox
        async with self.runtime.session_factory() as session:
            rows = (await session.execute(sa.select(outbox.c.type).order_by(outbox.c.id))).all()
        return [r.type for r in rows]


@pytest.fixture
async def insurance(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[InsuranceApi]:
    """The insurance app on both databases; relay, consumers and background jobs off."""
    settings = InsuranceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        consumers_enabled=False,
        background_enabled=False,
    )
    app = create_app(settings)
    async with running(app) as (client, runtime):
        api = InsuranceApi(client=client, runtime=runtime, app=app, issuer=issuer)
        app.dependency_overrides[business_today] = lambda: api.today
        app.dependency_overrides[business_now] = lambda: api.now
        yield api

"""The four services, running for real (lifespan, migrations, SQLite files), for the
authorisation tests.

Authorisation does not depend on the database engine (every check is in Python, on rows the
services' own tests cover on both engines), so these tests run on SQLite only: `services` is
one set per test module, shared by its tests (each makes its own enterprises, insurers and
records); `fresh` starts one service for one test, for those that compare every table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from kernel.app import ServiceRuntime
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.credit.config import CreditSettings
from services.credit.main import create_app as credit_app
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app as inspection_app
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app as insurance_app
from services.permits.config import PermitsSettings
from services.permits.main import create_app as permits_app
from tests.support import running
from tests.support.databases import DatabaseMaker

SERVICES = ("permits", "credit", "inspection", "insurance")

# Written by the audit log's sealer after commit (kernel/audit.py), not by requests.
SEALER_TABLES = frozenset({"audit_chain"})
SEALER_COLUMNS = {"audit_log": frozenset({"seq", "prev_hash", "hash"})}


@dataclass
class Service:
    """One running service: its in-process client, runtime and app."""

    name: str
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI

    async def snapshot(self) -> dict[str, list[str]]:
        """Every table the service owns (its models, the kernel's outbox, inbox, idempotency
        and audit records), row by row: equal snapshots mean no request wrote anything.

        What the audit sealer fills in after commit, on its own schedule, is left out: a
        row written before the first snapshot may be sealed between the two.
        """
        metadata = self.runtime.tables.outbox.metadata
        out: dict[str, list[str]] = {}
        async with self.runtime.session_factory() as session:
            for table in metadata.sorted_tables:
                if table.name in SEALER_TABLES:
                    continue
                skip = SEALER_COLUMNS.get(table.name, frozenset())
                columns = [c for c in table.columns if c.name not in skip]
                rows = (await session.execute(sa.select(*columns))).all()
                out[table.name] = sorted(repr(tuple(r)) for r in rows)
        return out


def _settings(name: str, database_url: str, bootstrap: str, auth: AuthSettings, tmp: Path) -> Any:
    common: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": bootstrap,
        "auth": auth,
        "relay_enabled": False,
        "consumers_enabled": False,
        "background_enabled": False,
    }
    if name == "permits":
        return PermitsSettings(**common, licence_key_dir=tmp / "licence-keys")
    if name == "credit":
        return CreditSettings(**common)
    if name == "inspection":
        return InspectionSettings(**common)
    return InsuranceSettings(**common)


FACTORIES: dict[str, Callable[[Any], FastAPI]] = {
    "permits": permits_app,
    "credit": credit_app,
    "inspection": inspection_app,
    "insurance": insurance_app,
}


@pytest.fixture(scope="module")
def security_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security")


@pytest.fixture(scope="module")
async def services(
    security_tmp: Path,
    database_maker: DatabaseMaker,
    broker: DevBroker,
    auth_settings: AuthSettings,
) -> AsyncIterator[dict[str, Service]]:
    """The four services on fresh SQLite copies of their migrated schemas (relay, consumers
    and background jobs off: nothing here needs an event to travel)."""
    async with AsyncExitStack() as stack:
        out: dict[str, Service] = {}
        for name in SERVICES:
            url = await database_maker.sqlite(security_tmp / f"{name}.db", name)
            settings = _settings(name, url, broker.bootstrap, auth_settings, security_tmp)
            app = FACTORIES[name](settings)
            client, runtime = await stack.enter_async_context(running(app))
            out[name] = Service(name, client, runtime, app)
        yield out


@pytest.fixture
async def fresh(
    tmp_path: Path, database_maker: DatabaseMaker, broker: DevBroker, auth_settings: AuthSettings
) -> AsyncIterator[Callable[[str], Awaitable[Service]]]:
    """`await fresh("credit")`: that service alone, on a database of its own for this test
    (for tests that compare every table before and after a refused request)."""
    async with AsyncExitStack() as stack:

        async def start(name: str) -> Service:
            url = await database_maker.sqlite(tmp_path / f"{name}.db", name)
            app = FACTORIES[name](_settings(name, url, broker.bootstrap, auth_settings, tmp_path))
            client, runtime = await stack.enter_async_context(running(app))
            return Service(name, client, runtime, app)

        yield start

"""Every service's migrations build exactly the schema its models declare, on both databases."""

from __future__ import annotations

import asyncio
import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from kernel.db import make_engine
from kernel.migrate import SERVICES, migrations_dir, package, upgrade


def _present(service: str) -> bool:
    return (migrations_dir(service) / "env.py").exists()


@pytest.mark.parametrize("service", [s for s in SERVICES if _present(s)])
async def test_migrations_match_models_and_downgrade(service: str, database_url: str) -> None:
    metadata = importlib.import_module(f"{package(service)}.models").Base.metadata
    await asyncio.to_thread(upgrade, service, database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn: Connection) -> list[object]:
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return list(compare_metadata(context, metadata))

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == [], f"{service}: models and migrations differ: {differences}"
    await asyncio.to_thread(upgrade_down, service, database_url)


def upgrade_down(service: str, database_url: str) -> None:
    from alembic import command

    from kernel.migrate import alembic_config

    command.downgrade(alembic_config(service, database_url), "base")

"""Kernel mechanisms are tested on a bare schema: only the kernel tables plus a test table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import SessionFactory, make_engine, make_session_factory
from kernel.tables import KernelTables, kernel_tables


@dataclass
class KernelDB:
    engine: AsyncEngine
    factory: SessionFactory
    tables: KernelTables
    effects: sa.Table


@pytest.fixture
async def kdb(database_url: str) -> AsyncIterator[KernelDB]:
    metadata = sa.MetaData()
    tables = kernel_tables(metadata)
    effects = sa.Table(
        "effects",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
    )
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield KernelDB(engine, make_session_factory(engine), tables, effects)
    finally:
        await engine.dispose()

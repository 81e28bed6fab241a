"""Async engine and the one commit point per request or consumed message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC (the only kind of time stored)."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware UTC instants")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSON documents: JSONB on PostgreSQL (indexable), JSON text on SQLite.
JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers run beside the single writer; busy_timeout makes writers queue
    # instead of failing with "database is locked" under concurrent requests.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the service's engine: SQLite (WAL) for the embedded default, asyncpg otherwise."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        pool_timeout=5,
        # A stuck database must surface as 503 quickly, not hang a request.
        connect_args={"timeout": 5, "command_timeout": 15},
    )


SessionFactory = async_sessionmaker[AsyncSession]


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit (responses are built after it).

    Their sync session writes the audit log of every change it flushes (kernel.audit).
    """
    from kernel.audit import AuditedSession  # kernel.audit builds on this module

    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=True, sync_session_class=AuditedSession
    )


class CommitHooks:
    """Callbacks run after a successful commit (e.g. wake the outbox relay)."""

    def __init__(self) -> None:
        self._hooks: list[Callable[[], None]] = []

    def add(self, hook: Callable[[], None]) -> None:
        self._hooks.append(hook)

    def fire(self) -> None:
        for hook in self._hooks:
            hook()


@asynccontextmanager
async def unit_of_work(
    factory: SessionFactory, hooks: CommitHooks | None = None
) -> AsyncIterator[AsyncSession]:
    """One transaction: commit on success, roll back on any error. The only commit point."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            # Rollback must not be skipped by a cancelled request.
            await asyncio.shield(session.rollback())
            raise
    if hooks is not None:
        hooks.fire()


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> None:
    """Round-trip to the database; raises if it does not answer in time."""
    async with asyncio.timeout(timeout), engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))

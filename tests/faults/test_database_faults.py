"""The database taken away from a running service: 503 problem+json, nothing half-written, and
the same process serving again once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.faults_proxy import CutMode, TcpProxy
from bench.faults_scenarios import TEST, database_unavailable
from kernel.errors import install_problem_handlers
from tests.faults.conftest import assert_nothing_lost_or_doubled, explain

MakeDatabaseUrl = Callable[..., Awaitable[str]]


async def test_database_cut_mid_load_is_503_and_recovers_in_process(
    tmp_path: Path, make_database_url: MakeDatabaseUrl
) -> None:
    url = await make_database_url("postgresql", "insurance")
    figures = await database_unavailable(tmp_path, TEST, {"insurance": url}, "reset")
    why = explain(figures)
    extra = figures.extra
    # Every write sent while the database was away was refused with a 503 problem document
    # naming the cause and saying when to retry; none answered 500.
    assert extra["sent_during_outage"] > 0, why
    assert set(extra["first_answers_during_outage"]) == {"503"}, why
    assert extra["refused_500"] == 0, why
    assert extra["refusals_not_problem_json"] == 0, why
    assert extra["refusals_without_retry_after"] == 0, why
    assert extra["refusal_codes"] == ["database_unavailable"], why
    assert extra["ready_during_outage"] == {"status": 503, "database_ok": False}, why
    # The same process answered again once the database was back: each refused write, sent
    # again with its Idempotency-Key, was accepted exactly once.
    assert extra["same_process_after"], why
    assert figures.writes_accepted == figures.writes_attempted, why
    assert_nothing_lost_or_doubled(figures)


# --- the kernel's mapping of a database that stops answering, on a real PostgreSQL ----------


@pytest.fixture
async def direct_url(make_database_url: MakeDatabaseUrl) -> str:
    return await make_database_url("postgresql")


@pytest.fixture
async def pg_behind_proxy(direct_url: str) -> AsyncIterator[tuple[AsyncEngine, TcpProxy]]:
    url = make_url(direct_url)
    with TcpProxy(url.port or 5432, url.host or "127.0.0.1") as proxy:
        # A short command timeout, so that a stalled connection is found out in half a second
        # rather than the services' 15 s (the mapping is the same).
        engine = create_async_engine(
            url.set(host="127.0.0.1", port=proxy.port),
            pool_pre_ping=True,
            pool_timeout=1,
            connect_args={"timeout": 1, "command_timeout": 0.5},
        )
        try:
            yield engine, proxy
        finally:
            await engine.dispose()


def probe_app(engine: AsyncEngine) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/query")
    async def query() -> dict[str, int]:
        async with engine.connect() as conn:
            return {"one": int((await conn.execute(sa.text("SELECT 1"))).scalar_one())}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_sleep(0.4)"))
        return {}

    @app.get("/too-long")
    async def too_long() -> dict[str, str]:
        async with engine.connect() as conn:
            await conn.execute(sa.text("CREATE TEMP TABLE t (v varchar(1))"))
            await conn.execute(sa.text("INSERT INTO t VALUES ('abc')"))
        return {}

    @app.get("/own-timeout")
    async def own_timeout() -> dict[str, str]:
        raise TimeoutError("not the database")

    return app


def assert_database_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    assert r.json()["code"] == "database_unavailable"


# "reset" between requests answered 503 before; "stall" (asyncpg's TimeoutError from the
# pool's pre-ping) answered 500 until kernel/errors.py mapped it.
@pytest.mark.parametrize("mode", ["reset", "stall"])
async def test_lost_or_stalled_connection_is_503_not_500(
    pg_behind_proxy: tuple[AsyncEngine, TcpProxy], mode: CutMode
) -> None:
    engine, proxy = pg_behind_proxy
    transport = httpx.ASGITransport(app=probe_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        assert (await client.get("/query")).json() == {"one": 1}  # a pooled connection exists
        proxy.cut(mode)
        assert_database_unavailable(await client.get("/query"))
        proxy.restore()
        # The pool replaces the dead connection: no restart needed.
        assert (await client.get("/query")).json() == {"one": 1}


async def test_connection_dropped_mid_query_is_503_not_500(
    pg_behind_proxy: tuple[AsyncEngine, TcpProxy], direct_url: str
) -> None:
    # asyncpg's "connection was closed in the middle of operation" reaches the app as a bare
    # DBAPIError (neither Operational nor Interface): it answered 500 before.
    engine, proxy = pg_behind_proxy
    watcher = create_async_engine(direct_url)
    running = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%'"
        " AND pid <> pg_backend_pid()"
    )
    transport = httpx.ASGITransport(app=probe_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        slow = asyncio.create_task(client.get("/slow"))
        try:
            async with asyncio.timeout(5):
                while True:
                    # A new transaction each time: pg_stat_activity is a per-transaction snapshot.
                    async with watcher.connect() as conn:
                        if (await conn.execute(running)).scalar_one():
                            break
                    await asyncio.sleep(0.01)
        finally:
            await watcher.dispose()
        await asyncio.to_thread(proxy.cut, "reset")  # while PostgreSQL is running the query
        assert_database_unavailable(await slow)
        proxy.restore()
        assert (await client.get("/query")).json() == {"one": 1}


async def test_other_driver_errors_and_foreign_timeouts_stay_500(
    pg_behind_proxy: tuple[AsyncEngine, TcpProxy],
) -> None:
    engine, _proxy = pg_behind_proxy
    transport = httpx.ASGITransport(app=probe_app(engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        # A value too long for its column is a bug of ours, not an unavailable database.
        r = await client.get("/too-long")
        assert (r.status_code, r.json()["code"]) == (500, "internal_error"), r.text
        # A timeout raised by code that is not the database driver is not "database down".
        r = await client.get("/own-timeout")
        assert (r.status_code, r.json()["code"]) == (500, "internal_error"), r.text

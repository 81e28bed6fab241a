"""The database mechanisms: UTC timestamps, the one commit point, SQLite pragmas, on both DBs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.app import RuntimeDep, ServiceRuntime, SessionDep, create_service_app
from kernel.auth.dev import DevIssuer
from kernel.contracts.insurance import PolicyActivatedV1
from kernel.db import CommitHooks, UTCDateTime, make_engine, unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.errors import Conflict
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app
from services.insurance.models import Base, Policy
from tests.kernel.conftest import KernelDB
from tests.support import bearer, running, serving
from tests.support.builders import policy_body
from tests.support.seed import seed_insurer

SHANGHAI = timezone(timedelta(hours=8))
USCC = make_uscc(9100)


# --- UTCDateTime -----------------------------------------------------------------------------


@pytest.fixture
async def stamps(kdb: KernelDB) -> sa.Table:
    metadata = sa.MetaData()
    table = sa.Table(
        "stamps",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", UTCDateTime(), nullable=True),
    )
    async with kdb.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return table


async def stamp_rows(kdb: KernelDB, table: sa.Table, *where: Any) -> list[Any]:
    async with kdb.factory() as session:
        query = sa.select(table).where(*where).order_by(table.c.at, table.c.id)
        return list((await session.execute(query)).all())


class TestUTCDateTime:
    async def test_aware_time_in_any_zone_reads_back_as_aware_utc(
        self, kdb: KernelDB, stamps: sa.Table
    ) -> None:
        local = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=SHANGHAI)
        async with unit_of_work(kdb.factory) as session:
            await session.execute(sa.insert(stamps).values(id=1, at=local))
        (row,) = await stamp_rows(kdb, stamps)
        assert row.at == local
        assert row.at.tzinfo is UTC
        assert row.at == datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)

    async def test_naive_time_is_refused_and_nothing_is_written(
        self, kdb: KernelDB, stamps: sa.Table
    ) -> None:
        naive = datetime(2026, 3, 2, 9, 30)

        async def store_naive() -> None:
            async with unit_of_work(kdb.factory) as session:
                await session.execute(sa.insert(stamps).values(id=1, at=naive))

        with pytest.raises(StatementError, match="naive datetime refused") as exc:
            await store_naive()
        assert isinstance(exc.value.orig, ValueError)
        assert await stamp_rows(kdb, stamps) == []

    async def test_null_stays_null(self, kdb: KernelDB, stamps: sa.Table) -> None:
        async with unit_of_work(kdb.factory) as session:
            await session.execute(sa.insert(stamps).values(id=1, at=None))
        (row,) = await stamp_rows(kdb, stamps)
        assert row.at is None

    async def test_order_and_filters_compare_instants_not_wall_clocks(
        self, kdb: KernelDB, stamps: sa.Table
    ) -> None:
        # 09:00 in Shanghai is 01:00Z: earlier than 05:00Z although its wall clock is later.
        shanghai_nine = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
        utc_five = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)
        async with unit_of_work(kdb.factory) as session:
            await session.execute(
                sa.insert(stamps), [{"id": 1, "at": utc_five}, {"id": 2, "at": shanghai_nine}]
            )
        assert [r.id for r in await stamp_rows(kdb, stamps)] == [2, 1]
        bound = datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI)  # 04:00Z
        assert [r.id for r in await stamp_rows(kdb, stamps, stamps.c.at < bound)] == [2]

    async def test_utcnow_is_aware_utc(self) -> None:
        now = utcnow()
        assert now.tzinfo is UTC
        assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


# --- unit_of_work ----------------------------------------------------------------------------


async def write_then_fail(kdb: KernelDB, value: str, hooks: CommitHooks | None = None) -> None:
    async with unit_of_work(kdb.factory, hooks) as session:
        await session.execute(sa.insert(kdb.effects).values(subject=USCC, value=value))
        await session.flush()
        raise RuntimeError("failed after writing")


async def effect_values(kdb: KernelDB) -> list[str]:
    async with kdb.factory() as session:
        return list((await session.scalars(sa.select(kdb.effects.c.value))).all())


class TestUnitOfWork:
    async def test_commits_on_success(self, kdb: KernelDB) -> None:
        async with unit_of_work(kdb.factory) as session:
            await session.execute(sa.insert(kdb.effects).values(subject=USCC, value="kept"))
        assert await effect_values(kdb) == ["kept"]

    async def test_rolls_back_on_exception(self, kdb: KernelDB) -> None:
        with pytest.raises(RuntimeError, match="after writing"):
            await write_then_fail(kdb, "lost")
        assert await effect_values(kdb) == []

    async def test_hooks_fire_only_after_a_successful_commit(self, kdb: KernelDB) -> None:
        fired: list[bool] = []
        hooks = CommitHooks()
        hooks.add(lambda: fired.append(True))
        async with unit_of_work(kdb.factory, hooks) as session:
            await session.execute(sa.insert(kdb.effects).values(subject=USCC, value="a"))
            await session.flush()
            assert fired == []  # not before the transaction ends
        assert fired == [True]

        with pytest.raises(RuntimeError, match="after writing"):
            await write_then_fail(kdb, "b", hooks)
        assert fired == [True]
        assert await effect_values(kdb) == ["a"]

    async def test_every_hook_fires_in_order(self, kdb: KernelDB) -> None:
        calls: list[int] = []
        hooks = CommitHooks()
        hooks.add(lambda: calls.append(1))
        hooks.add(lambda: calls.append(2))
        async with unit_of_work(kdb.factory, hooks):
            pass
        assert calls == [1, 2]

    async def test_database_error_rolls_back_and_skips_hooks(self, kdb: KernelDB) -> None:
        fired: list[bool] = []
        hooks = CommitHooks()
        hooks.add(lambda: fired.append(True))
        async with unit_of_work(kdb.factory) as session:
            await session.execute(sa.insert(kdb.effects).values(id=1, subject=USCC, value="one"))

        async def insert_two_then_duplicate() -> None:
            async with unit_of_work(kdb.factory, hooks) as session:
                await session.execute(
                    sa.insert(kdb.effects).values(id=2, subject=USCC, value="two")
                )
                await session.execute(
                    sa.insert(kdb.effects).values(id=1, subject=USCC, value="dup")
                )

        with pytest.raises(IntegrityError):
            await insert_two_then_duplicate()
        assert fired == []
        assert await effect_values(kdb) == ["one"]

    async def test_cancelled_work_rolls_back_and_frees_the_connection(self, kdb: KernelDB) -> None:
        wrote = asyncio.Event()

        async def stuck_request() -> None:
            async with unit_of_work(kdb.factory) as session:
                await session.execute(sa.insert(kdb.effects).values(subject=USCC, value="cut"))
                await session.flush()
                wrote.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(stuck_request())
        await asyncio.wait_for(wrote.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await effect_values(kdb) == []
        # The write lock is released: the next writer does not wait for the busy timeout.
        async with asyncio.timeout(5), unit_of_work(kdb.factory) as session:
            await session.execute(sa.insert(kdb.effects).values(subject=USCC, value="next"))
        assert await effect_values(kdb) == ["next"]
        assert kdb.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


# --- SQLite engine ---------------------------------------------------------------------------


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'svc.db'}")
    yield engine
    await engine.dispose()


class TestSQLiteEngine:
    async def test_creates_the_database_directory(
        self, sqlite_engine: AsyncEngine, tmp_path: Path
    ) -> None:
        assert (tmp_path / "nested" / "dir").is_dir()

    async def test_every_connection_has_wal_foreign_keys_and_busy_timeout(
        self, sqlite_engine: AsyncEngine
    ) -> None:
        async with sqlite_engine.connect() as one, sqlite_engine.connect() as two:
            for conn in (one, two):
                assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
                assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 10000
                assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 1

    async def test_foreign_keys_are_enforced(self, sqlite_engine: AsyncEngine) -> None:
        metadata = sa.MetaData()
        parent = sa.Table("parents", metadata, sa.Column("id", sa.Integer, primary_key=True))
        child = sa.Table(
            "children",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.ForeignKey(parent.c.id), nullable=False),
        )
        async with sqlite_engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            async with sqlite_engine.begin() as conn:
                await conn.execute(sa.insert(child).values(id=1, parent_id=404))


# --- the request's commit point through a real service ---------------------------------------


def settings_for(database_url: str, broker: DevBroker, auth: AuthSettings) -> InsuranceSettings:
    return InsuranceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth,
        relay_enabled=False,
    )


async def count(runtime: ServiceRuntime, table: sa.Table | type[Policy]) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


@pytest.fixture
async def insurance(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    async with running(create_app(settings_for(database_url, broker, auth_settings))) as pair:
        await seed_insurer(pair[1], "PICC-QD")
        yield pair


@pytest.mark.database("insurance")
class TestRequestCommitPoint:
    async def test_created_record_is_visible_to_a_new_session_at_once(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, runtime = insurance
        r = await client.post(
            "/policies", json=policy_body(9100), headers=bearer(issuer, "insurer", "PICC-QD")
        )
        assert r.status_code == 201, r.text
        async with runtime.session_factory() as fresh:
            stored = await fresh.get(Policy, r.json()["id"])
            events = (await fresh.execute(sa.select(runtime.tables.outbox))).all()
        assert stored is not None
        assert stored.policy_number == "AQ-2026-9100"
        assert stored.created_at.tzinfo is UTC
        assert [e.data["policy_id"] for e in events] == [r.json()["id"]]

    async def test_refused_duplicate_leaves_no_partial_rows(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, runtime = insurance
        headers = bearer(issuer, "insurer", "PICC-QD")
        assert (
            await client.post("/policies", json=policy_body(9100), headers=headers)
        ).status_code == 201
        keyed = {**headers, "Idempotency-Key": "dup-attempt-0001"}
        r = await client.post("/policies", json=policy_body(9100), headers=keyed)
        assert r.status_code == 409
        assert r.json()["code"] == "policy_exists"
        assert await count(runtime, Policy) == 1
        assert await count(runtime, runtime.tables.outbox) == 1
        assert await count(runtime, runtime.tables.idempotency) == 0


def a_policy(policy_id: str) -> Policy:
    today = shanghai_today()
    return Policy(
        id=policy_id,
        policy_number=f"T-{uuid.uuid4().hex[:8]}",
        insurer_id="PICC-QD",
        uscc=USCC,
        enterprise_name="青岛海湾化工有限公司",
        sector="hazardous_chemicals",
        starts_on=today,
        ends_on=today + timedelta(days=300),
        coverage_amount=Decimal("5000000.00"),
        premium=Decimal("18000.00"),
        status="active",
        created_at=utcnow(),
        created_by="insurer:PICC-QD",
    )


def activated(policy: Policy) -> PolicyActivatedV1:
    return PolicyActivatedV1(
        policy_id=policy.id,
        policy_number=policy.policy_number,
        uscc=policy.uscc,
        enterprise_name=policy.enterprise_name,
        insurer_id=policy.insurer_id,
        sector=policy.sector,
        starts_on=policy.starts_on,
        ends_on=policy.ends_on,
        coverage_amount=policy.coverage_amount,
        premium=policy.premium,
    )


def probe_router() -> APIRouter:
    """Endpoints that write through the kernel's SessionDep and then succeed or fail."""
    router = APIRouter()

    @router.post("/probe/ok", status_code=201)
    async def ok(session: SessionDep, runtime: RuntimeDep) -> dict[str, str]:
        policy = a_policy(str(uuid.uuid4()))
        session.add(policy)
        await runtime.outbox.emit(session, policy.uscc, activated(policy))
        return {"id": policy.id}

    @router.post("/probe/fail-after-write")
    async def fail_after_write(session: SessionDep, runtime: RuntimeDep) -> dict[str, str]:
        policy = a_policy(str(uuid.uuid4()))
        session.add(policy)
        await runtime.outbox.emit(session, policy.uscc, activated(policy))
        await session.flush()
        raise Conflict("decided against it after writing", code="late_conflict")

    @router.post("/probe/fails-at-commit/{policy_id}", status_code=201)
    async def fails_at_commit(
        policy_id: str, session: SessionDep, runtime: RuntimeDep
    ) -> dict[str, str]:
        # No flush: the duplicate key only surfaces when the dependency commits.
        policy = a_policy(policy_id)
        session.add(policy)
        await runtime.outbox.emit(session, policy.uscc, activated(policy))
        return {"id": policy_id}

    return router


@pytest.fixture
def probe_settings(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings
) -> InsuranceSettings:
    return settings_for(database_url, broker, auth_settings)


def probe_app(settings: InsuranceSettings) -> Any:
    return create_service_app(
        settings=settings,
        metadata=Base.metadata,
        routers=[probe_router()],
        title="probe",
        description="kernel commit-point probe on the insurance schema",
    )


@pytest.mark.database("insurance")
class TestSessionDependency:
    async def test_exception_after_writing_persists_nothing(
        self, probe_settings: InsuranceSettings
    ) -> None:
        async with running(probe_app(probe_settings)) as (client, runtime):
            r = await client.post("/probe/fail-after-write")
            assert r.status_code == 409
            assert r.json()["code"] == "late_conflict"
            assert await count(runtime, Policy) == 0
            assert await count(runtime, runtime.tables.outbox) == 0

    async def test_response_is_sent_only_after_the_commit_over_real_http(
        self, probe_settings: InsuranceSettings
    ) -> None:
        app = probe_app(probe_settings)
        async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            runtime: ServiceRuntime = app.state.runtime
            created = await client.post("/probe/ok")
            assert created.status_code == 201
            async with runtime.session_factory() as fresh:
                assert await fresh.get(Policy, created.json()["id"]) is not None

            first = await client.post("/probe/fails-at-commit/fixed-id")
            assert first.status_code == 201
            # If the commit ran after the response, this client would see 201 for a write
            # that never happened.
            again = await client.post("/probe/fails-at-commit/fixed-id")
            assert again.status_code == 409, again.text
            assert again.headers["content-type"] == "application/problem+json"
            assert await count(runtime, Policy) == 2
            assert await count(runtime, runtime.tables.outbox) == 2

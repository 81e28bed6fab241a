"""The audit log: what each kind of write records, the chain the sealer builds, and `verify`."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel import audit
from kernel.db import SessionFactory, UTCDateTime, make_engine, make_session_factory, unit_of_work
from kernel.tables import kernel_tables


class Base(DeclarativeBase):
    pass


TABLES = kernel_tables(Base.metadata)
AUDIT = TABLES.audit


class Licence(Base):
    __tablename__ = "licences"

    id: Mapped[int] = mapped_column(primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    signing_secret: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


LINES = sa.Table(
    "plan_lines",
    Base.metadata,
    sa.Column("plan", sa.String(16), primary_key=True),
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("months", sa.JSON(), nullable=False),
)


@dataclass
class DB:
    engine: AsyncEngine
    factory: SessionFactory


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[DB]:
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield DB(engine, make_session_factory(engine))
    finally:
        await engine.dispose()


async def log_rows(db: DB) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(sa.select(AUDIT).order_by(AUDIT.c.id))
        return [dict(r._mapping) for r in rows]


async def test_orm_insert_update_delete_record_actor_via_and_before_after(db: DB) -> None:
    until = datetime(2027, 3, 1, tzinfo=UTC)
    with audit.acting("officer:zhang", "POST /licences"):
        async with unit_of_work(db.factory) as session:
            session.add(Licence(id=1, holder="甲公司", status="valid", valid_until=until))
    with audit.acting("leader:li", "POST /licences/1/revoke"):
        async with unit_of_work(db.factory) as session:
            licence = await session.get(Licence, 1)
            assert licence is not None
            licence.status = "revoked"
    with audit.acting("admin:wang", "DELETE /licences/1"):
        async with unit_of_work(db.factory) as session:
            licence = await session.get(Licence, 1)
            await session.delete(licence)

    inserted, updated, deleted = await log_rows(db)
    assert (inserted["actor"], inserted["via"], inserted["action"]) == (
        "officer:zhang",
        "POST /licences",
        "insert",
    )
    assert inserted["entity"] == "licences"
    assert inserted["entity_key"] == "1"
    assert inserted["before"] is None
    assert inserted["after"] == {
        "id": 1,
        "holder": "甲公司",
        "status": "valid",
        "valid_until": "2027-03-01T00:00:00+00:00",
        "signing_secret": None,
    }
    # An update names only what changed, as it was and as it became.
    assert updated["actor"] == "leader:li"
    assert updated["action"] == "update"
    assert updated["before"] == {"status": "valid"}
    assert updated["after"] == {"status": "revoked"}
    assert deleted["action"] == "delete"
    assert deleted["after"] is None
    assert deleted["before"]["status"] == "revoked"
    assert all(row["seq"] is None for row in (inserted, updated, deleted))


async def test_a_rolled_back_change_leaves_no_record_and_secrets_are_redacted(db: DB) -> None:
    async def fails_after_the_flush() -> None:
        async with unit_of_work(db.factory) as session:
            session.add(Licence(id=2, holder="乙公司", status="valid"))
            await session.flush()
            raise RuntimeError("the request failed after the flush")

    with pytest.raises(RuntimeError):
        await fails_after_the_flush()
    assert await log_rows(db) == []

    async with unit_of_work(db.factory) as session:
        session.add(Licence(id=3, holder="丙公司", status="valid", signing_secret="s3cr3t"))
    (row,) = await log_rows(db)
    assert row["after"]["signing_secret"] == "[redacted]"
    # Without a caller in context the change is the system's own.
    assert row["actor"] == "system"
    assert row["via"] is None


async def test_core_statements_are_recorded_row_by_row(db: DB) -> None:
    async with unit_of_work(db.factory) as session:
        session.add_all([Licence(id=i, holder=f"h{i}", status="valid") for i in (10, 11, 12)])
    with audit.acting("officer:zhang", "bulk"):
        async with unit_of_work(db.factory) as session:
            await session.execute(
                sa.update(Licence).where(Licence.id.in_([10, 11])).values(status="suspended")
            )
            await session.execute(sa.delete(Licence).where(Licence.id == 12))
            await session.execute(
                sa.insert(LINES),
                [
                    {"plan": "2027", "uscc": "A", "months": [3, 9]},
                    {"plan": "2027", "uscc": "B", "months": [5]},
                ],
            )
    rows = [r for r in await log_rows(db) if r["actor"] == "officer:zhang"]
    summary = sorted((r["action"], r["entity"], r["entity_key"]) for r in rows)
    assert summary == [
        ("delete", "licences", "12"),
        ("insert", "plan_lines", '["2027","A"]'),
        ("insert", "plan_lines", '["2027","B"]'),
        ("update", "licences", "10"),
        ("update", "licences", "11"),
    ]
    update = next(r for r in rows if r["entity_key"] == "10")
    assert (update["before"], update["after"]) == ({"status": "valid"}, {"status": "suspended"})
    line = next(r for r in rows if r["entity_key"] == '["2027","A"]')
    assert line["after"] == {"plan": "2027", "uscc": "A", "months": [3, 9]}


async def test_an_upsert_is_an_insert_then_an_update_of_what_changed(db: DB) -> None:
    async def upsert(months: list[int]) -> None:
        async with unit_of_work(db.factory) as session:
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            statement = insert(LINES).values(plan="2027", uscc="C", months=months)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[LINES.c.plan, LINES.c.uscc],
                    set_={"months": statement.excluded.months},
                )
            )

    await upsert([1])
    await upsert([1])  # the same values: nothing changed, nothing recorded
    await upsert([2, 8])
    rows = await log_rows(db)
    assert [(r["action"], r["before"], r["after"]) for r in rows] == [
        ("insert", None, {"plan": "2027", "uscc": "C", "months": [1]}),
        ("update", {"months": [1]}, {"months": [2, 8]}),
    ]


async def test_kernel_bookkeeping_is_not_audited(db: DB) -> None:
    async with unit_of_work(db.factory) as session:
        await session.execute(sa.insert(TABLES.counters).values(name="anything", value=1))
    assert await log_rows(db) == []


async def make_history(db: DB, n: int) -> None:
    for i in range(n):
        with audit.acting(f"enterprise:{i}", "POST /applications"):
            async with unit_of_work(db.factory) as session:
                session.add(Licence(id=100 + i, holder=f"holder {i}", status="valid"))


async def test_the_sealed_chain_verifies_and_a_tampered_link_is_found(db: DB) -> None:
    await make_history(db, 5)
    assert (await audit.verify(db.engine, AUDIT)).as_dict() == {
        "ok": True,
        "checked": 0,
        "unsealed": 5,
        "broken_at_seq": None,
        "row_id": None,
        "reason": None,
    }
    assert await audit.seal(db.factory, AUDIT, batch=3) == 3
    assert await audit.seal(db.factory, AUDIT, batch=3) == 2
    assert await audit.seal(db.factory, AUDIT) == 0
    rows = await log_rows(db)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    report = await audit.verify(db.engine, AUDIT)
    assert report.ok
    assert report.checked == 5
    assert report.unsealed == 0

    # Someone with database access rewrites who did it, after the fact.
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(AUDIT).where(AUDIT.c.seq == 3).values(actor="enterprise:someone-else")
        )
    report = await audit.verify(db.engine, AUDIT)
    assert not report.ok
    assert (report.broken_at, report.checked) == (3, 2)
    assert report.reason == "record changed after it was sealed"
    assert report.row_id == rows[2]["id"]


async def test_a_deleted_or_relinked_record_breaks_the_chain(db: DB) -> None:
    await make_history(db, 4)
    await audit.seal(db.factory, AUDIT)
    async with db.engine.begin() as conn:
        await conn.execute(sa.delete(AUDIT).where(AUDIT.c.seq == 2))
    report = await audit.verify(db.engine, AUDIT)
    assert (report.broken_at, report.reason) == (2, "link 2 is missing")

    # Recomputing a forged record's own hash is not enough: the next link still points back.
    async with db.engine.begin() as conn:
        row = (await conn.execute(sa.select(AUDIT).where(AUDIT.c.seq == 3))).one()._mapping
        forged = dict(row, seq=2, actor="admin:forger")
        await conn.execute(
            sa.insert(AUDIT)
            .values(
                **{k: v for k, v in forged.items() if k != "id"},
                id=row["id"] + 1000,
            )
            .values(hash=audit.record_hash(row["prev_hash"], forged), seq=2)
        )
    report = await audit.verify(db.engine, AUDIT)
    assert not report.ok
    assert report.broken_at == 2
    assert report.reason == "prev_hash does not match link before"


async def test_records_committed_after_sealing_extend_the_chain(db: DB) -> None:
    await make_history(db, 2)
    await audit.seal(db.factory, AUDIT)
    async with unit_of_work(db.factory) as session:
        licence = await session.get(Licence, 100)
        assert licence is not None
        licence.status = "revoked"
    await audit.seal(db.factory, AUDIT)
    report = await audit.verify(db.engine, AUDIT)
    assert report.ok
    assert report.checked == 3


async def test_concurrent_sealers_take_turns_and_fork_nothing(db: DB) -> None:
    await make_history(db, 30)
    sealed = await asyncio.gather(*(audit.seal(db.factory, AUDIT, batch=4) for _ in range(6)))
    while await audit.seal(db.factory, AUDIT, batch=4):
        pass
    assert sum(sealed) <= 30
    report = await audit.verify(db.engine, AUDIT)
    assert report.ok
    assert report.checked == 30
    assert report.unsealed == 0


def test_verify_command_reports_the_first_broken_link(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from kernel.migrate import upgrade
    from services.permits.models import TABLES as PERMITS

    url = f"sqlite+aiosqlite:///{tmp_path / 'permits.db'}"
    upgrade("permits", url)

    async def history() -> None:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            for i in range(3):
                async with unit_of_work(factory) as session:
                    await session.execute(
                        sa.insert(PERMITS.audit).values(
                            at=datetime(2026, 12, 7, tzinfo=UTC),
                            actor="officer:zhang",
                            action="update",
                            entity="licences",
                            entity_key=f'"L-{i}"',
                            before={"status": "valid"},
                            after={"status": "revoked"},
                        )
                    )
            await audit.seal(factory, PERMITS.audit)
        finally:
            await engine.dispose()

    asyncio.run(history())
    assert audit.main(["verify", "permits", "--database-url", url]) == 0
    assert "audit chain intact: 3 links verified" in capsys.readouterr().out

    async def tamper() -> None:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    sa.update(PERMITS.audit)
                    .where(PERMITS.audit.c.seq == 2)
                    .values(after={"status": "valid"})
                )
        finally:
            await engine.dispose()

    asyncio.run(tamper())
    assert audit.main(["verify", "permits", "--database-url", url, "--json"]) == 1
    assert '"broken_at_seq":2' in capsys.readouterr().out


async def test_a_consumed_event_is_audited_as_the_event_and_its_retry_leaves_one_record(
    db: DB,
) -> None:
    from kernel.consumer import EventApplier, Handlers
    from kernel.contracts.inspection import EnterpriseRegisteredV1
    from kernel.events import EventEnvelope
    from kernel.uscc import make_uscc

    handlers = Handlers()
    calls = 0

    @handlers.on(EnterpriseRegisteredV1)
    async def handle(session: Any, event: EnterpriseRegisteredV1, _env: EventEnvelope) -> None:
        nonlocal calls
        calls += 1
        session.add(Licence(id=500, holder=event.name, status="valid"))
        await session.flush()
        if calls == 1:
            raise RuntimeError("transient failure after the write was flushed")

    applier = EventApplier(
        service="test",
        factory=db.factory,
        tables=TABLES,
        handlers=handlers,
        replay=None,
        retry_base_seconds=0.01,
    )
    uscc = make_uscc(77)
    env = EventEnvelope(
        id="5b0f3c1e-0000-4000-8000-000000000001",
        source="/inspection",
        type=EnterpriseRegisteredV1.TYPE,
        subject=uscc,
        time=datetime.now(UTC),
        sequence=1,
        data={
            "uscc": uscc,
            "name": "企业77",
            "district": "市南区",
            "sector": "trade",
            "tier": "general",
        },
    )
    assert await applier.deliver(env, None) == "applied"
    (row,) = await log_rows(db)
    assert row["actor"] == "event:inspection"
    assert row["via"] == f"{EnterpriseRegisteredV1.TYPE} {env.id}"
    assert row["after"]["holder"] == "企业77"

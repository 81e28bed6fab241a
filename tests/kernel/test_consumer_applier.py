"""The inbox side: ordered, exactly-once application, retries and dead letters (real DB)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.consumer import EventApplier, Handlers
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.events import EventEnvelope
from kernel.replay import ReplayUnavailable
from kernel.uscc import make_uscc
from tests.kernel.conftest import KernelDB


def envelope(
    seq: int,
    *,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
    type_: str = EnterpriseRegisteredV1.TYPE,
) -> EventEnvelope:
    return EventEnvelope(
        id=event_id or str(uuid.uuid4()),
        source="/inspection",
        type=type_,
        subject=make_uscc(seq),
        time=datetime.now(UTC),
        sequence=seq,
        data=data
        if data is not None
        else {
            "uscc": make_uscc(seq),
            "name": f"企业{seq}",
            "district": "市南区",
            "sector": "trade",
            "tier": "general",
        },
    )


class Recorder:
    """A handler that writes an effect row, and can be told to fail."""

    def __init__(self, kdb: KernelDB, failures: int = 0) -> None:
        self.kdb = kdb
        self.failures = failures
        self.calls = 0
        self.handlers = Handlers()
        self.handlers.on(EnterpriseRegisteredV1)(self.handle)

    async def handle(
        self, session: AsyncSession, event: EnterpriseRegisteredV1, _env: EventEnvelope
    ) -> None:
        self.calls += 1
        await session.execute(
            sa.insert(self.kdb.effects).values(subject=event.uscc, value=event.name)
        )
        if self.calls <= self.failures:
            raise RuntimeError("transient failure")


def applier(kdb: KernelDB, recorder: Recorder, **kw: Any) -> EventApplier:
    return EventApplier(
        service="test",
        factory=kdb.factory,
        tables=kdb.tables,
        handlers=recorder.handlers,
        replay=None,
        retry_base_seconds=0.01,
        **kw,
    )


async def effects(kdb: KernelDB) -> list[str]:
    async with kdb.factory() as session:
        return list((await session.scalars(sa.select(kdb.effects.c.value).order_by("id"))).all())


async def count(kdb: KernelDB, table: sa.Table) -> int:
    async with kdb.factory() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_applies_in_order_and_redelivery_changes_nothing(kdb: KernelDB) -> None:
    rec = Recorder(kdb)
    app = applier(kdb, rec)
    first, second = envelope(1), envelope(2)
    assert await app.deliver(first, None) == "applied"
    assert await app.deliver(second, None) == "applied"
    assert await app.deliver(first, None) == "duplicate"
    assert await app.deliver(second, None) == "duplicate"
    assert await effects(kdb) == ["企业1", "企业2"]
    assert await app.cursor("inspection") == 2
    assert await count(kdb, kdb.tables.inbox) == 2


async def test_unhandled_types_advance_the_cursor(kdb: KernelDB) -> None:
    rec = Recorder(kdb)
    app = applier(kdb, rec)
    assert await app.deliver(envelope(1, type_="inspection.other.v1", data={}), None) == "ignored"
    assert await app.deliver(envelope(2), None) == "applied"
    assert await effects(kdb) == ["企业2"]


async def test_gap_without_replay_source_is_an_error_not_a_skip(kdb: KernelDB) -> None:
    rec = Recorder(kdb)
    app = applier(kdb, rec)
    await app.deliver(envelope(1), None)
    with pytest.raises(ReplayUnavailable):
        await app.deliver(envelope(3), None)
    assert await app.cursor("inspection") == 1
    assert await effects(kdb) == ["企业1"]


async def test_transient_failure_is_retried_and_applied_once(kdb: KernelDB) -> None:
    rec = Recorder(kdb, failures=2)
    app = applier(kdb, rec, max_attempts=5)
    assert await app.deliver(envelope(1), None) == "applied"
    assert rec.calls == 3
    # The failed attempts rolled back their partial effects: exactly one row remains.
    assert await effects(kdb) == ["企业1"]


async def test_persistent_failure_is_dead_lettered_and_stream_moves_on(kdb: KernelDB) -> None:
    rec = Recorder(kdb, failures=100)
    parked: list[dict[str, Any]] = []

    async def on_dead_letter(record: dict[str, Any]) -> None:
        parked.append(record)

    app = applier(kdb, rec, max_attempts=3, on_dead_letter=on_dead_letter)
    assert await app.deliver(envelope(1), None) == "dead_lettered"
    assert rec.calls == 3
    assert await effects(kdb) == []
    assert await app.cursor("inspection") == 1
    async with kdb.factory() as session:
        (letter,) = (await session.execute(sa.select(kdb.tables.dead_letters))).all()
    assert "transient failure" in letter.error
    assert letter.attempts == 3
    assert parked[0]["sequence"] == 1
    rec.failures = 0
    assert await app.deliver(envelope(2), None) == "applied"


async def test_payload_breaking_the_contract_is_dead_lettered_without_retries(
    kdb: KernelDB,
) -> None:
    rec = Recorder(kdb)
    app = applier(kdb, rec, max_attempts=5)
    bad = envelope(1, data={"uscc": "not-a-uscc", "name": "x"})
    assert await app.deliver(bad, None) == "dead_lettered"
    assert rec.calls == 0
    async with kdb.factory() as session:
        (letter,) = (await session.execute(sa.select(kdb.tables.dead_letters))).all()
    assert letter.attempts == 1
    assert "payload invalid" in letter.error


async def test_same_event_id_under_a_new_sequence_is_not_applied_twice(kdb: KernelDB) -> None:
    rec = Recorder(kdb)
    app = applier(kdb, rec)
    event_id = str(uuid.uuid4())
    await app.deliver(envelope(1, event_id=event_id), None)
    assert await app.deliver(envelope(2, event_id=event_id), None) == "duplicate"
    assert await effects(kdb) == ["企业1"]

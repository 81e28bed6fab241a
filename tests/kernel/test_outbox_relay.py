"""Outbox and relay against a real database and a real broker process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer

from kernel import metrics
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.events import from_kafka
from kernel.kafka import ensure_topics, make_producer
from kernel.outbox import Outbox, OutboxRelay
from kernel.uscc import make_uscc
from tests.kernel.conftest import KernelDB


def payload(n: int) -> EnterpriseRegisteredV1:
    return EnterpriseRegisteredV1(
        uscc=make_uscc(n), name=f"企业{n}", district="黄岛区", sector="trade", tier="general"
    )


def relay_for(kdb: KernelDB, broker: DevBroker, topic: str, **kw: object) -> OutboxRelay:
    return OutboxRelay(
        service="inspection",
        factory=kdb.factory,
        tables=kdb.tables,
        topic=topic,
        producer_factory=lambda: make_producer(broker.bootstrap, idempotence=False, timeout_s=3),
        send_timeout=5,
        **kw,  # type: ignore[arg-type]
    )


async def emit_many(kdb: KernelDB, numbers: range) -> None:
    outbox = Outbox(kdb.tables)
    for n in numbers:
        async with unit_of_work(kdb.factory) as session:
            await outbox.emit(session, make_uscc(n), payload(n))


async def rows(kdb: KernelDB) -> list[sa.Row[tuple[object, ...]]]:
    async with kdb.factory() as session:
        return list((await session.execute(sa.select(kdb.tables.outbox).order_by("id"))).all())


@pytest.fixture
def topic() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def own_broker() -> Iterator[DevBroker]:
    with DevBroker() as broker:
        yield broker


async def test_event_is_written_only_with_its_transaction(kdb: KernelDB) -> None:
    outbox = Outbox(kdb.tables)

    async def failing_use_case() -> None:
        async with unit_of_work(kdb.factory) as session:
            await outbox.emit(session, make_uscc(1), payload(1))
            raise RuntimeError("use case failed after emitting")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await rows(kdb) == []
    async with unit_of_work(kdb.factory) as session:
        await outbox.emit(session, make_uscc(1), payload(1))
    (row,) = await rows(kdb)
    assert row.type == "inspection.enterprise.registered.v1"
    assert row.sequence is None
    assert row.published_at is None


async def test_relay_publishes_in_order_with_contiguous_sequences(
    kdb: KernelDB, broker: DevBroker, topic: str
) -> None:
    await ensure_topics(broker.bootstrap, [topic])
    await emit_many(kdb, range(1, 8))
    relay = relay_for(kdb, broker, topic, batch_size=3)
    sent = 0
    while (n := await relay.publish_once()) > 0:
        sent += n
    assert sent == 7
    # An alert on "pending > 0" must clear once everything is acknowledged.
    assert metrics.OUTBOX_PENDING.labels("inspection")._value.get() == 0
    stored = await rows(kdb)
    assert [r.sequence for r in stored] == list(range(1, 8))
    assert all(r.published_at is not None for r in stored)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        received = []
        async with asyncio.timeout(20):
            while len(received) < 7:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    received += [from_kafka(m.value, m.key, m.headers) for m in messages]
    finally:
        await consumer.stop()
    assert [e.sequence for e in received] == list(range(1, 8))
    assert [e.id for e in received] == [r.event_id for r in stored]
    assert all(e.source == "/inspection" for e in received)
    assert received[0].subject == make_uscc(1)
    await relay._drop_producer()


async def test_broker_down_keeps_events_pending_then_publishes_same_sequences(
    kdb: KernelDB, own_broker: DevBroker, topic: str
) -> None:
    await ensure_topics(own_broker.bootstrap, [topic])
    await emit_many(kdb, range(1, 4))
    relay = relay_for(kdb, own_broker, topic)
    own_broker.stop()
    with pytest.raises(Exception):  # noqa: B017, PT011 - any broker error is a failed pass
        await relay.publish_once()
    stored = await rows(kdb)
    assert [r.sequence for r in stored] == [1, 2, 3]
    assert all(r.published_at is None for r in stored)
    await relay._drop_producer()
    own_broker.start()
    await ensure_topics(own_broker.bootstrap, [topic])
    await emit_many(kdb, range(4, 5))
    async with asyncio.timeout(30):
        while True:
            try:
                if await relay.publish_once() == 0:
                    break
            except Exception:
                await relay._drop_producer()
                await asyncio.sleep(0.5)
    stored = await rows(kdb)
    assert [r.sequence for r in stored] == [1, 2, 3, 4]
    assert all(r.published_at is not None for r in stored)
    await relay._drop_producer()


async def test_only_one_relay_leads_and_a_standby_takes_over_on_release(
    kdb: KernelDB, broker: DevBroker, topic: str
) -> None:
    await ensure_topics(broker.bootstrap, [topic])
    await emit_many(kdb, range(1, 3))
    first = relay_for(kdb, broker, topic)
    second = relay_for(kdb, broker, topic)
    assert await first.publish_once() == 2
    assert first.is_leader
    await emit_many(kdb, range(3, 4))
    assert await second.publish_once() == 0
    assert not second.is_leader
    await first.release()
    assert await second.publish_once() == 1
    assert second.is_leader
    assert [r.sequence for r in await rows(kdb)] == [1, 2, 3]
    await first._drop_producer()
    await second._drop_producer()


async def test_expired_lease_is_taken_over(kdb: KernelDB, broker: DevBroker, topic: str) -> None:
    await ensure_topics(broker.bootstrap, [topic])
    first = relay_for(kdb, broker, topic, lease_seconds=0.2)
    second = relay_for(kdb, broker, topic, lease_seconds=0.2)
    await first.publish_once()
    assert first.is_leader
    await asyncio.sleep(0.3)  # the first relay died without releasing
    await second.publish_once()
    assert second.is_leader
    await first.publish_once()
    assert not first.is_leader


async def test_purge_keeps_what_is_still_needed_and_drops_what_served_its_time(
    kdb: KernelDB, broker: DevBroker, topic: str
) -> None:
    await ensure_topics(broker.bootstrap, [topic])
    await emit_many(kdb, range(1, 4))
    relay = relay_for(kdb, broker, topic)
    while await relay.publish_once():
        pass
    now = utcnow()
    t = kdb.tables
    async with unit_of_work(kdb.factory) as session:
        # Event 1 was published 31 days ago; 2 and 3 just now.
        await session.execute(
            sa.update(t.outbox)
            .where(t.outbox.c.sequence == 1)
            .values(published_at=now - timedelta(days=31))
        )
        for n, age in enumerate((timedelta(days=31), timedelta(days=29)), start=1):
            await session.execute(
                sa.insert(t.inbox).values(
                    event_id=f"00000000-0000-4000-8000-00000000000{n}",
                    source="permits",
                    sequence=n,
                    type="permits.licence.issued.v1",
                    outcome="applied",
                    processed_at=now - age,
                )
            )
        for key, age in (("old-key-1", timedelta(hours=25)), ("new-key-1", timedelta(hours=23))):
            await session.execute(
                sa.insert(t.idempotency).values(
                    principal="enterprise:X",
                    key=key,
                    route="POST /applications",
                    request_hash="0" * 64,
                    status_code=201,
                    body=b"{}",
                    created_at=now - age,
                )
            )
    await relay.purge()
    async with kdb.engine.connect() as conn:
        sequences = (
            await conn.scalars(sa.select(t.outbox.c.sequence).order_by(t.outbox.c.sequence))
        ).all()
        inbox = (await conn.scalars(sa.select(t.inbox.c.sequence))).all()
        keys = (await conn.scalars(sa.select(t.idempotency.c.key))).all()
    assert list(sequences) == [2, 3]
    assert list(inbox) == [2]
    assert list(keys) == ["new-key-1"]
    await relay._drop_producer()

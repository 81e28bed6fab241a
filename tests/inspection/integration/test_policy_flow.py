"""Insurance → Kafka → inspection: a policy activated for an enterprise appears in the registry.

Real broker process, real HTTP between the services (replay), real databases. Each test owns
its broker so that topics and consumer-group offsets never leak between tests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.db import utcnow
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app as create_inspection
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app as create_insurance
from services.insurance.models import Insurer
from tests.support import bearer, eventually, running, serving
from tests.support.builders import policy_body


@pytest.fixture
def own_broker() -> Iterator[DevBroker]:
    with DevBroker() as broker:
        yield broker


async def register_insurer(runtime: ServiceRuntime, insurer_id: str) -> None:
    """The bureau registers the insurer before it may register policies."""
    async with runtime.session_factory() as session, session.begin():
        session.add(
            Insurer(
                id=insurer_id,
                name="中国人民财产保险股份有限公司青岛市分公司",
                uscc=make_uscc(9_001),
                contact_name="张经理",
                contact_phone="0532-80000000",
                status="active",
                registered_at=utcnow(),
                registered_by="admin:seed",
                updated_at=utcnow(),
            )
        )


@dataclass
class Suite:
    broker: DevBroker
    insurance_url: str
    insurance: ServiceRuntime
    inspection: httpx.AsyncClient
    inspection_runtime: ServiceRuntime
    issuer: DevIssuer
    stack: AsyncExitStack
    inspection_settings: InspectionSettings

    async def register_policy(self, n: int, **overrides: Any) -> httpx.Response:
        body = policy_body(n, **overrides)
        async with httpx.AsyncClient(base_url=self.insurance_url, timeout=10) as client:
            return await client.post(
                "/policies", json=body, headers=bearer(self.issuer, "insurer", "PICC-QD")
            )

    async def registry_entry(self, n: int) -> dict[str, Any] | None:
        r = await self.inspection.get(
            f"/enterprises/{make_uscc(n)}", headers=bearer(self.issuer, "officer")
        )
        return r.json() if r.status_code == 200 else None

    async def inbox_count(self) -> int:
        async with self.inspection_runtime.session_factory() as session:
            return int(
                await session.scalar(
                    sa.select(sa.func.count()).select_from(self.inspection_runtime.tables.inbox)
                )
                or 0
            )

    async def restart_inspection(self) -> None:
        """Stop the consumer service and start it again on the same database."""
        await self.stack.aclose()
        self.stack = AsyncExitStack()
        client, runtime = await self.stack.enter_async_context(
            running(create_inspection(self.inspection_settings))
        )
        self.inspection, self.inspection_runtime = client, runtime


@pytest.fixture
async def suite(
    own_broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
    database_url: str,
    make_database_url: Callable[[str], Awaitable[str]],
) -> AsyncIterator[Suite]:
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    insurance_settings = InsuranceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=own_broker.bootstrap,
        auth=auth_settings,
        relay_poll_seconds=0.2,
        kafka_timeout_seconds=3,
    )
    insurance_app = create_insurance(insurance_settings)
    async with serving(insurance_app) as insurance_url:
        await register_insurer(insurance_app.state.runtime, "PICC-QD")
        inspection_settings = InspectionSettings(
            database_url=await make_database_url(kind),
            kafka_bootstrap_servers=own_broker.bootstrap,
            auth=auth_settings,
            source_urls={"insurance": insurance_url},
            consumer_sweep_seconds=1.0,
            kafka_timeout_seconds=3,
        )
        stack = AsyncExitStack()
        client, runtime = await stack.enter_async_context(
            running(create_inspection(inspection_settings))
        )
        suite = Suite(
            own_broker,
            insurance_url,
            insurance_app.state.runtime,
            client,
            runtime,
            issuer,
            stack,
            inspection_settings,
        )
        try:
            yield suite
        finally:
            await suite.stack.aclose()


async def test_activated_policy_appears_in_registry(suite: Suite) -> None:
    r = await suite.register_policy(1)
    assert r.status_code == 201, r.text
    entry = await eventually(lambda: suite.registry_entry(1))
    assert entry["name"] == "青岛第1化工有限公司"
    assert entry["insurer_id"] == "PICC-QD"
    assert entry["is_insured"] is True
    assert entry["tier"] == "key"
    assert await suite.inbox_count() == 1


async def test_writes_succeed_with_broker_down_and_apply_once_after(suite: Suite) -> None:
    suite.broker.stop()
    responses = [await suite.register_policy(n) for n in (11, 12, 13)]
    assert [r.status_code for r in responses] == [201, 201, 201]
    async with suite.insurance.session_factory() as session:
        pending = await session.scalar(
            sa.select(sa.func.count()).where(suite.insurance.tables.outbox.c.published_at.is_(None))
        )
    assert pending == 3
    suite.broker.start()
    for n in (11, 12, 13):
        await eventually(functools.partial(suite.registry_entry, n), timeout=40)
    assert await suite.inbox_count() == 3


async def test_broker_losing_its_data_loses_no_event(suite: Suite) -> None:
    assert (await suite.register_policy(21)).status_code == 201
    await eventually(lambda: suite.registry_entry(21))
    # The consumer is away while the next event is published; then the memory broker
    # restarts and forgets it. Only the source still has it.
    await suite.stack.aclose()
    assert (await suite.register_policy(22)).status_code == 201

    async def published() -> bool:
        async with suite.insurance.session_factory() as session:
            return bool(
                await session.scalar(
                    sa.select(sa.func.count()).where(
                        suite.insurance.tables.outbox.c.published_at.is_not(None)
                    )
                )
                == 2
            )

    await eventually(published)
    suite.broker.restart()
    await suite.restart_inspection()
    # No new event arrives to reveal the gap: the idle sweep must find it.
    entry = await eventually(lambda: suite.registry_entry(22), timeout=40)
    assert entry["insurer_id"] == "PICC-QD"
    # A later event after the gap flows normally and nothing is applied twice.
    assert (await suite.register_policy(23)).status_code == 201
    await eventually(lambda: suite.registry_entry(23), timeout=40)
    assert await suite.inbox_count() == 3


async def test_redelivered_events_change_nothing(suite: Suite) -> None:
    assert (await suite.register_policy(31)).status_code == 201
    before = await eventually(lambda: suite.registry_entry(31))
    # Send the very same CloudEvent again, twice, as a broker redelivery would.
    from kernel.events import to_kafka
    from kernel.replay import read_events

    page = await read_events(
        suite.insurance.session_factory, suite.insurance.tables, "/insurance", 0, 10
    )
    message = to_kafka(page.events[0])
    producer = AIOKafkaProducer(bootstrap_servers=suite.broker.bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(
                "insurance.events",
                value=message.value,
                key=str(message.key).encode(),
                headers=list(message.headers.items()),
            )
        await producer.send_and_wait("insurance.events", value=b"\x00not a cloudevent", key=b"x")
    finally:
        await producer.stop()
    assert (await suite.register_policy(32)).status_code == 201
    await eventually(lambda: suite.registry_entry(32))
    assert await suite.registry_entry(31) == before
    assert await suite.inbox_count() == 2

    async def dead_lettered() -> int:
        async with suite.inspection_runtime.session_factory() as session:
            return int(
                await session.scalar(
                    sa.select(sa.func.count()).select_from(
                        suite.inspection_runtime.tables.dead_letters
                    )
                )
                or 0
            )

    assert await eventually(dead_lettered) == 1
    # The parked message is also on the service's dead-letter topic, with its error.
    consumer = AIOKafkaConsumer(
        "inspection.dlq", bootstrap_servers=suite.broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            letters: list[Any] = []
            while not letters:
                batch = await consumer.getmany(timeout_ms=500)
                letters = [m for messages in batch.values() for m in messages]
    finally:
        await consumer.stop()
    assert letters[0].value == b"\x00not a cloudevent"
    headers = dict(letters[0].headers)
    assert b"MalformedEvent" in headers["error"]
    assert headers["origin-topic"] == b"insurance.events"

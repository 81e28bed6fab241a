"""Catalogue publications reach the broker through the outbox relay, keyed by item code."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kernel.auth.dev import DevIssuer
from kernel.contracts.permits import ItemVersionPublishedV1
from kernel.devbroker import DevBroker
from kernel.events import EventEnvelope, from_kafka, parse_payload
from kernel.kafka import make_consumer
from kernel.settings import AuthSettings
from kernel.workdays import shanghai_today
from services.permits.config import PermitsSettings
from services.permits.main import create_app
from services.permits.seed import SEED_ITEMS
from tests.support import bearer, eventually, running


@pytest.fixture
def own_broker() -> Iterator[DevBroker]:
    """A broker for this test alone, so the topic holds only this database's events."""
    with DevBroker() as broker:
        yield broker


async def test_seed_and_new_versions_are_published_in_order(
    database_url: str, own_broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> None:
    broker = own_broker
    settings = PermitsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_poll_seconds=0.2,
        consumers_enabled=False,
    )
    async with running(create_app(settings)) as (client, runtime):
        body = {
            k: v for k, v in SEED_ITEMS[0].items() if k not in {"code", "effective_on", "materials"}
        }
        body["materials"] = [dict(m) for m in SEED_ITEMS[0]["materials"]]
        body["effective_on"] = (shanghai_today() + timedelta(days=1)).isoformat()
        r = await client.post(
            "/items/QD-AJ-001/versions", json=body, headers=bearer(issuer, "admin", "admin-001")
        )
        assert r.status_code == 201, r.text
        outbox = runtime.tables.outbox

        async def all_published() -> bool:
            async with runtime.session_factory() as session:
                pending = await session.scalar(
                    sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
                )
            return pending == 0

        await eventually(all_published)

    consumer = make_consumer(broker.bootstrap, "catalogue-probe", timeout_s=10)
    await consumer.start()
    try:
        consumer.subscribe([settings.topic])
        received: list[tuple[bytes, EventEnvelope]] = []
        async with asyncio.timeout(30):
            while len(received) < len(SEED_ITEMS) + 1:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    received += [(m.key, from_kafka(m.value, m.key, m.headers)) for m in records]
    finally:
        await consumer.stop()
    assert {e.source for _, e in received} == {"/permits"}
    assert [e.sequence for _, e in received] == list(range(1, len(SEED_ITEMS) + 2))
    assert [k for k, _ in received[:-1]] == [i["code"].encode() for i in SEED_ITEMS]
    key, last = received[-1]
    assert key == b"QD-AJ-001"
    payload = parse_payload(last, ItemVersionPublishedV1)
    assert (payload.code, payload.version, payload.approval_mode) == ("QD-AJ-001", 2, "standard")

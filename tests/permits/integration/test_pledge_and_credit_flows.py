"""Pledge and credit flows through the real broker (flows 1 and 2 of DOMAIN.md, permits' side).

Inspection's verification result and credit's list changes are published here as their
contract events (CloudEvents on their topics, in sequence), exactly as those services will.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kernel.auth.dev import DevIssuer
from kernel.contracts.credit import CreditStandingChangedV1
from kernel.contracts.inspection import PledgeVerifiedV1
from kernel.db import utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventContract, EventEnvelope, from_kafka, to_kafka
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.permits.config import PermitsSettings
from services.permits.main import create_app
from services.permits.seed import SEED_ITEMS
from tests.support import bearer, eventually, running
from tests.support.calendar import rehearsal_calendar_dir

USCC = make_uscc(4301)


@pytest.fixture
def own_broker() -> Iterator[DevBroker]:
    with DevBroker() as broker:
        yield broker


class Source:
    """Publishes a service's contract events with that service's contiguous sequence."""

    def __init__(self, broker: DevBroker, name: str) -> None:
        self.broker, self.name, self.sequence = broker, name, 0

    async def publish(self, subject: str, payload: EventContract) -> None:
        self.sequence += 1
        envelope = EventEnvelope(
            id=str(uuid.uuid4()),
            source=f"/{self.name}",
            type=payload.TYPE,
            subject=subject,
            time=utcnow(),
            sequence=self.sequence,
            data=payload.model_dump(mode="json"),
        )
        message = to_kafka(envelope)
        producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                f"{self.name}.events",
                value=message.value,
                key=str(message.key).encode(),
                headers=list(message.headers.items()),
            )
        finally:
            await producer.stop()


async def permits_events(broker: DevBroker, count: int) -> list[EventEnvelope]:
    """Read permits' own topic from the start until `count` events after the seeded
    catalogue's arrived."""
    count += len(SEED_ITEMS)
    consumer = AIOKafkaConsumer(
        "permits.events", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    events: list[EventEnvelope] = []
    try:
        async with asyncio.timeout(30):
            while len(events) < count:
                batch = await consumer.getmany(timeout_ms=500)
                events += [
                    from_kafka(m.value, m.key, m.headers)
                    for messages in batch.values()
                    for m in messages
                ]
    finally:
        await consumer.stop()
    return events


@pytest.fixture
async def permits(
    own_broker: DevBroker, auth_settings: AuthSettings, database_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = PermitsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=own_broker.bootstrap,
        auth=auth_settings,
        relay_poll_seconds=0.2,
        licence_key_dir=tmp_path / "keys",
        source_urls={},
        consumer_sweep_seconds=60,
        # A pledge's verification deadline lies months ahead, possibly in a year the
        # installed official calendar does not cover yet.
        calendar_dir=rehearsal_calendar_dir(tmp_path),
    )
    async with running(create_app(settings)) as (client, _runtime):
        yield client


async def apply(
    client: httpx.AsyncClient, issuer: DevIssuer, code: str, pledge: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {"item_code": code, "enterprise_name": "青岛港湾加油站有限公司"}
    if pledge:
        text = (await client.get(f"/items/{code}/pledge")).json()
        body["pledge"] = {
            "accepted": True,
            "text_sha256": hashlib.sha256(text["text"].encode()).hexdigest(),
        }
    r = await client.post("/applications", json=body, headers=bearer(issuer, "enterprise", USCC))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def licence_status(client: httpx.AsyncClient, number: str) -> str:
    return str((await client.get(f"/licences/{number}")).json()["status"])


async def test_false_pledge_revokes_the_licence_and_reports_the_breach(
    permits: httpx.AsyncClient, own_broker: DevBroker, issuer: DevIssuer
) -> None:
    kept = (await apply(permits, issuer, "QD-AJ-005", pledge=True))["licence"]
    false = (await apply(permits, issuer, "QD-AJ-005", pledge=True))["licence"]
    events = await permits_events(own_broker, 4)
    requests = [e for e in events if e.type == "permits.pledge.verification_requested.v1"]
    assert [e.data["licence_number"] for e in requests] == [kept["number"], false["number"]]
    assert requests[0].data["verify_by"] is not None

    inspection = Source(own_broker, "inspection")
    await inspection.publish(
        USCC,
        PledgeVerifiedV1(
            licence_number=kept["number"],
            uscc=USCC,
            passed=True,
            findings="与承诺一致",
            verified_on=date.today(),
            inspectors=["officer-011", "officer-027"],
        ),
    )
    await inspection.publish(
        USCC,
        PledgeVerifiedV1(
            licence_number=false["number"],
            uscc=USCC,
            passed=False,
            findings="储罐区未设置可燃气体报警装置",
            verified_on=date.today(),
            inspectors=["officer-011", "officer-027"],
        ),
    )

    async def revoked() -> bool:
        return await licence_status(permits, false["number"]) == "revoked"

    await eventually(revoked)
    check = (await permits.get("/licences/verify", params={"token": false["token"]})).json()
    assert check["status"] == "revoked"
    kept_now = (await permits.get(f"/licences/{kept['number']}")).json()
    assert kept_now["status"] == "active"
    assert kept_now["pledge_status"] == "kept"
    events = await permits_events(own_broker, 6)
    breach = [e for e in events if e.type == "permits.pledge.breached.v1"]
    assert [e.data["licence_number"] for e in breach] == [false["number"]]
    assert "可燃气体" in breach[0].data["findings"]
    assert [e.data["status"] for e in events if e.type == "permits.licence.status_changed.v1"] == [
        "revoked"
    ]


async def test_black_list_stops_fast_paths_and_suspends_until_removed(
    permits: httpx.AsyncClient, own_broker: DevBroker, issuer: DevIssuer
) -> None:
    licence = (await apply(permits, issuer, "QD-AJ-003"))["licence"]
    credit = Source(own_broker, "credit")
    await credit.publish(
        USCC,
        CreditStandingChangedV1(
            uscc=USCC,
            standing="blacklisted",
            previous="normal",
            reason="拒不履行行政处罚决定",
            effective_on=date.today(),
        ),
    )

    async def suspended() -> bool:
        return await licence_status(permits, licence["number"]) == "suspended"

    await eventually(suspended)
    assert (await apply(permits, issuer, "QD-AJ-003"))["path"] == "standard"
    await credit.publish(
        USCC,
        CreditStandingChangedV1(
            uscc=USCC,
            standing="normal",
            previous="blacklisted",
            reason="信用修复完成",
            effective_on=date.today(),
        ),
    )

    async def active() -> bool:
        return await licence_status(permits, licence["number"]) == "active"

    await eventually(active)
    assert (await apply(permits, issuer, "QD-AJ-003"))["path"] == "instant"

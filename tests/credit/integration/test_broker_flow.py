"""Flows 2 and 3 of DOMAIN.md through the real broker: credit and permits as apps, inspection
as its contract events.

A penalty decision from an inspection case reaches credit over Kafka, is published with its
repair notice and guide, and, as the inspectors found a listing case, opens a black-list case.
After the pre-notice, the objection and the leader's decision the enterprise is black-listed:
permits, reading credit's events, stops its fast paths. A year later the enterprise repairs its
credit: it leaves the black list (permits returns to normal) and the penalty leaves publicity.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kernel.auth.dev import DevIssuer
from kernel.contracts.inspection import PenaltyDecidedV1
from kernel.db import utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventContract, EventEnvelope, from_kafka, to_kafka
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app as create_credit
from services.permits.config import PermitsSettings
from services.permits.main import create_app as create_permits
from tests.support import bearer, eventually, running, serving

USCC = make_uscc(4402)
DECIDED = date(2026, 3, 10)


class Clock:
    """The business date of both the consumers and the requests, moved by the test."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


@pytest.fixture
def own_broker() -> Iterator[DevBroker]:
    with DevBroker() as broker:
        yield broker


async def publish_as_inspection(broker: DevBroker, sequence: int, payload: EventContract) -> None:
    """Inspection's event on its topic, keyed by USCC, with its contiguous sequence."""
    envelope = EventEnvelope(
        id=str(uuid.uuid4()),
        source="/inspection",
        type=payload.TYPE,
        subject=USCC,
        time=utcnow(),
        sequence=sequence,
        data=payload.model_dump(mode="json"),
    )
    message = to_kafka(envelope)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            "inspection.events",
            value=message.value,
            key=str(message.key).encode(),
            headers=list(message.headers.items()),
        )
    finally:
        await producer.stop()


async def credit_events(broker: DevBroker, count: int) -> list[EventEnvelope]:
    """Credit's topic from the start, until `count` events arrived."""
    consumer = AIOKafkaConsumer(
        "credit.events", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
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
    return sorted(events, key=lambda e: e.sequence or 0)


@pytest.fixture
async def apps(
    own_broker: DevBroker,
    auth_settings: AuthSettings,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Clock]]:
    clock = Clock(date(2026, 3, 12))
    # Permits owns its own database (a file here, whichever database credit runs on) and is
    # served over real HTTP: credit backfills permits' events from its replay endpoint, since
    # events of different subjects travel on different partitions.
    permits_app = create_permits(
        PermitsSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'permits.db'}",
            kafka_bootstrap_servers=own_broker.bootstrap,
            auth=auth_settings,
            relay_poll_seconds=0.2,
            licence_key_dir=tmp_path / "keys",
            source_urls={},
            consumer_sweep_seconds=60,
        )
    )
    async with serving(permits_app) as permits_url:
        credit_app = create_credit(
            CreditSettings(
                database_url=database_url,
                kafka_bootstrap_servers=own_broker.bootstrap,
                auth=auth_settings,
                relay_poll_seconds=0.1,
                background_enabled=False,
                source_urls={"permits": permits_url},
                consumer_sweep_seconds=60,
            ),
            today=clock,
        )
        credit_app.dependency_overrides[business_today] = clock
        async with (
            running(credit_app) as (credit, _runtime),
            httpx.AsyncClient(base_url=permits_url) as permits,
        ):
            yield credit, permits, clock


def as_(issuer: DevIssuer, role: str, sub: str = "tester") -> dict[str, str]:
    return bearer(issuer, role, sub)


async def apply_instant_item(permits: httpx.AsyncClient, issuer: DevIssuer) -> dict[str, Any]:
    r = await permits.post(
        "/applications",
        json={"item_code": "QD-AJ-003", "enterprise_name": "青岛港湾加油站有限公司"},
        headers=as_(issuer, "enterprise", USCC),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_penalty_blacklisting_and_repair_cross_the_broker(
    apps: tuple[httpx.AsyncClient, httpx.AsyncClient, Clock],
    own_broker: DevBroker,
    issuer: DevIssuer,
) -> None:
    credit, permits, clock = apps
    officer = as_(issuer, "officer", "officer-7")
    leader = as_(issuer, "leader", "leader-1")
    enterprise = as_(issuer, "enterprise", USCC)
    licence = (await apply_instant_item(permits, issuer))["licence"]

    await publish_as_inspection(
        own_broker,
        1,
        PenaltyDecidedV1(
            case_id=str(uuid.uuid4()),
            decision_number="青应急罚[2026]31号",
            uscc=USCC,
            enterprise_name="青岛港湾加油站有限公司",
            decided_on=DECIDED,
            legal_basis="《中华人民共和国安全生产法》第九十九条",
            violation_summary="未取得危险化学品经营许可证擅自经营",
            fine_amount=None,
            other_measures="责令停产停业整顿",
            severity="serious",
            blacklist_criterion="unlicensed_operation",
        ),
    )

    # The public sees the penalty in publicity, with its notice and guide.
    async def published() -> list[dict[str, Any]]:
        return list((await credit.get("/penalties", params={"uscc": USCC})).json()["items"])

    penalty = (await eventually(published))[0]
    assert penalty["decision_number"] == "青应急罚〔2026〕31号"
    assert (penalty["publicity_starts_on"], penalty["publicity_ends_on"]) == (
        "2026-03-12",
        "2029-03-10",
    )
    assert penalty["repair_eligible_on"] == "2027-03-11"
    assert "信用修复告知书" in penalty["repair_notice"]
    guide = await credit.get(f"/records/{penalty['id']}/guide")
    assert guide.status_code == 200
    assert "2027年3月11日" in guide.text

    # The listing case the inspectors found: pre-notice, objection, the leader's decision.
    cases = (await credit.get("/blacklist/cases", headers=officer)).json()["items"]
    assert [(c["uscc"], c["state"], c["criterion"]) for c in cases] == [
        (USCC, "proposed", "unlicensed_operation")
    ]
    case_id = cases[0]["id"]
    clock.day = date(2026, 3, 13)
    r = await credit.post(f"/blacklist/{case_id}/notice", headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["objection_due_on"] == "2026-03-20"
    clock.day = date(2026, 3, 16)
    r = await credit.post(
        f"/blacklist/{case_id}/objection",
        json={"statement": "已于3月15日取得许可证，请求不予列入"},
        headers=enterprise,
    )
    assert r.status_code == 200, r.text
    clock.day = date(2026, 3, 17)
    r = await credit.post(
        f"/blacklist/{case_id}/decision",
        json={"outcome": "listed", "reason": "无证经营期间的违法事实清楚，事后取证不影响列入"},
        headers=leader,
    )
    assert r.status_code == 200, r.text
    assert (await credit.get(f"/standing/{USCC}")).json()["standing"] == "blacklisted"

    # Permits reads the standing change from credit's topic: fast paths stop.
    async def suspended() -> bool:
        status = (await permits.get(f"/licences/{licence['number']}")).json()["status"]
        return bool(status == "suspended")

    await eventually(suspended)
    assert (await apply_instant_item(permits, issuer))["path"] == "standard"

    # A year on, the enterprise repairs: first the listing, then the penalty's publicity.
    clock.day = date(2027, 3, 18)
    repair = {
        "contact_name": "王经理",
        "contact_phone": "13805320000",
        "statement": "已取得许可证并完成整改，履行了处罚决定",
        "evidence": [
            {
                "kind": "rectification_proof",
                "title": "危险化学品经营许可证",
                "document_sha256": "a" * 64,
            }
        ],
        "commitment_signed": True,
    }
    for kind, target in (("blacklist", case_id), ("record", penalty["id"])):
        r = await credit.post(
            "/repairs",
            json={**repair, "target_kind": kind, "target_id": target},
            headers=enterprise,
        )
        assert r.status_code == 201, r.text
        r = await credit.post(
            f"/repairs/{r.json()['id']}/decision",
            json={"outcome": "approved", "reason": "材料真实完整"},
            headers=officer,
        )
        assert r.status_code == 200, r.text

    assert (await credit.get(f"/standing/{USCC}")).json()["standing"] == "normal"
    assert (await credit.get("/penalties", params={"uscc": USCC})).json()["items"] == []

    async def active() -> bool:
        status = (await permits.get(f"/licences/{licence['number']}")).json()["status"]
        return bool(status == "active")

    await eventually(active)
    assert (await apply_instant_item(permits, issuer))["path"] == "instant"

    events = await credit_events(own_broker, 6)
    assert [(e.type, e.data.get("standing") or e.data.get("reason")) for e in events] == [
        ("credit.penalty.published.v1", None),
        ("credit.standing.changed.v1", "blacklisted"),
        ("credit.standing.changed.v1", "normal"),
        ("credit.repair.decided.v1", None),
        ("credit.publicity.ended.v1", "repaired"),
        ("credit.repair.decided.v1", None),
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.subject for e in events} == {USCC}

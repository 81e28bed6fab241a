"""insurance.policy.ended.v1 → the registry's "insured until" moves back on a cancellation,
applied through the inbox (EventApplier) on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.consumer import EventApplier
from kernel.contracts.insurance import PolicyActivatedV1, PolicyEndedV1
from kernel.db import utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventContract, EventEnvelope
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.inspection.config import InspectionSettings
from services.inspection.consumers import handlers
from services.inspection.main import create_app
from services.inspection.models import Enterprise
from tests.support import running

USCC = make_uscc(801)


def activated(policy_id: str, insurer: str, ends_on: date) -> PolicyActivatedV1:
    return PolicyActivatedV1(
        policy_id=policy_id,
        policy_number=f"AQ-{policy_id}",
        uscc=USCC,
        enterprise_name="青岛海湾化工有限公司",
        insurer_id=insurer,
        sector="hazardous_chemicals",
        starts_on=date(2026, 1, 1),
        ends_on=ends_on,
        coverage_amount=Decimal("5000000.00"),
        premium=Decimal("18000.00"),
    )


def ended(
    policy_id: str,
    insurer: str,
    last_covered_on: date,
    reason: Literal["expired", "cancelled"] = "cancelled",
    uscc: str = USCC,
) -> PolicyEndedV1:
    return PolicyEndedV1(
        policy_id=policy_id,
        policy_number=f"AQ-{policy_id}",
        uscc=uscc,
        insurer_id=insurer,
        reason=reason,
        last_covered_on=last_covered_on,
    )


@dataclass
class Inspection:
    runtime: ServiceRuntime
    applier: EventApplier
    sequence: int = 0

    async def deliver(self, payload: EventContract, event_id: str | None = None) -> str:
        self.sequence += 1
        envelope = EventEnvelope(
            id=event_id or str(uuid.uuid4()),
            source="/insurance",
            type=payload.TYPE,
            subject=USCC,
            time=utcnow(),
            sequence=self.sequence,
            data=payload.model_dump(mode="json"),
        )
        return await self.applier.deliver(envelope, None)

    async def cover(self, uscc: str = USCC) -> tuple[str | None, date | None] | None:
        async with self.runtime.session_factory() as session:
            entry = await session.get(Enterprise, uscc)
        return None if entry is None else (entry.insurer_id, entry.insured_until)


@pytest.fixture
async def inspection(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings
) -> AsyncIterator[Inspection]:
    settings = InspectionSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    async with running(create_app(settings)) as (_client, runtime):
        applier = EventApplier(
            service="inspection",
            factory=runtime.session_factory,
            tables=runtime.tables,
            handlers=handlers,
            replay=None,
            max_attempts=1,
        )
        yield Inspection(runtime, applier)


async def test_a_cancellation_moves_insured_until_back(inspection: Inspection) -> None:
    await inspection.deliver(activated("p1", "PICC-QD", date(2026, 12, 31)))
    assert await inspection.cover() == ("PICC-QD", date(2026, 12, 31))
    assert await inspection.deliver(ended("p1", "PICC-QD", date(2026, 5, 20))) == "applied"
    assert await inspection.cover() == ("PICC-QD", date(2026, 5, 20))


async def test_a_redelivered_end_changes_nothing(inspection: Inspection) -> None:
    await inspection.deliver(activated("p1", "PICC-QD", date(2026, 12, 31)))
    event_id = str(uuid.uuid4())
    await inspection.deliver(ended("p1", "PICC-QD", date(2026, 5, 20)), event_id)
    async with inspection.runtime.session_factory() as session:
        version = await session.scalar(sa.select(Enterprise.version).where(Enterprise.uscc == USCC))
    inspection.sequence -= 1
    again = await inspection.deliver(ended("p1", "PICC-QD", date(2026, 5, 20)), event_id)
    assert again == "duplicate"
    async with inspection.runtime.session_factory() as session:
        assert (
            await session.scalar(sa.select(Enterprise.version).where(Enterprise.uscc == USCC))
            == version
        )


async def test_an_expiry_leaves_a_renewal_by_the_same_insurer_in_place(
    inspection: Inspection,
) -> None:
    await inspection.deliver(activated("p1", "PICC-QD", date(2026, 12, 31)))
    await inspection.deliver(activated("p2", "PICC-QD", date(2027, 12, 31)))
    assert await inspection.cover() == ("PICC-QD", date(2027, 12, 31))
    await inspection.deliver(ended("p1", "PICC-QD", date(2026, 12, 31), "expired"))
    assert await inspection.cover() == ("PICC-QD", date(2027, 12, 31))


async def test_an_expiry_at_the_recorded_end_changes_nothing(inspection: Inspection) -> None:
    await inspection.deliver(activated("p1", "PICC-QD", date(2026, 12, 31)))
    await inspection.deliver(ended("p1", "PICC-QD", date(2026, 12, 31), "expired"))
    assert await inspection.cover() == ("PICC-QD", date(2026, 12, 31))


async def test_another_insurers_cancellation_does_not_touch_the_cover(
    inspection: Inspection,
) -> None:
    await inspection.deliver(activated("p1", "PAIC-QD", date(2026, 6, 30)))
    await inspection.deliver(activated("p2", "PICC-QD", date(2027, 3, 31)))
    await inspection.deliver(ended("p1", "PAIC-QD", date(2026, 5, 1)))
    assert await inspection.cover() == ("PICC-QD", date(2027, 3, 31))


async def test_an_unknown_enterprise_is_not_entered(inspection: Inspection) -> None:
    other = make_uscc(802)
    assert await inspection.deliver(ended("p9", "PICC-QD", date(2026, 5, 1), uscc=other)) == (
        "applied"
    )
    assert await inspection.cover(other) is None
    outbox = inspection.runtime.tables.outbox
    async with inspection.runtime.session_factory() as session:
        assert (await session.execute(sa.select(outbox.c.type))).all() == []

"""The registry copy on SQLite and PostgreSQL: inspection's EnterpriseRegisteredV1 applied
through the real inbox, redelivered, repeated with a new classification, and feeding coverage
gaps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from kernel.consumer import EventApplier
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.db import unit_of_work
from kernel.events import EventEnvelope
from kernel.uscc import make_uscc
from services.insurance.consumers import handlers
from services.insurance.models import Enterprise
from services.insurance.registry_consumers import copy_enterprise
from tests.insurance.api.test_supervision import get
from tests.insurance.conftest import InsuranceApi

USCC = make_uscc(501)


def announcement(seq: int, **over: Any) -> EventEnvelope:
    data = {
        "uscc": USCC,
        "name": "青岛港湾危化品储运有限公司",
        "district": "黄岛区",
        "sector": "trade",
        "tier": "general",
    }
    data.update(over)
    return EventEnvelope(
        id=str(uuid.uuid4()),
        source="/inspection",
        type=EnterpriseRegisteredV1.TYPE,
        subject=USCC,
        time=datetime.now(UTC),
        sequence=seq,
        data=data,
    )


def applier(api: InsuranceApi) -> EventApplier:
    return EventApplier(
        service="insurance",
        factory=api.runtime.session_factory,
        tables=api.runtime.tables,
        handlers=handlers,
        replay=None,
        retry_base_seconds=0.01,
    )


async def copies(api: InsuranceApi) -> list[tuple[str, ...]]:
    async with api.runtime.session_factory() as session:
        rows = await session.execute(
            sa.select(
                Enterprise.uscc,
                Enterprise.name,
                Enterprise.district,
                Enterprise.sector,
                Enterprise.tier,
            )
        )
        return [tuple(row) for row in rows]


class TestRegistryCopy:
    async def test_announcements_upsert_one_row_and_redelivery_is_harmless(
        self, insurance: InsuranceApi
    ) -> None:
        app = applier(insurance)
        first = announcement(1)
        assert await app.deliver(first, None) == "applied"
        assert await app.deliver(first, None) == "duplicate"
        assert await copies(insurance) == [
            (USCC, "青岛港湾危化品储运有限公司", "黄岛区", "trade", "general")
        ]
        # Inspection classifies it again: the latest announcement wins.
        again = announcement(2, district="即墨区", sector="hazardous_chemicals", tier="key")
        assert await app.deliver(again, None) == "applied"
        assert await copies(insurance) == [
            (USCC, "青岛港湾危化品储运有限公司", "即墨区", "hazardous_chemicals", "key")
        ]
        assert await app.cursor("inspection") == 2

    async def test_the_same_event_applied_twice_outside_the_inbox_leaves_one_row(
        self, insurance: InsuranceApi
    ) -> None:
        event = EnterpriseRegisteredV1(
            uscc=USCC, name="青岛港湾化工有限公司", district="城阳区", sector="mining", tier="key"
        )
        for _ in range(2):
            async with unit_of_work(insurance.runtime.session_factory) as session:
                await copy_enterprise(session, event)
        assert await copies(insurance) == [
            (USCC, "青岛港湾化工有限公司", "城阳区", "mining", "key")
        ]

    async def test_a_malformed_announcement_is_dead_lettered_not_copied(
        self, insurance: InsuranceApi
    ) -> None:
        outcome = await applier(insurance).deliver(announcement(1, uscc="91370200XXXXXXXX00"), None)
        assert outcome == "dead_lettered"
        assert await copies(insurance) == []

    async def test_a_copied_high_risk_enterprise_without_cover_is_a_gap(
        self, insurance: InsuranceApi
    ) -> None:
        app = applier(insurance)
        await app.deliver(announcement(1, sector="gas_station"), None)
        await app.deliver(announcement(2, uscc=make_uscc(502), sector="trade"), None)
        page = await get(insurance, "/coverage-gaps", insurance.as_("officer"))
        assert [(g["uscc"], g["sector"]) for g in page["items"]] == [(USCC, "gas_station")]

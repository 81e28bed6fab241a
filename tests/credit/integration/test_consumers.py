"""Credit's consumers on a real database (SQLite and PostgreSQL): inspection's penalty decisions
and permits' false pledges become published records, exactly once, through the inbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.consumer import EventApplier
from kernel.contracts.inspection import PenaltyDecidedV1
from kernel.contracts.permits import PledgeBreachedV1
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventContract, EventEnvelope
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit.config import CreditSettings
from services.credit.consumers import make_handlers
from services.credit.main import create_app
from services.credit.models import (
    BlacklistEntry,
    CreditRecord,
    HistoryEntry,
    RedlistEntry,
    Standing,
)
from tests.support import running

USCC = make_uscc(901)
TODAY = date(2026, 3, 12)


def decided(**overrides: Any) -> PenaltyDecidedV1:
    fields: dict[str, Any] = {
        "case_id": "c7f1d6a2-0000-4000-8000-000000000001",
        "decision_number": "青应急罚[2026]31号",
        "uscc": USCC,
        "enterprise_name": "青岛海湾化工有限公司",
        "decided_on": date(2026, 3, 10),
        "legal_basis": "《中华人民共和国安全生产法》第九十七条",
        "violation_summary": "未按规定对从业人员进行安全生产教育和培训",
        "fine_amount": Decimal("20000.00"),
        "other_measures": "责令限期改正",
        "severity": "general",
        "blacklist_criterion": None,
    }
    fields.update(overrides)
    return PenaltyDecidedV1(**fields)


def breached(**overrides: Any) -> PledgeBreachedV1:
    fields: dict[str, Any] = {
        "licence_number": "QDWH-2026-0042",
        "uscc": USCC,
        "enterprise_name": "青岛海湾化工有限公司",
        "item_code": "WH-JY-01",
        "item_name": "危险化学品经营许可证延续",
        "pledge_sha256": "cd" * 32,
        "findings": "储存场所面积与承诺不符",
        "verified_on": date(2026, 3, 11),
    }
    fields.update(overrides)
    return PledgeBreachedV1(**fields)


@dataclass
class Credit:
    runtime: ServiceRuntime
    applier: EventApplier
    sequences: dict[str, int]

    async def deliver(
        self, source: str, payload: EventContract, event_id: str | None = None
    ) -> str:
        self.sequences[source] = self.sequences.get(source, 0) + 1
        envelope = EventEnvelope(
            id=event_id or str(uuid.uuid4()),
            source=f"/{source}",
            type=payload.TYPE,
            subject=USCC,
            time=utcnow(),
            sequence=self.sequences[source],
            data=payload.model_dump(mode="json"),
        )
        return await self.applier.deliver(envelope, None)

    async def records(self) -> list[CreditRecord]:
        async with self.runtime.session_factory() as session:
            return list((await session.scalars(sa.select(CreditRecord))).all())

    async def events(self) -> list[Any]:
        table = self.runtime.tables.outbox
        async with self.runtime.session_factory() as session:
            return list((await session.execute(sa.select(table).order_by(table.c.id))).all())


@pytest.fixture
async def credit(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings
) -> AsyncIterator[Credit]:
    settings = CreditSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    app = create_app(settings)
    async with running(app) as (_client, runtime):
        applier = EventApplier(
            service="credit",
            factory=runtime.session_factory,
            tables=runtime.tables,
            handlers=make_handlers(runtime.calendar, today=lambda: TODAY),
            replay=None,
            max_attempts=1,
        )
        yield Credit(runtime, applier, {})


class TestPenaltyDecided:
    async def test_publishes_the_penalty_with_notice_guide_and_event(self, credit: Credit) -> None:
        assert await credit.deliver("inspection", decided()) == "applied"
        (record,) = await credit.records()
        assert record.record_class == "penalty"
        assert record.document_number == "青应急罚〔2026〕31号"
        assert (record.source, record.source_reference) == (
            "inspection",
            "inspection case c7f1d6a2-0000-4000-8000-000000000001",
        )
        assert (record.state, record.publicity_starts_on, record.publicity_ends_on) == (
            "published",
            TODAY,
            date(2027, 3, 10),
        )
        assert record.publish_by == date(2026, 3, 19)
        assert record.recorded_by.startswith("event:inspection:")
        assert record.repair_notice is not None
        assert "（青应急罚〔2026〕31号）" in record.repair_notice
        assert record.repair_guide is not None
        assert "罚款人民币20,000.00元的缴纳凭证" in record.repair_guide
        events = await credit.events()
        assert [e.type for e in events] == ["credit.penalty.published.v1"]
        assert events[0].data["record_id"] == record.id
        assert events[0].data["decision_number"] == "青应急罚〔2026〕31号"
        async with credit.runtime.session_factory() as session:
            history = (await session.scalars(sa.select(HistoryEntry))).all()
        assert [(h.kind, h.public, h.subject_id) for h in history] == [
            ("published", True, record.id)
        ]

    async def test_the_same_decision_twice_records_once(self, credit: Credit) -> None:
        event_id = str(uuid.uuid4())
        assert await credit.deliver("inspection", decided(), event_id) == "applied"
        # Redelivered under a new sequence, then re-sent as a new event in another bracket form.
        assert await credit.deliver("inspection", decided(), event_id) == "duplicate"
        other = decided(decision_number="青应急罚（2026）31号")
        assert await credit.deliver("inspection", other) == "applied"
        assert len(await credit.records()) == 1
        assert len(await credit.events()) == 1

    async def test_a_decision_past_its_period_is_kept_on_file_unpublished(
        self, credit: Credit
    ) -> None:
        old = decided(decided_on=date(2025, 1, 10), decision_number="青应急罚〔2025〕3号")
        assert await credit.deliver("inspection", old) == "applied"
        (record,) = await credit.records()
        assert (record.state, record.end_reason, record.ended_on) == (
            "ended",
            "expired",
            date(2026, 1, 11),
        )
        assert record.repair_notice is None
        assert record.repair_guide is None
        assert await credit.events() == []
        async with credit.runtime.session_factory() as session:
            (history,) = (await session.scalars(sa.select(HistoryEntry))).all()
        assert (history.kind, history.public) == ("recorded_elapsed", False)

    async def test_a_new_penalty_ends_the_red_listing(self, credit: Credit) -> None:
        async with unit_of_work(credit.runtime.session_factory) as session:
            session.add(
                RedlistEntry(
                    id=str(uuid.uuid4()),
                    uscc=USCC,
                    enterprise_name="青岛海湾化工有限公司",
                    standardisation_level=2,
                    standardisation_certificate="AQBIIQD2026001",
                    accident_free_attested=True,
                    joint_incentive=False,
                    grounds="标准化二级",
                    criteria=[],
                    state="listed",
                    active_key=USCC,
                    nominated_on=date(2026, 1, 5),
                    nominated_by="officer:o1",
                    decided_on=date(2026, 2, 1),
                    listed_until=date(2028, 2, 1),
                    rule_pack_id="test",
                    rule_pack_version="1",
                    created_at=utcnow(),
                    version=1,
                )
            )
            session.add(
                Standing(
                    uscc=USCC, standing="redlisted", since=date(2026, 2, 1), updated_at=utcnow()
                )
            )
        await credit.deliver("inspection", decided())
        events = await credit.events()
        assert [e.type for e in events] == [
            "credit.penalty.published.v1",
            "credit.standing.changed.v1",
        ]
        assert (events[1].data["previous"], events[1].data["standing"]) == ("redlisted", "normal")
        async with credit.runtime.session_factory() as session:
            entry = await session.scalar(sa.select(RedlistEntry))
        assert entry is not None
        assert (entry.state, entry.removed_on) == ("removed", TODAY)

    async def test_a_named_criterion_opens_a_blacklist_case(self, credit: Credit) -> None:
        pytest.importorskip("services.credit.lists")
        await credit.deliver(
            "inspection", decided(severity="serious", blacklist_criterion="major_accident")
        )
        (record,) = await credit.records()
        async with credit.runtime.session_factory() as session:
            entry = await session.scalar(sa.select(BlacklistEntry))
        assert entry is not None
        assert (entry.uscc, entry.criterion) == (USCC, "major_accident")
        assert record.id in entry.basis_record_ids


class TestPledgeBreached:
    async def test_records_dishonesty_once(self, credit: Credit) -> None:
        assert await credit.deliver("permits", breached()) == "applied"
        (record,) = await credit.records()
        assert record.record_class == "dishonesty"
        assert record.document_number == "QDWH-2026-0042"
        assert "国办发〔2020〕42号" in record.legal_basis
        assert record.summary.startswith("危险化学品经营许可证延续（WH-JY-01）")
        assert "储存场所面积与承诺不符" in record.summary
        assert (record.source, record.source_reference) == ("permits", f"pledge sha256 {'cd' * 32}")
        assert (record.severity, record.publicity_ends_on, record.repair_eligible_on) == (
            "general",
            date(2027, 3, 11),
            date(2026, 6, 12),
        )
        assert record.publish_by is None
        assert record.repair_notice is not None
        assert record.repair_notice.startswith("失信信息信用修复告知书")
        assert record.repair_guide is not None
        assert "许可证编号：QDWH-2026-0042" in record.repair_guide
        events = await credit.events()
        assert [e.type for e in events] == ["credit.dishonesty.recorded.v1"]
        assert events[0].data == {
            "record_id": record.id,
            "uscc": USCC,
            "document_number": "QDWH-2026-0042",
            "severity": "general",
            "publicity_starts_on": "2026-03-12",
            "publicity_ends_on": "2027-03-11",
            "repair_eligible_on": "2026-06-12",
        }
        assert await credit.deliver("permits", breached()) == "applied"
        assert len(await credit.records()) == 1
        assert len(await credit.events()) == 1

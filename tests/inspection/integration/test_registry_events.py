"""The supervision registry kept current from credit, insurance and permits events, applied
through the inbox (EventApplier) on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.consumer import EventApplier
from kernel.contracts.credit import CreditStandingChangedV1
from kernel.contracts.insurance import RiskAssessedV1
from kernel.contracts.permits import LicenceIssuedV1, LicenceStatusChangedV1
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventContract, EventEnvelope
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.inspection import service
from services.inspection.config import InspectionSettings
from services.inspection.consumers import handlers
from services.inspection.main import create_app
from services.inspection.models import Enterprise
from services.inspection.models_registry import RegistryLicence
from services.inspection.schemas import EnterpriseCreate
from tests.support import bearer, running

USCC = make_uscc(701)
NAME = "青岛海湾化工有限公司"


def standing(to: str, previous: str = "normal", on: date = date(2026, 4, 1)) -> Any:
    return CreditStandingChangedV1(
        uscc=USCC, standing=to, previous=previous, reason="严重失信", effective_on=on
    )


def assessed(level: str, on: date, insurer: str = "PICC-QD") -> RiskAssessedV1:
    return RiskAssessedV1(
        assessment_id=str(uuid.uuid4()),
        uscc=USCC,
        insurer_id=insurer,
        risk_level=level,
        assessed_on=on,
        findings="储罐区可燃气体报警器失效",
    )


def issued(number: str, holder: str = NAME) -> LicenceIssuedV1:
    return LicenceIssuedV1(
        licence_number=number,
        application_id=str(uuid.uuid4()),
        uscc=USCC,
        holder_name=holder,
        item_code="WH-JY-01",
        item_name="危险化学品经营许可证",
        approval_path="standard",
        valid_from=date(2026, 1, 1),
        valid_until=date(2028, 12, 31),
    )


def status(number: str, to: str) -> LicenceStatusChangedV1:
    return LicenceStatusChangedV1(
        licence_number=number,
        uscc=USCC,
        status=to,
        reason="监督检查发现问题",
    )


@dataclass
class Inspection:
    runtime: ServiceRuntime
    applier: EventApplier
    sequences: dict[str, int]
    client: httpx.AsyncClient
    issuer: DevIssuer

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

    async def entry(self) -> Enterprise | None:
        async with self.runtime.session_factory() as session:
            return await session.get(Enterprise, USCC)

    async def announced(self) -> list[str]:
        table = self.runtime.tables.outbox
        async with self.runtime.session_factory() as session:
            rows = (await session.execute(sa.select(table.c.type).order_by(table.c.id))).all()
        return [r.type for r in rows]


@pytest.fixture
async def inspection(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Inspection]:
    settings = InspectionSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    app = create_app(settings)
    async with running(app) as (client, runtime):
        applier = EventApplier(
            service="inspection",
            factory=runtime.session_factory,
            tables=runtime.tables,
            handlers=handlers,
            replay=None,
            max_attempts=1,
        )
        yield Inspection(runtime, applier, {}, client, issuer)


async def register(inspection: Inspection) -> None:
    async with unit_of_work(inspection.runtime.session_factory) as session:
        await service.register_enterprise(
            session,
            inspection.runtime.outbox,
            EnterpriseCreate(uscc=USCC, name=NAME, district="黄岛区", sector="hazardous_chemicals"),
            "officer:officer-001",
        )


class TestCreditStanding:
    async def test_listing_and_delisting_follow_credit(self, inspection: Inspection) -> None:
        await register(inspection)
        assert await inspection.deliver("credit", standing("blacklisted")) == "applied"
        entry = await inspection.entry()
        assert entry is not None
        assert (entry.credit_standing, entry.standing_since) == ("blacklisted", date(2026, 4, 1))
        assert (entry.name, entry.district) == (NAME, "黄岛区")
        repaired = standing("normal", "blacklisted", date(2026, 9, 3))
        assert await inspection.deliver("credit", repaired) == "applied"
        entry = await inspection.entry()
        assert entry is not None
        assert (entry.credit_standing, entry.standing_since) == ("normal", date(2026, 9, 3))

    async def test_unknown_blacklisted_enterprise_is_entered_incomplete(
        self, inspection: Inspection
    ) -> None:
        assert await inspection.deliver("credit", standing("blacklisted")) == "applied"
        entry = await inspection.entry()
        assert entry is not None
        assert entry.name == f"未登记企业 {USCC}"
        assert (entry.district, entry.sector, entry.tier) == ("未登记", "other", "general")
        assert entry.credit_standing == "blacklisted"
        assert entry.registered_by == "event:credit"
        assert not service.is_complete(entry)
        assert await inspection.announced() == ["inspection.enterprise.registered.v1"]
        # A licence event later brings the name; the placeholder gives way to it.
        assert await inspection.deliver("permits", issued("QDWH-2026-0001")) == "applied"
        entry = await inspection.entry()
        assert entry is not None
        assert entry.name == NAME
        assert entry.district == "未登记"
        assert len(await inspection.announced()) == 1

    async def test_redelivery_changes_nothing(self, inspection: Inspection) -> None:
        await register(inspection)
        event_id = str(uuid.uuid4())
        assert await inspection.deliver("credit", standing("redlisted"), event_id) == "applied"
        before = await inspection.entry()
        assert before is not None
        inspection.sequences["credit"] -= 1
        assert await inspection.deliver("credit", standing("redlisted"), event_id) == "duplicate"
        after = await inspection.entry()
        assert after is not None
        assert (after.credit_standing, after.version) == ("redlisted", before.version)


class TestRiskAssessed:
    async def test_latest_assessment_wins_across_insurers(self, inspection: Inspection) -> None:
        await register(inspection)
        await inspection.deliver("insurance", assessed("medium", date(2026, 5, 10)))
        entry = await inspection.entry()
        assert entry is not None
        assert (entry.risk_level, entry.risk_assessed_on) == ("medium", date(2026, 5, 10))
        # Another insurer's older assessment arrives late: ignored.
        await inspection.deliver("insurance", assessed("major", date(2026, 3, 1), "CPIC-QD"))
        entry = await inspection.entry()
        assert entry is not None
        assert (entry.risk_level, entry.risk_assessed_on) == ("medium", date(2026, 5, 10))
        # Same day, a higher grade from the other insurer: the higher is kept.
        await inspection.deliver("insurance", assessed("high", date(2026, 5, 10), "CPIC-QD"))
        await inspection.deliver("insurance", assessed("low", date(2026, 5, 10)))
        entry = await inspection.entry()
        assert entry is not None
        assert entry.risk_level == "high"
        # A newer assessment replaces it even when lower.
        await inspection.deliver("insurance", assessed("low", date(2026, 8, 1)))
        entry = await inspection.entry()
        assert entry is not None
        assert (entry.risk_level, entry.risk_assessed_on) == ("low", date(2026, 8, 1))


class TestLicences:
    async def test_count_follows_each_licence_status(self, inspection: Inspection) -> None:
        await inspection.deliver("permits", issued("QDWH-2026-0001"))
        await inspection.deliver("permits", issued("QDWH-2026-0002"))
        entry = await inspection.entry()
        assert entry is not None
        assert (entry.licences_active, entry.name, entry.registered_by) == (
            2,
            NAME,
            "event:permits",
        )
        steps = [("suspended", 1), ("suspended", 1), ("active", 2), ("revoked", 1), ("active", 1)]
        for to, expected in steps:
            await inspection.deliver("permits", status("QDWH-2026-0001", to))
            entry = await inspection.entry()
            assert entry is not None
            assert entry.licences_active == expected, to
        async with inspection.runtime.session_factory() as session:
            licence = await session.get(RegistryLicence, "QDWH-2026-0001")
        assert licence is not None
        assert (licence.status, licence.item_code, licence.valid_until) == (
            "revoked",
            "WH-JY-01",
            date(2028, 12, 31),
        )

    async def test_status_of_a_licence_never_seen_issued(self, inspection: Inspection) -> None:
        await register(inspection)
        await inspection.deliver("permits", status("QDWH-2019-0007", "active"))
        await inspection.deliver("permits", status("QDWH-2019-0008", "suspended"))
        entry = await inspection.entry()
        assert entry is not None
        assert entry.licences_active == 1

    async def test_an_issue_redelivered_is_counted_once(self, inspection: Inspection) -> None:
        event_id = str(uuid.uuid4())
        await inspection.deliver("permits", issued("QDWH-2026-0001"), event_id)
        # The same licence announced again under a new event id (a producer retry).
        await inspection.deliver("permits", issued("QDWH-2026-0001"))
        entry = await inspection.entry()
        assert entry is not None
        assert entry.licences_active == 1


class TestRegistryReads:
    async def test_entry_shows_what_events_told_and_officer_completes_it(
        self, inspection: Inspection
    ) -> None:
        officer = bearer(inspection.issuer, "officer", "officer-002")
        await inspection.deliver("credit", standing("blacklisted"))
        await inspection.deliver("insurance", assessed("high", date(2026, 5, 10)))
        await inspection.deliver("permits", issued("QDWH-2026-0001"))
        r = await inspection.client.get(f"/enterprises/{USCC}", headers=officer)
        assert r.status_code == 200, r.text
        body = r.json()
        assert {k: body[k] for k in ("credit_standing", "risk_level", "licences_active")} == {
            "credit_standing": "blacklisted",
            "risk_level": "high",
            "licences_active": 1,
        }
        assert (body["standing_since"], body["risk_assessed_on"]) == ("2026-04-01", "2026-05-10")
        assert body["is_complete"] is False
        listed = await inspection.client.get("/enterprises", headers=officer)
        assert listed.json()["items"][0]["credit_standing"] == "blacklisted"
        own = await inspection.client.get(
            f"/enterprises/{USCC}", headers=bearer(inspection.issuer, "enterprise", USCC)
        )
        assert own.json()["licences_active"] == 1

        completion = {
            "uscc": USCC,
            "name": NAME,
            "district": "黄岛区",
            "sector": "hazardous_chemicals",
            "standardisation_level": 2,
        }
        url = f"/enterprises/{USCC}/registration"
        stale = await inspection.client.put(
            url, json=completion, headers={**officer, "If-Match": '"999"'}
        )
        assert stale.status_code == 412
        denied = await inspection.client.put(
            url, json=completion, headers=bearer(inspection.issuer, "enterprise", USCC)
        )
        assert denied.status_code == 403
        done = await inspection.client.put(
            url, json=completion, headers={**officer, "If-Match": f'"{body["version"]}"'}
        )
        assert done.status_code == 200, done.text
        view = done.json()
        assert (view["is_complete"], view["district"], view["tier"]) == (True, "黄岛区", "key")
        assert view["credit_standing"] == "blacklisted"
        assert done.headers["ETag"] == f'"{view["version"]}"'
        # Announced again with the completed entry, so registry copies drop the placeholders.
        announced = await inspection.announced()
        assert announced.count("inspection.enterprise.registered.v1") == 2
        outbox = inspection.runtime.tables.outbox
        async with inspection.runtime.session_factory() as session:
            last = (
                await session.execute(
                    sa.select(outbox.c.data)
                    .where(outbox.c.type == "inspection.enterprise.registered.v1")
                    .order_by(outbox.c.id.desc())
                )
            ).first()
        assert last is not None
        assert (last.data["district"], last.data["sector"], last.data["tier"]) == (
            "黄岛区",
            "hazardous_chemicals",
            "key",
        )
        again = await inspection.client.put(url, json=completion, headers=officer)
        assert (again.status_code, again.json()["code"]) == (409, "enterprise_complete")
        entry = await inspection.entry()
        assert entry is not None
        assert entry.registered_by == "officer:officer-002"

    async def test_completion_body_must_name_the_entry(self, inspection: Inspection) -> None:
        await inspection.deliver("credit", standing("blacklisted"))
        body = {"uscc": make_uscc(702), "name": NAME, "district": "黄岛区", "sector": "trade"}
        r = await inspection.client.put(
            f"/enterprises/{USCC}/registration",
            json=body,
            headers=bearer(inspection.issuer, "officer"),
        )
        assert r.status_code == 422
        assert (r.json()["code"], r.json()["field"]) == ("uscc_mismatch", "uscc")
        entry = await inspection.entry()
        assert entry is not None
        assert entry.district == "未登记"

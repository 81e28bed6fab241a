"""Public credit queries (standing, change feed) and the daily export, on SQLite and PostgreSQL.

The change feed runs with the real relay against the session's broker, since sequences are
given only when events are published.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.auth.service_token import DATA_SHARE_SCOPE
from kernel.contracts.credit import RepairDecidedV1, RepairRevokedV1
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventContract
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import service
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.exports import make_daily_export
from services.credit.main import create_app
from services.credit.models import BlacklistEntry, RedlistEntry
from tests.support import bearer, eventually, running

USCC_A = make_uscc(801)
USCC_B = make_uscc(802)
USCC_C = make_uscc(803)
TODAY = date(2026, 3, 12)


def penalty_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": USCC_A,
        "enterprise_name": "青岛海湾化工有限公司",
        "decision_number": "青应急罚〔2026〕12号",
        "decided_on": "2026-03-10",
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
        "violation_summary": '=HYPERLINK("x") 未对重大危险源进行定期检测',
        "fine_amount": "50000.00",
        "other_measures": "责令限期改正",
        "severity": "general",
        "source": "inspection",
    }
    body.update(overrides)
    return body


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer

    def travel_to(self, day: date) -> None:
        self.app.dependency_overrides[business_today] = lambda: day

    def as_(self, role: str, sub: str = "tester") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    def as_service(self, *scopes: str) -> dict[str, str]:
        """The gateway reading for a department under a grant (a service token)."""
        token = self.issuer.mint("service", "svc:gateway", scopes=scopes, ttl_seconds=300)
        return {"Authorization": f"Bearer {token}"}

    async def penalty(self, **overrides: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/penalties", json=penalty_body(**overrides), headers=self.as_("officer")
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created


async def make_api(
    database_url: str,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
    relay: bool,
) -> AsyncIterator[Api]:
    settings = CreditSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=relay,
        background_enabled=False,
        consumers_enabled=False,
        relay_poll_seconds=0.1,
    )
    app = create_app(settings)
    async with running(app) as (client, runtime):
        api = Api(client, runtime, app, issuer)
        api.travel_to(TODAY)
        yield api


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Api]:
    async for a in make_api(database_url, broker, auth_settings, issuer, relay=False):
        yield a


@pytest.fixture
async def relayed(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Api]:
    async for a in make_api(database_url, broker, auth_settings, issuer, relay=True):
        yield a


async def list_entries(api: Api, uscc: str) -> tuple[BlacklistEntry, RedlistEntry]:
    """A listed black-list entry for `uscc` and a listed red-list entry for USCC_C."""
    now = utcnow()
    black = BlacklistEntry(
        id=str(uuid.uuid4()),
        uscc=uscc,
        enterprise_name="青岛海湾化工有限公司",
        criterion="major_accident",
        facts="发生较大生产安全事故",
        basis_record_ids=[],
        state="listed",
        active_key=uscc,
        proposed_on=date(2026, 1, 5),
        proposed_by="officer:o1",
        decided_on=date(2026, 2, 1),
        decided_by="leader:l1",
        decision_reason="内部合议意见",
        listed_until=date(2029, 2, 1),
        rule_pack_id="test",
        rule_pack_version="1",
        created_at=now,
        version=1,
    )
    red = RedlistEntry(
        id=str(uuid.uuid4()),
        uscc=USCC_C,
        enterprise_name="青岛东海安全科技有限公司",
        standardisation_level=2,
        standardisation_certificate="AQBIIQD2026001",
        accident_free_attested=True,
        joint_incentive=True,
        grounds="安全生产标准化二级，三年无事故",
        criteria=[{"code": "no_penalty", "passed": True, "detail": "内部核查"}],
        state="listed",
        active_key=USCC_C,
        nominated_on=date(2026, 1, 5),
        nominated_by="officer:o2",
        decided_on=date(2026, 2, 1),
        listed_until=date(2028, 2, 1),
        rule_pack_id="test",
        rule_pack_version="1",
        created_at=now,
        version=1,
    )
    async with unit_of_work(api.runtime.session_factory) as session:
        session.add_all([black, red])
    return black, red


class TestStanding:
    async def test_a_clean_enterprise(self, api: Api) -> None:
        r = await api.client.get(f"/standing/{USCC_B.lower()}")
        assert r.status_code == 200
        assert r.json() == {
            "uscc": USCC_B,
            "standing": "normal",
            "blacklist": None,
            "redlist": None,
            "penalties_in_publicity": 0,
            "dishonesty_in_publicity": 0,
            "as_of": "2026-03-12",
        }

    async def test_a_penalised_and_blacklisted_enterprise(self, api: Api) -> None:
        await api.penalty()
        await api.penalty(decision_number="青应急罚〔2026〕13号")
        black, red = await list_entries(api, USCC_A)
        body = (await api.client.get(f"/standing/{USCC_A}")).json()
        assert body["standing"] == "blacklisted"
        assert body["blacklist"] == {
            "id": black.id,
            "criterion": "major_accident",
            "decided_on": "2026-02-01",
            "listed_until": "2029-02-01",
        }
        assert body["redlist"] is None
        assert (body["penalties_in_publicity"], body["dishonesty_in_publicity"]) == (2, 0)
        redlisted = (await api.client.get(f"/standing/{USCC_C}")).json()
        assert redlisted["standing"] == "redlisted"
        assert redlisted["redlist"]["id"] == red.id
        api.travel_to(date(2027, 3, 11))  # both penalties past their last day
        later = (await api.client.get(f"/standing/{USCC_A}")).json()
        assert (later["penalties_in_publicity"], later["as_of"]) == (0, "2027-03-11")

    async def test_off_the_lists_the_day_after_the_term_before_the_daily_pass(
        self, api: Api
    ) -> None:
        await list_entries(api, USCC_A)
        api.travel_to(date(2029, 2, 1))  # the black term's last day
        assert (await api.client.get(f"/standing/{USCC_A}")).json()["standing"] == "blacklisted"
        api.travel_to(date(2029, 2, 2))
        body = (await api.client.get(f"/standing/{USCC_A}")).json()
        assert (body["standing"], body["blacklist"]) == ("normal", None)
        assert (await api.client.get("/blacklist")).json()["items"] == []
        api.travel_to(date(2028, 2, 2))  # the red term ended on 2028-02-01
        red = (await api.client.get(f"/standing/{USCC_C}")).json()
        assert (red["standing"], red["redlist"]) == ("normal", None)

    async def test_a_malformed_uscc_is_422(self, api: Api) -> None:
        bad = USCC_A[:-1] + ("0" if USCC_A[-1] != "0" else "1")
        for value in (bad, "91370200XXXX"):
            r = await api.client.get(f"/standing/{value}")
            assert r.status_code == 422
            assert r.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in r.json()["errors"]] == ["uscc"]


class _ListCaseOpenedV1(EventContract):
    """An internal event type the public feed must not show (not registered as a contract)."""

    TYPE: ClassVar[str] = "credit.blacklist.proposed.v1"

    uscc: str


class TestChanges:
    async def test_cursor_moves_past_filtered_events(self, relayed: Api) -> None:
        api = relayed
        created = await api.penalty()
        async with unit_of_work(api.runtime.session_factory, api.runtime.hooks) as session:
            for _ in range(2):
                await api.runtime.outbox.emit(session, USCC_A, _ListCaseOpenedV1(uscc=USCC_A))
            for outcome in ("rejected", "approved"):
                await api.runtime.outbox.emit(
                    session,
                    USCC_A,
                    RepairDecidedV1(
                        application_id=str(uuid.uuid4()),
                        uscc=USCC_A,
                        target_kind="record",
                        target_id=created["id"],
                        outcome=outcome,
                        decided_on=TODAY,
                        due_on=None,
                        on_time=None,
                    ),
                )
        outbox = api.runtime.tables.outbox

        async def all_published() -> bool:
            async with api.runtime.session_factory() as session:
                left = await session.scalar(
                    sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
                )
            return left == 0

        await eventually(all_published)

        async def page(after: int, limit: int) -> dict[str, Any]:
            r = await api.client.get("/changes", params={"after": after, "limit": limit})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        # 1 penalty published, 2-3 internal, 4 repair rejected, 5 repair approved.
        first = await page(0, 2)
        assert [(i["sequence"], i["type"]) for i in first["items"]] == [
            (1, "credit.penalty.published.v1")
        ]
        assert first["items"][0]["uscc"] == USCC_A
        assert first["items"][0]["data"]["record_id"] == created["id"]
        assert (first["next_after"], first["head"]) == (2, 5)
        filtered = await page(2, 2)
        assert (filtered["items"], filtered["next_after"]) == ([], 4)
        last = await page(4, 2)
        assert [(i["sequence"], i["data"]["outcome"]) for i in last["items"]] == [(5, "approved")]
        assert last["next_after"] == 5
        caught_up = await page(5, 2)
        assert (caught_up["items"], caught_up["next_after"], caught_up["head"]) == ([], 5, 5)

        async with unit_of_work(api.runtime.session_factory) as session:
            await session.execute(sa.delete(outbox).where(outbox.c.sequence <= 2))
        gone = await api.client.get("/changes", params={"after": 0})
        assert gone.status_code == 410
        assert gone.headers["content-type"] == "application/problem+json"
        assert gone.json()["code"] == "replay_retention_exceeded"
        assert (await page(2, 10))["next_after"] == 5

    async def test_a_revocation_reason_stays_out_of_the_feed(self, relayed: Api) -> None:
        api = relayed
        async with unit_of_work(api.runtime.session_factory, api.runtime.hooks) as session:
            await api.runtime.outbox.emit(
                session,
                USCC_A,
                RepairRevokedV1(
                    application_id=str(uuid.uuid4()),
                    uscc=USCC_A,
                    target_kind="record",
                    target_id=str(uuid.uuid4()),
                    reason="整改报告系伪造，经举报人王某（13912345678）提供线索查实",
                    revoked_on=TODAY,
                ),
            )

        async def fed() -> list[dict[str, Any]]:
            r = await api.client.get("/changes")
            assert r.status_code == 200, r.text
            items: list[dict[str, Any]] = r.json()["items"]
            return items

        (item,) = await eventually(fed)
        assert item["type"] == "credit.repair.revoked.v1"
        assert "reason" not in item["data"]
        assert item["data"]["revoked_on"] == "2026-03-12"

    async def test_a_sequence_beyond_64_bits_is_422(self, api: Api) -> None:
        r = await api.client.get("/changes", params={"after": 2**64})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == ["after"]


class TestDailyExport:
    async def test_snapshot_of_the_public_lists(self, api: Api) -> None:
        created = await api.penalty()
        black, red = await list_entries(api, USCC_B)
        async with unit_of_work(api.runtime.session_factory) as session:
            export = await make_daily_export(session, TODAY)
            assert export is not None
            assert export.rows == 3
        async with unit_of_work(api.runtime.session_factory) as session:
            assert await make_daily_export(session, TODAY) is None

        # A department's read arrives as the gateway's, under the grant it checked and logged.
        dept = api.as_service(DATA_SHARE_SCOPE)
        r = await api.client.get("/exports/2026-03-12.json", headers=dept)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.headers["etag"] == f'"{hashlib.sha256(r.content).hexdigest()}"'
        assert 'filename="credit-lists-2026-03-12.json"' in r.headers["content-disposition"]
        doc = json.loads(r.content)
        assert doc["as_of"] == "2026-03-12"
        assert doc["counts"] == {"records": 1, "blacklist": 1, "redlist": 1}
        assert [x["id"] for x in doc["records"]] == [created["id"]]
        assert set(doc["records"][0]) == {
            "id",
            "record_class",
            "uscc",
            "enterprise_name",
            "document_number",
            "decided_on",
            "severity",
            "legal_basis",
            "summary",
            "fine_amount",
            "other_measures",
            "publicity_starts_on",
            "publicity_ends_on",
        }
        assert doc["blacklist"][0]["id"] == black.id
        assert "decision_reason" not in doc["blacklist"][0]
        assert "criteria" not in doc["redlist"][0]
        assert doc["redlist"][0]["id"] == red.id

        c = await api.client.get("/exports/2026-03-12.csv", headers=dept)
        assert c.status_code == 200
        assert c.headers["content-type"] == "text/csv; charset=utf-8"
        assert c.content.startswith(b"\xef\xbb\xbf")
        assert c.headers["etag"] == f'"{hashlib.sha256(c.content).hexdigest()}"'
        rows = list(csv.DictReader(io.StringIO(c.content.decode("utf-8-sig"))))
        assert [(row["list"], row["id"]) for row in rows] == [
            ("record", created["id"]),
            ("blacklist", black.id),
            ("redlist", red.id),
        ]
        assert rows[0]["enterprise_name"] == "青岛海湾化工有限公司"
        # A cell that a spreadsheet would run as a formula is neutralised.
        assert rows[0]["summary"].startswith("'=HYPERLINK")
        assert rows[2]["joint_incentive"] == "true"

        again = await api.client.get(
            "/exports/2026-03-12.csv", headers={**dept, "If-None-Match": c.headers["etag"]}
        )
        assert again.status_code == 304

        listing = (await api.client.get("/exports", headers=api.as_("officer"))).json()
        assert listing["items"] == [
            {
                "on": "2026-03-12",
                "generated_at": listing["items"][0]["generated_at"],
                "rows": 3,
                "json_sha256": hashlib.sha256(r.content).hexdigest(),
                "csv_sha256": hashlib.sha256(c.content).hexdigest(),
            }
        ]

    async def test_who_may_read_and_missing_days(self, api: Api) -> None:
        async with unit_of_work(api.runtime.session_factory) as session:
            assert await make_daily_export(session, TODAY) is not None
        for role in ("officer", "leader", "admin"):
            r = await api.client.get("/exports/2026-03-12.json", headers=api.as_(role))
            assert r.status_code == 200, role
        # Departments read it under a grant, through the gateway: never with their own token.
        for role in ("enterprise", "insurer", "public", "department"):
            r = await api.client.get("/exports/2026-03-12.csv", headers=api.as_(role, USCC_A))
            assert r.status_code == 403, role
        assert (await api.client.get("/exports")).status_code == 401
        missing = await api.client.get("/exports/2026-03-11.json", headers=api.as_("admin"))
        assert (missing.status_code, missing.json()["code"]) == (404, "export_not_found")
        empty = json.loads(
            (await api.client.get("/exports/2026-03-12.json", headers=api.as_("admin"))).content
        )
        assert empty["counts"] == {"records": 0, "blacklist": 0, "redlist": 0}

    async def test_daily_pass_expires_then_exports_once_a_day(self, api: Api) -> None:
        api.travel_to(date(2025, 6, 3))
        await api.penalty(decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号")
        async with unit_of_work(api.runtime.session_factory) as session:
            first = await service.daily_pass(session, api.runtime.outbox, date(2026, 6, 2))
        assert first["expired_records"] == 1
        assert first["exports"] == 1
        async with unit_of_work(api.runtime.session_factory) as session:
            second = await service.daily_pass(session, api.runtime.outbox, date(2026, 6, 2))
        assert (second["expired_records"], second["exports"]) == (0, 0)
        doc = json.loads(
            (await api.client.get("/exports/2026-06-02.json", headers=api.as_("admin"))).content
        )
        assert doc["counts"]["records"] == 0

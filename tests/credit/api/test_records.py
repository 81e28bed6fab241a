"""Credit records API: every record class, per reader; incentives; reversals; the expiry pass.

On SQLite and PostgreSQL. The business date is pinned through `business_today`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from kernel.app import ServiceRuntime
from kernel.auth import Principal, Role
from kernel.auth.dev import DevIssuer
from kernel.contracts.permits import PledgeBreachedV1
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.errors import Conflict
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import ledger, service
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app
from services.credit.models import BlacklistEntry, CreditRecord, Standing
from services.credit.schemas import ReversalCreate
from tests.support import bearer, running

USCC_A = make_uscc(601)
USCC_B = make_uscc(602)
TODAY = date(2026, 3, 12)


def penalty_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": USCC_A,
        "enterprise_name": "青岛海湾化工有限公司",
        "decision_number": "青应急罚〔2026〕12号",
        "decided_on": "2026-03-10",
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
        "violation_summary": "未对重大危险源进行定期检测、评估、监控",
        "fine_amount": "50000.00",
        "other_measures": "责令限期改正",
        "severity": "general",
        "source": "inspection",
    }
    body.update(overrides)
    return body


def incentive_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": USCC_B,
        "enterprise_name": "青岛北港物流有限公司",
        "document_number": "青应急〔2026〕5号",
        "decided_on": "2026-03-01",
        "legal_basis": "《青岛市安全生产工作表彰办法》",
        "summary": "2025年度安全生产工作先进单位",
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

    async def penalty(self, on: date = TODAY, **overrides: Any) -> dict[str, Any]:
        self.travel_to(on)
        r = await self.client.post(
            "/penalties", json=penalty_body(**overrides), headers=self.as_("officer")
        )
        assert r.status_code == 201, r.text
        self.travel_to(TODAY)
        created: dict[str, Any] = r.json()
        return created

    async def incentive(self, **overrides: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/incentives", json=incentive_body(**overrides), headers=self.as_("officer")
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def expire(self, today: date, limit: int = 500) -> int:
        async with unit_of_work(self.runtime.session_factory) as session:
            return await service.expire_records(session, self.runtime.outbox, today, limit=limit)

    async def events(self) -> list[Any]:
        table = self.runtime.tables.outbox
        async with self.runtime.session_factory() as session:
            return list((await session.execute(sa.select(table).order_by(table.c.id))).all())

    async def record_row(self, record_id: str) -> CreditRecord:
        async with self.runtime.session_factory() as session:
            row = await session.get(CreditRecord, record_id)
        assert row is not None
        return row


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Api]:
    settings = CreditSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    app = create_app(settings)
    async with running(app) as (client, runtime):
        api = Api(client, runtime, app, issuer)
        api.travel_to(TODAY)
        yield api


async def breach_pledge(api: Api, uscc: str = USCC_A) -> CreditRecord:
    event = PledgeBreachedV1(
        licence_number="QDWH-2026-0042",
        uscc=uscc,
        enterprise_name="青岛海湾化工有限公司",
        item_code="WH-JY-01",
        item_name="危险化学品经营许可证延续",
        pledge_sha256="ab" * 32,
        findings="储存场所与承诺不符",
        verified_on=date(2026, 3, 11),
    )
    async with unit_of_work(api.runtime.session_factory) as session:
        record = await service.record_pledge_breach(
            session, api.runtime.outbox, event, today=TODAY, actor="event:permits:test"
        )
    assert record is not None
    return record


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


class TestListRecords:
    async def test_each_reader_sees_its_part(self, api: Api) -> None:
        old = await api.penalty(
            on=date(2025, 6, 3), decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号"
        )
        pledge = await breach_pledge(api)
        incentive = await api.incentive()
        api.travel_to(date(2026, 6, 2))

        public = (await api.client.get("/records")).json()
        assert ids(public) == [pledge.id, incentive["id"]]
        assert all(item["source_reference"] is None for item in public["items"])

        own = (await api.client.get("/records", headers=api.as_("enterprise", USCC_A))).json()
        assert ids(own) == [pledge.id, old["id"]]  # its whole file, not B's incentive
        assert own["items"][0]["source_reference"] == f"pledge sha256 {'ab' * 32}"
        other = await api.client.get(
            "/records", params={"uscc": USCC_B}, headers=api.as_("enterprise", USCC_A)
        )
        assert other.status_code == 200
        assert other.json()["items"] == []

        for role in ("officer", "leader", "admin"):
            bureau = (await api.client.get("/records", headers=api.as_(role))).json()
            assert ids(bureau) == [pledge.id, incentive["id"], old["id"]]

    async def test_filters_by_class_state_and_uscc(self, api: Api) -> None:
        old = await api.penalty(
            on=date(2025, 6, 3), decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号"
        )
        new = await api.penalty()
        incentive = await api.incentive()
        assert await api.expire(date(2026, 6, 2)) == 1
        officer = api.as_("officer")

        async def listed(**params: str) -> list[str]:
            r = await api.client.get("/records", params=params, headers=officer)
            assert r.status_code == 200, r.text
            return ids(r.json())

        assert await listed(record_class="penalty") == [new["id"], old["id"]]
        assert await listed(record_class="incentive") == [incentive["id"]]
        assert await listed(state="ended") == [old["id"]]
        assert await listed(state="published", uscc=USCC_A) == [new["id"]]
        bad = await api.client.get("/records", params={"record_class": "rumour"})
        assert bad.status_code == 422
        assert [e["field"] for e in bad.json()["errors"]] == ["record_class"]

    async def test_pages_walk_every_record_once(self, api: Api) -> None:
        for n in range(5):
            await api.penalty(
                uscc=make_uscc(700 + n),
                decided_on=f"2026-03-0{n + 2}",
                decision_number=f"青应急罚〔2026〕{200 + n}号",
            )
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await api.client.get("/records", params=params)).json()
            seen += [item["decided_on"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"2026-03-0{d}" for d in (6, 5, 4, 3, 2)]


class TestGetRecord:
    async def test_history_is_public_steps_only_for_the_public(self, api: Api) -> None:
        created = await api.penalty()
        async with unit_of_work(api.runtime.session_factory) as session:
            await ledger.append_history(
                session,
                uscc=USCC_A,
                subject_type="record",
                subject_id=created["id"],
                kind="note",
                on=TODAY,
                actor="officer:officer-001",
                public=False,
                note="企业电话咨询修复条件",
            )
        public = await api.client.get(f"/records/{created['id']}")
        assert public.status_code == 200
        assert public.headers["etag"] == '"1"'
        assert [(h["kind"], h["actor"]) for h in public.json()["history"]] == [("published", None)]
        stranger = await api.client.get(
            f"/records/{created['id']}", headers=api.as_("enterprise", USCC_B)
        )
        assert [h["kind"] for h in stranger.json()["history"]] == ["published"]
        for headers in (api.as_("enterprise", USCC_A), api.as_("officer")):
            full = (await api.client.get(f"/records/{created['id']}", headers=headers)).json()
            assert [h["kind"] for h in full["history"]] == ["published", "note"]
            assert full["history"][0]["actor"] == "officer:tester"
            assert full["history"][0]["note"] == "自2026年3月12日起公示，至2027年3月10日届满。"
            assert full["history"][1]["is_public"] is False

    async def test_ended_record_is_gone_for_the_public_only(self, api: Api) -> None:
        old = await api.penalty(
            on=date(2025, 6, 3), decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号"
        )
        await api.expire(date(2026, 6, 2))
        api.travel_to(date(2026, 6, 2))
        gone = await api.client.get(f"/records/{old['id']}")
        assert gone.status_code == 404
        assert gone.json()["code"] == "record_not_found"
        own = await api.client.get(f"/records/{old['id']}", headers=api.as_("enterprise", USCC_A))
        assert own.status_code == 200
        body = own.json()
        assert (body["state"], body["end_reason"], body["ended_on"]) == (
            "ended",
            "expired",
            "2026-06-02",
        )
        assert [h["kind"] for h in body["history"]] == ["published", "expired"]
        assert (await api.client.get("/records/no-such-id")).status_code == 404


class TestNoticeAndGuide:
    async def test_served_as_plain_text_to_whoever_may_read_the_record(self, api: Api) -> None:
        created = await api.penalty()
        row = await api.record_row(created["id"])
        for path, stored in (("notice", row.repair_notice), ("guide", row.repair_guide)):
            r = await api.client.get(f"/records/{created['id']}/{path}")
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/plain; charset=utf-8"
            assert r.text == stored
        guide = (await api.client.get(f"/records/{created['id']}/guide")).text
        assert guide.startswith("信用修复明白纸\n")
        assert "罚款人民币50,000.00元的缴纳凭证" in guide
        assert "12345政务服务便民热线" in guide

    async def test_after_publicity_only_the_owner_and_the_bureau(self, api: Api) -> None:
        old = await api.penalty(
            on=date(2025, 6, 3), decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号"
        )
        api.travel_to(date(2026, 6, 2))
        for path in ("notice", "guide"):
            url = f"/records/{old['id']}/{path}"
            assert (await api.client.get(url)).status_code == 404
            stranger = await api.client.get(url, headers=api.as_("enterprise", USCC_B))
            assert stranger.status_code == 404
            for headers in (api.as_("enterprise", USCC_A), api.as_("officer")):
                assert (await api.client.get(url, headers=headers)).status_code == 200

    async def test_dishonesty_has_its_own_notice_and_an_incentive_none(self, api: Api) -> None:
        pledge = await breach_pledge(api)
        notice = await api.client.get(f"/records/{pledge.id}/notice")
        assert notice.text.startswith("失信信息信用修复告知书")
        assert "国办发〔2020〕42号" in notice.text
        incentive = await api.incentive()
        for path, code in (
            ("notice", "repair_notice_not_found"),
            ("guide", "repair_guide_not_found"),
        ):
            r = await api.client.get(f"/records/{incentive['id']}/{path}", headers=api.as_("admin"))
            assert r.status_code == 404
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == code


class TestIncentives:
    async def test_bureau_publishes_an_incentive_for_36_months(self, api: Api) -> None:
        body = await api.incentive()
        assert body["record_class"] == "incentive"
        assert body["severity"] == "commendation"
        assert (body["publicity_starts_on"], body["publicity_ends_on"]) == (
            "2026-03-12",
            "2029-03-01",
        )
        assert body["repair_eligible_on"] is None
        assert body["has_repair_notice"] is False
        assert body["is_in_publicity"] is True
        events = await api.events()
        assert [e.type for e in events] == ["credit.incentive.recorded.v1"]
        assert events[0].data == {
            "record_id": body["id"],
            "uscc": USCC_B,
            "document_number": "青应急〔2026〕5号",
            "publicity_starts_on": "2026-03-12",
            "publicity_ends_on": "2029-03-01",
        }
        detail = (await api.client.get(f"/records/{body['id']}")).json()
        assert [h["kind"] for h in detail["history"]] == ["published"]

    @pytest.mark.parametrize("role", ["enterprise", "department", "insurer"])
    async def test_others_may_not(self, api: Api, role: str) -> None:
        r = await api.client.post("/incentives", json=incentive_body(), headers=api.as_(role))
        assert r.status_code == 403
        assert await api.events() == []

    async def test_rules_and_duplicates(self, api: Api) -> None:
        officer = api.as_("officer")
        future = await api.client.post(
            "/incentives", json=incentive_body(decided_on="2026-03-13"), headers=officer
        )
        assert (future.status_code, future.json()["code"]) == (422, "decision_in_future")
        await api.incentive()
        again = await api.client.post(
            "/incentives", json=incentive_body(document_number="青应急[2026]5号"), headers=officer
        )
        assert (again.status_code, again.json()["code"]) == (409, "incentive_exists")
        assert len(await api.events()) == 1


class TestReversal:
    async def test_leader_ends_publicity_as_reversed(self, api: Api) -> None:
        created = await api.penalty()
        body = {"reason": "行政复议决定撤销原处罚决定", "document_number": "青政复决字〔2026〕8号"}
        r = await api.client.post(
            f"/records/{created['id']}/reversal", json=body, headers=api.as_("leader", "lead-1")
        )
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["end_reason"], r.json()["ended_on"]) == (
            "ended",
            "reversed",
            "2026-03-12",
        )
        assert r.headers["etag"] == '"2"'
        events = await api.events()
        assert [e.type for e in events][-1] == "credit.publicity.ended.v1"
        assert events[-1].data["reason"] == "reversed"
        assert (await api.client.get(f"/records/{created['id']}")).status_code == 404
        listed = (await api.client.get("/penalties", headers=api.as_("officer"))).json()
        assert (listed["items"][0]["end_reason"], listed["items"][0]["is_repaired"]) == (
            "reversed",
            False,
        )
        history = (
            await api.client.get(f"/records/{created['id']}", headers=api.as_("officer"))
        ).json()["history"]
        assert history[-1]["kind"] == "reversed"
        assert history[-1]["actor"] == "leader:lead-1"
        assert history[-1]["detail"]["revoking_document"] == "青政复决字〔2026〕8号"
        twice = await api.client.post(
            f"/records/{created['id']}/reversal", json=body, headers=api.as_("leader")
        )
        assert (twice.status_code, twice.json()["code"]) == (409, "record_not_published")

    async def test_an_expired_record_can_be_reversed_and_lifts_its_black_listing(
        self, api: Api
    ) -> None:
        """A listing outlives the publicity of the decision it rests on; a later reversal of
        that decision still lifts it."""
        created = await api.penalty()
        async with api.runtime.session_factory() as session:
            session.add(
                BlacklistEntry(
                    id="0c9d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
                    uscc=USCC_A,
                    enterprise_name="青岛海湾化工有限公司",
                    criterion="penalty_evaded",
                    facts="有能力履行而拒不履行罚款决定",
                    basis_record_ids=[created["id"]],
                    state="listed",
                    active_key=USCC_A,
                    proposed_on=date(2026, 3, 12),
                    proposed_by="officer:o-1",
                    decided_on=date(2026, 4, 1),
                    listed_until=date(2029, 4, 1),
                    early_removal_on=date(2027, 4, 2),
                    rule_pack_id="mem-2023-11",
                    rule_pack_version="1",
                    created_at=utcnow(),
                    version=1,
                )
            )
            session.add(
                Standing(
                    uscc=USCC_A, standing="blacklisted", since=date(2026, 4, 1), updated_at=utcnow()
                )
            )
            await session.commit()
        assert await api.expire(date(2027, 3, 11)) == 1
        before = len(await api.events())
        api.travel_to(date(2027, 5, 6))
        r = await api.client.post(
            f"/records/{created['id']}/reversal",
            json={"reason": "法院判决撤销原处罚决定", "document_number": "（2027）鲁0202行初3号"},
            headers=api.as_("leader", "lead-1"),
        )
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["end_reason"]) == ("ended", "reversed")
        events = (await api.events())[before:]
        # No second end of publicity; the black listing is lifted and announced.
        assert [(e.type, e.data.get("standing")) for e in events] == [
            ("credit.standing.changed.v1", "normal")
        ]
        async with api.runtime.session_factory() as session:
            entry = await session.get(BlacklistEntry, "0c9d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f")
            assert entry is not None
            assert (entry.state, entry.removal_reason) == ("removed", "reversed")

    @pytest.mark.parametrize("role", ["officer", "admin", "enterprise"])
    async def test_only_a_leader(self, api: Api, role: str) -> None:
        created = await api.penalty()
        r = await api.client.post(
            f"/records/{created['id']}/reversal",
            json={"reason": "法院判决撤销", "document_number": "(2026)鲁0202行初12号"},
            headers=api.as_(role, USCC_A),
        )
        assert r.status_code == 403
        assert (await api.record_row(created["id"])).state == "published"

    async def test_stale_version_is_412(self, api: Api) -> None:
        created = await api.penalty()
        r = await api.client.post(
            f"/records/{created['id']}/reversal",
            json={"reason": "法院判决撤销", "document_number": "（2026）鲁0202行初12号"},
            headers={**api.as_("leader"), "If-Match": '"7"'},
        )
        assert r.status_code == 412
        assert (await api.record_row(created["id"])).state == "published"

    async def test_a_record_ended_meanwhile_is_not_ended_again(self, api: Api) -> None:
        """The request loaded the record before a concurrent repair approval committed: the
        reversal re-reads it under lock and refuses, instead of ending it twice."""
        created = await api.penalty()
        leader = Principal(role=Role.leader, subject="lead-1")
        body = ReversalCreate(reason="法院判决撤销", document_number="（2026）鲁0202行初12号")
        async with unit_of_work(api.runtime.session_factory) as session:
            loaded = await session.get(CreditRecord, created["id"])
            assert loaded is not None
            assert loaded.state == "published"
            async with unit_of_work(api.runtime.session_factory) as other:
                row = await other.get(CreditRecord, created["id"])
                assert row is not None
                await ledger.end_publicity(
                    other,
                    api.runtime.outbox,
                    row,
                    reason="repaired",
                    on=TODAY,
                    actor="officer:o1",
                    note="信用修复申请经核实通过，停止公示。",
                )
            with pytest.raises(Conflict):
                await service.reverse_record(
                    session, api.runtime.outbox, loaded, leader, body, TODAY
                )
        row = await api.record_row(created["id"])
        assert (row.state, row.end_reason, row.version) == ("ended", "repaired", 2)
        ended = [e for e in await api.events() if e.type == "credit.publicity.ended.v1"]
        assert len(ended) == 1


class TestExpiryPass:
    async def test_ends_records_past_their_last_day_once(self, api: Api) -> None:
        old = await api.penalty(
            on=date(2025, 6, 3), decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号"
        )
        new = await api.penalty()
        before = len(await api.events())
        assert await api.expire(date(2026, 6, 1)) == 0  # its last day: still shown
        assert await api.expire(date(2026, 6, 20)) == 1
        row = await api.record_row(old["id"])
        assert (row.state, row.end_reason, row.ended_on) == ("ended", "expired", date(2026, 6, 2))
        events = (await api.events())[before:]
        assert [e.type for e in events] == ["credit.publicity.ended.v1"]
        assert events[0].data == {
            "record_id": old["id"],
            "uscc": USCC_A,
            "record_class": "penalty",
            "reason": "expired",
            "ended_on": "2026-06-02",
        }
        assert await api.expire(date(2026, 6, 20)) == 0
        assert len(await api.events()) == before + 1
        assert (await api.record_row(new["id"])).state == "published"
        api.travel_to(date(2026, 6, 20))
        penalties = (await api.client.get("/penalties", headers=api.as_("officer"))).json()
        ended = next(p for p in penalties["items"] if p["id"] == old["id"])
        assert (ended["state"], ended["end_reason"], ended["ended_on"], ended["is_repaired"]) == (
            "ended",
            "expired",
            "2026-06-02",
            False,
        )

    async def test_batches_are_limited(self, api: Api) -> None:
        for n in range(3):
            await api.penalty(
                on=date(2025, 6, 3),
                decided_on="2025-06-01",
                decision_number=f"青应急罚〔2025〕{50 + n}号",
            )
        assert [await api.expire(date(2026, 7, 1), limit=2) for _ in range(3)] == [2, 1, 0]

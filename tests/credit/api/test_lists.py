"""Credit API: the black-list case workflow and the red list, on SQLite and PostgreSQL.

The business date is pinned through `business_today`. Dates are chosen around the 2026
National Day holiday: a pre-notice served on 30 September is open to objection until
13 October (1-7 October off, Saturday 10 October a make-up working day).
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
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import lists
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app
from services.credit.models import BlacklistEntry, CreditRecord, HistoryEntry, RedlistEntry
from tests.support import bearer, running

USCC_A = make_uscc(401)
USCC_B = make_uscc(402)
NAME_A = "青岛海湾化工有限公司"
NAME_B = "青岛北港物流有限公司"
SERVED = date(2026, 9, 30)
DUE = date(2026, 10, 13)


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

    @property
    def officer(self) -> dict[str, str]:
        return self.as_("officer", "officer-001")

    @property
    def leader(self) -> dict[str, str]:
        return self.as_("leader", "leader-001")

    def enterprise(self, uscc: str = USCC_A) -> dict[str, str]:
        return self.as_("enterprise", uscc)

    async def ok(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def penalty(self, uscc: str = USCC_A, number: int = 12, on: date = SERVED) -> str:
        """Record a penalty decided on `on`; its record id."""
        self.travel_to(on)
        body = {
            "uscc": uscc,
            "enterprise_name": NAME_A if uscc == USCC_A else NAME_B,
            "decision_number": f"青应急罚〔{on.year}〕{number}号",
            "decided_on": on.isoformat(),
            "legal_basis": "《中华人民共和国安全生产法》第九十九条",
            "violation_summary": "许可证被暂扣期间仍从事危险化学品经营",
            "fine_amount": "200000.00",
            "other_measures": None,
            "severity": "serious",
            "source": "inspection",
        }
        created = await self.ok("POST", "/penalties", self.officer, json=body)
        return str(created["id"])

    async def propose(self, uscc: str = USCC_A, on: date = SERVED, **over: Any) -> Any:
        self.travel_to(on)
        body: dict[str, Any] = {
            "uscc": uscc,
            "enterprise_name": NAME_A if uscc == USCC_A else NAME_B,
            "criterion": "unlicensed_operation",
            "facts": "危险化学品经营许可证被暂扣期间仍从事经营活动。",
            "basis_record_ids": [],
        }
        body.update(over)
        return await self.ok("POST", "/blacklist", self.officer, json=body)

    async def notice(self, case_id: str, on: date = SERVED) -> Any:
        self.travel_to(on)
        return await self.ok("POST", f"/blacklist/{case_id}/notice", self.officer)

    async def decide(self, case_id: str, on: date, outcome: str, reason: str | None) -> Any:
        self.travel_to(on)
        return await self.ok(
            "POST",
            f"/blacklist/{case_id}/decision",
            self.leader,
            json={"outcome": outcome, "reason": reason},
        )

    async def listed_case(self, uscc: str = USCC_A) -> Any:
        """A case listed on 14 October 2026 after an unanswered pre-notice."""
        case = await self.propose(uscc)
        await self.notice(case["id"])
        return await self.decide(case["id"], date(2026, 10, 14), "listed", None)

    async def redlist(self, uscc: str = USCC_A, on: date = date(2026, 3, 12), **over: Any) -> Any:
        """Nominate and approve; the approved entry."""
        entry = await self.nominate(uscc, on, **over)
        return await self.ok(
            "POST", f"/redlist/{entry['id']}/decision", self.leader, json={"outcome": "approved"}
        )

    async def nominate(self, uscc: str = USCC_A, on: date = date(2026, 3, 12), **over: Any) -> Any:
        self.travel_to(on)
        return await self.ok("POST", "/redlist", self.officer, json=nomination(uscc, **over))


def nomination(uscc: str = USCC_A, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": uscc,
        "enterprise_name": NAME_A if uscc == USCC_A else NAME_B,
        "standardisation_level": 2,
        "standardisation_certificate": "鲁AQBWHII202600012",
        "accident_free_attested": True,
        "joint_incentive": True,
        "grounds": "连续三年安全生产标准化二级达标，无事故",
    }
    body.update(over)
    return body


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
        yield Api(client, runtime, app, issuer)


async def standing_events(runtime: ServiceRuntime) -> list[tuple[str, str, str]]:
    async with runtime.session_factory() as session:
        table = runtime.tables.outbox
        rows = (
            await session.execute(
                sa.select(table)
                .where(table.c.type == "credit.standing.changed.v1")
                .order_by(table.c.id)
            )
        ).all()
    return [(r.subject, r.data["previous"], r.data["standing"]) for r in rows]


async def rows(runtime: ServiceRuntime, model: type[Any]) -> list[Any]:
    async with runtime.session_factory() as session:
        return list((await session.scalars(sa.select(model))).all())


async def case_history(runtime: ServiceRuntime) -> list[HistoryEntry]:
    async with runtime.session_factory() as session:
        query = (
            sa.select(HistoryEntry)
            .where(HistoryEntry.subject_type == "blacklist")
            .order_by(HistoryEntry.id)
        )
        return list((await session.scalars(query)).all())


class TestBlacklistWorkflow:
    async def test_propose_notice_object_list_publish(self, api: Api) -> None:
        red = await api.redlist()
        # An accident case rests on the investigation, not on a penalty held here (recording a
        # penalty would itself end the red listing).
        case = await api.propose(
            criterion="accident_concealed", facts="2026年9月发生一起较大事故，迟报、谎报伤亡人数。"
        )
        assert case["state"] == "proposed"
        assert case["proposed_by"] == "officer:officer-001"
        assert [h["kind"] for h in case["history"]] == ["proposed"]
        # Not told yet: the enterprise does not see the case and cannot object to it.
        assert await api.ok("GET", "/blacklist/cases/mine", api.enterprise()) == []

        noticed = await api.notice(case["id"])
        assert (noticed["state"], noticed["objection_due_on"]) == ("noticed", DUE.isoformat())
        assert "瞒报、谎报生产安全事故" in noticed["pre_notice"]
        assert "最迟于2026年10月13日" in noticed["pre_notice"]

        mine = await api.ok("GET", "/blacklist/cases/mine", api.enterprise())
        assert [c["id"] for c in mine] == [case["id"]]
        assert mine[0]["pre_notice"] == noticed["pre_notice"]
        assert await api.ok("GET", "/blacklist/cases/mine", api.enterprise(USCC_B)) == []

        api.travel_to(DUE)
        statement = {"statement": "我单位已于暂扣期间停止经营，现场交易系补录历史单据。"}
        r = await api.client.post(
            f"/blacklist/{case['id']}/objection", json=statement, headers=api.enterprise(USCC_B)
        )
        assert r.status_code == 404
        assert r.json()["code"] == "blacklist_case_not_found"
        objected = await api.ok(
            "POST", f"/blacklist/{case['id']}/objection", api.enterprise(), json=statement
        )
        assert (objected["state"], objected["objected_on"]) == ("objected", DUE.isoformat())

        decision = {"outcome": "listed", "reason": "经核实，交易记录显示暂扣期间仍在经营。"}
        r = await api.client.post(
            f"/blacklist/{case['id']}/decision", json=decision, headers=api.officer
        )
        assert r.status_code == 403
        r = await api.client.post(
            f"/blacklist/{case['id']}/decision",
            json={"outcome": "listed"},
            headers=api.leader,
        )
        assert r.status_code == 422
        assert (r.json()["code"], r.json()["field"]) == ("objection_not_addressed", "reason")

        # The enterprise objected, so the leader may decide inside the window.
        listed = await api.ok(
            "POST", f"/blacklist/{case['id']}/decision", api.leader, json=decision
        )
        assert listed["state"] == "listed"
        assert listed["decided_on"] == DUE.isoformat()
        assert listed["listed_until"] == "2029-10-13"
        assert listed["early_removal_on"] == "2027-10-14"
        assert listed["decided_by"] == "leader:leader-001"

        assert await standing_events(api.runtime) == [
            (USCC_A, "normal", "redlisted"),
            (USCC_A, "redlisted", "blacklisted"),
        ]
        (red_row,) = await rows(api.runtime, RedlistEntry)
        assert (red_row.id, red_row.state, red_row.removal_reason) == (
            red["id"],
            "removed",
            "blacklisted",
        )
        assert red_row.active_key is None

        public = await api.ok("GET", "/blacklist", {})
        assert [e["id"] for e in public["items"]] == [case["id"]]
        assert (await api.ok("GET", "/blacklist?q=海湾", {}))["items"][0]["uscc"] == USCC_A
        assert len((await api.ok("GET", f"/blacklist?q={USCC_A}", {}))["items"]) == 1
        assert (await api.ok("GET", f"/blacklist?q={USCC_B}", {}))["items"] == []

        api.client.headers.pop("Authorization", None)
        r = await api.client.get(f"/blacklist/{case['id']}")
        assert r.status_code == 200
        view = r.json()
        text = r.text
        for private in ("objection", "pre_notice", "decision_reason", "facts"):
            assert private not in view
        assert "补录历史单据" not in text
        assert "交易记录显示" not in text
        assert [h["kind"] for h in view["history"]] == ["listed"]
        assert view["criterion"] == "accident_concealed"
        assert "伤亡人数" not in text
        assert any("不少于2次" in s for s in view["sanctions"])

        bureau = await api.ok("GET", "/blacklist/cases?state=listed", api.officer)
        (full,) = bureau["items"]
        assert full["objection"] == statement["statement"]
        assert [h["kind"] for h in full["history"]] == [
            "proposed",
            "noticed",
            "objected",
            "listed",
        ]
        assert [h["public"] for h in full["history"]] == [False, False, False, True]

        red_public = await api.client.get(f"/redlist/{red['id']}")
        assert red_public.json()["state"] == "removed"
        assert (await api.ok("GET", "/redlist", {}))["items"] == []

    async def test_late_objection_is_refused_and_changes_nothing(self, api: Api) -> None:
        record_id = await api.penalty()
        case = await api.propose(basis_record_ids=[record_id])
        noticed = await api.notice(case["id"])
        assert "青应急罚〔2026〕12号" in noticed["pre_notice"]
        api.travel_to(date(2026, 10, 14))
        r = await api.client.post(
            f"/blacklist/{case['id']}/objection",
            json={"statement": "逾期提出的申辩"},
            headers=api.enterprise(),
        )
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        assert (r.json()["code"], r.json()["field"]) == ("objection_window_closed", "objected_on")
        (row,) = await rows(api.runtime, BlacklistEntry)
        assert (row.state, row.objection, row.version) == ("noticed", None, 2)
        assert [h.kind for h in await case_history(api.runtime)] == ["proposed", "noticed"]

    async def test_listing_waits_for_the_window_without_objection(self, api: Api) -> None:
        case = await api.propose()
        api.travel_to(SERVED)
        r = await api.client.post(
            f"/blacklist/{case['id']}/decision", json={"outcome": "listed"}, headers=api.leader
        )
        assert r.json()["code"] == "pre_notice_not_served"
        await api.notice(case["id"])
        api.travel_to(DUE)
        r = await api.client.post(
            f"/blacklist/{case['id']}/decision", json={"outcome": "listed"}, headers=api.leader
        )
        assert r.status_code == 422
        assert (r.json()["code"], r.json()["field"]) == ("objection_window_open", "outcome")
        assert await standing_events(api.runtime) == []
        listed = await api.decide(case["id"], date(2026, 10, 14), "listed", None)
        assert listed["listed_until"] == "2029-10-14"
        assert await standing_events(api.runtime) == [(USCC_A, "normal", "blacklisted")]
        r = await api.client.post(
            f"/blacklist/{case['id']}/decision", json={"outcome": "listed"}, headers=api.leader
        )
        assert (r.status_code, r.json()["code"]) == (409, "case_already_decided")

    async def test_one_open_case_and_a_withdrawal_frees_the_enterprise(self, api: Api) -> None:
        case = await api.propose()
        r = await api.client.post(
            "/blacklist",
            json={
                "uscc": USCC_A,
                "enterprise_name": NAME_A,
                "criterion": "penalty_evaded",
                "facts": "拒不履行罚款决定",
            },
            headers=api.officer,
        )
        assert r.status_code == 409
        assert (r.json()["code"], r.json()["field"]) == ("blacklist_case_open", "uscc")
        r = await api.client.post(
            f"/blacklist/{case['id']}/decision", json={"outcome": "withdrawn"}, headers=api.leader
        )
        assert (r.status_code, r.json()["code"]) == (422, "reason_required")
        withdrawn = await api.decide(case["id"], SERVED, "withdrawn", "证据不足，不予列入")
        assert withdrawn["state"] == "withdrawn"
        r = await api.client.get(f"/blacklist/{case['id']}")
        assert r.status_code == 404
        again = await api.propose(criterion="penalty_evaded")
        assert again["id"] != case["id"]
        assert await standing_events(api.runtime) == []

    async def test_pre_notice_refused_when_the_calendar_year_is_unknown(self, api: Api) -> None:
        case = await api.propose(on=date(2026, 12, 28))
        r = await api.client.post(f"/blacklist/{case['id']}/notice", headers=api.officer)
        assert r.status_code == 422
        problem = r.json()
        assert (problem["code"], problem["field"]) == ("calendar_year_unknown", "objection_due_on")
        assert "2027" in problem["detail"]
        (row,) = await rows(api.runtime, BlacklistEntry)
        assert (row.state, row.pre_notice, row.objection_due_on) == ("proposed", None, None)

    async def test_basis_records_must_be_the_enterprises_own(self, api: Api) -> None:
        other = await api.penalty(uscc=USCC_B)
        api.travel_to(SERVED)
        for ids in ([other], ["no-such-record"]):
            r = await api.client.post(
                "/blacklist",
                json={
                    "uscc": USCC_A,
                    "enterprise_name": NAME_A,
                    "criterion": "unlicensed_operation",
                    "facts": "事实",
                    "basis_record_ids": ids,
                },
                headers=api.officer,
            )
            assert r.status_code == 422
            assert (r.json()["code"], r.json()["field"]) == (
                "basis_record_not_found",
                "basis_record_ids",
            )
        assert await rows(api.runtime, BlacklistEntry) == []

    async def test_malformed_proposal_names_the_field(self, api: Api) -> None:
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"criterion": "bad_mood"}, "criterion", "enum"),
            ({"extra": 1}, "extra", "extra_forbidden"),
            ({"facts": ""}, "facts", "string_too_short"),
        ]
        for overrides, field, rule in cases:
            body = {
                "uscc": USCC_A,
                "enterprise_name": NAME_A,
                "criterion": "unlicensed_operation",
                "facts": "事实",
            }
            body.update(overrides)
            r = await api.client.post("/blacklist", json=body, headers=api.officer)
            assert r.status_code == 422
            assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(field, rule)]
        assert await rows(api.runtime, BlacklistEntry) == []

    async def test_only_the_bureau_proposes_and_reads_cases(self, api: Api) -> None:
        for role in ("enterprise", "public", "insurer"):
            headers = api.as_(role, USCC_A)
            r = await api.client.post(
                "/blacklist",
                json={
                    "uscc": USCC_A,
                    "enterprise_name": NAME_A,
                    "criterion": "unlicensed_operation",
                    "facts": "事实",
                },
                headers=headers,
            )
            assert r.status_code == 403, role
            assert (await api.client.get("/blacklist/cases", headers=headers)).status_code == 403
        r = await api.client.get("/blacklist/cases/mine", headers=api.officer)
        assert r.status_code == 403
        assert await rows(api.runtime, BlacklistEntry) == []


class TestExpiry:
    async def test_expired_entries_leave_the_lists_once(self, api: Api) -> None:
        case = await api.listed_case()
        red = await api.redlist(uscc=USCC_B)
        assert red["listed_until"] == "2029-03-12"
        async with api.runtime.session_factory() as session:
            # On its last day the black entry stays; only the red entry has run out.
            first = await lists.expire_list_entries(session, api.runtime.outbox, date(2029, 10, 14))
            await session.commit()
        assert first == 1
        async with api.runtime.session_factory() as session:
            removed = await lists.expire_list_entries(
                session, api.runtime.outbox, date(2029, 10, 15)
            )
            await session.commit()
        assert removed == 1  # only the black entry was still listed
        (black,) = await rows(api.runtime, BlacklistEntry)
        assert (black.state, black.removed_on, black.removal_reason) == (
            "removed",
            date(2029, 10, 15),
            "expired",
        )
        (red_row,) = await rows(api.runtime, RedlistEntry)
        assert (red_row.state, red_row.removed_on) == ("removed", date(2029, 3, 13))
        assert await standing_events(api.runtime) == [
            (USCC_A, "normal", "blacklisted"),
            (USCC_B, "normal", "redlisted"),
            (USCC_B, "redlisted", "normal"),
            (USCC_A, "blacklisted", "normal"),
        ]
        async with api.runtime.session_factory() as session:
            again = await lists.expire_list_entries(session, api.runtime.outbox, date(2030, 1, 1))
        assert again == 0
        api.travel_to(date(2029, 10, 15))
        assert (await api.ok("GET", "/blacklist", {}))["items"] == []
        view = await api.ok("GET", f"/blacklist/{case['id']}", {})
        assert view["state"] == "removed"
        assert [h["kind"] for h in view["history"]] == ["listed", "removed_expired"]


class TestRedlist:
    async def test_nomination_refused_listing_failing_criteria(self, api: Api) -> None:
        await api.penalty(on=date(2024, 6, 3))
        api.travel_to(date(2024, 6, 5))
        r = await api.client.post(
            "/redlist", json=nomination(standardisation_level=3), headers=api.officer
        )
        assert r.status_code == 422
        problem = r.json()
        assert problem["code"] == "redlist_criteria_not_met"
        assert problem["failing"] == ["standardisation_level_2_or_higher", "no_recent_penalty"]
        assert [(e["field"], e["rule"]) for e in problem["errors"]] == [
            ("standardisation_level", "standardisation_level_2_or_higher"),
            ("uscc", "no_recent_penalty"),
        ]
        assert await rows(api.runtime, RedlistEntry) == []
        check = await api.ok("GET", f"/redlist/check/{USCC_A}?standardisation_level=1", api.officer)
        assert check["eligible"] is False
        assert [c["code"] for c in check["criteria"] if not c["passed"]] == [
            "no_recent_penalty",
            "accident_free_attested",
        ]
        # Three years after the decision the penalty no longer counts.
        api.travel_to(date(2027, 6, 4))
        check = await api.ok(
            "GET",
            f"/redlist/check/{USCC_A}?standardisation_level=1&accident_free_attested=true",
            api.officer,
        )
        assert check["eligible"] is True
        assert await rows(api.runtime, RedlistEntry) == []

    async def test_a_reversed_penalty_does_not_count(self, api: Api) -> None:
        record_id = await api.penalty(on=date(2026, 3, 10))
        api.travel_to(date(2026, 3, 12))
        await api.ok(
            "POST",
            f"/records/{record_id}/reversal",
            api.leader,
            json={"reason": "法院判决撤销原处罚决定", "document_number": "（2026）鲁0202行初12号"},
        )
        check = await api.ok(
            "GET",
            f"/redlist/check/{USCC_A}?standardisation_level=2&accident_free_attested=true",
            api.officer,
        )
        assert [c["code"] for c in check["criteria"] if not c["passed"]] == []
        assert check["eligible"] is True

    async def test_open_black_case_blocks_a_nomination(self, api: Api) -> None:
        await api.propose(on=date(2026, 3, 12))
        r = await api.client.post("/redlist", json=nomination(), headers=api.officer)
        assert r.json()["failing"] == ["not_blacklisted"]

    async def test_approval_lists_and_fills_the_joint_directory(self, api: Api) -> None:
        entry = await api.nominate()
        assert entry["state"] == "nominated"
        assert all(c["passed"] for c in entry["criteria"])
        r = await api.client.post("/redlist", json=nomination(), headers=api.officer)
        assert (r.status_code, r.json()["code"]) == (409, "redlist_entry_open")
        r = await api.client.post(
            f"/redlist/{entry['id']}/decision", json={"outcome": "approved"}, headers=api.officer
        )
        assert r.status_code == 403
        listed = await api.ok(
            "POST", f"/redlist/{entry['id']}/decision", api.leader, json={"outcome": "approved"}
        )
        assert (listed["state"], listed["listed_until"]) == ("listed", "2029-03-12")
        assert await standing_events(api.runtime) == [(USCC_A, "normal", "redlisted")]
        await api.redlist(uscc=USCC_B, joint_incentive=False)

        directory = await api.ok("GET", "/joint-incentives", {})
        (item,) = directory["items"]
        assert (item["uscc"], item["listed_until"]) == (USCC_A, "2029-03-12")
        assert any("每年检查不超过1次" in m for m in item["measures"])
        assert any("典型示范企业" in m for m in item["measures"])
        public = await api.ok("GET", "/redlist", {})
        assert {e["uscc"] for e in public["items"]} == {USCC_A, USCC_B}
        one = await api.ok("GET", f"/redlist/{entry['id']}", {})
        assert "grounds" not in one
        assert [h["kind"] for h in one["history"]] == ["listed"]

    async def test_approval_recomputes_and_rejection_needs_a_reason(self, api: Api) -> None:
        entry = await api.nominate()
        await api.penalty(on=date(2026, 3, 13))
        api.travel_to(date(2026, 3, 13))
        r = await api.client.post(
            f"/redlist/{entry['id']}/decision", json={"outcome": "approved"}, headers=api.leader
        )
        assert r.status_code == 422
        assert r.json()["failing"] == ["no_recent_penalty"]
        r = await api.client.post(
            f"/redlist/{entry['id']}/decision", json={"outcome": "rejected"}, headers=api.leader
        )
        assert (r.status_code, r.json()["code"]) == (422, "reason_required")
        rejected = await api.ok(
            "POST",
            f"/redlist/{entry['id']}/decision",
            api.leader,
            json={"outcome": "rejected", "reason": "近期受到行政处罚"},
        )
        assert rejected["state"] == "rejected"
        assert await standing_events(api.runtime) == []
        assert (await api.client.get(f"/redlist/{entry['id']}")).status_code == 404
        nominations = await api.ok("GET", "/redlist/nominations?state=rejected", api.officer)
        assert [n["id"] for n in nominations["items"]] == [entry["id"]]


class TestProposeFromPenalty:
    async def test_opens_a_case_or_links_to_the_open_one(self, api: Api) -> None:
        first = await api.penalty(number=12)
        second = await api.penalty(number=13)
        async with api.runtime.session_factory() as session:
            record = await session.get(CreditRecord, first)
            assert record is not None
            case = await lists.propose_from_penalty(
                session,
                api.runtime.outbox,
                record=record,
                criterion="fake_rectification",
                on=SERVED,
                actor="system",
            )
            assert case is not None
            await session.commit()
        assert case.criterion == "other_serious"
        assert "fake_rectification" in case.facts
        assert (case.state, case.active_key, case.basis_record_ids) == ("proposed", USCC_A, [first])

        async with api.runtime.session_factory() as session:
            record = await session.get(CreditRecord, second)
            assert record is not None
            none = await lists.propose_from_penalty(
                session,
                api.runtime.outbox,
                record=record,
                criterion="unlicensed_operation",
                on=SERVED,
                actor="system",
            )
            await session.commit()
        assert none is None
        (row,) = await rows(api.runtime, BlacklistEntry)
        assert row.basis_record_ids == [first, second]
        kinds = [(h.kind, h.public) for h in await case_history(api.runtime)]
        assert kinds == [("proposed", False), ("basis_linked", False)]
        assert await standing_events(api.runtime) == []

"""Credit's public figures (`GET /public/stats`), on SQLite and PostgreSQL: every count moves
with data made through the API, the year selects the flows, and nothing names an enterprise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import public_stats_router
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app
from tests.support import bearer, running

USCC_A = make_uscc(901)
USCC_B = make_uscc(902)
USCC_C = make_uscc(903)
NAMES = {
    USCC_A: "青岛海湾化工有限公司",
    USCC_B: "青岛北港物流有限公司",
    USCC_C: "青岛东海安全科技有限公司",
}
RECORDED = date(2026, 3, 12)  # penalties decided 2026-03-10, general: repairable from 11 June
ELIGIBLE = date(2026, 6, 11)  # a Thursday: a repair applied for today is due Tuesday 16 June


def with_stats(app: FastAPI) -> FastAPI:
    """The app with the stats route, unless its main module already includes it."""
    if not any(getattr(r, "path", None) == "/public/stats" for r in app.routes):
        app.include_router(public_stats_router.router)
    return app


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    issuer: DevIssuer

    def travel_to(self, day: date) -> None:
        self.app.dependency_overrides[business_today] = lambda: day

    def as_(self, role: str, sub: str = "officer-001") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    async def ok(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def stats(self, **params: Any) -> dict[str, Any]:
        r = await self.client.get("/public/stats", params=params)  # no token: public
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "public, max-age=60"
        body: dict[str, Any] = r.json()
        # Aggregates only: no enterprise is named or identified.
        text = r.text
        assert not any(u in text or n in text for u, n in NAMES.items())
        return body

    async def penalty(self, uscc: str, number: int) -> str:
        self.travel_to(RECORDED)
        body = {
            "uscc": uscc,
            "enterprise_name": NAMES[uscc],
            "decision_number": f"青应急罚〔2026〕{number}号",
            "decided_on": "2026-03-10",
            "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
            "violation_summary": "未对重大危险源进行定期检测、评估、监控",
            "fine_amount": "50000.00",
            "other_measures": "责令限期改正",
            "severity": "general",
            "source": "inspection",
        }
        return str((await self.ok("POST", "/penalties", self.as_("officer"), json=body))["id"])

    async def apply_for_repair(self, uscc: str, record_id: str) -> str:
        self.travel_to(ELIGIBLE)
        body = {
            "target_kind": "record",
            "target_id": record_id,
            "contact_name": "王安全",
            "contact_phone": "0532-88886666",
            "statement": "已完成重大危险源检测评估并建立监控制度，罚款已缴纳。",
            "evidence": [
                {"kind": "rectification_proof", "title": "整改报告", "document_sha256": "a" * 64}
            ],
            "commitment_signed": True,
        }
        return str(
            (await self.ok("POST", "/repairs", self.as_("enterprise", uscc), json=body))["id"]
        )

    async def decide_repair(self, repair_id: str, outcome: str, reason: str | None) -> None:
        await self.ok(
            "POST",
            f"/repairs/{repair_id}/decision",
            self.as_("officer"),
            json={"outcome": outcome, "reason": reason},
        )


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
    app = with_stats(create_app(settings))
    async with running(app) as (client, _runtime):
        api = Api(client, app, issuer)
        api.travel_to(RECORDED)
        yield api


async def test_an_empty_register_counts_nothing_in_the_current_year(api: Api) -> None:
    assert await api.stats() == {
        "year": 2026,
        "as_of": "2026-03-12",
        "listed_now": {
            "redlist": 0,
            "joint_incentive": 0,
            "blacklist": 0,
            "penalties_in_publicity": 0,
            "dishonesty_in_publicity": 0,
        },
        "in_year": {
            "penalties_decided": 0,
            "redlist_listed": 0,
            "blacklist_listed": 0,
            "blacklist_removed": 0,
        },
        "repairs": {
            "time_limit_working_days": 3,
            "applied": 0,
            "decided": 0,
            "decided_within_limit": 0,
            "approved": 0,
            "rejected": 0,
            "enterprises_repaired": 0,
            "pending_now": 0,
        },
    }


async def test_penalties_and_repairs_move_the_figures_of_their_year(api: Api) -> None:
    record_a = await api.penalty(USCC_A, 12)
    record_b = await api.penalty(USCC_B, 13)
    record_c = await api.penalty(USCC_C, 14)
    body = await api.stats()
    assert body["listed_now"]["penalties_in_publicity"] == 3
    assert body["in_year"]["penalties_decided"] == 3

    approved = await api.apply_for_repair(USCC_A, record_a)
    rejected = await api.apply_for_repair(USCC_B, record_b)
    await api.apply_for_repair(USCC_C, record_c)
    assert (await api.stats())["repairs"]["pending_now"] == 3
    await api.decide_repair(approved, "approved", None)
    await api.decide_repair(rejected, "rejected", "整改证明材料不完整，未能证明已纠正失信行为")

    body = await api.stats()
    assert body["as_of"] == "2026-06-11"
    # The repaired penalty leaves publicity; the rejected and the pending one stay.
    assert body["listed_now"]["penalties_in_publicity"] == 2
    assert body["repairs"] == {
        "time_limit_working_days": 3,
        "applied": 3,
        "decided": 2,
        "decided_within_limit": 2,
        "approved": 1,
        "rejected": 1,
        "enterprises_repaired": 1,
        "pending_now": 1,
    }

    other_year = await api.stats(year=2025)
    assert other_year["year"] == 2025
    assert other_year["in_year"]["penalties_decided"] == 0
    assert {k: v for k, v in other_year["repairs"].items() if k != "time_limit_working_days"} == {
        "applied": 0,
        "decided": 0,
        "decided_within_limit": 0,
        "approved": 0,
        "rejected": 0,
        "enterprises_repaired": 0,
        # What stands today does not depend on the year asked for.
        "pending_now": 1,
    }
    assert other_year["listed_now"] == body["listed_now"]


async def test_red_and_black_listings_count_while_listed(api: Api) -> None:
    officer, leader = api.as_("officer"), api.as_("leader", "leader-001")
    for uscc, joint in ((USCC_A, True), (USCC_B, False)):
        nomination = {
            "uscc": uscc,
            "enterprise_name": NAMES[uscc],
            "standardisation_level": 2,
            "standardisation_certificate": "鲁AQBWHII202600012",
            "accident_free_attested": True,
            "joint_incentive": joint,
            "grounds": "连续三年安全生产标准化二级达标，无事故",
        }
        entry = await api.ok("POST", "/redlist", officer, json=nomination)
        await api.ok(
            "POST", f"/redlist/{entry['id']}/decision", leader, json={"outcome": "approved"}
        )

    api.travel_to(date(2026, 9, 30))
    case = await api.ok(
        "POST",
        "/blacklist",
        officer,
        json={
            "uscc": USCC_C,
            "enterprise_name": NAMES[USCC_C],
            "criterion": "unlicensed_operation",
            "facts": "危险化学品经营许可证被暂扣期间仍从事经营活动。",
            "basis_record_ids": [],
        },
    )
    await api.ok("POST", f"/blacklist/{case['id']}/notice", officer)
    assert (await api.stats())["listed_now"]["blacklist"] == 0  # proposed is not listed
    api.travel_to(date(2026, 10, 14))
    await api.ok(
        "POST",
        f"/blacklist/{case['id']}/decision",
        leader,
        json={"outcome": "listed", "reason": None},
    )

    body = await api.stats()
    assert body["listed_now"] == {
        "redlist": 2,
        "joint_incentive": 1,
        "blacklist": 1,
        "penalties_in_publicity": 0,
        "dishonesty_in_publicity": 0,
    }
    assert body["in_year"] == {
        "penalties_decided": 0,
        "redlist_listed": 2,
        "blacklist_listed": 1,
        "blacklist_removed": 0,
    }
    assert (await api.stats(year=2027))["in_year"]["blacklist_listed"] == 0


@pytest.mark.parametrize(
    ("year", "rule"),
    [("1999", "greater_than_equal"), ("2101", "less_than_equal"), ("twenty", "int_parsing")],
)
async def test_a_bad_year_is_a_problem_naming_field_and_rule(
    api: Api, year: str, rule: str
) -> None:
    r = await api.client.get("/public/stats", params={"year": year})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "validation_failed"
    assert [(e["field"], e["in"], e["rule"]) for e in problem["errors"]] == [
        ("year", "query", rule)
    ]

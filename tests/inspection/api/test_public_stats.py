"""Inspection's public figures (`GET /public/stats`), on SQLite and PostgreSQL: inspections by
tier, source and standing, lenient decisions, hazards, outreach, each moved by data made
through the API; the year selects the flows; nothing names an enterprise or a person."""

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
from services.inspection import public_stats_router
from services.inspection.config import InspectionSettings
from services.inspection.dependencies import business_today
from services.inspection.main import create_app
from services.inspection.models_guidance import ViolationItem
from tests.support import bearer, running

USCC_KEY = make_uscc(7801)  # hazardous chemicals: a key enterprise
USCC_GENERAL = make_uscc(7802)  # trade: a general one
TODAY = date(2026, 3, 10)
EVIDENCE = [{"sha256": "ab" * 32, "label": "现场照片"}]
# Values that must never reach the public figures.
PRIVATE = ("青岛测试企业", USCC_KEY, USCC_GENERAL, "王执法", "李专家", "13800000000", "officer-001")


def with_stats(app: FastAPI) -> FastAPI:
    """The app with the stats route, unless its main module already includes it."""
    if not any(getattr(r, "path", None) == "/public/stats" for r in app.routes):
        app.include_router(public_stats_router.router)
    return app


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer

    def travel_to(self, day: date) -> None:
        self.app.dependency_overrides[business_today] = lambda: day

    @property
    def officer(self) -> dict[str, str]:
        return bearer(self.issuer, "officer", "officer-001")

    def enterprise(self, uscc: str) -> dict[str, str]:
        return bearer(self.issuer, "enterprise", uscc)

    async def ok(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def stats(self, **params: Any) -> dict[str, Any]:
        r = await self.client.get("/public/stats", params=params)  # no token: public
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "public, max-age=60"
        assert not any(marker in r.text for marker in PRIVATE)
        body: dict[str, Any] = r.json()
        return body

    async def register(self, uscc: str, sector: str) -> None:
        body = {"uscc": uscc, "name": f"青岛测试企业{uscc[-4:]}", "district": "黄岛区"}
        await self.ok("POST", "/enterprises", self.officer, json={**body, "sector": sector})

    async def start(self, uscc: str, source: str) -> str:
        body = {
            "uscc": uscc,
            "source": source,
            "reference": "2026-03",
            "team": ["officer-001", "officer-002"],
            "notice": {"served_on": TODAY.isoformat(), "text": "依法对你单位开展安全生产执法检查"},
            "education_plan": {"topics": ["典型事故案例剖析"], "audience": ["企业主要负责人"]},
        }
        return str((await self.ok("POST", "/inspections", self.officer, json=body))["id"])

    async def hazard(self, case_id: str, grade: str = "general") -> str:
        body = {"grade": grade, "description": "罐区防火堤内堆放杂物", "evidence": EVIDENCE}
        case = await self.ok("POST", f"/inspections/{case_id}/hazards", self.officer, json=body)
        return str(case["hazards"][-1]["id"])

    async def close(self, case_id: str, decisions: list[dict[str, Any]]) -> None:
        deliberation = {
            "minutes": "合议认为：事实清楚。",
            "participants": ["officer-001", "officer-002", "legal-001"],
            "decisions": decisions,
        }
        await self.ok(
            "POST", f"/inspections/{case_id}/deliberation", self.officer, json=deliberation
        )
        feedback = {
            "delivered_on": TODAY.isoformat(),
            "lesson": "以案释法：讲解隐患排查治理制度的法定要求",
            "questions_answered": 3,
            "questions": [{"question": "隐患台账保存多久？", "answer": "至少保存三年。"}],
        }
        await self.ok("POST", f"/inspections/{case_id}/feedback", self.officer, json=feedback)


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Api]:
    settings = InspectionSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    app = with_stats(create_app(settings))
    async with running(app) as (client, runtime):
        result = Api(client, runtime, app, issuer)
        result.travel_to(TODAY)
        yield result


async def site_violation(runtime: ServiceRuntime) -> str:
    """A code of the seeded catalogue (131 common violations) that is not management-type."""
    async with runtime.session_factory() as session:
        code = await session.scalar(
            sa.select(ViolationItem.code)
            .where(ViolationItem.is_management.is_(False))
            .order_by(ViolationItem.sort_order)
            .limit(1)
        )
    assert code is not None
    return str(code)


async def test_nothing_recorded_counts_nothing(api: Api) -> None:
    body = await api.stats()
    assert (body["year"], body["as_of"]) == (2026, "2026-03-10")
    assert body["inspections"] == {
        "total": 0,
        "enterprises": 0,
        "closed": 0,
        "by_tier": {"key": 0, "general": 0, "unclassified": 0},
        "by_source": {
            "planned": 0,
            "draw": 0,
            "pledge": 0,
            "complaint": 0,
            "assignment": 0,
            "follow_up": 0,
        },
        "by_standing": {"normal": 0, "redlisted": 0, "blacklisted": 0, "unclassified": 0},
        "lessons_given": 0,
        "questions_answered": 0,
    }
    assert body["decisions"] == {
        "no_penalty": 0,
        "rectification_order": 0,
        "penalty": 0,
        "lenient_by_rule": {},
    }
    assert set(body["hazards"].values()) == {0}
    assert set(body["pledge_visits"].values()) == {0}
    assert body["guidance_requests"] == {"requested": 0, "answered": 0}
    assert set(body["outreach"].values()) == {0}


async def test_cases_hazards_and_outreach_move_the_figures(api: Api) -> None:
    await api.register(USCC_KEY, "hazardous_chemicals")
    await api.register(USCC_GENERAL, "trade")

    # A planned inspection of the key enterprise finds two hazards and nothing to decide.
    planned = await api.start(USCC_KEY, "planned")
    fixed = await api.hazard(planned)
    await api.hazard(planned, grade="major")
    await api.close(planned, [])
    # A drawn inspection of the general one: a minor, corrected, harmless violation.
    drawn = await api.start(USCC_GENERAL, "draw")
    finding = {
        "violation_code": await site_violation(api.runtime),
        "description": "危险化学品储存场所未设置明显的安全警示标志",
        "evidence": EVIDENCE,
        "corrected_on_spot": True,
        "harm": "none",
        "is_minor": True,
    }
    await api.ok("POST", f"/inspections/{drawn}/findings", api.officer, json=finding)
    await api.close(drawn, [{"finding": 1}])
    # A complaint: started, not yet inspected.
    await api.start(USCC_GENERAL, "complaint")

    report = {"description": "已清理防火堤内杂物并设置隔离", "evidence": EVIDENCE}
    await api.ok(
        "POST", f"/hazards/{fixed}/rectification-report", api.enterprise(USCC_KEY), json=report
    )
    await api.ok("POST", f"/hazards/{fixed}/verification", api.officer, json={"passed": True})

    body = await api.stats()
    cases = body["inspections"]
    assert (cases["total"], cases["enterprises"], cases["closed"]) == (3, 2, 2)
    assert cases["by_tier"] == {"key": 1, "general": 2, "unclassified": 0}
    assert cases["by_source"] == {
        "planned": 1,
        "draw": 1,
        "pledge": 0,
        "complaint": 1,
        "assignment": 0,
        "follow_up": 0,
    }
    assert cases["by_standing"] == {
        "normal": 3,
        "redlisted": 0,
        "blacklisted": 0,
        "unclassified": 0,
    }
    assert (cases["lessons_given"], cases["questions_answered"]) == (2, 6)
    assert body["decisions"] == {
        "no_penalty": 1,
        "rectification_order": 0,
        "penalty": 0,
        "lenient_by_rule": {"minor_corrected_harmless": 1},
    }
    assert body["hazards"] == {
        "found": 2,
        "major": 1,
        "self_found": 0,
        "rectified": 1,
        "awaiting_verification": 0,
        "open": 1,
        "overdue": 0,
    }

    # Past the major hazard's 30 working days it is overdue; the year's flows stay put.
    api.travel_to(date(2026, 6, 1))
    assert (await api.stats())["hazards"]["overdue"] == 1

    last_year = await api.stats(year=2025)
    assert last_year["inspections"]["total"] == 0
    assert last_year["hazards"]["found"] == 0
    assert last_year["decisions"]["no_penalty"] == 0


async def test_outreach_sessions_count_once_held(api: Api) -> None:
    group = {
        "name": "危险化学品安全宣讲团",
        "organiser_kind": "professional_committee",
        "organiser": "青岛市危险化学品安全专业委员会",
        "sectors": ["hazardous_chemicals"],
        "members": [
            {
                "kind": "officer",
                "name": "王执法",
                "organisation": "青岛市应急管理局",
                "is_lead": True,
            },
            {
                "kind": "expert",
                "name": "李专家",
                "organisation": "青岛科技大学",
                "phone": "13800000000",
            },
        ],
    }
    group_id = (await api.ok("POST", "/outreach/groups", api.officer, json=group))["id"]
    theme = {"year": 2026, "month": 3, "theme": "有限空间作业安全", "content": "有限空间辨识与监护"}
    await api.ok("POST", "/outreach/themes", api.officer, json=theme)
    held = {
        "group_id": group_id,
        "held_on": "2026-03-05",
        "topic": "化工企业受限空间作业事故案例剖析",
        "sector": "hazardous_chemicals",
        "mode": "offline",
        "location": "黄岛区董家口化工园区培训中心",
    }
    session = await api.ok("POST", "/outreach/sessions", api.officer, json=held)
    later = {**held, "held_on": "2026-03-20", "mode": "online", "location": None}
    later["link"] = "https://live.example.cn/qd-yjj/2026-03"
    await api.ok("POST", "/outreach/sessions", api.officer, json=later)
    attendance = {
        "enterprises": [
            {"uscc": USCC_KEY, "enterprise_name": "青岛测试企业7801", "attendees": 12},
            {"uscc": USCC_GENERAL, "enterprise_name": "青岛测试企业7802", "attendees": 5},
        ],
        "total_attendees": 30,
        "questions_answered": 14,
    }
    await api.ok(
        "PUT", f"/outreach/sessions/{session['id']}/attendance", api.officer, json=attendance
    )

    assert (await api.stats())["outreach"] == {
        "groups": 1,
        "professional_committees": 1,
        "experts": 1,
        "sessions": 1,  # the one on 20 March is not held yet
        "online": 0,
        "offline": 1,
        "enterprises": 2,
        "attendees": 30,
        "questions_answered": 14,
    }
    api.travel_to(date(2026, 3, 21))
    outreach = (await api.stats())["outreach"]
    assert (outreach["sessions"], outreach["online"]) == (2, 1)
    assert (await api.stats(year=2027))["outreach"]["sessions"] == 0


@pytest.mark.parametrize(
    ("year", "rule"),
    [("1999", "greater_than_equal"), ("2101", "less_than_equal"), ("x", "int_parsing")],
)
async def test_a_bad_year_is_a_problem_naming_field_and_rule(
    api: Api, year: str, rule: str
) -> None:
    r = await api.client.get("/public/stats", params={"year": year})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("year", rule)]

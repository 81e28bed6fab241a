"""Outreach "1+21+N" (measure 1): groups, monthly themes, sessions and attendance, per role, on
SQLite and PostgreSQL. The business date is pinned to 20 June 2026."""

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
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app
from services.inspection.outreach_router import business_today
from tests.support import bearer, running

TODAY = date(2026, 6, 20)
A, B = make_uscc(801), make_uscc(802)


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    issuer: DevIssuer

    def as_(self, role: str, sub: str = "tester") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    @property
    def officer(self) -> dict[str, str]:
        return self.as_("officer", "officer-001")

    async def ok(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        r = await self.client.request(method, url, headers=headers or {}, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def group(self, name: str = "危险化学品安全宣讲团", **over: Any) -> Any:
        body: dict[str, Any] = {
            "name": name,
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
                {
                    "kind": "enterprise_safety_manager",
                    "name": "张安全",
                    "organisation": "青岛海湾化工有限公司",
                    "uscc": A,
                },
                {"kind": "legal_adviser", "name": "赵律师", "organisation": "山东某律师事务所"},
                {"kind": "health_ngo", "name": "孙医生", "organisation": "青岛市健康促进会"},
            ],
        }
        body.update(over)
        return await self.ok("POST", "/outreach/groups", self.officer, json=body)

    async def theme(self, month: int = 6, year: int = 2026) -> Any:
        body = {
            "year": year,
            "month": month,
            "theme": "有限空间作业安全",
            "content": "有限空间辨识、审批、通风检测和监护",
        }
        return await self.ok("POST", "/outreach/themes", self.officer, json=body)

    async def session(self, group_id: str, held_on: date = date(2026, 6, 12), **over: Any) -> Any:
        body: dict[str, Any] = {
            "group_id": group_id,
            "held_on": held_on.isoformat(),
            "topic": "化工企业受限空间作业事故案例剖析",
            "sector": "hazardous_chemicals",
            "mode": "offline",
            "location": "黄岛区董家口化工园区培训中心",
        }
        body.update(over)
        return await self.ok("POST", "/outreach/sessions", self.officer, json=body)

    async def attend(
        self, session_id: str, version: int | None = None, **over: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {
            "enterprises": [
                {
                    "uscc": A,
                    "enterprise_name": "青岛海湾化工有限公司",
                    "attendees": 12,
                    "contact_name": "张安全",
                },
                {"uscc": B, "enterprise_name": "青岛北港物流有限公司", "attendees": 5},
            ],
            "total_attendees": 30,
            "questions_answered": 14,
        }
        body.update(over)
        headers = dict(self.officer)
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        return await self.client.put(
            f"/outreach/sessions/{session_id}/attendance", json=body, headers=headers
        )


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
    app = create_app(settings)
    app.dependency_overrides[business_today] = lambda: TODAY
    async with running(app) as (client, _runtime):
        yield Api(client, app, issuer)


class TestGroups:
    async def test_bureau_forms_a_group_public_sees_its_make_up(self, api: Api) -> None:
        group = await api.group()
        assert [m["kind"] for m in group["members"]][:2] == ["officer", "expert"]
        assert group["members"][1]["phone"] == "13800000000"
        public = await api.ok("GET", "/outreach/groups")
        assert public == [
            {
                "id": group["id"],
                "name": "危险化学品安全宣讲团",
                "organiser_kind": "professional_committee",
                "organiser": "青岛市危险化学品安全专业委员会",
                "sectors": ["hazardous_chemicals"],
                "member_counts": {
                    "officer": 1,
                    "enterprise_safety_manager": 1,
                    "expert": 1,
                    "legal_adviser": 1,
                    "health_ngo": 1,
                },
            }
        ]
        # Members' names and phones are for the bureau only.
        r = await api.client.get(f"/outreach/groups/{group['id']}")
        assert r.status_code == 401
        r = await api.client.get(
            f"/outreach/groups/{group['id']}", headers=api.as_("enterprise", A)
        )
        assert r.status_code == 403
        for role in ("officer", "leader", "admin"):
            detail = await api.ok("GET", f"/outreach/groups/{group['id']}", api.as_(role))
            assert len(detail["members"]) == 5

    @pytest.mark.parametrize("role", ["enterprise", "insurer", "department"])
    async def test_only_the_bureau_forms_groups(self, api: Api, role: str) -> None:
        r = await api.client.post("/outreach/groups", json={}, headers=api.as_(role, A))
        assert r.status_code == 403

    async def test_rules_are_named(self, api: Api) -> None:
        base = (await api.group())["members"]
        del base  # the first group exists; the same name conflicts
        r = await api.client.post(
            "/outreach/groups",
            json={
                "name": "危险化学品安全宣讲团",
                "organiser_kind": "committee",
                "organiser": "青岛市安全生产委员会",
                "members": [
                    {"kind": "expert", "name": "周专家", "organisation": "某院", "is_lead": True}
                ],
            },
            headers=api.officer,
        )
        assert (r.status_code, r.json()["code"]) == (409, "group_exists")
        r = await api.client.post(
            "/outreach/groups",
            json={
                "name": "冶金宣讲团",
                "organiser_kind": "committee",
                "organiser": "青岛市安全生产委员会",
                "members": [{"kind": "expert", "name": "周专家", "organisation": "某院"}],
            },
            headers=api.officer,
        )
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422,
            "group_lead_count",
            "members",
        )
        assert len(await api.ok("GET", "/outreach/groups")) == 1

    async def test_members_join_with_one_lead(self, api: Api) -> None:
        group = await api.group()
        url = f"/outreach/groups/{group['id']}/members"
        expert = {"kind": "expert", "name": "钱专家", "organisation": "中国石油大学（华东）"}
        added = await api.ok("POST", url, api.officer, json=expert)
        assert added["kind"] == "expert"
        r = await api.client.post(
            url, json={**expert, "name": "吴专家", "is_lead": True}, headers=api.officer
        )
        assert (r.status_code, r.json()["code"]) == (422, "group_lead_count")
        r = await api.client.post(url, json={**expert, "uscc": A}, headers=api.officer)
        assert (r.status_code, r.json()["code"]) == (422, "member_uscc_unexpected")
        r = await api.client.post("/outreach/groups/nope/members", json=expert, headers=api.officer)
        assert (r.status_code, r.json()["code"]) == (404, "group_not_found")
        figures = await api.ok("GET", "/outreach/figures", params={"year": 2026})
        assert (figures["groups"], figures["professional_committees"], figures["experts"]) == (
            1,
            1,
            2,
        )


class TestThemes:
    async def test_one_theme_a_month_public_reads(self, api: Api) -> None:
        await api.theme(6)
        await api.theme(7)
        r = await api.client.post(
            "/outreach/themes",
            json={"year": 2026, "month": 6, "theme": "粉尘防爆", "content": "除尘系统"},
            headers=api.officer,
        )
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            409,
            "theme_exists",
            "month",
        )
        themes = await api.ok("GET", "/outreach/themes", params={"year": 2026})
        assert [(t["month"], t["theme"]) for t in themes] == [
            (6, "有限空间作业安全"),
            (7, "有限空间作业安全"),
        ]
        r = await api.client.post(
            "/outreach/themes",
            json={"year": 2026, "month": 8, "theme": "x" * 3, "content": "y" * 3},
            headers=api.as_("enterprise", A),
        )
        assert r.status_code == 403


class TestSessions:
    async def test_schedule_attend_and_read_per_role(self, api: Api) -> None:
        group = await api.group()
        await api.theme(6)
        held = await api.session(group["id"])
        assert (held["theme"], held["group_name"]) == ("有限空间作业安全", "危险化学品安全宣讲团")
        assert held["enterprises_attended"] is None
        online = await api.session(
            group["id"],
            date(2026, 6, 25),
            mode="online",
            location=None,
            link="https://live.example/qd-0625",
            sector="trade",
        )
        assert online["link"] == "https://live.example/qd-0625"

        r = await api.attend(online["id"])
        assert (r.status_code, r.json()["code"]) == (422, "session_not_held")
        r = await api.attend(held["id"], version=held["version"] + 1)
        assert r.status_code == 412
        r = await api.attend(held["id"], version=held["version"])
        assert r.status_code == 200, r.text
        recorded = r.json()
        assert (
            recorded["enterprises_attended"],
            recorded["total_attendees"],
            recorded["questions_answered"],
        ) == (2, 30, 14)
        assert r.headers["ETag"] == f'"{recorded["version"]}"'

        # The public sees counts only, never who came.
        public = await api.ok("GET", f"/outreach/sessions/{held['id']}")
        assert "enterprises" not in public
        assert "contact_name" not in str(public)
        r = await api.client.get(f"/outreach/sessions/{held['id']}/attendance")
        assert r.status_code == 401
        r = await api.client.get(
            f"/outreach/sessions/{held['id']}/attendance", headers=api.as_("enterprise", A)
        )
        assert r.status_code == 403
        lines = await api.ok(
            "GET", f"/outreach/sessions/{held['id']}/attendance", api.as_("leader")
        )
        assert [(e["uscc"], e["contact_name"]) for e in lines["enterprises"]] == sorted(
            [(A, "张安全"), (B, None)]
        )

        # Each enterprise sees the sessions it attended, with its own count.
        mine = await api.ok("GET", "/outreach/sessions/attended", api.as_("enterprise", A))
        assert [(s["id"], s["my_attendees"]) for s in mine] == [(held["id"], 12)]
        other = await api.ok(
            "GET", "/outreach/sessions/attended", api.as_("enterprise", make_uscc(803))
        )
        assert other == []
        r = await api.client.get("/outreach/sessions/attended", headers=api.officer)
        assert r.status_code == 403

        # A correction replaces the lines.
        r = await api.attend(
            held["id"],
            enterprises=[{"uscc": B, "enterprise_name": "青岛北港物流有限公司", "attendees": 6}],
            total_attendees=6,
            questions_answered=3,
        )
        assert r.status_code == 200, r.text
        assert await api.ok("GET", "/outreach/sessions/attended", api.as_("enterprise", A)) == []

        listing = await api.ok("GET", "/outreach/sessions", params={"year": 2026, "month": 6})
        assert [s["id"] for s in listing["items"]] == [online["id"], held["id"]]
        offline = await api.ok("GET", "/outreach/sessions", params={"mode": "offline"})
        assert [s["id"] for s in offline["items"]] == [held["id"]]

    async def test_session_rules(self, api: Api) -> None:
        group = await api.group()
        r = await api.client.post(
            "/outreach/sessions",
            json={
                "group_id": group["id"],
                "held_on": "2026-06-12",
                "topic": "案例",
                "sector": "trade",
                "mode": "offline",
                "location": "市北区",
            },
            headers=api.officer,
        )
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422,
            "monthly_theme_missing",
            "held_on",
        )
        await api.theme(6)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"location": None}, "location_required"),
            ({"mode": "online"}, "link_required"),
            ({"key_project": "董家口LNG接收站"}, "key_project_stage_pair"),
        ]
        for over, code in cases:
            body = {
                "group_id": group["id"],
                "held_on": "2026-06-12",
                "topic": "案例",
                "sector": "trade",
                "mode": "offline",
                "location": "市北区",
                **over,
            }
            r = await api.client.post("/outreach/sessions", json=body, headers=api.officer)
            assert (r.status_code, r.json()["code"]) == (422, code)
        r = await api.client.post(
            "/outreach/sessions",
            json={
                "group_id": "missing",
                "held_on": "2026-06-12",
                "topic": "案例",
                "sector": "trade",
                "mode": "offline",
                "location": "市北区",
            },
            headers=api.officer,
        )
        assert (r.status_code, r.json()["code"]) == (404, "group_not_found")
        listing = await api.ok("GET", "/outreach/sessions")
        assert listing["items"] == []
        staged = await api.session(
            group["id"], key_project="董家口LNG接收站", project_stage="construction"
        )
        assert (staged["key_project"], staged["project_stage"]) == (
            "董家口LNG接收站",
            "construction",
        )
        r = await api.attend(staged["id"], total_attendees=10)
        assert (r.status_code, r.json()["code"]) == (422, "attendance_total_short")
        r = await api.client.get("/outreach/sessions/nope")
        assert (r.status_code, r.json()["code"]) == (404, "session_not_found")

    async def test_paging(self, api: Api) -> None:
        group = await api.group()
        await api.theme(5)
        await api.theme(6)
        ids = [
            (await api.session(group["id"], date(2026, m, d)))["id"]
            for m, d in [(5, 3), (5, 20), (6, 1), (6, 1), (6, 9)]
        ]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await api.ok("GET", "/outreach/sessions", params=params)
            seen += [s["id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(ids)
        assert len(seen) == 5
        may = await api.ok("GET", "/outreach/sessions", params={"year": 2026, "month": 5})
        assert len(may["items"]) == 2


class TestFigures:
    async def test_by_month_and_sector_held_sessions_only(self, api: Api) -> None:
        group = await api.group()
        await api.theme(5)
        await api.theme(6)
        may = await api.session(group["id"], date(2026, 5, 8))
        june = await api.session(group["id"], date(2026, 6, 12))
        await api.session(
            group["id"],
            date(2026, 6, 15),
            mode="online",
            location=None,
            link="https://live.example/1",
        )
        await api.session(group["id"], date(2026, 6, 29))  # not held yet on 20 June
        assert (await api.attend(may["id"])).status_code == 200
        assert (
            await api.attend(june["id"], total_attendees=40, questions_answered=6)
        ).status_code == 200
        figures = await api.ok("GET", "/outreach/figures", params={"year": 2026})
        assert figures["rows"] == [
            {
                "month": 5,
                "sector": "hazardous_chemicals",
                "sessions": 1,
                "online": 0,
                "offline": 1,
                "enterprises": 2,
                "attendees": 30,
                "questions_answered": 14,
            },
            {
                "month": 6,
                "sector": "hazardous_chemicals",
                "sessions": 2,
                "online": 1,
                "offline": 1,
                "enterprises": 2,
                "attendees": 40,
                "questions_answered": 6,
            },
        ]
        assert (figures["sessions"], figures["attendees"], figures["questions_answered"]) == (
            3,
            70,
            20,
        )
        empty = await api.ok("GET", "/outreach/figures", params={"year": 2025})
        assert (empty["rows"], empty["sessions"]) == ([], 0)

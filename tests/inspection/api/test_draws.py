"""Inspectors, the monthly double-random draw and guidance over the API, SQLite and PostgreSQL.

The business date is pinned through `draw_today`. The March 2027 list must be published by
14 February 2027 (15 days before 1 March).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
from services.inspection.config import InspectionSettings
from services.inspection.draws_router import draw_today
from services.inspection.main import create_app
from services.inspection.models import Enterprise, Plan, PlanEntry
from services.inspection.models_draw import Draw
from tests.support import bearer, running

PLANNED = make_uscc(8100)  # planned in March
EXEMPT = make_uscc(8101)
CAPPED = make_uscc(8102)  # random, at most once a year
POOL = [make_uscc(8110 + i) for i in range(8)]
DEADLINE = date(2027, 2, 14)  # the March list is out by then
COMMIT_ON = date(2027, 2, 13)  # the last day a commitment can still wait for its value


def source(expected_on: date = DEADLINE) -> dict[str, str]:
    return {
        "name": "中国福利彩票双色球",
        "round": "2027-018",
        "expected_on": expected_on.isoformat(),
    }


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer

    def travel_to(self, day: date) -> None:
        self.app.dependency_overrides[draw_today] = lambda: day

    def as_(self, role: str, sub: str = "tester") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    @property
    def officer(self) -> dict[str, str]:
        return self.as_("officer", "officer-001")

    @property
    def leader(self) -> dict[str, str]:
        return self.as_("leader", "leader-001")

    async def ok(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def refused(
        self, method: str, url: str, headers: dict[str, str], status: int, code: str, **kw: Any
    ) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == code, r.text
        return r.json()

    async def inspector(
        self, subject: str, sectors: list[str], cap: int = 5, conflicts: list[str] | None = None
    ) -> str:
        body = {
            "name": f"执法员{subject[-3:]}",
            "subject": subject,
            "district": "市南区",
            "sectors": sectors,
            "conflicts": conflicts or [],
            "monthly_cap": cap,
        }
        return str((await self.ok("POST", "/inspectors", self.officer, json=body))["id"])

    async def commit(self, month: int, on: date, **body: Any) -> Any:
        self.travel_to(on)
        payload = {"count": 3, "source": source(), **body}
        return await self.ok("POST", f"/draws/2027/{month}", self.officer, json=payload)

    async def reveal(self, month: int, on: date, value: str = "03 07 12 19 25 31 + 09") -> Any:
        self.travel_to(on)
        return await self.ok(
            "POST", f"/draws/2027/{month}/reveal", self.leader, json={"public_value": value}
        )


def entry(plan_id: str, uscc: str, sector: str = "trade", **over: Any) -> PlanEntry:
    values: dict[str, Any] = {
        "plan_id": plan_id,
        "uscc": uscc,
        "sector": sector,
        "district": "市北区",
        "mode": "random",
        "min_inspections": 0,
        "max_inspections": None,
        "priority": 0,
        "planned_months": [],
        "rules": [],
    }
    values.update(over)
    return PlanEntry(**values)


async def seed_plan(runtime: ServiceRuntime, pool: list[str], sector: str = "trade") -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    plan_id = str(uuid.uuid4())
    everyone = [PLANNED, EXEMPT, CAPPED, *pool]
    async with runtime.session_factory() as session, session.begin():
        session.add_all(
            Enterprise(
                uscc=u,
                name=f"青岛测试企业{n}有限公司",
                district="市北区",
                sector=sector,
                tier="general",
                registered_by="test",
                created_at=now,
                updated_at=now,
            )
            for n, u in enumerate(everyone)
        )
        session.add(
            Plan(
                id=plan_id,
                year=2027,
                state="approved",
                rule_pack_id="test",
                rule_pack_version="1",
                summary={},
                generated_at=now,
                generated_by="officer:test",
            )
        )
        session.add_all(
            [
                entry(plan_id, PLANNED, sector, mode="planned", planned_months=[3, 9]),
                entry(plan_id, EXEMPT, sector, mode="exempt", max_inspections=0),
                entry(plan_id, CAPPED, sector, max_inspections=1, priority=30),
                *(entry(plan_id, u, sector, priority=10 * (i % 3)) for i, u in enumerate(pool)),
            ]
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
    async with running(app) as (client, runtime):
        yield Api(client, runtime, app, issuer)


async def staffed(api: Api) -> dict[str, str]:
    """Four inspectors; the first may not inspect the planned enterprise."""
    return {
        "conflicted": await api.inspector("officer-101", ["trade"], conflicts=[PLANNED]),
        "b": await api.inspector("officer-102", ["trade", "machinery"]),
        "c": await api.inspector("officer-103", ["trade"]),
        "d": await api.inspector("officer-104", ["mining", "trade"]),
    }


class TestInspectors:
    async def test_register_list_update(self, api: Api) -> None:
        ids = await staffed(api)
        await api.refused(
            "POST",
            "/inspectors",
            api.officer,
            409,
            "inspector_exists",
            json={
                "name": "重复",
                "subject": "officer-102",
                "district": "市南区",
                "sectors": ["trade"],
                "monthly_cap": 3,
            },
        )
        listed = await api.ok("GET", "/inspectors", api.leader)
        assert len(listed) == 4
        changed = await api.ok(
            "PATCH",
            f"/inspectors/{ids['b']}",
            api.officer,
            json={"monthly_cap": 9, "is_active": False, "sectors": ["mining"]},
        )
        assert (changed["monthly_cap"], changed["is_active"], changed["sectors"]) == (
            9,
            False,
            ["mining"],
        )
        assert len(await api.ok("GET", "/inspectors?active=true", api.leader)) == 3
        r = await api.client.get("/inspectors", headers=api.as_("enterprise", PLANNED))
        assert r.status_code == 403
        r = await api.client.get("/inspectors")
        assert r.status_code == 401
        await api.refused("GET", "/inspectors/nope", api.officer, 404, "inspector_not_found")
        r = await api.client.patch(
            f"/inspectors/{ids['b']}", headers=api.officer, json={"monthly_cap": 0}
        )
        assert r.status_code == 422


class TestCommit:
    async def test_fifteen_days_ahead_boundary(self, api: Api) -> None:
        await staffed(api)
        await seed_plan(api.runtime, POOL)
        api.travel_to(date(2027, 2, 15))
        problem = await api.refused(
            "POST",
            "/draws/2027/3",
            api.officer,
            422,
            "publication_too_late",
            json={"count": 3, "source": source()},
        )
        assert problem["field"] == "month"
        await api.refused("GET", "/draws/2027/3", {}, 404, "draw_not_found")
        published = await api.commit(3, COMMIT_ON)
        assert published["state"] == "committed"
        assert published["published_on"] == COMMIT_ON.isoformat()
        await api.refused(
            "POST",
            "/draws/2027/3",
            api.officer,
            409,
            "draw_exists",
            json={"count": 3, "source": source()},
        )

    async def test_source_and_size_rules(self, api: Api) -> None:
        await staffed(api)
        await seed_plan(api.runtime, POOL)
        api.travel_to(date(2027, 2, 10))
        url = "/draws/2027/3"
        await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "source_value_already_known",
            json={"count": 3, "source": source(date(2027, 2, 10))},
        )
        await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "draw_count_exceeds_pool",
            json={"count": 10, "source": source()},
        )
        await api.refused(
            "POST",
            url,
            api.as_("enterprise", PLANNED),
            403,
            "forbidden",
            json={"count": 3, "source": source()},
        )
        published = await api.commit(3, date(2027, 2, 10), count=None, percentage="30")
        assert published["draw_count"] == 3  # 30% of 9, rounded up

    async def test_refuses_without_an_approved_plan_or_staff(self, api: Api) -> None:
        api.travel_to(date(2027, 2, 1))
        body = {"count": 1, "source": source()}
        await api.refused("POST", "/draws/2027/3", api.officer, 422, "plan_not_approved", json=body)
        await seed_plan(api.runtime, POOL)
        await api.inspector("officer-201", ["trade"])
        problem = await api.refused(
            "POST", "/draws/2027/3", api.officer, 422, "team_unavailable", json=body
        )
        rules = {(p["rule"], p.get("uscc")) for p in problem["problems"]}
        assert ("qualified_inspectors_insufficient", PLANNED) in rules
        assert await _draw_rows(api) == 0


async def _draw_rows(api: Api) -> int:
    async with api.runtime.session_factory() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Draw)) or 0)


class TestPublicationRevealRecompute:
    async def test_the_whole_month(self, api: Api) -> None:
        ids = await staffed(api)
        await seed_plan(api.runtime, POOL)
        committed = await api.commit(3, COMMIT_ON)

        public = await api.ok("GET", "/draws/2027/3", {})
        assert public["secret"] is None
        assert public["seed"] is None
        assert [e["uscc"] for e in public["listed"]] == [PLANNED]
        assert public["listed"][0]["kind"] == "planned"
        assert public["listed"][0]["team"] is None
        pool = {p["uscc"] for p in public["inputs"]["pool"]}
        assert pool == {CAPPED, *POOL}
        assert EXEMPT not in pool
        assert PLANNED not in pool
        assert public["commitment"] == committed["commitment"]
        assert "officer-101" not in str(public)
        assert PLANNED not in str(public["inputs"]["roster"])

        await api.refused("POST", "/draws/2027/3/recompute", {}, 409, "draw_not_revealed")
        api.travel_to(COMMIT_ON)
        r = await api.client.post(
            "/draws/2027/3/reveal", headers=api.officer, json={"public_value": "1"}
        )
        assert r.status_code == 403
        await api.refused(
            "POST",
            "/draws/2027/3/reveal",
            api.leader,
            422,
            "source_value_not_yet_due",
            json={"public_value": "1"},
        )

        revealed = await api.reveal(3, DEADLINE)
        assert revealed["state"] == "revealed"
        secret = bytes.fromhex(revealed["secret"])
        assert hashlib.sha256(secret).hexdigest() == committed["commitment"]
        drawn = [e for e in revealed["listed"] if e["kind"] == "drawn"]
        assert [e["rank"] for e in drawn] == [1, 2, 3]
        assert all(e["uscc"] in pool for e in drawn)
        names = {i["id"]: i["name"] for i in await api.ok("GET", "/inspectors", api.leader)}
        for listed in revealed["listed"]:
            assert len(listed["team"]) == 2
            assert set(listed["team"]) <= set(names.values())
        planned_team = revealed["listed"][0]["team"]
        assert names[ids["conflicted"]] not in planned_team

        public = await api.ok("GET", "/draws/2027/3", {})
        assert public["seed"] == revealed["seed"]
        assert public["secret"] == revealed["secret"]
        assert "conflicts" not in public["inputs"]["roster"][0]

        again = await api.ok("POST", "/draws/2027/3/recompute", {})
        assert again["matches"]
        assert again["conflicts_digest_matches"]
        assert again["selected"] == [e["uscc"] for e in drawn]
        assert again["seed"] == revealed["seed"]

        await api.refused(
            "POST",
            "/draws/2027/3/reveal",
            api.leader,
            409,
            "draw_revealed",
            json={"public_value": "2"},
        )

    async def test_a_tampered_result_does_not_match(self, api: Api) -> None:
        await staffed(api)
        await seed_plan(api.runtime, POOL)
        await api.commit(3, COMMIT_ON)
        revealed = await api.reveal(3, DEADLINE)
        drawn = [e["uscc"] for e in revealed["listed"] if e["kind"] == "drawn"]
        outsider = next(u for u in POOL if u not in drawn)
        async with api.runtime.session_factory() as session, session.begin():
            row = (await session.scalars(sa.select(Draw))).one()
            assert row.result is not None
            row.result = {**row.result, "selected": [outsider, *drawn[1:]]}
        again = await api.ok("POST", "/draws/2027/3/recompute", {})
        assert (again["matches"], again["selection_matches"]) == (False, False)
        assert again["selected"] == drawn

    async def test_yearly_maximum_counts_earlier_draws(self, api: Api) -> None:
        await staffed(api)
        await seed_plan(api.runtime, POOL)
        feb = {"count": 9, "source": source(date(2027, 1, 12))}
        await api.commit(2, date(2027, 1, 10), **feb)
        api.travel_to(date(2027, 1, 11))
        await api.refused(
            "POST",
            "/draws/2027/3",
            api.officer,
            409,
            "earlier_draw_unrevealed",
            json={"count": 3, "source": source()},
        )
        february = await api.reveal(2, date(2027, 1, 12))
        assert CAPPED in {e["uscc"] for e in february["listed"]}  # the whole pool was drawn
        march = await api.commit(3, COMMIT_ON)
        assert CAPPED not in {p["uscc"] for p in march["inputs"]["pool"]}
        assert march["pool_size"] == len(POOL)

    async def test_yearly_maximum_counts_a_later_month_published_first(self, api: Api) -> None:
        # March is published before February: February's pool must still count March's
        # selection, and wait while March is unrevealed.
        await staffed(api)
        await seed_plan(api.runtime, POOL)
        await api.commit(3, date(2027, 1, 10), count=9, source=source(date(2027, 1, 12)))
        api.travel_to(date(2027, 1, 11))
        await api.refused(
            "POST",
            "/draws/2027/2",
            api.officer,
            409,
            "earlier_draw_unrevealed",
            json={"count": 3, "source": source(date(2027, 1, 15))},
        )
        march = await api.reveal(3, date(2027, 1, 12))
        assert CAPPED in {e["uscc"] for e in march["listed"]}
        february = await api.commit(2, date(2027, 1, 13), count=3, source=source(date(2027, 1, 15)))
        assert CAPPED not in {p["uscc"] for p in february["inputs"]["pool"]}

    async def test_unstaffable_selection_refused_at_reveal(self, api: Api) -> None:
        # Every pool entry has two candidates, but only if a month's draw avoids two of them.
        await api.inspector("officer-301", ["trade"], cap=1)
        await api.inspector("officer-302", ["trade"], cap=1)
        await api.inspector("officer-303", ["mining"], cap=9)
        await api.inspector("officer-304", ["mining"], cap=9)
        await seed_plan(api.runtime, POOL[:3])
        async with api.runtime.session_factory() as session, session.begin():
            await session.execute(sa.delete(PlanEntry).where(PlanEntry.uscc == PLANNED))
        await api.commit(3, COMMIT_ON, count=2)
        api.travel_to(DEADLINE)
        problem = await api.refused(
            "POST",
            "/draws/2027/3/reveal",
            api.leader,
            422,
            "team_assignment_infeasible",
            json={"public_value": "08 11 14 22 27 30 + 02"},
        )
        assert {p["rule"] for p in problem["problems"]} == {"sector_workload_cap"}
        assert problem["problems"][0]["sector"] == "trade"
        public = await api.ok("GET", "/draws/2027/3", {})
        assert public["state"] == "committed"
        assert public["secret"] is None


class TestGuidance:
    async def test_listed_enterprise_asks_and_is_answered(self, api: Api) -> None:
        ids = await staffed(api)
        await seed_plan(api.runtime, POOL)
        await api.commit(3, COMMIT_ON)
        url = "/draws/2027/3/guidance-requests"
        body = {"question": "动火作业审批流程如何规范？", "contact": "王工 13800000000"}
        api.travel_to(date(2027, 2, 15))
        problem = await api.refused(
            "POST", url, api.as_("enterprise", POOL[0]), 422, "enterprise_not_listed", json=body
        )
        assert problem["field"] == "uscc"
        mine = api.as_("enterprise", PLANNED)
        asked = await api.ok("POST", url, mine, json=body)
        assert (asked["state"], asked["uscc"]) == ("open", PLANNED)
        r = await api.client.post(url, headers=api.officer, json=body)
        assert r.status_code == 403

        assert await api.ok("GET", url, api.as_("enterprise", POOL[1])) == []
        assert [g["id"] for g in await api.ok("GET", url, mine)] == [asked["id"]]
        assert len(await api.ok("GET", url, api.officer)) == 1

        assign = f"{url}/{asked['id']}/assignment"
        await api.refused(
            "POST",
            assign,
            api.officer,
            422,
            "conflict_of_interest",
            json={"inspector_id": ids["conflicted"]},
        )
        await api.refused(
            "POST",
            f"{url}/{asked['id']}/answer",
            api.officer,
            409,
            "guidance_not_assigned",
            json={"answer": "见附件"},
        )
        assigned = await api.ok("POST", assign, api.officer, json={"inspector_id": ids["c"]})
        assert (assigned["state"], assigned["inspector_id"]) == ("assigned", ids["c"])
        assert assigned["inspector_name"] == "执法员103"

        answer = {"answer": "动火前办理作业票，现场监护人全程在岗。"}
        await api.refused(
            "POST",
            f"{url}/{asked['id']}/answer",
            api.as_("officer", "officer-102"),
            403,
            "guidance_not_yours",
            json=answer,
        )
        done = await api.ok(
            "POST", f"{url}/{asked['id']}/answer", api.as_("officer", "officer-103"), json=answer
        )
        assert done["state"] == "answered"
        assert done["answer"] == answer["answer"]
        seen = await api.ok("GET", url, mine)
        assert seen[0]["answer"] == answer["answer"]
        await api.refused(
            "POST",
            f"{url}/nope/assignment",
            api.officer,
            404,
            "guidance_request_not_found",
            json={"inspector_id": ids["c"]},
        )

    async def test_drawn_enterprise_may_ask_after_reveal_not_after_the_month(
        self, api: Api
    ) -> None:
        await staffed(api)
        await seed_plan(api.runtime, POOL)
        await api.commit(3, COMMIT_ON)
        revealed = await api.reveal(3, DEADLINE)
        drawn = next(e["uscc"] for e in revealed["listed"] if e["kind"] == "drawn")
        url = "/draws/2027/3/guidance-requests"
        body = {"question": "有限空间作业需要哪些资料？", "contact": "李工 13900000000"}
        await api.ok("POST", url, api.as_("enterprise", drawn), json=body)
        api.travel_to(date(2027, 4, 1))
        await api.refused(
            "POST", url, api.as_("enterprise", drawn), 422, "inspection_month_over", json=body
        )

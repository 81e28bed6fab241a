"""Inspection API: the yearly plan and joint inspections (measure 6), on SQLite and PostgreSQL.

The business date is pinned to 15 March 2027: plans of 2027 and 2028 may be made and the joint
inspections of 2027 so far are recorded, as when the bureau re-plans during the year. Registry
rows are written directly: their credit standing and risk level arrive by events in production.
"""

from __future__ import annotations

import asyncio
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
from kernel.db import utcnow
from kernel.devbroker import DevBroker
from kernel.errors import Conflict
from kernel.pagination import encode_cursor
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.inspection import plans
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app
from services.inspection.models import Enterprise, JointInspection, Plan, PlanEntry
from services.inspection.planning import check_decision, plan_enterprise
from services.inspection.plans_router import business_today
from tests.support import bearer, running

TODAY = date(2027, 3, 15)
YEAR = 2027
BLACK = make_uscc(601)
KEY = make_uscc(602)
RED = make_uscc(603)
PLAIN = make_uscc(604)


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer

    def as_(self, role: str, sub: str = "tester") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    @property
    def officer(self) -> dict[str, str]:
        return self.as_("officer", "officer-001")

    @property
    def leader(self) -> dict[str, str]:
        return self.as_("leader", "leader-001")

    def enterprise(self, uscc: str) -> dict[str, str]:
        return self.as_("enterprise", uscc)

    async def ok(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def plan(self, year: int = YEAR) -> Any:
        return await self.ok("POST", "/plans", self.officer, json={"year": year})

    async def approve(self, plan_id: str) -> Any:
        return await self.ok("POST", f"/plans/{plan_id}/approval", self.leader)

    async def entry(self, plan_id: str, uscc: str) -> Any:
        return await self.ok("GET", f"/plans/{plan_id}/entries/{uscc}", self.officer)

    async def joint(self, uscc: str, **over: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "uscc": uscc,
            "year": YEAR,
            "inspection_type": "work_safety",
            "led_by": "青岛市应急管理局、青岛市消防救援支队",
            "inspected_on": "2027-03-02",
        }
        body.update(over)
        return await self.client.post("/joint-inspections", headers=self.officer, json=body)


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
    async with running(app) as (client, runtime):
        yield Api(client, runtime, app, issuer)


def enterprise_row(uscc: str, **over: Any) -> dict[str, Any]:
    now = utcnow()
    row: dict[str, Any] = {
        "uscc": uscc,
        "name": "青岛测试企业有限公司",
        "district": "黄岛区",
        "sector": "trade",
        "tier": "general",
        "standardisation_level": 0,
        "is_pre_ipo": False,
        "is_specialised": False,
        "credit_standing": "normal",
        "risk_level": None,
        "licences_active": 0,
        "registered_by": "test",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    row.update(over)
    return row


async def create_enterprises(runtime: ServiceRuntime, *rows: dict[str, Any]) -> None:
    async with runtime.session_factory() as session:
        await session.execute(sa.insert(Enterprise), list(rows))
        await session.commit()


async def seed_registry(runtime: ServiceRuntime) -> None:
    await create_enterprises(
        runtime,
        enterprise_row(BLACK, credit_standing="blacklisted"),
        enterprise_row(KEY, tier="key", sector="hazardous_chemicals", risk_level="high"),
        enterprise_row(RED, credit_standing="redlisted", district="市南区"),
        enterprise_row(PLAIN),
    )


async def count(runtime: ServiceRuntime, model: type[Any]) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code
    if field is not None:
        assert body["field"] == field


class TestCreatePlan:
    async def test_black_listed_enterprise_gets_two_planned_months(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        assert (plan["year"], plan["state"]) == (YEAR, "draft")
        assert (plan["rule_pack_id"], plan["rule_pack_version"]) == ("qd-eb-plan", "1")
        assert plan["generated_by"] == "officer:officer-001"
        assert plan["summary"]["enterprises"] == 4
        assert plan["summary"]["modes"] == {"planned": 2, "random": 2, "exempt": 0}
        assert plan["summary"]["rules"]["blacklisted_at_least_two"] == 1
        assert plan["summary"]["minimum_inspections"] == 3

        black = await api.entry(plan["id"], BLACK)
        assert (black["mode"], black["min_inspections"], black["max_inspections"]) == (
            "planned",
            2,
            None,
        )
        first, second = black["planned_months"]
        assert first <= 6 < second
        rule = black["rules"][-1]
        assert rule["rule"] == "blacklisted_at_least_two"
        assert "黑名单" in rule["detail"]

        red = await api.entry(plan["id"], RED)
        assert (red["mode"], red["max_inspections"]) == ("random", 1)
        assert [r["rule"] for r in red["rules"]] == [
            "general_double_random",
            "redlisted_at_most_one",
        ]
        key = await api.entry(plan["id"], KEY)
        assert (key["mode"], key["priority"], len(key["planned_months"])) == ("planned", 30, 1)
        assert await count(api.runtime, PlanEntry) == 4

    async def test_stored_entries_keep_every_rule(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        async with api.runtime.session_factory() as session:
            facts = {f.uscc: f for f in await plans.load_enterprise_facts(session, YEAR)}
            entries = await plans.list_entries(
                session,
                plan["id"],
                mode=None,
                uscc=None,
                district=None,
                sector=None,
                after=None,
                limit=10,
            )
        assert len(entries) == 4
        for entry in entries:
            decision = plans.entry_decision(entry)
            assert check_decision(facts[entry.uscc], decision) == []
            assert decision == plan_enterprise(facts[entry.uscc], YEAR)

    async def test_joint_inspection_exempts_and_an_override_keeps_the_inspection(
        self, api: Api
    ) -> None:
        await seed_registry(api.runtime)
        assert (await api.joint(PLAIN)).status_code == 201
        r = await api.joint(KEY, override="complaint", override_reason="群众举报储罐区违规动火")
        assert r.status_code == 201, r.text
        # Another kind of joint inspection is not "the same type" and exempts nothing.
        assert (await api.joint(RED, inspection_type="fire_safety")).status_code == 201
        plan = await api.plan()
        assert plan["summary"]["modes"]["exempt"] == 1

        plain = await api.entry(plan["id"], PLAIN)
        assert (plain["mode"], plain["max_inspections"], plain["planned_months"]) == (
            "exempt",
            0,
            [],
        )
        key = await api.entry(plan["id"], KEY)
        assert key["mode"] == "planned"
        assert key["rules"][-1]["effect"] == "override_complaint"
        assert "投诉举报" in key["rules"][-1]["detail"]
        red = await api.entry(plan["id"], RED)
        assert red["mode"] == "random"

    async def test_black_list_minimum_survives_a_joint_inspection(self, api: Api) -> None:
        await seed_registry(api.runtime)
        assert (await api.joint(BLACK)).status_code == 201
        black = await api.entry((await api.plan())["id"], BLACK)
        assert (black["mode"], len(black["planned_months"])) == ("planned", 2)
        assert black["rules"][-1]["effect"] == "yields_to_blacklist"

    @pytest.mark.parametrize("year", [2026, 2029])
    async def test_only_this_year_or_the_next(self, api: Api, year: int) -> None:
        await seed_registry(api.runtime)
        r = await api.client.post("/plans", headers=api.officer, json={"year": year})
        problem(r, 422, "plan_year_not_open", "year")
        assert await count(api.runtime, Plan) == 0

    async def test_empty_registry_is_refused(self, api: Api) -> None:
        r = await api.client.post("/plans", headers=api.officer, json={"year": YEAR})
        problem(r, 422, "registry_empty")
        assert await count(api.runtime, Plan) == 0

    @pytest.mark.parametrize(
        ("role", "status"), [("leader", 201), ("admin", 201), ("enterprise", 403), ("insurer", 403)]
    )
    async def test_who_may_generate(self, api: Api, role: str, status: int) -> None:
        await seed_registry(api.runtime)
        headers = api.as_(role, PLAIN if role == "enterprise" else "someone")
        r = await api.client.post("/plans", headers=headers, json={"year": YEAR})
        assert r.status_code == status, r.text

    async def test_thousands_of_entries_in_chunks(self, api: Api) -> None:
        n = plans.ENTRY_CHUNK * 2 + 17
        rows = [
            enterprise_row(
                make_uscc(10_000 + i),
                tier="key" if i % 5 == 0 else "general",
                credit_standing="blacklisted" if i % 50 == 0 else "normal",
            )
            for i in range(n)
        ]
        await create_enterprises(api.runtime, *rows)
        plan = await api.plan()
        assert plan["summary"]["enterprises"] == n
        assert await count(api.runtime, PlanEntry) == n
        async with api.runtime.session_factory() as session:
            planned = await session.scalar(
                sa.select(sa.func.sum(PlanEntry.min_inspections)).where(
                    PlanEntry.plan_id == plan["id"]
                )
            )
        assert planned == plan["summary"]["minimum_inspections"]


class TestReadPlans:
    async def test_list_get_and_filter_entries(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        listed = await api.ok("GET", f"/plans?year={YEAR}", api.officer)
        assert [p["id"] for p in listed["items"]] == [plan["id"]]
        assert (await api.ok("GET", "/plans?year=2028", api.officer))["items"] == []

        r = await api.client.get(f"/plans/{plan['id']}", headers=api.leader)
        assert r.status_code == 200
        assert r.headers["ETag"] == '"1"'
        assert r.json()["summary"] == plan["summary"]

        url = f"/plans/{plan['id']}/entries"
        planned = await api.ok("GET", f"{url}?mode=planned", api.officer)
        assert sorted(e["uscc"] for e in planned["items"]) == sorted([BLACK, KEY])
        by_district = await api.ok("GET", f"{url}?district=市南区", api.officer)
        assert [e["uscc"] for e in by_district["items"]] == [RED]
        by_sector = await api.ok("GET", f"{url}?sector=hazardous_chemicals", api.officer)
        assert [e["uscc"] for e in by_sector["items"]] == [KEY]
        one = await api.ok("GET", f"{url}?uscc={PLAIN}", api.officer)
        assert [e["uscc"] for e in one["items"]] == [PLAIN]

    @pytest.mark.parametrize(
        "instant", ["2026-11-20T10:00:00", "not-a-time", "2026-11-20T10:00:00+08:00"]
    )
    async def test_a_plans_cursor_needs_an_aware_instant(self, api: Api, instant: str) -> None:
        r = await api.client.get(
            "/plans", params={"cursor": encode_cursor(instant, "x")}, headers=api.officer
        )
        if instant.endswith("+08:00"):
            assert r.status_code == 200, r.text
        else:
            assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")

    async def test_entries_page_by_cursor(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        seen: list[str] = []
        cursor: str | None = None
        while True:
            query = f"?limit=3&cursor={cursor}" if cursor else "?limit=3"
            page = await api.ok("GET", f"/plans/{plan['id']}/entries{query}", api.officer)
            seen += [e["uscc"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted([BLACK, KEY, RED, PLAIN])

    async def test_plans_page_newest_first(self, api: Api) -> None:
        await seed_registry(api.runtime)
        first, second = await api.plan(), await api.plan()
        page = await api.ok("GET", "/plans?limit=1", api.officer)
        assert [p["id"] for p in page["items"]] == [second["id"]]
        rest = await api.ok("GET", f"/plans?limit=1&cursor={page['next_cursor']}", api.officer)
        assert [p["id"] for p in rest["items"]] == [first["id"]]
        assert rest["next_cursor"] is None

    async def test_unknown_plan_is_404(self, api: Api) -> None:
        r = await api.client.get("/plans/nope", headers=api.officer)
        problem(r, 404, "plan_not_found")
        r = await api.client.get("/plans/nope/entries", headers=api.officer)
        problem(r, 404, "plan_not_found")

    async def test_enterprise_cannot_list(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        for url in ("/plans", f"/plans/{plan['id']}", f"/plans/{plan['id']}/entries"):
            r = await api.client.get(url, headers=api.enterprise(BLACK))
            assert r.status_code == 403, url


class TestEntryAccess:
    async def test_enterprise_reads_only_its_own_entry_of_an_approved_plan(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        url = f"/plans/{plan['id']}/entries"
        # A draft is not yet a decision: it does not exist for the enterprise.
        problem(
            await api.client.get(f"{url}/{BLACK}", headers=api.enterprise(BLACK)),
            404,
            "plan_entry_not_found",
        )
        await api.approve(plan["id"])
        own = await api.ok("GET", f"{url}/{BLACK}", api.enterprise(BLACK))
        assert own["uscc"] == BLACK
        assert len(own["planned_months"]) == 2
        other = await api.client.get(f"{url}/{KEY}", headers=api.enterprise(BLACK))
        problem(other, 404, "plan_entry_not_found")
        # The same answer as for an enterprise that is not in the plan at all.
        outsider = make_uscc(699)
        missing = await api.client.get(f"{url}/{outsider}", headers=api.enterprise(BLACK))
        assert missing.json()["code"] == other.json()["code"]

    async def test_other_roles_are_refused(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        for role in ("insurer", "department", "public"):
            r = await api.client.get(
                f"/plans/{plan['id']}/entries/{BLACK}", headers=api.as_(role, "x")
            )
            assert r.status_code == 403, role

    async def test_malformed_uscc_names_the_field(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        r = await api.client.get(f"/plans/{plan['id']}/entries/123", headers=api.officer)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "uscc"


class TestApproval:
    async def test_officer_cannot_approve(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        r = await api.client.post(f"/plans/{plan['id']}/approval", headers=api.officer)
        assert r.status_code == 403
        assert (await api.ok("GET", f"/plans/{plan['id']}", api.officer))["state"] == "draft"

    async def test_leader_approves_and_the_next_approval_supersedes(self, api: Api) -> None:
        await seed_registry(api.runtime)
        first = await api.plan()
        r = await api.client.post(f"/plans/{first['id']}/approval", headers=api.leader)
        assert r.status_code == 200, r.text
        assert r.headers["ETag"] == '"2"'
        approved = r.json()
        assert (approved["state"], approved["approved_on"], approved["approved_by"]) == (
            "approved",
            TODAY.isoformat(),
            "leader:leader-001",
        )
        second = await api.plan()
        await api.approve(second["id"])
        assert (await api.ok("GET", f"/plans/{first['id']}", api.officer))["state"] == (
            "superseded"
        )
        async with api.runtime.session_factory() as session:
            current = await plans.approved_plan_of_year(session, YEAR)
        assert current is not None
        assert current.id == second["id"]

    async def test_concurrent_first_approvals_leave_one_approved_plan(
        self, api: Api, database_url: str
    ) -> None:
        # Two drafts, none approved yet: the second approval must wait for the first instead
        # of finding no approved row to lock (PostgreSQL READ COMMITTED).
        if not database_url.startswith("postgresql"):
            pytest.skip("row locks are a PostgreSQL matter")
        await seed_registry(api.runtime)
        older, newer = await api.plan(), await api.plan()
        factory = api.runtime.session_factory
        async with factory() as first:
            await plans.approve_plan(first, newer["id"], "leader:a", TODAY, None)

            async def second() -> None:
                async with factory() as other:
                    try:
                        await plans.approve_plan(other, older["id"], "leader:b", TODAY, None)
                    except Conflict:
                        return
                    await other.commit()

            task = asyncio.create_task(second())
            await asyncio.sleep(0.5)
            await first.commit()
        await asyncio.wait_for(task, 10)
        async with factory() as session:
            states = (await session.scalars(sa.select(Plan.state).where(Plan.year == YEAR))).all()
        assert sorted(states) == ["approved", "draft"]

    async def test_only_a_draft_and_never_an_older_one(self, api: Api) -> None:
        await seed_registry(api.runtime)
        older, newer = await api.plan(), await api.plan()
        await api.approve(newer["id"])
        again = await api.client.post(f"/plans/{newer['id']}/approval", headers=api.leader)
        problem(again, 409, "plan_not_draft")
        stale = await api.client.post(f"/plans/{older['id']}/approval", headers=api.leader)
        problem(stale, 409, "plan_outdated")
        assert (await api.ok("GET", f"/plans/{older['id']}", api.officer))["state"] == "draft"

    async def test_if_match_guards_what_is_approved(self, api: Api) -> None:
        await seed_registry(api.runtime)
        plan = await api.plan()
        headers = {**api.leader, "If-Match": '"7"'}
        r = await api.client.post(f"/plans/{plan['id']}/approval", headers=headers)
        problem(r, 412, "version_mismatch")
        headers["If-Match"] = '"1"'
        r = await api.client.post(f"/plans/{plan['id']}/approval", headers=headers)
        assert r.status_code == 200, r.text

    async def test_unknown_plan(self, api: Api) -> None:
        r = await api.client.post("/plans/nope/approval", headers=api.leader)
        problem(r, 404, "plan_not_found")


class TestJointInspections:
    async def test_record_and_list(self, api: Api) -> None:
        await seed_registry(api.runtime)
        r = await api.joint(PLAIN, override="assignment", override_reason="市安委办交办专项检查")
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["override"], created["recorded_by"]) == (
            "assignment",
            "officer:officer-001",
        )
        await api.joint(KEY, inspected_on="2027-01-05")
        listed = await api.ok("GET", f"/joint-inspections?year={YEAR}", api.officer)
        assert [j["uscc"] for j in listed["items"]] == [KEY, PLAIN]
        one = await api.ok("GET", f"/joint-inspections?uscc={PLAIN}", api.officer)
        assert [j["id"] for j in one["items"]] == [created["id"]]
        page = await api.ok("GET", "/joint-inspections?limit=1", api.officer)
        rest = await api.ok(
            "GET", f"/joint-inspections?limit=1&cursor={page['next_cursor']}", api.officer
        )
        assert [j["uscc"] for j in page["items"] + rest["items"]] == [KEY, PLAIN]

    @pytest.mark.parametrize(
        ("over", "code", "field"),
        [
            ({"override": "complaint"}, "override_reason_required", "override_reason"),
            (
                {"override": "complaint", "override_reason": "  "},
                "override_reason_required",
                "override_reason",
            ),
            ({"override_reason": "有人举报"}, "override_missing", "override"),
            ({"inspected_on": "2026-12-30"}, "joint_inspection_year_mismatch", "inspected_on"),
            (
                {"inspected_on": "2027-03-16"},
                "joint_inspection_in_future",
                "inspected_on",
            ),
            ({"uscc": make_uscc(698)}, "enterprise_not_registered", "uscc"),
        ],
    )
    async def test_refused_with_the_field_and_rule(
        self, api: Api, over: dict[str, Any], code: str, field: str
    ) -> None:
        await seed_registry(api.runtime)
        r = await api.joint(**{"uscc": PLAIN, **over})
        problem(r, 422, code, field)
        assert await count(api.runtime, JointInspection) == 0

    async def test_unknown_inspection_type_is_a_validation_error(self, api: Api) -> None:
        await seed_registry(api.runtime)
        r = await api.joint(PLAIN, inspection_type="anything")
        problem(r, 422, "validation_failed")
        assert r.json()["errors"][0]["field"] == "inspection_type"

    async def test_bureau_only(self, api: Api) -> None:
        await seed_registry(api.runtime)
        r = await api.client.post(
            "/joint-inspections",
            headers=api.enterprise(PLAIN),
            json={
                "uscc": PLAIN,
                "year": YEAR,
                "inspection_type": "work_safety",
                "led_by": "某部门",
                "inspected_on": "2027-03-02",
            },
        )
        assert r.status_code == 403
        r = await api.client.get("/joint-inspections", headers=api.enterprise(PLAIN))
        assert r.status_code == 403

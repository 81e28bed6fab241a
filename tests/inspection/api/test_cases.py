"""Inspection cases over the API on SQLite and PostgreSQL: the four steps, lenient decisions,
major-penalty approval, penalty events in the outbox, and who may see what.

The business date is pinned through `business_today` (10 March 2026 unless a test moves it).
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
from kernel.pagination import encode_cursor
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.inspection.cases_router import business_today
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app
from services.inspection.models import Enterprise
from services.inspection.models_guidance import ViolationItem
from tests.support import bearer, running

USCC_A = make_uscc(7101)  # hazardous chemicals: high-risk, normal standing unless changed
USCC_B = make_uscc(7102)
TODAY = date(2026, 3, 10)
EVIDENCE = [{"sha256": "ab" * 32, "label": "现场照片"}]

# Catalogue items of the tests' own (the seeded list has CV- codes).
MGMT = "T-MGMT-01"  # management-type (制度管理类)
SITE = "T-SITE-01"  # on-site condition, not management-type
ITEMS = [
    ViolationItem(
        code=MGMT,
        category="安全管理制度",
        title="未建立健全事故隐患排查治理制度",
        is_management=True,
        legal_basis="《中华人民共和国安全生产法》第四十一条",
        penalty_basis="《中华人民共和国安全生产法》第一百零一条",
        sectors=[],
        sort_order=9001,
    ),
    ViolationItem(
        code=SITE,
        category="现场管理",
        title="危险化学品储存场所未设置明显的安全警示标志",
        is_management=False,
        legal_basis="《中华人民共和国安全生产法》第三十五条",
        penalty_basis="《中华人民共和国安全生产法》第九十九条",
        sectors=["hazardous_chemicals"],
        sort_order=9002,
    ),
]


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

    async def refused(
        self, method: str, url: str, headers: dict[str, str], status: int, code: str, **kw: Any
    ) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["code"] == code, body
        return body

    async def enterprise_entry(
        self,
        uscc: str = USCC_A,
        sector: str = "hazardous_chemicals",
        standing: str = "normal",
        **flags: bool,
    ) -> None:
        body = {"uscc": uscc, "name": f"青岛测试企业{uscc[-4:]}", "district": "黄岛区"}
        await self.ok("POST", "/enterprises", self.officer, json={**body, "sector": sector})
        async with self.runtime.session_factory() as session, session.begin():
            entry = await session.get(Enterprise, uscc)
            assert entry is not None
            entry.credit_standing = standing
            entry.is_pre_ipo = flags.get("is_pre_ipo", False)
            entry.is_specialised = flags.get("is_specialised", False)

    async def start(self, uscc: str = USCC_A, **over: Any) -> Any:
        return await self.ok("POST", "/inspections", self.officer, json=start_body(uscc, **over))

    async def finding(self, case_id: str, code: str = MGMT, **over: Any) -> Any:
        body = {
            "violation_code": code,
            "description": "现场检查发现企业未制定隐患排查治理制度",
            "evidence": EVIDENCE,
            "corrected_on_spot": True,
            "harm": "slight",
            **over,
        }
        return await self.ok("POST", f"/inspections/{case_id}/findings", self.officer, json=body)

    async def deliberate(self, case_id: str, decisions: list[dict[str, Any]], **over: Any) -> Any:
        body = deliberation(decisions, **over)
        return await self.ok(
            "POST", f"/inspections/{case_id}/deliberation", self.officer, json=body
        )

    async def feedback(self, case_id: str, **over: Any) -> Any:
        return await self.ok(
            "POST", f"/inspections/{case_id}/feedback", self.officer, json=feedback_body(**over)
        )

    async def outbox(self, event_type: str) -> list[Any]:
        table = self.runtime.tables.outbox
        async with self.runtime.session_factory() as session:
            rows = await session.execute(
                sa.select(table).where(table.c.type == event_type).order_by(table.c.id)
            )
            return list(rows.all())


def start_body(uscc: str = USCC_A, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": uscc,
        "source": "draw",
        "reference": "2026-03 双随机",
        "team": ["officer-001", "officer-002"],
        "notice": {"served_on": TODAY.isoformat(), "text": "依法对你单位开展安全生产执法检查"},
        "education_plan": {
            "topics": ["《安全生产法》主要负责人职责", "典型事故案例剖析"],
            "audience": ["企业主要负责人", "安全管理人员"],
        },
    }
    body.update(over)
    return body


def deliberation(decisions: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "minutes": "合议认为：违法事实清楚，证据确凿。",
        "participants": ["officer-001", "officer-002", "legal-001"],
        "decisions": decisions,
    }
    body.update(over)
    return body


def feedback_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "delivered_on": TODAY.isoformat(),
        "lesson": "以案释法：讲解隐患排查治理制度的法定要求及典型事故案例",
        "questions_answered": 3,
        "questions": [{"question": "隐患台账保存多久？", "answer": "按规定至少保存三年备查。"}],
    }
    body.update(over)
    return body


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
        async with runtime.session_factory() as session, session.begin():
            session.add_all([ViolationItem(**_columns(i)) for i in ITEMS])
        result = Api(client, runtime, app, issuer)
        result.travel_to(TODAY)
        yield result


def _columns(item: ViolationItem) -> dict[str, Any]:
    return {c.key: getattr(item, c.key) for c in ViolationItem.__table__.columns}


class TestStart:
    async def test_officer_starts_with_team_notice_and_plan(self, api: Api) -> None:
        await api.enterprise_entry()
        r = await api.client.post("/inspections", json=start_body(), headers=api.officer)
        assert r.status_code == 201, r.text
        assert r.headers["etag"] == '"1"'
        case = r.json()
        assert case["state"] == "inspecting"
        assert case["team"] == ["officer-001", "officer-002"]
        assert case["started_by"] == "officer:officer-001"
        assert case["education_topics"][1] == "典型事故案例剖析"
        assert case["rule_pack_id"] == "qd-yjj-lenient"

    @pytest.mark.parametrize(
        ("over", "code", "field"),
        [
            ({"team": ["officer-001"]}, "team_of_two", "team"),
            ({"team": ["officer-001", "officer-001"]}, "team_of_two", "team"),
            ({"education_plan": {"topics": []}}, "education_plan", "education_plan.topics"),
            (
                {"notice": {"served_on": "2026-03-11", "text": "告知"}},
                "notice_served",
                "notice.served_on",
            ),
            ({"source": "complaint", "reference": None}, "source_reference_required", "reference"),
            ({"uscc": USCC_B}, "enterprise_not_registered", "uscc"),
        ],
    )
    async def test_incomplete_start_is_refused_by_rule(
        self, api: Api, over: dict[str, Any], code: str, field: str
    ) -> None:
        await api.enterprise_entry()
        body = await api.refused(
            "POST", "/inspections", api.officer, 422, code, json=start_body(**over)
        )
        assert body["field"] == field
        assert (await api.ok("GET", "/inspections", api.officer))["items"] == []

    @pytest.mark.parametrize("role", ["enterprise", "insurer", "public", "department"])
    async def test_only_the_bureau_starts(self, api: Api, role: str) -> None:
        await api.enterprise_entry()
        r = await api.client.post("/inspections", json=start_body(), headers=api.as_(role, USCC_A))
        assert r.status_code == 403


class TestReading:
    async def test_enterprise_sees_its_own_only(self, api: Api) -> None:
        await api.enterprise_entry(USCC_A)
        await api.enterprise_entry(USCC_B)
        a = await api.start(USCC_A)
        b = await api.start(USCC_B)
        mine = await api.ok("GET", f"/inspections/{a['id']}", api.enterprise(USCC_A))
        assert mine["uscc"] == USCC_A
        await api.refused(
            "GET", f"/inspections/{b['id']}", api.enterprise(USCC_A), 404, "inspection_not_found"
        )
        await api.refused(
            "GET",
            f"/inspections/{a['id']}",
            api.as_("insurer", "PICC"),
            404,
            "inspection_not_found",
        )
        listed = await api.ok("GET", "/inspections", api.enterprise(USCC_A))
        assert [c["id"] for c in listed["items"]] == [a["id"]]
        other = await api.ok("GET", f"/inspections?uscc={USCC_B}", api.enterprise(USCC_A))
        assert other["items"] == []
        everything = await api.ok("GET", "/inspections?state=inspecting", api.officer)
        assert {c["id"] for c in everything["items"]} == {a["id"], b["id"]}
        assert (await api.ok("GET", "/inspections?state=closed", api.officer))["items"] == []

    async def test_pages(self, api: Api) -> None:
        await api.enterprise_entry()
        ids = {(await api.start())["id"] for _ in range(3)}
        first = await api.ok("GET", "/inspections?limit=2", api.officer)
        second = await api.ok(
            "GET", f"/inspections?limit=2&cursor={first['next_cursor']}", api.officer
        )
        assert second["next_cursor"] is None
        assert {c["id"] for c in first["items"] + second["items"]} == ids

    @pytest.mark.parametrize(
        "url", ["/inspections", "/hazards", "/pledge-visits", "/outreach/sessions"]
    )
    async def test_a_cursor_without_a_date_is_422_not_500(self, api: Api, url: str) -> None:
        cursor = encode_cursor("not-a-date", "x")
        await api.refused("GET", f"{url}?cursor={cursor}", api.officer, 422, "invalid_cursor")

    async def test_an_integer_cursor_out_of_range_is_422_not_500(self, api: Api) -> None:
        for key in (2**40, "abc", [1]):
            await api.refused(
                "GET",
                f"/guidance/violations?cursor={encode_cursor(key)}",  # type: ignore[arg-type]
                api.officer,
                422,
                "invalid_cursor",
            )


class TestFourSteps:
    async def test_steps_cannot_be_skipped(self, api: Api) -> None:
        await api.enterprise_entry()
        case = await api.start()
        url = f"/inspections/{case['id']}"
        body = await api.refused(
            "POST", f"{url}/feedback", api.officer, 409, "four_step_order", json=feedback_body()
        )
        assert body["rule"] == "four_step_order"
        # Deliberating over nothing recorded is refused, and changes nothing.
        body = await api.refused(
            "POST",
            f"{url}/deliberation",
            api.officer,
            422,
            "inspect_step_recorded",
            json=deliberation([]),
        )
        assert body["field"] == "no_findings"
        assert (await api.ok("GET", url, api.officer))["state"] == "inspecting"
        await api.refused(
            "POST",
            f"{url}/decisions/1/approval",
            api.leader,
            409,
            "four_step_order",
            json={"outcome": "approved"},
        )

    async def test_clean_inspection_runs_all_four_steps(self, api: Api) -> None:
        await api.enterprise_entry()
        case = await api.start()
        after = await api.deliberate(case["id"], [], no_findings=True)
        assert (after["state"], after["no_findings"]) == ("feedback", True)
        closed = await api.feedback(case["id"])
        assert closed["state"] == "closed"
        assert closed["lesson"].startswith("以案释法")
        assert closed["questions_answered"] == 3
        assert closed["questions"][0]["question"] == "隐患台账保存多久？"
        # Closed means closed: no more findings.
        await api.refused(
            "POST",
            f"/inspections/{case['id']}/findings",
            api.officer,
            409,
            "four_step_order",
            json={
                "violation_code": MGMT,
                "description": "x",
                "evidence": EVIDENCE,
                "corrected_on_spot": True,
                "harm": "none",
            },
        )
        assert await api.outbox("inspection.penalty.decided.v1") == []

    async def test_findings_are_checked_against_the_catalogue(self, api: Api) -> None:
        await api.enterprise_entry(USCC_B, sector="trade")
        case = await api.start(USCC_B)
        url = f"/inspections/{case['id']}/findings"
        base = {"description": "d", "evidence": EVIDENCE, "corrected_on_spot": True, "harm": "none"}
        body = await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "violation_code_unknown",
            json={**base, "violation_code": "NOPE-1"},
        )
        assert body["field"] == "violation_code"
        await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "violation_not_for_sector",
            json={**base, "violation_code": SITE},
        )
        await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "finding_evidence",
            json={**base, "violation_code": MGMT, "evidence": []},
        )
        await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "hazard_not_in_case",
            json={**base, "violation_code": MGMT, "hazard_id": "nope"},
        )
        r = await api.client.post(
            url,
            json={**base, "violation_code": MGMT, "evidence": [{"label": "x"}]},
            headers=api.officer,
        )
        assert r.status_code == 422
        assert (await api.ok("GET", f"/inspections/{case['id']}", api.officer))["findings"] == []

    async def test_stale_if_match_is_refused(self, api: Api) -> None:
        await api.enterprise_entry()
        case = await api.start()
        await api.finding(case["id"])  # version 2
        r = await api.client.post(
            f"/inspections/{case['id']}/deliberation",
            json=deliberation([{"finding": 1}]),
            headers={**api.officer, "If-Match": '"1"'},
        )
        assert r.status_code == 412
        assert r.json()["code"] == "version_mismatch"
        r = await api.client.post(
            f"/inspections/{case['id']}/deliberation",
            json=deliberation([{"finding": 1}]),
            headers={**api.officer, "If-Match": '"2"'},
        )
        assert r.status_code == 200, r.text
        assert r.headers["etag"] == '"3"'


class TestLenientDecisions:
    async def test_redlisted_first_management_violation_gets_no_fine(self, api: Api) -> None:
        await api.enterprise_entry(standing="redlisted")
        case = await api.start()
        await api.finding(case["id"])
        body = await api.refused(
            "POST",
            f"/inspections/{case['id']}/deliberation",
            api.officer,
            422,
            "fine_not_allowed",
            json=deliberation([{"finding": 1, "fine": "5000"}]),
        )
        assert body["field"] == "decisions.0.fine"
        assert body["lenient_rule"] == "first_offence_management_leniency"
        assert "批评教育、责令整改" in body["reason"]
        assert (await api.ok("GET", f"/inspections/{case['id']}", api.officer))["state"] == (
            "inspecting"
        )
        after = await api.deliberate(case["id"], [{"finding": 1}])
        (decision,) = after["deliberation"]["decisions"]
        assert (decision["kind"], decision["rule"], decision["state"]) == (
            "rectification_order",
            "first_offence_management_leniency",
            "not_penalised",
        )
        closed = await api.feedback(case["id"])
        assert closed["deliberation"]["decisions"][0]["decision_number"] is None
        assert await api.outbox("inspection.penalty.decided.v1") == []

    async def test_minor_corrected_harmless_is_not_penalised(self, api: Api) -> None:
        await api.enterprise_entry()
        case = await api.start()
        await api.finding(case["id"], SITE, is_minor=True, harm="none")
        body = await api.refused(
            "POST",
            f"/inspections/{case['id']}/deliberation",
            api.officer,
            422,
            "penalty_not_allowed",
            json=deliberation([{"finding": 1, "measures": ["warning"]}]),
        )
        assert body["lenient_rule"] == "minor_corrected_harmless"
        after = await api.deliberate(case["id"], [{"finding": 1}])
        assert after["deliberation"]["decisions"][0]["kind"] == "no_penalty"

    async def test_repeat_violation_is_penalised_on_feedback(self, api: Api) -> None:
        await api.enterprise_entry(standing="redlisted")
        first = await api.start()
        await api.finding(first["id"])
        await api.deliberate(first["id"], [{"finding": 1}])
        await api.feedback(first["id"])

        second = await api.start()
        await api.finding(second["id"], harm="harmful", corrected_on_spot=False)
        await api.refused(
            "POST",
            f"/inspections/{second['id']}/deliberation",
            api.officer,
            422,
            "penalty_content_required",
            json=deliberation([{"finding": 1}]),
        )
        after = await api.deliberate(
            second["id"], [{"finding": 1, "fine": "20000", "measures": ["warning"]}]
        )
        (decision,) = after["deliberation"]["decisions"]
        assert (decision["kind"], decision["rule"], decision["is_major"], decision["state"]) == (
            "penalty",
            "penalty_due",
            False,
            "proposed",
        )
        assert decision["legal_basis"] == "《中华人民共和国安全生产法》第一百零一条"
        assert await api.outbox("inspection.penalty.decided.v1") == []

        api.travel_to(date(2026, 3, 12))
        closed = await api.feedback(second["id"], delivered_on="2026-03-11")
        decided = closed["deliberation"]["decisions"][0]
        assert decided["decision_number"] == "青应急罚〔2026〕1号"
        assert (decided["decided_on"], decided["severity"]) == ("2026-03-11", "general")
        (event,) = await api.outbox("inspection.penalty.decided.v1")
        assert event.subject == USCC_A
        assert event.data["case_id"] == second["id"]
        assert event.data["decision_number"] == "青应急罚〔2026〕1号"
        assert event.data["fine_amount"] == "20000.00"
        assert event.data["other_measures"] == "警告"
        assert event.data["severity"] == "general"
        assert event.data["legal_basis"] == "《中华人民共和国安全生产法》第一百零一条"
        assert event.data["violation_summary"].startswith("未建立健全事故隐患排查治理制度：")
        assert event.data["blacklist_criterion"] is None


class TestMajorPenalty:
    async def major_case(self, api: Api) -> Any:
        await api.enterprise_entry()
        case = await api.start()
        await api.finding(case["id"], SITE, harm="harmful", corrected_on_spot=False)
        after = await api.deliberate(
            case["id"],
            [
                {
                    "finding": 1,
                    "fine": "60000",
                    "measures": ["suspend_production"],
                    "blacklist_criterion": "other_serious",
                }
            ],
        )
        assert after["state"] == "deliberating"
        assert after["deliberation"]["decisions"][0]["state"] == "awaiting_approval"
        return after

    async def test_leader_approval_decides_and_schedules_follow_up(self, api: Api) -> None:
        case = await self.major_case(api)
        url = f"/inspections/{case['id']}"
        await api.refused(
            "POST", f"{url}/feedback", api.officer, 409, "four_step_order", json=feedback_body()
        )
        r = await api.client.post(
            f"{url}/decisions/1/approval", json={"outcome": "approved"}, headers=api.officer
        )
        assert r.status_code == 403
        await api.refused(
            "POST",
            f"{url}/decisions/2/approval",
            api.leader,
            404,
            "decision_not_found",
            json={"outcome": "approved"},
        )
        approved = await api.ok(
            "POST", f"{url}/decisions/1/approval", api.leader, json={"outcome": "approved"}
        )
        assert approved["state"] == "feedback"
        decision = approved["deliberation"]["decisions"][0]
        assert decision["state"] == "decided"
        assert decision["approved_by"] == "leader:leader-001"
        assert (decision["decision_number"], decision["severity"]) == (
            "青应急罚〔2026〕1号",
            "serious",
        )
        # 20 working days from 10 March 2026.
        assert decision["follow_up_due_on"] == "2026-04-08"
        (event,) = await api.outbox("inspection.penalty.decided.v1")
        assert event.data["severity"] == "serious"
        assert event.data["blacklist_criterion"] == "other_serious"
        assert event.data["other_measures"] == "责令停产停业"
        assert event.data["fine_amount"] == "60000.00"
        await api.refused(
            "POST",
            f"{url}/decisions/1/approval",
            api.leader,
            409,
            "four_step_order",
            json={"outcome": "approved"},
        )

        await api.feedback(case["id"])
        assert len(await api.outbox("inspection.penalty.decided.v1")) == 1

        due = await api.ok("GET", "/follow-ups", api.officer)
        assert [(f["decision_number"], f["is_overdue"]) for f in due] == [
            ("青应急罚〔2026〕1号", False)
        ]
        api.travel_to(date(2026, 4, 9))
        overdue = await api.ok("GET", "/follow-ups?overdue=true", api.officer)
        assert len(overdue) == 1
        await api.refused(
            "POST",
            "/inspections",
            api.officer,
            422,
            "follow_up_reference",
            json=start_body(source="follow_up", reference="青应急罚〔2026〕99号"),
        )
        visit = await api.ok(
            "POST",
            "/inspections",
            api.officer,
            json=start_body(source="follow_up", reference="青应急罚〔2026〕1号"),
        )
        assert await api.ok("GET", "/follow-ups", api.officer) == []
        done = await api.ok("GET", "/follow-ups?pending=false", api.officer)
        assert done[0]["follow_up_inspection_id"] == visit["id"]
        await api.refused(
            "POST",
            "/inspections",
            api.officer,
            409,
            "follow_up_exists",
            json=start_body(source="follow_up", reference="青应急罚〔2026〕1号"),
        )

    async def test_results_are_not_delivered_before_the_approval(self, api: Api) -> None:
        case = await self.major_case(api)
        url = f"/inspections/{case['id']}"
        api.travel_to(date(2026, 3, 12))
        await api.ok(
            "POST", f"{url}/decisions/1/approval", api.leader, json={"outcome": "approved"}
        )
        await api.refused(
            "POST",
            f"{url}/feedback",
            api.officer,
            422,
            "delivered_before_approval",
            json=feedback_body(delivered_on="2026-03-11"),
        )
        await api.feedback(case["id"], delivered_on="2026-03-12")

    async def test_leader_returns_the_deliberation(self, api: Api) -> None:
        case = await self.major_case(api)
        url = f"/inspections/{case['id']}"
        await api.refused(
            "POST",
            f"{url}/decisions/1/approval",
            api.leader,
            422,
            "return_needs_reason",
            json={"outcome": "returned"},
        )
        returned = await api.ok(
            "POST",
            f"{url}/decisions/1/approval",
            api.leader,
            json={"outcome": "returned", "note": "停产停业依据不足，请重新合议"},
        )
        assert returned["state"] == "inspecting"
        assert returned["deliberation"]["state"] == "returned"
        assert await api.outbox("inspection.penalty.decided.v1") == []
        again = await api.deliberate(case["id"], [{"finding": 1, "fine": "30000"}])
        assert (again["state"], again["deliberation"]["round"]) == ("feedback", 2)
        await api.feedback(case["id"])
        (event,) = await api.outbox("inspection.penalty.decided.v1")
        assert (event.data["severity"], event.data["fine_amount"]) == ("general", "30000.00")

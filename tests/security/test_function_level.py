"""Function-level authorisation on real records (OWASP API5): the rank below is refused with
403 problem+json and writes nothing; the rank the rule names then does the same thing.

Every leader-only route (a leader may, an officer may not) and every admin-only route (an admin
may, a leader may not) is found through the access tables of test_route_rules.py, and each must
have a scenario here: a record in the state the action needs, and a request that succeeds for
the right rank. The wrong ranks send exactly that request first; every table of the service is
compared before and after. A few bureau-only actions are tried by the enterprise the record
belongs to (the most tempting case: approving or verifying its own), and the review steps of
the "no" escalation (说"不"提级), which one route carries for officers and leaders alike, are
held to the domain's rule: only a leader confirms a rejection or sends it back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role
from kernel.errors import PROBLEM_JSON
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.inspection.dependencies import business_today
from services.inspection.models_guidance import ViolationItem
from tests.credit.api import test_lists as credit_lists
from tests.credit.api import test_repair as credit_repair
from tests.inspection.api import test_cases as cases
from tests.inspection.api import test_draws as draws
from tests.inspection.api import test_plans as plans
from tests.insurance.conftest import InsuranceApi
from tests.permits.api.test_applications import INSTANT, STANDARD, apply
from tests.permits.api.test_items import item_body, version_body
from tests.permits.api.test_projects import register
from tests.security.conftest import Service
from tests.security.test_route_rules import TABLES
from tests.support import bearer
from tests.support.builders import policy_body
from tests.support.seed import seed_insurer

Fresh = Callable[[str], Awaitable[Service]]


@dataclass
class Act:
    """One request, the callers it must refuse, and the caller for whom it succeeds."""

    method: str
    url: str
    allowed: dict[str, str]
    refused: dict[str, dict[str, str]]
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def assert_refused_then_done(service: Service, act: Act) -> Any:
    """Each refused caller: 403 problem+json `forbidden`, no table changed; then the allowed
    caller's identical request succeeds (so the refusal was the role's, not the request's)."""
    before = await service.snapshot()
    for who, headers in act.refused.items():
        r = await service.client.request(
            act.method, act.url, json=act.json, headers={**headers, **act.headers}
        )
        assert r.status_code == 403, (who, r.text)
        assert r.headers["content-type"].startswith(PROBLEM_JSON)
        assert r.json()["code"] == "forbidden", (who, r.json())
        assert await service.snapshot() == before, f"{who}'s refused request wrote"
    r = await service.client.request(
        act.method, act.url, json=act.json, headers={**act.allowed, **act.headers}
    )
    assert r.status_code in (200, 201, 204), r.text
    return r.json() if r.content else None


def as_(issuer: DevIssuer, role: str, subject: str = "tester") -> dict[str, str]:
    return bearer(issuer, role, subject)


# --- permits ---------------------------------------------------------------------------------


async def licence_status(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    permits = await fresh("permits")
    licence = (await apply(permits.client, issuer, INSTANT)).json()["licence"]
    owner = as_(issuer, "enterprise", licence["uscc"])
    return permits, Act(
        "POST",
        f"/licences/{licence['number']}/status",
        allowed=as_(issuer, "leader", "leader-001"),
        refused={"officer": as_(issuer, "officer", "officer-001"), "holder": owner},
        json={"status": "suspended", "reason": "现场核查发现储存场所不符"},
    )


async def assign_officer(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    permits = await fresh("permits")
    project = await register(permits.client, issuer)
    return permits, Act(
        "POST",
        f"/projects/{project['id']}/officers",
        allowed=as_(issuer, "leader", "leader-001"),
        # Even one of the project's own officers does not pick the team.
        refused={"assigned officer": as_(issuer, "officer", "officer-wang")},
        json={"officer_ids": ["officer-zhou"]},
    )


async def release_officer(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    permits = await fresh("permits")
    project = await register(permits.client, issuer)
    return permits, Act(
        "DELETE",
        f"/projects/{project['id']}/officers/officer-wang",
        allowed=as_(issuer, "admin", "admin-001"),
        refused={"the officer himself": as_(issuer, "officer", "officer-wang")},
    )


async def create_item(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    permits = await fresh("permits")
    return permits, Act(
        "POST",
        "/items",
        allowed=as_(issuer, "admin", "admin-001"),
        refused={
            "leader": as_(issuer, "leader", "leader-001"),
            "officer": as_(issuer, "officer", "officer-001"),
        },
        json=item_body(),
    )


async def add_item_version(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    permits = await fresh("permits")
    created = await permits.client.post(
        "/items", json=item_body(), headers=as_(issuer, "admin", "admin-001")
    )
    assert created.status_code == 201, created.text
    return permits, Act(
        "POST",
        f"/items/{created.json()['code']}/versions",
        allowed=as_(issuer, "admin", "admin-001"),
        refused={"leader": as_(issuer, "leader", "leader-001")},
        json=version_body(shanghai_today() + timedelta(days=10), promised_limit_days=0),
    )


# --- credit ----------------------------------------------------------------------------------


def repair_api(service: Service, issuer: DevIssuer) -> credit_repair.Api:
    return credit_repair.Api(service.client, service.runtime, service.app, issuer)


def lists_api(service: Service, issuer: DevIssuer) -> credit_lists.Api:
    return credit_lists.Api(service.client, service.runtime, service.app, issuer)


async def reverse_record(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    credit = await fresh("credit")
    record_id = await repair_api(credit, issuer).penalty()
    return credit, Act(
        "POST",
        f"/records/{record_id}/reversal",
        allowed=as_(issuer, "leader", "leader-001"),
        refused={"officer": as_(issuer, "officer", "officer-001")},
        json={"reason": "行政复议决定撤销原处罚决定", "document_number": "青政复决字〔2026〕8号"},
    )


async def decide_blacklisting(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    credit = await fresh("credit")
    api = lists_api(credit, issuer)
    case = await api.propose()
    await api.notice(case["id"])
    api.travel_to(date(2026, 10, 14))  # the objection window closed unanswered
    return credit, Act(
        "POST",
        f"/blacklist/{case['id']}/decision",
        allowed=api.leader,
        refused={"officer": api.officer},
        json={"outcome": "listed", "reason": None},
    )


async def decide_redlisting(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    credit = await fresh("credit")
    api = lists_api(credit, issuer)
    entry = await api.nominate()
    return credit, Act(
        "POST",
        f"/redlist/{entry['id']}/decision",
        allowed=api.leader,
        refused={"officer": api.officer},
        json={"outcome": "approved"},
    )


async def revoke_repair(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    credit = await fresh("credit")
    api = repair_api(credit, issuer)
    repair_id = await api.applied(await api.penalty())
    decided = await api.decide(repair_id)
    assert decided.status_code == 200, decided.text
    return credit, Act(
        "POST",
        f"/repairs/{repair_id}/revocation",
        allowed=api.leader,
        refused={"officer": api.officer, "the repaired enterprise": api.enterprise()},
        json={"reason": "整改证明系伪造（以欺诈手段获得信用修复）"},
    )


async def decide_own_repair(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    credit = await fresh("credit")
    api = repair_api(credit, issuer)
    repair_id = await api.applied(await api.penalty())
    return credit, Act(
        "POST",
        f"/repairs/{repair_id}/decision",
        allowed=api.officer,
        refused={"the applicant": api.enterprise()},
        json={"outcome": "approved", "reason": None},
    )


# --- inspection ------------------------------------------------------------------------------


async def cases_api(service: Service, issuer: DevIssuer) -> cases.Api:
    """The case tests' helpers on this service: their catalogue items and business date."""
    async with service.runtime.session_factory() as session, session.begin():
        session.add_all(
            [
                ViolationItem(**{c.key: getattr(i, c.key) for c in ViolationItem.__table__.columns})
                for i in cases.ITEMS
            ]
        )
    api = cases.Api(service.client, service.runtime, service.app, issuer)
    api.travel_to(cases.TODAY)
    return api


async def approve_plan(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    inspection = await fresh("inspection")
    inspection.app.dependency_overrides[business_today] = lambda: plans.TODAY
    api = plans.Api(inspection.client, inspection.runtime, inspection.app, issuer)
    await plans.seed_registry(inspection.runtime)
    plan = await api.plan()
    return inspection, Act(
        "POST",
        f"/plans/{plan['id']}/approval",
        allowed=api.leader,
        refused={"officer": api.officer},
    )


async def reveal_draw(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    inspection = await fresh("inspection")
    api = draws.Api(inspection.client, inspection.runtime, inspection.app, issuer)
    await draws.seed_plan(inspection.runtime, draws.POOL)
    await draws.staffed(api)
    await api.commit(3, draws.COMMIT_ON)
    api.travel_to(draws.DEADLINE)
    return inspection, Act(
        "POST",
        "/draws/2027/3/reveal",
        allowed=api.leader,
        refused={"officer": api.officer},
        json={"public_value": "03 07 12 19 25 31 + 09"},
    )


async def approve_major_penalty(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    inspection = await fresh("inspection")
    api = await cases_api(inspection, issuer)
    await api.enterprise_entry()
    case = await api.start()
    await api.finding(case["id"], cases.SITE, harm="harmful", corrected_on_spot=False)
    major = {"finding": 1, "fine": "60000", "measures": ["suspend_production"]}
    deliberated = await api.deliberate(case["id"], [major])
    assert deliberated["deliberation"]["decisions"][0]["state"] == "awaiting_approval"
    return inspection, Act(
        "POST",
        f"/inspections/{case['id']}/decisions/1/approval",
        allowed=api.leader,
        refused={"officer": api.officer, "the inspected enterprise": api.enterprise()},
        json={"outcome": "approved"},
    )


async def verify_own_hazard(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    inspection = await fresh("inspection")
    api = await cases_api(inspection, issuer)
    await api.enterprise_entry()
    case = await api.start()
    found = await api.ok(
        "POST",
        f"/inspections/{case['id']}/hazards",
        api.officer,
        json={
            "grade": "general",
            "description": "罐区防火堤内堆放杂物",
            "evidence": cases.EVIDENCE,
        },
    )
    hazard = found["hazards"][-1]
    api.travel_to(cases.TODAY + timedelta(days=6))
    report = {"description": "已清理防火堤内杂物并设置隔离", "evidence": cases.EVIDENCE}
    await api.ok(
        "POST", f"/hazards/{hazard['id']}/rectification-report", api.enterprise(), json=report
    )
    return inspection, Act(
        "POST",
        f"/hazards/{hazard['id']}/verification",
        allowed=api.officer,
        refused={"the enterprise that reported": api.enterprise()},
        json={"passed": True},
    )


# --- insurance -------------------------------------------------------------------------------


def insurance_api(service: Service, issuer: DevIssuer) -> InsuranceApi:
    return InsuranceApi(service.client, service.runtime, service.app, issuer)


async def register_insurer(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    insurance = await fresh("insurance")
    return insurance, Act(
        "POST",
        "/insurers",
        allowed=as_(issuer, "admin", "admin-001"),
        refused={"leader": as_(issuer, "leader", "leader-001")},
        json={
            "id": "SEC-CPIC",
            "name": "中国太平洋财产保险股份有限公司青岛分公司",
            "uscc": make_uscc(9201),
            "contact_name": "李经理",
            "contact_phone": "0532-80002222",
        },
    )


async def suspend_insurer(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    insurance = await fresh("insurance")
    await seed_insurer(insurance.runtime, "SEC-PICC")
    return insurance, Act(
        "POST",
        "/insurers/SEC-PICC/suspension",
        allowed=as_(issuer, "admin", "admin-001"),
        refused={
            "leader": as_(issuer, "leader", "leader-001"),
            "the insurer itself": as_(issuer, "insurer", "SEC-PICC"),
        },
        json={"reason": "虚报服务记录"},
    )


async def reinstate_insurer(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    insurance = await fresh("insurance")
    await seed_insurer(insurance.runtime, "SEC-PICC")
    admin = as_(issuer, "admin", "admin-001")
    suspended = await insurance.client.post(
        "/insurers/SEC-PICC/suspension", json={"reason": "虚报服务记录"}, headers=admin
    )
    assert suspended.status_code == 200, suspended.text
    return insurance, Act(
        "POST",
        "/insurers/SEC-PICC/reinstatement",
        allowed=admin,
        refused={
            "leader": as_(issuer, "leader", "leader-001"),
            "the insurer itself": as_(issuer, "insurer", "SEC-PICC"),
        },
    )


async def cancel_policy(fresh: Fresh, issuer: DevIssuer) -> tuple[Service, Act]:
    insurance = await fresh("insurance")
    await seed_insurer(insurance.runtime, "SEC-PICC")
    insurer = as_(issuer, "insurer", "SEC-PICC")
    body = policy_body(9101)
    created = await insurance.client.post("/policies", json=body, headers=insurer)
    assert created.status_code == 201, created.text
    return insurance, Act(
        "POST",
        f"/policies/{created.json()['id']}/cancellation",
        allowed=insurer,
        refused={
            "leader": as_(issuer, "leader", "leader-001"),
            "officer": as_(issuer, "officer", "officer-001"),
            "the insured enterprise": as_(issuer, "enterprise", body["uscc"]),
        },
        json={"cancelled_on": shanghai_today().isoformat(), "reason": "企业退保"},
    )


Scenario = Callable[[Fresh, DevIssuer], Awaitable[tuple[Service, Act]]]

# Every leader-only and admin-only route (found through the tables) has one.
SCENARIOS: dict[tuple[str, str, str], Scenario] = {
    ("permits", "POST", "/licences/{number}/status"): licence_status,
    ("permits", "POST", "/projects/{project_id}/officers"): assign_officer,
    ("permits", "DELETE", "/projects/{project_id}/officers/{officer_id}"): release_officer,
    ("permits", "POST", "/items"): create_item,
    ("permits", "POST", "/items/{code}/versions"): add_item_version,
    ("credit", "POST", "/records/{record_id}/reversal"): reverse_record,
    ("credit", "POST", "/blacklist/{case_id}/decision"): decide_blacklisting,
    ("credit", "POST", "/redlist/{entry_id}/decision"): decide_redlisting,
    ("credit", "POST", "/repairs/{repair_id}/revocation"): revoke_repair,
    ("inspection", "POST", "/plans/{plan_id}/approval"): approve_plan,
    ("inspection", "POST", "/draws/{year}/{month}/reveal"): reveal_draw,
    ("inspection", "POST", "/inspections/{case_id}/decisions/{n}/approval"): approve_major_penalty,
    ("insurance", "POST", "/insurers"): register_insurer,
    ("insurance", "POST", "/insurers/{insurer_id}/suspension"): suspend_insurer,
    ("insurance", "POST", "/insurers/{insurer_id}/reinstatement"): reinstate_insurer,
    ("insurance", "POST", "/policies/{policy_id}/cancellation"): cancel_policy,
    # Bureau-only actions tried by the enterprise whose record it is.
    ("credit", "POST", "/repairs/{repair_id}/decision"): decide_own_repair,
    ("inspection", "POST", "/hazards/{hazard_id}/verification"): verify_own_hazard,
}


def ranked_routes() -> set[tuple[str, str, str]]:
    """Actions a leader may take and an officer may not, or an admin and a leader may not.

    Reads restricted by rank (the audit log) are refused to every other caller in
    test_route_rules.py's matrix; the scenarios here are about writes changing nothing.
    """
    out = set()
    for name, table in TABLES.items():
        for (method, path), rule in table.items():
            if rule.kind not in ("roles", "handler") or method == "GET":
                continue
            leader_only = Role.leader in rule.roles and Role.officer not in rule.roles
            admin_only = Role.admin in rule.roles and Role.leader not in rule.roles
            if leader_only or admin_only:
                out.add((name, method, path))
    return out


def test_every_leader_only_and_admin_only_route_has_a_scenario() -> None:
    assert sorted(ranked_routes() - set(SCENARIOS)) == []


@pytest.mark.parametrize("route", sorted(SCENARIOS), ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
async def test_the_rank_below_is_refused_and_writes_nothing(
    fresh: Fresh, issuer: DevIssuer, route: tuple[str, str, str]
) -> None:
    service, act = await SCENARIOS[route](fresh, issuer)
    await assert_refused_then_done(service, act)


class TestRejectionEscalation:
    """One route, two ranks: the domain decides which review step is whose."""

    async def test_only_a_leader_says_the_final_no(self, fresh: Fresh, issuer: DevIssuer) -> None:
        permits = await fresh("permits")
        application = (await apply(permits.client, issuer, STANDARD)).json()
        url = f"/applications/{application['id']}/decisions"
        officer, leader = as_(issuer, "officer", "officer-001"), as_(issuer, "leader", "lead-1")
        proposal = {
            "action": "propose_rejection",
            "reason": "储存场所与申请不符",
            "legal_basis": "《危险化学品经营许可证管理办法》第六条",
        }
        r = await permits.client.post(url, json=proposal, headers=officer)
        assert r.json()["status"] == "rejection_proposed", r.text
        confirm = {**proposal, "action": "confirm_rejection"}
        before = await permits.snapshot()
        for body, status, code in (
            (confirm, 403, "review_step_not_yours"),
            ({"action": "send_back", "reason": "请补充现场核查"}, 403, "review_step_not_yours"),
            ({"action": "approve"}, 409, "awaiting_leader"),
        ):
            r = await permits.client.post(url, json=body, headers=officer)
            assert (r.status_code, r.json()["code"]) == (status, code), r.text
            assert r.headers["content-type"].startswith(PROBLEM_JSON)
        owner = as_(issuer, "enterprise", application["uscc"])
        r = await permits.client.post(url, json={"action": "approve"}, headers=owner)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        assert await permits.snapshot() == before
        r = await permits.client.post(url, json=confirm, headers=leader)
        assert (r.status_code, r.json()["status"]) == (200, "rejected"), r.text
        async with permits.runtime.session_factory() as session:
            steps = await session.execute(
                sa.text("SELECT action, actor FROM application_steps ORDER BY at")
            )
            assert [tuple(s) for s in steps][-1] == ("confirm_rejection", "leader:lead-1")

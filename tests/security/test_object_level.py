"""Object-level authorisation across tenants (OWASP API1, BOLA): enterprise X's records are
not enterprise Y's, insurer A's are not insurer B's, and a department reads a data set only
under a grant for that very set, not around it through the services behind the gateway.

Each refusal is a 403 or a 404 problem+json (which one is asserted, route by route: 404 where
the service does not reveal that the record exists), its body carries nothing of the other
tenant's record (outside `instance`, which echoes the request's own path), a listing shows
none of it, and a refused write changes no table. Every test first shows that the owner does
see the record, so a refusal is never a record that is not there.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from kernel.auth.dev import DevIssuer
from kernel.errors import PROBLEM_JSON
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.insurance.models import Obligation
from tests.credit.api import test_lists as credit_lists
from tests.credit.api import test_repair as credit_repair
from tests.gateway.support import gateway_settings, running_gateway
from tests.inspection.api import test_cases as cases
from tests.insurance.api.test_push_risk import assessment_body
from tests.insurance.api.test_whistles import ack_body, whistle_body
from tests.permits.api.test_projects import project_body
from tests.security.conftest import SERVICES, Service
from tests.support import bearer, free_port
from tests.support.builders import policy_body
from tests.support.seed import seed_insurer

X, Y, Z = make_uscc(5301), make_uscc(5302), make_uscc(5303)
X_NAME, Y_NAME, Z_NAME = (
    "青岛甲方隐私化工有限公司",
    "青岛乙方物流有限公司",
    "青岛丙方共享化工有限公司",
)
INSURER_A, INSURER_B = "SEC-INS-A", "SEC-INS-B"


@pytest.fixture(autouse=True)
def _no_clock_left_behind(services: dict[str, Service]) -> Iterator[None]:
    """Helpers borrowed from the services' tests pin business dates; unpin after each test."""
    yield
    for service in services.values():
        service.app.dependency_overrides.clear()


@dataclass
class Tenants:
    service: Service
    issuer: DevIssuer

    def as_(self, role: str, subject: str) -> dict[str, str]:
        return bearer(self.issuer, role, subject)

    async def seen(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.service.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def refused(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        status: int,
        code: str,
        secrets: tuple[str, ...],
        **kw: Any,
    ) -> None:
        """`status` problem+json with `code`, nothing of `secrets` in it, no table changed."""
        before = await self.service.snapshot() if method != "GET" else None
        r = await self.service.client.request(method, url, headers=headers, **kw)
        assert (r.status_code, r.json().get("code")) == (status, code), r.text
        assert r.headers["content-type"].startswith(PROBLEM_JSON)
        assert_no_leak(r, secrets)
        if before is not None:
            assert await self.service.snapshot() == before, f"refused {method} {url} wrote"

    async def listed_without(
        self, url: str, headers: dict[str, str], secrets: tuple[str, ...], **kw: Any
    ) -> None:
        """A 200 listing that shows nothing of `secrets`."""
        r = await self.service.client.get(url, headers=headers, **kw)
        assert r.status_code == 200, r.text
        assert_no_leak(r, secrets)


def assert_no_leak(response: httpx.Response, secrets: tuple[str, ...]) -> None:
    """None of `secrets` in the body, beyond what the request itself sent (a path's id echoed
    in `detail` tells the caller nothing it did not know)."""
    asked = str(response.request.url)
    body = response.json()
    if isinstance(body, dict):
        body.pop("instance", None)
    text = json.dumps(body, ensure_ascii=False)
    leaked = [s for s in secrets if s in text and s not in asked]
    assert leaked == [], f"{response.request.url} showed {leaked}: {text[:500]}"


# --- permits ---------------------------------------------------------------------------------


async def test_permits_enterprise_x_and_y(services: dict[str, Service], issuer: DevIssuer) -> None:
    t = Tenants(services["permits"], issuer)
    x, y = t.as_("enterprise", X), t.as_("enterprise", Y)
    pending = await t.seen(
        "POST", "/applications", x, json={"item_code": "QD-AJ-001", "enterprise_name": X_NAME}
    )
    granted = await t.seen(
        "POST", "/applications", x, json={"item_code": "QD-AJ-003", "enterprise_name": X_NAME}
    )
    licence = granted["licence"]["number"]
    project = await t.seen(
        "POST",
        "/projects",
        t.as_("officer", "officer-wang"),
        json=project_body(uscc=X, enterprise_name=X_NAME),
    )
    await t.seen(
        "POST", "/applications", y, json={"item_code": "QD-AJ-003", "enterprise_name": Y_NAME}
    )
    secrets = (X, X_NAME, licence, pending["id"], project["id"])
    # The owner sees all of it.
    assert {a["id"] for a in (await t.seen("GET", "/applications", x))["items"]} >= {
        pending["id"],
        granted["id"],
    }
    assert [i["number"] for i in (await t.seen("GET", "/licences", x))["items"]] == [licence]
    await t.seen("GET", f"/projects/{project['id']}", x)

    for app_id in (pending["id"], granted["id"]):
        await t.refused("GET", f"/applications/{app_id}", y, 403, "application_not_yours", secrets)
    await t.listed_without("/applications", y, secrets)
    await t.listed_without("/licences", y, secrets)
    await t.refused(
        "GET", "/licences", y, 403, "licences_not_yours", (licence,), params={"uscc": X}
    )
    await t.refused("GET", f"/projects/{project['id']}", y, 403, "project_not_yours", secrets)
    await t.listed_without("/projects", y, secrets)
    # Machine clients and the public are neither the applicant nor the bureau.
    for role, subject in (("insurer", INSURER_A), ("department", "QD-CBIRC"), ("public", "p")):
        caller = t.as_(role, subject)
        await t.refused(
            "GET", f"/applications/{pending['id']}", caller, 403, "application_not_yours", secrets
        )
        await t.refused("GET", "/licences", caller, 403, "forbidden", secrets)


# --- credit ----------------------------------------------------------------------------------


async def test_credit_enterprise_x_and_y(services: dict[str, Service], issuer: DevIssuer) -> None:
    credit = services["credit"]
    t = Tenants(credit, issuer)
    api = credit_repair.Api(credit.client, credit.runtime, credit.app, issuer)
    record_x = await api.penalty(X, number=53)
    record_y = await api.penalty(Y, number=54)
    statement = "甲方已完成重大危险源检测评估，罚款已缴纳（隐私陈述）"
    repair_x = await api.applied(record_x, X, statement=statement)
    x, y = t.as_("enterprise", X), t.as_("enterprise", Y)
    secrets = (X, statement, repair_x)
    assert (await t.seen("GET", f"/repairs/{repair_x}", x))["statement"] == statement

    await t.refused("GET", f"/repairs/{repair_x}", y, 404, "repair_not_found", secrets)
    await t.listed_without("/repairs", y, secrets)
    await t.listed_without("/repairs", y, secrets, params={"uscc": X})
    # Y applies to repair X's record, and X to repair Y's: neither is theirs to repair.
    await _refused_repair_of_anothers_record(t, y, record_x, statement)
    await _refused_repair_of_anothers_record(t, x, record_y, statement)
    # A black-list case served on X: Y neither sees it nor objects to it.
    lists = credit_lists.Api(credit.client, credit.runtime, credit.app, issuer)
    case = await lists.propose(X, enterprise_name=X_NAME, facts="甲方隐私事实：暂扣期间仍经营。")
    await lists.notice(case["id"])
    assert [c["id"] for c in await t.seen("GET", "/blacklist/cases/mine", x)] == [case["id"]]
    await t.listed_without("/blacklist/cases/mine", y, (case["id"], "甲方隐私事实"))
    lists.travel_to(credit_lists.DUE)
    await t.refused(
        "POST",
        f"/blacklist/{case['id']}/objection",
        y,
        404,
        "blacklist_case_not_found",
        ("甲方隐私事实", X_NAME),
        json={"statement": "乙方冒名提出的异议陈述内容"},
    )


async def _refused_repair_of_anothers_record(
    t: Tenants, caller: dict[str, str], record_id: str, secret: str
) -> None:
    """An application to repair someone else's record is refused and writes nothing."""
    before = await t.service.snapshot()
    r = await t.service.client.post(
        "/repairs",
        json=credit_repair.repair_body(record_id),
        headers={**caller, "Idempotency-Key": f"repair-{record_id}"},
    )
    assert r.status_code in (403, 404), r.text
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    assert_no_leak(r, (secret,))
    assert await t.service.snapshot() == before


# --- inspection ------------------------------------------------------------------------------


async def test_inspection_enterprise_x_and_y(
    services: dict[str, Service], issuer: DevIssuer
) -> None:
    inspection = services["inspection"]
    t = Tenants(inspection, issuer)
    api = cases.Api(inspection.client, inspection.runtime, inspection.app, issuer)
    api.travel_to(cases.TODAY)
    await api.enterprise_entry(X)
    await api.enterprise_entry(Y)
    case = await api.start(X)
    description = "甲方罐区防火堤内堆放杂物（隐私描述）"
    found = await api.ok(
        "POST",
        f"/inspections/{case['id']}/hazards",
        api.officer,
        json={"grade": "general", "description": description, "evidence": cases.EVIDENCE},
    )
    hazard = found["hazards"][-1]["id"]
    x, y = t.as_("enterprise", X), t.as_("enterprise", Y)
    secrets = (X, description, case["id"], hazard)
    assert (await t.seen("GET", f"/hazards/{hazard}", x))["description"] == description
    await t.seen("GET", f"/inspections/{case['id']}", x)

    await t.refused("GET", f"/hazards/{hazard}", y, 404, "hazard_not_found", secrets)
    await t.listed_without("/hazards", y, secrets)
    await t.listed_without("/hazards", y, secrets, params={"uscc": X})
    await t.refused(
        "POST",
        f"/hazards/{hazard}/rectification-report",
        y,
        404,
        "hazard_not_found",
        secrets,
        json={"description": "乙方冒充甲方报告整改完成", "evidence": cases.EVIDENCE},
    )
    await t.refused("GET", f"/inspections/{case['id']}", y, 404, "inspection_not_found", secrets)
    await t.listed_without("/inspections", y, secrets)
    await t.listed_without("/inspections", y, secrets, params={"uscc": X})
    await t.refused("GET", f"/enterprises/{X}", y, 403, "enterprise_not_yours", (description,))
    # An insurer, a department, the public: none of them is X, not even with X's USCC as
    # the subject (a machine client registered under that id, a token from another issuer).
    for role in ("insurer", "department", "public", "service"):
        for subject in ("QD-CBIRC", X):
            caller = t.as_(role, subject)
            await t.refused("GET", f"/hazards/{hazard}", caller, 404, "hazard_not_found", secrets)
            await t.refused(
                "GET", f"/inspections/{case['id']}", caller, 404, "inspection_not_found", secrets
            )
            # (A service token without the data:share scope may not list cases at all.)
            listings = ("/hazards",) if role == "service" else ("/hazards", "/inspections")
            for listing in listings:
                await t.listed_without(listing, caller, (description, case["id"], hazard))
                await t.listed_without(listing, caller, (description,), params={"uscc": X})


# --- insurance -------------------------------------------------------------------------------


async def test_insurance_insurers_a_and_b_enterprises_x_and_y(
    services: dict[str, Service], issuer: DevIssuer
) -> None:
    insurance = services["insurance"]
    t = Tenants(insurance, issuer)
    await seed_insurer(insurance.runtime, INSURER_A)
    await seed_insurer(insurance.runtime, INSURER_B)
    a, b = t.as_("insurer", INSURER_A), t.as_("insurer", INSURER_B)
    x, y = t.as_("enterprise", X), t.as_("enterprise", Y)
    policy_x = await t.seen(
        "POST", "/policies", a, json=policy_body(5301, uscc=X, enterprise_name=X_NAME)
    )
    await t.seen("POST", "/policies", b, json=policy_body(5302, uscc=Y, enterprise_name=Y_NAME))
    today = shanghai_today()
    assessment = await t.seen(
        "POST",
        "/insurer/risk-assessments",
        a,
        json=assessment_body(policy_x["id"], assessed_on=today.isoformat()),
    )
    secret_whistle = "甲方储罐区报警器误报，请派专家（隐私求助）"
    whistle = await t.seen("POST", "/whistles", x, json=whistle_body(description=secret_whistle))
    async with insurance.runtime.session_factory() as session:
        obligation = await session.scalar(
            sa.select(Obligation.id).where(Obligation.policy_id == policy_x["id"]).limit(1)
        )
    assert obligation is not None
    secrets = (X, X_NAME, policy_x["id"], policy_x["policy_number"], secret_whistle)
    # The insurer and the insured see it all.
    for owner in (a, x):
        await t.seen("GET", f"/policies/{policy_x['id']}", owner)
        await t.seen("GET", f"/whistles/{whistle['id']}", owner)
        await t.seen("GET", f"/obligations/{obligation}", owner)
        await t.seen("GET", f"/risk-assessments/{assessment['id']}", owner)

    # Insurer B.
    pid = policy_x["id"]
    await t.refused("GET", f"/policies/{pid}", b, 403, "policy_not_yours", secrets)
    await t.listed_without("/policies", b, secrets)
    await t.refused(
        "POST",
        f"/policies/{pid}/cancellation",
        b,
        403,
        "policy_not_yours",
        secrets,
        json={"cancelled_on": (today + timedelta(days=1)).isoformat(), "reason": "冒名退保"},
    )
    await t.refused("GET", f"/policies/{pid}/obligations", b, 403, "policy_not_yours", secrets)
    await t.refused("GET", f"/obligations/{obligation}", b, 403, "obligation_not_yours", secrets)
    await t.listed_without("/obligations", b, secrets)
    await t.refused(
        "GET",
        "/obligations",
        b,
        403,
        "obligation_not_yours",
        secrets,
        params={"insurer_id": INSURER_A},
    )
    await t.refused(
        "GET",
        f"/risk-assessments/{assessment['id']}",
        b,
        403,
        "risk_assessment_not_yours",
        secrets,
    )
    await t.listed_without("/risk-assessments", b, secrets)
    await t.refused(
        "POST",
        "/insurer/risk-assessments",
        b,
        403,
        "policy_not_yours",
        secrets,
        json=assessment_body(pid, assessed_on=today.isoformat(), risk_level="major"),
    )
    await t.refused("GET", f"/whistles/{whistle['id']}", b, 403, "whistle_not_yours", secrets)
    await t.listed_without("/whistles", b, secrets)
    await t.refused(
        "POST",
        f"/whistles/{whistle['id']}/acknowledgement",
        b,
        403,
        "whistle_not_yours",
        secrets,
        json=ack_body(),
    )
    await t.refused(
        "GET",
        f"/enterprises/{X}/service-history",
        b,
        403,
        "enterprise_not_insured_by_you",
        (X_NAME, pid, secret_whistle),
    )

    # Enterprise Y.
    await t.refused("GET", f"/policies/{pid}", y, 403, "policy_not_yours", secrets)
    await t.listed_without("/policies", y, secrets)
    await t.refused("GET", "/policies", y, 403, "policy_not_yours", secrets, params={"uscc": X})
    await t.refused("GET", f"/whistles/{whistle['id']}", y, 403, "whistle_not_yours", secrets)
    await t.listed_without("/whistles", y, secrets)
    await t.refused(
        "POST",
        f"/whistles/{whistle['id']}/closure",
        y,
        403,
        "whistle_not_yours",
        secrets,
        json={"feedback": "satisfied", "note": "乙方冒名关闭"},
    )
    await t.refused("GET", f"/obligations/{obligation}", y, 403, "obligation_not_yours", secrets)
    await t.refused(
        "GET", f"/enterprises/{X}/service-history", y, 403, "history_not_yours", (X_NAME, pid)
    )
    await t.refused("GET", f"/enterprises/{X}/expert-visits", y, 403, "visits_not_yours", (X_NAME,))


# --- the gateway: departments and grants, with the real services behind it ------------------


@asynccontextmanager
async def over_http(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs (the module's services) on a free port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def test_a_department_reads_only_the_data_set_it_holds_a_grant_for(
    services: dict[str, Service], issuer: DevIssuer, auth_settings: AuthSettings, tmp_path: Any
) -> None:
    # Z's licence and penalty, in the services themselves.
    permits = Tenants(services["permits"], issuer)
    granted = await permits.seen(
        "POST",
        "/applications",
        permits.as_("enterprise", Z),
        json={"item_code": "QD-AJ-003", "enterprise_name": Z_NAME},
    )
    licence = granted["licence"]["number"]
    credit = services["credit"]
    await credit_repair.Api(credit.client, credit.runtime, credit.app, issuer).penalty(Z, 88)
    credit.app.dependency_overrides.clear()
    async with AsyncExitStack() as stack:
        urls = {n: await stack.enter_async_context(over_http(services[n].app)) for n in SERVICES}
        settings = gateway_settings(
            urls,
            auth=auth_settings,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
            rate_limits_enabled=False,
        )
        gateway = await stack.enter_async_context(running_gateway(settings))
        admin = bearer(issuer, "admin", "admin-001")
        holder = bearer(issuer, "department", "QD-MARKET")
        stranger = bearer(issuer, "department", "QD-CBIRC")

        async def read(who: dict[str, str], dataset: str, **params: str) -> httpx.Response:
            return await gateway.get(f"/api/data/{dataset}", params=params, headers=who)

        def refused(r: httpx.Response, code: str) -> None:
            assert (r.status_code, r.json()["code"]) == (403, code), r.text
            assert_no_leak(r, (Z, Z_NAME, licence))

        # No grant: no data set.
        for dataset, params in (
            ("licences", {}),
            ("credit-lists", {"list": "penalties"}),
            ("inspection-results", {}),
        ):
            refused(await read(holder, dataset, **params), "no_grant")
        body = {
            "department": "QD-MARKET",
            "dataset": "credit-lists",
            "purpose": "市场主体信用联合惩戒",
            "legal_basis": "《优化营商环境条例》第五十一条",
            "expires_at": (shanghai_today() + timedelta(days=30)).isoformat() + "T00:00:00+08:00",
        }
        made = await gateway.post("/api/gateway/grants", json=body, headers=admin)
        assert made.status_code == 201, made.text
        grant = made.json()["id"]
        # The grant opens its own set (the real penalty of X comes back)...
        r = await read(holder, "credit-lists", list="penalties")
        assert r.status_code == 200, r.text
        assert Z in r.text
        # ... and no other, and it is the holder's alone.
        refused(await read(holder, "licences"), "no_grant")
        refused(await read(holder, "inspection-results"), "no_grant")
        refused(await read(stranger, "credit-lists", list="penalties"), "no_grant")
        refused(await read(stranger, "credit-lists", list="penalties", grant=grant), "no_grant")
        # Around the grant, straight to the services through the proxy: nothing either.
        for department in (holder, stranger):
            for path, params in (
                ("/api/permits/licences", {}),
                ("/api/permits/licences", {"uscc": Z}),
                ("/api/permits/applications", {}),
                ("/api/insurance/policies", {}),
                ("/api/inspection/enterprises/" + Z, {}),
            ):
                r = await gateway.get(path, params=params, headers=department)
                assert r.status_code == 403, (path, r.text)
                assert_no_leak(r, (Z_NAME, licence))
            for path in ("/api/inspection/inspections", "/api/inspection/hazards"):
                r = await gateway.get(path, params={"uscc": Z}, headers=department)
                assert r.status_code == 200, (path, r.text)
                assert r.json()["items"] == [], (path, r.text)

"""Insurance's public figures (`GET /public/stats`), on SQLite and PostgreSQL: cover in force,
the 6+3 services due, delivered and overdue, SMEs helped by 惠企助安, each moved by data made
through the API; the year selects the flows; nothing names an enterprise, insurer or expert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.insurance import public_stats_router
from services.insurance.config import InsuranceSettings
from services.insurance.dependencies import business_now, business_today
from services.insurance.main import create_app
from tests.insurance.conftest import InsuranceApi
from tests.support import running
from tests.support.builders import policy_body

PICC = "PICC-QD"
EVIDENCE = [{"name": "检查报告.pdf", "sha256": "ab" * 32, "media_type": "application/pdf"}]
SME_A, SME_B = make_uscc(7901), make_uscc(7902)
# Values that must never reach the public figures.
PRIVATE = (PICC, "财产保险", SME_A, SME_B, "机械加工", "刘专家", "李工程师", "AQ-2026")


def with_stats(app: FastAPI) -> FastAPI:
    """The app with the stats route, unless its main module already includes it."""
    if not any(getattr(r, "path", None) == "/public/stats" for r in app.routes):
        app.include_router(public_stats_router.router)
    return app


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[InsuranceApi]:
    settings = InsuranceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        consumers_enabled=False,
        background_enabled=False,
    )
    app = with_stats(create_app(settings))
    async with running(app) as (client, runtime):
        result = InsuranceApi(client=client, runtime=runtime, app=app, issuer=issuer)
        app.dependency_overrides[business_today] = lambda: result.today
        app.dependency_overrides[business_now] = lambda: result.now
        await result.register_insurer(PICC)
        yield result


async def stats(api: InsuranceApi, **params: Any) -> dict[str, Any]:
    r = await api.client.get("/public/stats", params=params)  # no token: public
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "public, max-age=60"
    assert not any(marker in r.text for marker in PRIVATE)
    body: dict[str, Any] = r.json()
    return body


async def ok(api: InsuranceApi, method: str, url: str, who: dict[str, str], **kw: Any) -> Any:
    r = await api.client.request(method, url, headers=who, **kw)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def policy(api: InsuranceApi, n: int, starts_on: date, ends_on: date) -> dict[str, Any]:
    body = policy_body(n, starts_on=starts_on.isoformat(), ends_on=ends_on.isoformat())
    created: dict[str, Any] = await ok(
        api, "POST", "/policies", api.as_("insurer", PICC), json=body
    )
    return created


async def schedule(api: InsuranceApi, policy_id: str) -> list[dict[str, Any]]:
    page = await ok(
        api,
        "GET",
        f"/policies/{policy_id}/obligations",
        api.as_("insurer", PICC),
        params={"limit": 200},
    )
    assert page["next_cursor"] is None
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_nothing_recorded_counts_nothing_but_the_insurer(api: InsuranceApi) -> None:
    body = await stats(api)
    assert (body["year"], body["as_of"]) == (2026, "2026-03-16")
    assert body["cover"] == {
        "insurers": 1,
        "policies_in_force": 0,
        "enterprises_insured": 0,
        "policies_started": 0,
    }
    services = body["services"]
    assert set(services.pop("delivered_by_kind").values()) == {0}
    assert set(services.values()) == {0}
    assert body["campaigns"] == {
        "campaigns_running": 0,
        "visits": 0,
        "smes_helped": 0,
        "smes_by_size": {"medium": 0, "small": 0, "micro": 0},
        "smes_helped_all_years": 0,
    }


async def test_policies_and_their_services_move_the_figures(api: InsuranceApi) -> None:
    today = api.today
    first = await policy(api, 1, today - timedelta(days=10), today + timedelta(days=350))
    second = await policy(api, 2, today - timedelta(days=5), today + timedelta(days=200))
    # A renewal of the first enterprise's cover: registered, not yet in force.
    await ok(
        api,
        "POST",
        "/policies",
        api.as_("insurer", PICC),
        json=policy_body(
            1,
            policy_number="AQ-2026-0099",
            starts_on=(today + timedelta(days=30)).isoformat(),
            ends_on=(today + timedelta(days=395)).isoformat(),
        ),
    )
    body = await stats(api)
    assert body["cover"] == {
        "insurers": 1,
        "policies_in_force": 2,
        "enterprises_insured": 2,
        "policies_started": 3,
    }

    owed = await schedule(api, first["id"])
    key_check = next(o for o in owed if o["kind"] == "key_check" and o["seq"] == 1)
    record = {
        "obligation_id": key_check["id"],
        "delivered_on": today.isoformat(),
        "performed_by": ["李工程师"],
        "summary": "对储罐区、装卸区进行重点排查，发现消防通道堵塞一处，已当场指导整改。",
        "hazards_found": 1,
        "evidence": EVIDENCE,
    }
    await ok(api, "POST", "/insurer/service-records", api.as_("insurer", PICC), json=record)

    both = owed + await schedule(api, second["id"])
    body = await stats(api)
    services = body["services"]
    assert services["due"] == sum(
        1 for o in both if o["due_on"].startswith("2026") and o["status"] != "withdrawn"
    )
    assert (services["delivered"], services["delivered_on_time"]) == (1, 1)
    assert services["delivered_by_kind"]["key_check"] == 1
    assert sum(services["delivered_by_kind"].values()) == 1
    assert services["overdue_now"] == 0

    # Months later, every service due before then and never delivered is overdue.
    later = date(2026, 8, 3)
    api.set_today(later)
    both = await schedule(api, first["id"]) + await schedule(api, second["id"])
    overdue = [o for o in both if o["status"] == "open" and o["due_on"] < later.isoformat()]
    assert overdue
    assert (await stats(api))["services"]["overdue_now"] == len(overdue)

    next_year = await stats(api, year=2027)
    assert next_year["cover"]["policies_started"] == 0
    assert next_year["services"]["delivered"] == 0
    assert next_year["cover"]["policies_in_force"] == 3  # as of today, whatever the year


async def test_smes_helped_count_each_enterprise_once(api: InsuranceApi) -> None:
    officer = api.as_("officer", "o-1")
    campaign = await ok(
        api,
        "POST",
        "/campaigns",
        officer,
        json={
            "name": "2026年惠企助安专家服务行动",
            "organiser": "青岛市应急管理局",
            "starts_on": "2026-03-01",
            "ends_on": "2026-12-31",
            "target_sectors": ["machinery"],
            "description": "组织安全专家免费为中小微企业排查隐患、提出整改建议",
        },
    )

    def visit(uscc: str, on: str, employees: int, revenue: str) -> dict[str, Any]:
        return {
            "uscc": uscc,
            "enterprise_name": f"青岛{uscc[-4:]}机械加工有限公司",
            "sector": "machinery",
            "employees": employees,
            "annual_revenue": revenue,
            "visited_on": on,
            "experts": [
                {"name": "刘专家", "speciality": "电气安全", "organisation": "青岛市安全生产专家库"}
            ],
            "findings": [
                {
                    "category": "fire",
                    "description": "灭火器过期两具",
                    "grade": "general",
                    "recommendation": "更换灭火器",
                }
            ],
        }

    url = f"/campaigns/{campaign['id']}/visits"
    await ok(api, "POST", url, officer, json=visit(SME_A, "2026-03-10", 45, "8000000.00"))
    await ok(api, "POST", url, officer, json=visit(SME_A, "2026-03-12", 45, "8000000.00"))
    await ok(api, "POST", url, officer, json=visit(SME_B, "2026-03-13", 5, "500000.00"))

    assert (await stats(api))["campaigns"] == {
        "campaigns_running": 1,
        "visits": 3,
        "smes_helped": 2,
        "smes_by_size": {"medium": 0, "small": 1, "micro": 1},
        "smes_helped_all_years": 2,
    }
    last_year = (await stats(api, year=2025))["campaigns"]
    assert (last_year["visits"], last_year["smes_helped"]) == (0, 0)
    assert last_year["smes_helped_all_years"] == 2


@pytest.mark.parametrize(
    ("year", "rule"),
    [("1999", "greater_than_equal"), ("2101", "less_than_equal"), ("2026x", "int_parsing")],
)
async def test_a_bad_year_is_a_problem_naming_field_and_rule(
    api: InsuranceApi, year: str, rule: str
) -> None:
    r = await api.client.get("/public/stats", params={"year": year})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("year", rule)]

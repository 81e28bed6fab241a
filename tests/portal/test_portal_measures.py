"""The ten-measures scoreboard on the gateway over the four real services: one card per measure
with the bureau's commitment and the live figures of the services' public APIs (their
`/public/stats` aggregates, permits' figures, the insurers' scorecards, the monthly lists),
data made through the services' APIs, nothing private on the page, and a service that is down
blanking only the figures it gives."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.main import create_app as create_gateway
from gateway.portal import install_portal
from gateway.portal.pages_inspections import portal_today
from gateway.portal.pages_measures import MEASURES
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import public_stats_router as credit_stats
from services.credit.dependencies import business_today as credit_today
from services.inspection import public_stats_router as inspection_stats
from services.inspection.dependencies import business_today as inspection_today
from services.insurance import public_stats_router as insurance_stats
from services.insurance.dependencies import business_now as insurance_now
from services.insurance.dependencies import business_today as insurance_today
from tests.gateway.support import gateway_settings
from tests.portal.conftest import UNLIMITED, PortalStack
from tests.support import free_port
from tests.support.builders import policy_body
from tests.support.seed import seed_insurer

TODAY = date(2026, 3, 16)
PICC = "PICC-QD"
# Values the services hold about people and enterprises; none may reach the scoreboard.
PENALISED = make_uscc(6601)
INSPECTED = make_uscc(6602)
INSURED = make_uscc(6603)
HELPED = make_uscc(6604)
PRIVATE = (
    "私密标记",
    PENALISED,
    INSPECTED,
    INSURED,
    HELPED,
    "officer-007",
    "刘专家标记",
    "AQ-MARK-0001",
    "罐区防火堤内堆放杂物标记",
)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def section(html: str, no: int) -> str:
    """The plain text of measure `no`'s card."""
    found = re.search(rf'<section id="measure-{no}".*?</section>', html, re.S)
    assert found, f"no card for measure {no}"
    return text_of(found.group(0))


def with_stats(app: FastAPI, router: Any) -> None:
    """The stats route on a running service, unless its main module already includes it."""
    if not any(getattr(r, "path", None) == "/public/stats" for r in app.routes):
        app.include_router(router.router)


async def made(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture(scope="module")
async def stack(portal_stack: PortalStack) -> PortalStack:
    """The portal stack on 16 March 2026 with data made through the services' APIs."""
    s = portal_stack
    with_stats(s["credit"].app, credit_stats)
    with_stats(s["inspection"].app, inspection_stats)
    with_stats(s["insurance"].app, insurance_stats)
    s["credit"].app.dependency_overrides[credit_today] = lambda: TODAY
    s["inspection"].app.dependency_overrides[inspection_today] = lambda: TODAY
    s["insurance"].app.dependency_overrides[insurance_today] = lambda: TODAY
    s["insurance"].app.dependency_overrides[insurance_now] = lambda: datetime.combine(
        TODAY, time(2), UTC
    )
    s.gateway.dependency_overrides[portal_today] = lambda: TODAY
    officer = s.as_("officer", "officer-007")

    await made(
        await s["credit"].client.post(
            "/penalties",
            headers=officer,
            json={
                "uscc": PENALISED,
                "enterprise_name": "私密标记化工有限公司",
                "decision_number": "青应急罚〔2026〕66号",
                "decided_on": "2026-03-10",
                "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
                "violation_summary": "未对重大危险源进行定期检测、评估、监控",
                "fine_amount": "50000.00",
                "other_measures": "责令限期改正",
                "severity": "general",
                "source": "inspection",
            },
        )
    )

    inspection = s["inspection"].client
    await made(
        await inspection.post(
            "/enterprises",
            headers=officer,
            json={
                "uscc": INSPECTED,
                "name": "私密标记危化有限公司",
                "district": "黄岛区",
                "sector": "hazardous_chemicals",
            },
        )
    )
    case = await made(
        await inspection.post(
            "/inspections",
            headers=officer,
            json={
                "uscc": INSPECTED,
                "source": "planned",
                "reference": "2026年度计划",
                "team": ["officer-007", "officer-008"],
                "notice": {"served_on": "2026-03-16", "text": "依法对你单位开展安全生产执法检查"},
                "education_plan": {"topics": ["典型事故案例剖析"], "audience": ["主要负责人"]},
            },
        )
    )
    await made(
        await inspection.post(
            f"/inspections/{case['id']}/hazards",
            headers=officer,
            json={
                "grade": "general",
                "description": "罐区防火堤内堆放杂物标记",
                "evidence": [{"sha256": "ab" * 32, "label": "现场照片"}],
            },
        )
    )

    insurance = s["insurance"]
    await seed_insurer(insurance.app.state.runtime, PICC, "中国人民财产保险青岛分公司")
    await made(
        await insurance.client.post(
            "/policies",
            headers=s.as_("insurer", PICC),
            json=policy_body(
                6603,
                policy_number="AQ-MARK-0001",
                uscc=INSURED,
                enterprise_name="私密标记投保有限公司",
                starts_on="2026-03-06",
                ends_on="2027-03-05",
            ),
        )
    )
    campaign = await made(
        await insurance.client.post(
            "/campaigns",
            headers=officer,
            json={
                "name": "2026年惠企助安专家服务行动",
                "organiser": "青岛市应急管理局",
                "starts_on": "2026-03-01",
                "ends_on": "2026-12-31",
                "target_sectors": ["machinery"],
                "description": "组织安全专家免费为中小微企业排查隐患、提出整改建议",
            },
        )
    )
    await made(
        await insurance.client.post(
            f"/campaigns/{campaign['id']}/visits",
            headers=officer,
            json={
                "uscc": HELPED,
                "enterprise_name": "私密标记机械加工有限公司",
                "sector": "machinery",
                "employees": 45,
                "annual_revenue": "8000000.00",
                "visited_on": "2026-03-12",
                "experts": [
                    {"name": "刘专家标记", "speciality": "电气安全", "organisation": "专家库"}
                ],
                "findings": [
                    {
                        "category": "fire",
                        "description": "灭火器过期两具",
                        "grade": "general",
                        "recommendation": "更换灭火器",
                    }
                ],
            },
        )
    )
    return s


async def test_every_measure_has_a_card_with_its_commitment_and_figures(
    stack: PortalStack,
) -> None:
    r = await stack.portal.get("/portal/measures")
    assert r.status_code == 200, r.text[:2000]
    assert r.headers["cache-control"] == "public, max-age=300"
    html = r.text
    assert html.count("<h1") == 1
    for no, measure in enumerate(MEASURES, 1):
        card = section(html, no)
        assert f"措施{no}：{measure.title}" in card
        assert measure.commitment in card
    assert "暂时无法获取" not in html
    assert "本项暂无在线数据" not in html

    outreach = section(html, 1)
    assert "宣讲团 0 支" in outreach
    assert "2026年开展宣讲 0 场次" in outreach
    insured = section(html, 2)
    assert "在保企业 1 家" in insured
    assert "有效保单 1 份" in insured
    assert "“惠企助安”累计服务中小微企业 1 家" in insured
    assert "其中中型 / 小型 / 微型 0 / 1 / 0 家" in insured
    assert "参与保险机构 1 家" in insured  # the insurers' scorecards
    assert "许可申请 0 件" in section(html, 3)  # a real zero, not a blank
    assert "经上一级领导确认的不予许可 0 件" in section(html, 4)
    assert "严重失信黑名单企业 0 家" in section(html, 5)
    differentiated = section(html, 6)
    assert "2026年执法检查 1 次" in differentiated
    assert "重点企业 / 一般企业 1 / 0 次" in differentiated
    assert "2026年执法检查来源" in differentiated  # the chart, with its data table
    assert "现场讲授“一堂课” 0 次" in section(html, 7)
    monthly = section(html, 8)
    assert "2026年3月 尚未公示" in monthly
    assert "2026年4月 尚未公示" in monthly
    lenient = section(html, 9)
    assert "2026年检查发现隐患 1 项" in lenient
    assert "正在整改 1 项" in lenient
    repair = section(html, 10)
    assert "目前公示中的行政处罚 1 条" in repair
    assert "3个工作日内办结 0 件（—）" in repair


async def test_nothing_private_reaches_the_scoreboard(stack: PortalStack) -> None:
    html = (await stack.portal.get("/portal/measures")).text
    assert not [marker for marker in PRIVATE if marker in html]
    # The data is there: the enterprise's penalty is public on its own page.
    penalties = await stack.portal.get("/portal/credit/penalties")
    assert "私密标记化工有限公司" in penalties.text


async def test_a_service_down_blanks_only_its_figures(
    stack: PortalStack, auth_settings: AuthSettings, tmp_path: Any
) -> None:
    urls = {name: service.url for name, service in stack.services.items()}
    urls["credit"] = f"http://127.0.0.1:{free_port()}"
    gateway = create_gateway(
        gateway_settings(
            urls,
            auth=auth_settings,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
            rate_limits={k: UNLIMITED for k in ("public", "read", "write")},
        )
    )
    install_portal(gateway)
    gateway.dependency_overrides[portal_today] = lambda: TODAY
    async with (
        gateway.router.lifespan_context(gateway),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test"
        ) as client,
    ):
        r = await client.get("/portal/measures")
    assert r.status_code == 200
    html = r.text
    for no in (5, 10):  # red and black lists, credit repair: credit's figures
        assert "暂时无法获取信用数据" in section(html, no)
    for no in (1, 2, 3, 4, 6, 7, 8, 9):
        assert "暂时无法获取" not in section(html, no)
    assert "2026年执法检查 1 次" in section(html, 6)

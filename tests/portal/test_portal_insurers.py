"""Insurer scorecard pages on the gateway, reading the real insurance service over HTTP:
per insurer the 6+3 services due, on time, late and overdue, a chart and its data table, the
month-by-month detail, bad input, and nothing that names an enterprise."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.main import create_app as create_gateway
from gateway.portal import install_portal
from gateway.portal.pages_inspections import portal_today
from kernel.app import ServiceRuntime
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.insurance.config import InsuranceSettings
from services.insurance.dependencies import business_now, business_today
from services.insurance.main import create_app as create_insurance
from tests.gateway.support import gateway_settings
from tests.insurance.api.test_supervision import obligation, policy
from tests.support import serving
from tests.support.databases import DatabaseMaker
from tests.support.seed import seed_insurer

TODAY = date(2026, 3, 16)
# A policy's enterprise: the scorecards are aggregates, so the portal must never show it.
PRIVATE_ENTERPRISE = "青岛私密标记化工有限公司"


async def insert(runtime: ServiceRuntime, *rows: Any) -> None:
    """Policies and their schedules as the insurance service stores them (parents first)."""
    async with runtime.session_factory() as session, session.begin():
        for row in rows:
            session.add(row)
            await session.flush()


@pytest.fixture(scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory,
    database_maker: DatabaseMaker,
    broker: DevBroker,
    auth_settings: AuthSettings,
) -> AsyncIterator[httpx.AsyncClient]:
    root: Path = tmp_path_factory.mktemp("portal-insurers")
    insurance = create_insurance(
        InsuranceSettings(
            database_url=await database_maker.sqlite(root / "insurance.db", "insurance"),
            kafka_bootstrap_servers=broker.bootstrap,
            auth=auth_settings,
            relay_enabled=False,
            consumers_enabled=False,
            background_enabled=False,
        )
    )
    insurance.dependency_overrides[business_today] = lambda: TODAY
    insurance.dependency_overrides[business_now] = lambda: datetime.combine(TODAY, time(2), UTC)
    async with serving(insurance) as url:
        runtime: ServiceRuntime = insurance.state.runtime
        await seed_insurer(runtime, "PICC-QD", "中国人民财产保险青岛分公司")
        await seed_insurer(runtime, "PAIC-QD", "平安财产保险青岛分公司")
        p1 = policy(1, "PICC-QD", starts_on=date(2026, 2, 1))
        p1.enterprise_name = PRIVATE_ENTERPRISE
        p2 = policy(2, "PAIC-QD", starts_on=date(2026, 2, 1))
        d = date
        await insert(
            runtime,
            p1,
            p2,
            obligation(p1, "risk_assessment", d(2026, 2, 20), status="verified",
                       delivered_on=d(2026, 2, 18)),
            obligation(p1, "key_check", d(2026, 3, 10), status="delivered",
                       delivered_on=d(2026, 3, 12)),  # late
            obligation(p1, "key_check", d(2026, 3, 15), seq=2),  # overdue
            obligation(p2, "hazard_assistance", d(2026, 3, 1), status="delivered",
                       delivered_on=d(2026, 2, 27)),
        )  # fmt: skip
        settings = gateway_settings(
            {"inspection": url, "permits": url, "credit": url, "insurance": url},
            auth=auth_settings,
            database_url=await database_maker.sqlite(root / "gateway.db", None),
        )
        app = create_gateway(settings)
        install_portal(app)
        app.dependency_overrides[portal_today] = lambda: TODAY
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as c:
                yield c


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def page(client: httpx.AsyncClient, path: str, status: int = 200) -> str:
    r = await client.get(path)
    assert r.status_code == status, r.text[:2000]
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    return r.text


async def test_scorecards_table_and_chart(gateway: httpx.AsyncClient) -> None:
    html = await page(gateway, "/portal/insurers")
    plain = text_of(html)
    assert "2026年" in plain
    # PICC: 3 due, 1 on time, 1 late, 1 overdue, on-time rate 1/3.
    row = re.search(r"中国人民财产保险青岛分公司</a>.*?</tr>", html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(0), re.S)
    assert [text_of(c).strip() for c in cells[:4]] == ["3", "1", "1", "33.3%"]
    assert 'href="/portal/insurers/PICC-QD?year=2026"' in html
    assert '<svg class="chart"' in html
    assert 'role="img"' in html
    assert "<caption>2026年各保险机构“6+3”服务完成情况</caption>" in html  # the chart's table


async def test_one_insurer_month_by_month(gateway: httpx.AsyncClient) -> None:
    html = await page(gateway, "/portal/insurers/PICC-QD?year=2026")
    plain = text_of(html)
    assert "中国人民财产保险青岛分公司" in plain
    assert "逾期未完成 1 项" in plain
    assert "按时完成 1 项" in plain
    assert "逐月情况" in plain
    assert "2月" in plain
    assert "3月" in plain
    assert "每季度重点排查" in plain


async def test_nothing_private(gateway: httpx.AsyncClient) -> None:
    for path in ("/portal/insurers", "/portal/insurers/PICC-QD"):
        html = await page(gateway, path)
        assert PRIVATE_ENTERPRISE not in html
        assert "AQ-" not in html  # policy numbers


async def test_unknown_insurer_is_a_404_page(gateway: httpx.AsyncClient) -> None:
    assert "未找到" in await page(gateway, "/portal/insurers/NOPE-QD", status=404)


@pytest.mark.parametrize(
    "path", ["/portal/insurers?year=20x6", "/portal/insurers?year=2099", "/portal/insurers/a%20b"]
)
async def test_bad_input_is_explained(gateway: httpx.AsyncClient, path: str) -> None:
    html = await page(gateway, path, status=400)
    assert "年份" in html or "保险机构编号" in html

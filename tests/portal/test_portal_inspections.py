"""The monthly inspection pages on the gateway, reading the real inspection service over HTTP:
the list with its commitment, the revealed draw, the server-side recompute (honest and after
the published list was altered), month navigation, bad input, nothing private on the page."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from gateway.main import create_app as create_gateway
from gateway.portal import install_portal
from gateway.portal.pages_inspections import portal_today
from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.inspection.config import InspectionSettings
from services.inspection.draws_router import draw_today
from services.inspection.main import create_app as create_inspection
from services.inspection.models import Enterprise, Plan, PlanEntry
from services.inspection.models_draw import Draw
from tests.gateway.support import gateway_settings
from tests.support import bearer, serving
from tests.support.databases import DatabaseMaker

PLANNED = make_uscc(7100)
POOL = [make_uscc(7110 + i) for i in range(10)]
# Values that exist in the inspection service but are not for the public: an officer's
# account, an inspector's name (teams are not named on the page), a sealed conflict.
PRIVATE_OFFICER = "officer-private-marker-7q"
PRIVATE_INSPECTOR = "私密执法员甲"
FEB_TODAY = date(2027, 2, 12)


@dataclass
class World:
    gateway: httpx.AsyncClient
    gateway_app: FastAPI
    service: httpx.AsyncClient
    runtime: ServiceRuntime


def _entry(plan_id: str, uscc: str, **over: Any) -> PlanEntry:
    values: dict[str, Any] = {
        "plan_id": plan_id,
        "uscc": uscc,
        "sector": "trade",
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


async def _seed_plan(runtime: ServiceRuntime) -> None:
    # The yearly plan's approval is its own workflow (tests/inspection/api/test_plans.py);
    # the draw reads an approved plan, so one is stored as approval leaves it.
    now = datetime(2026, 12, 1, tzinfo=UTC)
    plan_id = str(uuid.uuid4())
    async with runtime.session_factory() as session, session.begin():
        session.add_all(
            Enterprise(
                uscc=u,
                name=f"青岛门户测试企业{n}有限公司",
                district="市北区",
                sector="trade",
                tier="general",
                registered_by="test",
                created_at=now,
                updated_at=now,
            )
            for n, u in enumerate([PLANNED, *POOL])
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
                _entry(plan_id, PLANNED, mode="planned", planned_months=[2, 3]),
                *(_entry(plan_id, u, priority=10 * (i % 3)) for i, u in enumerate(POOL)),
            ]
        )


async def _ok(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> Any:
    r = await client.request(method, url, **kw)
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory,
    database_maker: DatabaseMaker,
    broker: DevBroker,
    auth_settings: AuthSettings,
    issuer: DevIssuer,
) -> AsyncIterator[World]:
    root: Path = tmp_path_factory.mktemp("portal-inspections")
    inspection = create_inspection(
        InspectionSettings(
            database_url=await database_maker.sqlite(root / "inspection.db", "inspection"),
            kafka_bootstrap_servers=broker.bootstrap,
            auth=auth_settings,
            relay_enabled=False,
            background_enabled=False,
            consumers_enabled=False,
        )
    )
    async with serving(inspection) as url:
        runtime: ServiceRuntime = inspection.state.runtime
        await _seed_plan(runtime)
        officer = bearer(issuer, "officer", PRIVATE_OFFICER)
        leader = bearer(issuer, "leader", "leader-001")
        async with httpx.AsyncClient(base_url=url) as service:
            for i, name in enumerate([PRIVATE_INSPECTOR, "执法员乙", "执法员丙", "执法员丁"]):
                body = {
                    "name": name,
                    "subject": f"officer-{i}",
                    "district": "市北区",
                    "sectors": ["trade"],
                    "conflicts": [POOL[0]] if i == 0 else [],
                    "monthly_cap": 10,
                }
                await _ok(service, "POST", "/inspectors", json=body, headers=officer)

            def on(day: date) -> None:
                inspection.dependency_overrides[draw_today] = lambda: day

            def src(day: str) -> dict[str, Any]:
                return {
                    "name": "中国福利彩票双色球",
                    "round": "2027-0" + day[-2:],
                    "expected_on": day,
                }

            on(date(2027, 1, 10))
            body = {"count": 4, "source": src("2027-01-15")}
            await _ok(service, "POST", "/draws/2027/2", json=body, headers=officer)
            on(date(2027, 1, 16))
            value = {"public_value": "03 07 12 19 25 31 + 09"}
            await _ok(service, "POST", "/draws/2027/2/reveal", json=value, headers=leader)
            on(date(2027, 2, 10))
            body = {"count": 3, "source": src("2027-02-14")}
            await _ok(service, "POST", "/draws/2027/3", json=body, headers=officer)

            settings = gateway_settings(
                {"inspection": url, "permits": url, "credit": url, "insurance": url},
                auth=auth_settings,
                database_url=await database_maker.sqlite(root / "gateway.db", None),
            )
            app = create_gateway(settings)
            install_portal(app)  # a no-op once the gateway installs it itself
            app.dependency_overrides[portal_today] = lambda: FEB_TODAY
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://gateway.test"
                ) as gateway:
                    yield World(gateway, app, service, runtime)


async def page(world: World, path: str, status: int = 200) -> str:
    r = await world.gateway.get(path)
    assert r.status_code == status, r.text[:2000]
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-language"] == "zh-CN"
    return r.text


async def public(world: World, month: int) -> dict[str, Any]:
    doc: dict[str, Any] = await _ok(world.service, "GET", f"/draws/2027/{month}")
    return doc


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


async def test_overview_shows_this_and_next_month(world: World) -> None:
    html = await page(world, "/portal/inspections")
    assert "2027年2月" in html
    assert "2027年3月" in html
    assert 'href="/portal/inspections/2027-02"' in html
    assert 'href="/portal/inspections/2027-03"' in html
    assert "已揭晓" in html
    assert "已公示，待揭晓" in html
    assert 'href="/portal/inspections/2026-02"' in html  # a year of past months


async def test_committed_month_shows_the_list_and_commitment_not_the_secret(
    world: World,
) -> None:
    doc = await public(world, 3)
    html = await page(world, "/portal/inspections/2027-03")
    plain = text_of(html)
    assert doc["commitment"] in plain
    assert doc["inputs_digest"] in plain
    assert "2027年2月10日" in plain  # the date it was committed
    assert "青岛门户测试企业0有限公司" in plain
    assert PLANNED in plain
    assert "data-drawn-uscc" not in html
    assert "在本页重新计算" not in html


async def test_revealed_month_lists_the_draw_in_order_with_seed(world: World) -> None:
    doc = await public(world, 2)
    html = await page(world, "/portal/inspections/2027-02")
    plain = text_of(html)
    for key in ("secret", "seed", "commitment"):
        assert doc[key] in plain
    shown = re.findall(r'data-drawn-uscc="([^"]+)"', html)
    assert shown == [e["uscc"] for e in doc["listed"] if e["kind"] == "drawn"]
    assert len(shown) == 4
    # The in-page check: a script from 'self', a button it reveals, the public API it reads.
    assert re.search(r'<script src="/portal/static/drawcheck\.js\?v=\w+" defer>', html)
    assert 'data-drawcheck-src="/api/inspection/draws/2027/2"' in html
    assert 'aria-live="polite"' in html
    assert 'href="/portal/inspections/2027-02/check"' in html
    assert 'href="/portal/inspections/2027-01"' in html  # previous month
    assert 'href="/portal/inspections/2027-03"' in html  # next month


async def test_the_in_page_check_reads_the_public_api_anonymously(world: World) -> None:
    r = await world.gateway.get("/api/inspection/draws/2027/2")
    assert r.status_code == 200
    assert r.json()["secret"] == (await public(world, 2))["secret"]


async def test_nothing_private_on_the_pages(world: World) -> None:
    for path in (
        "/portal/inspections",
        "/portal/inspections/2027-02",
        "/portal/inspections/2027-03",
        "/portal/inspections/2027-02/check",
    ):
        html = await page(world, path)
        assert PRIVATE_OFFICER not in html
        assert PRIVATE_INSPECTOR not in html
        assert "conflicts_digest" not in html
    async with world.runtime.session_factory() as session:
        row = await session.scalar(sa.select(Draw).where(Draw.month == 2))
        assert row is not None
        salt = row.conflicts_salt
    assert salt not in await page(world, "/portal/inspections/2027-02")


async def test_server_side_check_of_an_honest_draw(world: World) -> None:
    doc = await public(world, 2)
    html = await page(world, "/portal/inspections/2027-02/check")
    plain = text_of(html)
    assert "与公示结果一致" in plain
    assert "不符" not in plain
    assert doc["seed"] in plain
    drawn = [e["name"] for e in doc["listed"] if e["kind"] == "drawn"]
    positions = [plain.index(name) for name in drawn]
    assert positions == sorted(positions)  # recomputed in the published order


async def test_server_side_check_of_a_committed_draw(world: World) -> None:
    plain = text_of(await page(world, "/portal/inspections/2027-03/check"))
    assert "抽取参数与公示一致，抽取尚未揭晓" in plain
    assert "待揭晓" in plain


async def test_server_side_check_catches_an_altered_list(world: World) -> None:
    async with world.runtime.session_factory() as session, session.begin():
        row = await session.scalar(sa.select(Draw).where(Draw.month == 2))
        assert row is not None
        assert row.result is not None
        honest = dict(row.result)
        chosen = set(honest["selected"])
        outsider = next(u for u in POOL if u not in chosen)
        row.result = {**honest, "selected": [outsider, *honest["selected"][1:]]}
    try:
        html = await page(world, "/portal/inspections/2027-02/check")
        plain = text_of(html)
        assert "发现不一致" in plain
        assert f"第 1 位不一致：应为 {honest['selected'][0]}，公布为 {outsider}" in plain
    finally:
        async with world.runtime.session_factory() as session, session.begin():
            row = await session.scalar(sa.select(Draw).where(Draw.month == 2))
            assert row is not None
            row.result = honest
    assert "与公示结果一致" in text_of(await page(world, "/portal/inspections/2027-02/check"))


async def test_a_month_without_a_list(world: World) -> None:
    html = await page(world, "/portal/inspections/2027-05", status=404)
    assert "2027年5月没有公示的检查名单" in html


@pytest.mark.parametrize("period", ["2027-13", "27-02", "2027-2", "abcd-ef", "1999-12"])
async def test_a_malformed_month_explains_the_format(world: World, period: str) -> None:
    html = await page(world, f"/portal/inspections/{period}", status=400)
    assert "2026-12" in html or "年至" in html
    assert "Traceback" not in html


async def test_pages_revalidate_with_etags(world: World) -> None:
    first = await world.gateway.get("/portal/inspections/2027-02")
    again = await world.gateway.get(
        "/portal/inspections/2027-02", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304

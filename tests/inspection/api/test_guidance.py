"""Public guidance lists (measure 8), read without a token, on SQLite and PostgreSQL. The data
is what revision 0005 seeds: the 131-item catalogue, GB 30871-2022's eight special operations,
the dispatched and flexible-worker duties and the key enforcement items."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app
from tests.support import bearer, running


@pytest.fixture
async def client(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings
) -> AsyncIterator[httpx.AsyncClient]:
    settings = InspectionSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    app = create_app(settings)
    async with running(app) as (client, _runtime):
        yield client


async def ok(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    r = await client.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def everything(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await ok(
            client, "/guidance/violations", **params, **({"cursor": cursor} if cursor else {})
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


class TestViolations:
    async def test_the_catalogue_has_131_distinct_items_in_order(
        self, client: httpx.AsyncClient
    ) -> None:
        items = await everything(client, limit=40)
        assert len(items) == 131
        assert [i["code"] for i in items] == [f"CV-{n:03d}" for n in range(1, 132)]
        assert len({i["title"] for i in items}) == 131
        assert all(i["legal_basis"] and i["penalty_basis"] for i in items)
        assert {i["is_management"] for i in items} == {True, False}

    async def test_search_by_text(self, client: httpx.AsyncClient) -> None:
        page = await ok(client, "/guidance/violations", q="特种作业人员")
        assert [i["code"] for i in page["items"]] == ["CV-020"]
        assert page["items"][0]["penalty_basis"].endswith("第九十七条第（七）项")
        by_article = await ok(client, "/guidance/violations", q="第一百零九条")
        assert {i["code"] for i in by_article["items"]} == {"CV-028", "CV-029"}
        none = await ok(client, "/guidance/violations", q="%")
        assert none["items"] == []

    async def test_filters(self, client: httpx.AsyncClient) -> None:
        training = await everything(client, category="教育培训")
        assert len(training) == 10
        management = await everything(client, management="true")
        on_site = await everything(client, management="false")
        assert len(management) + len(on_site) == 131
        assert all(i["is_management"] for i in management)
        gas = await everything(client, sector="gas_station")
        assert all(not i["sectors"] or "gas_station" in i["sectors"] for i in gas)
        assert "CV-124" in {i["code"] for i in gas}
        assert "CV-119" not in {i["code"] for i in gas}  # molten metal concerns metallurgy
        assert "CV-001" in {i["code"] for i in gas}  # every sector's duty
        dust_management = await everything(client, category="粉尘防爆", management="true")
        assert [i["code"] for i in dust_management] == ["CV-111", "CV-112", "CV-118"]

    async def test_bad_sector_or_cursor_is_named(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/guidance/violations", params={"sector": "bakery"})
        assert r.status_code == 422
        r = await client.get("/guidance/violations", params={"cursor": "x"})
        assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")

    async def test_categories_add_up(self, client: httpx.AsyncClient) -> None:
        categories = await ok(client, "/guidance/violations/categories")
        assert categories[0]["category"] == "责任制与机构"
        assert sum(c["items"] for c in categories) == 131
        assert len(categories) == 17


class TestViolation:
    async def test_one_item(self, client: httpx.AsyncClient) -> None:
        item = await ok(client, "/guidance/violations/cv-098")
        assert item["code"] == "CV-098"
        assert item["legal_basis"] == "《中华人民共和国安全生产法》第四十二条第一款"
        assert item["penalty_basis"] == "《中华人民共和国安全生产法》第一百零五条第（一）项"
        assert item["is_management"] is False

    async def test_unknown_code(self, client: httpx.AsyncClient) -> None:
        r = await client.get("/guidance/violations/CV-132")
        assert (r.status_code, r.json()["code"]) == (404, "violation_item_not_found")


class TestHazardousWork:
    async def test_the_eight_special_operations(self, client: httpx.AsyncClient) -> None:
        guides = await ok(client, "/guidance/hazardous-work")
        assert [g["name"] for g in guides] == [
            "动火作业",
            "受限空间作业",
            "盲板抽堵作业",
            "高处作业",
            "吊装作业",
            "临时用电",
            "动土作业",
            "断路作业",
        ]
        assert all("GB 30871-2022" in g["legal_basis"] for g in guides)
        assert all(g["permit"] and len(g["key_controls"]) >= 3 for g in guides)

    async def test_one_and_unknown(self, client: httpx.AsyncClient) -> None:
        guide = await ok(client, "/guidance/hazardous-work/confined_space")
        assert any("先通风、再检测、后作业" in c for c in guide["key_controls"])
        r = await client.get("/guidance/hazardous-work/diving")
        assert (r.status_code, r.json()["code"]) == (404, "hazardous_work_not_found")


class TestFlexibleWorkers:
    async def test_duties_and_filter(self, client: httpx.AsyncClient) -> None:
        guides = await ok(client, "/guidance/flexible-workers")
        assert guides[0]["legal_basis"] == "《中华人民共和国安全生产法》第二十八条第二款"
        interns = await ok(client, "/guidance/flexible-workers", kind="intern")
        assert "FW-03" in {g["code"] for g in interns}
        assert all("intern" in g["worker_kinds"] for g in interns)
        assert len(interns) < len(guides)
        r = await client.get("/guidance/flexible-workers", params={"kind": "robot"})
        assert r.status_code == 422


class TestKeyItems:
    async def test_latest_year_and_sector(self, client: httpx.AsyncClient) -> None:
        items = await ok(client, "/guidance/key-items")
        assert {i["year"] for i in items} == {2026}
        assert len(items) == 10
        chemicals = await ok(client, "/guidance/key-items", sector="hazardous_chemicals")
        assert "KE-2026-05" in {i["code"] for i in chemicals}
        assert "KE-2026-06" not in {i["code"] for i in chemicals}
        assert await ok(client, "/guidance/key-items", year=2025) == []

    async def test_every_referenced_violation_exists(self, client: httpx.AsyncClient) -> None:
        for item in await ok(client, "/guidance/key-items"):
            for code in item["violation_codes"]:
                await ok(client, f"/guidance/violations/{code}")


class TestPublicAccess:
    @pytest.mark.parametrize("role", ["enterprise", "officer", "insurer"])
    async def test_any_caller_reads_the_same(
        self, client: httpx.AsyncClient, issuer: DevIssuer, role: str
    ) -> None:
        anonymous = await ok(client, "/guidance/violations", limit=5)
        r = await client.get(
            "/guidance/violations", params={"limit": 5}, headers=bearer(issuer, role)
        )
        assert r.json() == anonymous

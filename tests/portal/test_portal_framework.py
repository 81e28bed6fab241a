"""The portal framework on the gateway: caching, ETag/304, headers, and HTML error pages
(never JSON, never a trace) for unknown pages, malformed input and services that are down."""

from __future__ import annotations

import re

import httpx

from gateway.main import create_app
from gateway.portal import install_portal, page_routers
from gateway.portal.rendering import PORTAL_CSP, zh_date, zh_datetime, zh_number, zh_percent
from tests.gateway.support import gateway_settings
from tests.portal.conftest import PortalStack
from tests.support import free_port

HTML = "text/html; charset=utf-8"


def assert_page(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == HTML
    assert response.headers["content-language"] == "zh-CN"
    text = response.text
    assert text.startswith('<!doctype html>\n<html lang="zh-CN">')
    assert text.count("<h1") == 1
    # Nothing of a trace or an API problem document ever reaches a page.
    assert "Traceback" not in text
    assert '"status":' not in text
    return text


class TestFilters:
    def test_dates_numbers_and_percentages_read_as_in_chinese(self) -> None:
        assert zh_date("2026-12-07") == "2026年12月7日"
        # 17:30 UTC is already the next day in Beijing.
        assert zh_date("2026-12-07T17:30:00Z") == "2026年12月8日"
        assert zh_datetime("2026-12-07T06:05:00+00:00") == "2026年12月7日 14:05"
        assert zh_date(None) == "—"
        assert zh_number(1234567) == "1,234,567"
        assert zh_number("200000.00", 2) == "200,000.00"
        assert zh_percent(0.9531) == "95.3%"


class TestPages:
    async def test_home_page_is_cached_and_revalidated(self, portal_stack: PortalStack) -> None:
        r = await portal_stack.portal.get("/portal/")
        text = assert_page(r, 200)
        assert r.headers["cache-control"] == "public, max-age=300"
        assert "页面生成时间" in text
        etag = r.headers["etag"]
        again = await portal_stack.portal.get("/portal/", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        weak = await portal_stack.portal.get("/portal/", headers={"If-None-Match": f"W/{etag}"})
        assert weak.status_code == 304
        other = await portal_stack.portal.get("/portal/", headers={"If-None-Match": '"other"'})
        assert other.status_code == 200

    async def test_pages_carry_the_portal_csp(self, portal_stack: PortalStack) -> None:
        r = await portal_stack.portal.get("/portal/")
        assert r.headers["content-security-policy"] == PORTAL_CSP
        assert r.headers["x-frame-options"] == "DENY"
        # No inline script or style the policy would block.
        assert "<script>" not in r.text
        assert "style=" not in r.text
        assert "<style" not in r.text

    async def test_root_leads_to_the_portal(self, portal_stack: PortalStack) -> None:
        for path in ("/", "/portal"):
            r = await portal_stack.portal.get(path)
            assert r.status_code == 307
            assert r.headers["location"] == "/portal/"

    async def test_static_files_are_versioned_and_cached_for_good(
        self, portal_stack: PortalStack
    ) -> None:
        home = (await portal_stack.portal.get("/portal/")).text
        href = re.search(r'href="(/portal/static/portal\.css\?v=[0-9a-f]{12})"', home)
        assert href is not None
        css = await portal_stack.portal.get(href.group(1))
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert len(css.content) < 15_000

    async def test_every_section_is_in_the_navigation(self, portal_stack: PortalStack) -> None:
        home = (await portal_stack.portal.get("/portal/")).text
        for path in (
            "licences/verify",
            "credit/red",
            "credit/black",
            "credit/penalties",
            "inspections",
            "insurers",
            "measures",
            "permits/items",
            "guidance",
            "approvers",
        ):
            assert f'href="/portal/{path}"' in home, path

    async def test_pages_are_not_in_the_api_document(self, portal_stack: PortalStack) -> None:
        spec = portal_stack.gateway.openapi()
        assert not [p for p in spec["paths"] if p.startswith("/portal")]
        assert page_routers()


class TestErrorPages:
    async def test_unknown_page_is_a_404_page(self, portal_stack: PortalStack) -> None:
        r = await portal_stack.portal.get("/portal/no/such/page")
        text = assert_page(r, 404)
        assert "页面不存在" in text
        assert r.headers["cache-control"] == "no-store"

    async def test_writing_to_a_page_is_refused_with_a_page(
        self, portal_stack: PortalStack
    ) -> None:
        text = assert_page(await portal_stack.portal.post("/portal/credit/red"), 405)
        assert "只能浏览" in text

    async def test_the_api_keeps_its_problem_documents(self, portal_stack: PortalStack) -> None:
        r = await portal_stack.portal.get("/api/permits/items/QD-XX-999")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"

    async def test_a_service_that_is_down_gives_a_503_page(self, portal_stack: PortalStack) -> None:
        # A gateway like the stack's, but with credit pointing at a port nobody listens on.
        settings = gateway_settings(
            {
                **{n: s.url for n, s in portal_stack.services.items()},
                "credit": f"http://127.0.0.1:{free_port()}",
            },
            auth=portal_stack.gateway.state.settings.auth,
            database_url=portal_stack.gateway.state.settings.database_url,
            retries=0,
        )
        gateway = create_app(settings)
        install_portal(gateway)
        async with gateway.router.lifespan_context(gateway):
            transport = httpx.ASGITransport(app=gateway, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as c:
                r = await c.get("/portal/credit/red")
        text = assert_page(r, 503)
        assert "暂时无法获取数据，请稍后再试" in text
        assert r.headers["retry-after"] == "30"
        assert r.headers["cache-control"] == "no-store"
        assert "127.0.0.1" not in text
        assert "ClientConnectorError" not in text

"""Guidance, the permit catalogue with its service guides, and the approvers' phones, read
from the real inspection and permits services (their seeded catalogues) through the gateway."""

from __future__ import annotations

import re

from tests.portal.conftest import PortalStack
from tests.portal.test_portal_framework import assert_page


async def test_guidance_lists(portal_stack: PortalStack) -> None:
    r = await portal_stack.portal.get("/portal/guidance")
    text = assert_page(r, 200)
    categories = await portal_stack["inspection"].client.get("/guidance/violations/categories")
    total = sum(c["items"] for c in categories.json())
    assert f"共 {total:,} 项" in text
    first = (await portal_stack["inspection"].client.get("/guidance/violations")).json()["items"][0]
    assert first["title"] in text
    assert first["code"] in text
    for h in (await portal_stack["inspection"].client.get("/guidance/hazardous-work")).json():
        assert h["name"] in text
    for w in (await portal_stack["inspection"].client.get("/guidance/flexible-workers")).json():
        assert w["title"] in text
    assert '<th scope="col">违法行为</th>' in text
    assert r.headers["cache-control"] == "public, max-age=600"


async def test_guidance_search_and_pages(portal_stack: PortalStack) -> None:
    first = assert_page(await portal_stack.portal.get("/portal/guidance"), 200)
    nxt = re.search(r'<a rel="next" href="([^"]+)">', first)
    assert nxt is not None  # 131 items, 50 a page
    second = assert_page(await portal_stack.portal.get(nxt.group(1).replace("&amp;", "&")), 200)
    codes = set(re.findall(r'<th scope="row">(CV-\d+)</th>', first))
    assert codes
    assert codes.isdisjoint(re.findall(r'<th scope="row">(CV-\d+)</th>', second))
    word = "动火"
    found = assert_page(await portal_stack.portal.get("/portal/guidance", params={"q": word}), 200)
    api = await portal_stack["inspection"].client.get("/guidance/violations", params={"q": word})
    rows = re.findall(r'<th scope="row">(CV-\d+)</th>', found)
    assert rows
    assert rows == [v["code"] for v in api.json()["items"]]
    assert f'value="{word}"' in found
    long = assert_page(
        await portal_stack.portal.get("/portal/guidance", params={"q": "长" * 101}), 400
    )
    assert "查询内容最长100个字符" in long


async def test_catalogue_and_service_guides(portal_stack: PortalStack) -> None:
    items = (await portal_stack["permits"].client.get("/items", params={"limit": 200})).json()
    items = items["items"]
    text = assert_page(await portal_stack.portal.get("/portal/permits/items"), 200)
    assert f"许可事项目录（{len(items)}项）" in text
    for item in items:
        assert f'href="/portal/permits/items/{item["code"]}"' in text
    item = items[0]
    page = assert_page(await portal_stack.portal.get(f"/portal/permits/items/{item['code']}"), 200)
    assert f"<h1>{item['name']}</h1>" in page
    assert item["contact_phone"] in page
    assert item["department"] in page
    for material in item["materials"]:
        assert material["name"] in page
    first_line = next(line for line in item["service_guide"].split("\n") if line.strip())
    assert first_line.strip() in page


async def test_unknown_and_malformed_item_codes(portal_stack: PortalStack) -> None:
    assert "没有找到" in assert_page(
        await portal_stack.portal.get("/portal/permits/items/QD-AJ-999"), 404
    )
    text = assert_page(await portal_stack.portal.get("/portal/permits/items/not-a-code"), 404)
    assert "事项编码应形如 QD-AJ-003" in text


async def test_approvers_phones(portal_stack: PortalStack) -> None:
    items = (await portal_stack["permits"].client.get("/items", params={"limit": 200})).json()
    text = assert_page(await portal_stack.portal.get("/portal/approvers"), 200)
    for item in items["items"]:
        assert f'<a href="tel:{item["contact_phone"]}">{item["contact_phone"]}</a>' in text
        assert item["department"] in text
    phones = {i["contact_phone"] for i in items["items"]}
    # One row per department and phone, each listing the items it serves.
    assert text.count('<a href="tel:') == len(
        {(i["department"], i["contact_phone"]) for i in items["items"]}
    )
    assert len(phones) > 1

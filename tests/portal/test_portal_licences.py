"""Licence verification on the portal: the page a licence's QR code opens, with real permits
behind the gateway; valid, revoked, suspended, forged and unknown licences."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from kernel.uscc import make_uscc
from tests.permits.unit.test_qr import decode_matrix, png_to_matrix
from tests.portal.conftest import PortalStack
from tests.portal.test_portal_framework import assert_page

USCC = make_uscc(5101)
NAME = "青岛港湾危化储运有限公司"
INSTANT = "QD-AJ-003"


async def issue(stack: PortalStack) -> dict[str, Any]:
    """A licence granted at once to an enterprise applying for an instant item."""
    r = await stack["permits"].client.post(
        "/applications",
        json={"item_code": INSTANT, "enterprise_name": NAME},
        headers=stack.as_("enterprise", USCC),
    )
    assert r.status_code == 201, r.text
    licence: dict[str, Any] = r.json()["licence"]
    return licence


async def set_status(stack: PortalStack, number: str, status: str, reason: str) -> None:
    r = await stack["permits"].client.post(
        f"/licences/{number}/status",
        json={"status": status, "reason": reason},
        headers=stack.as_("leader", "leader-001"),
    )
    assert r.status_code == 200, r.text


async def scan(stack: PortalStack, number: str) -> httpx.Response:
    """Read the licence's QR code as a phone would, and open what it points at."""
    png = await stack.portal.get(f"/api/permits/licences/{number}/qr.png")
    assert png.status_code == 200
    target = urlsplit(decode_matrix(png_to_matrix(png.content, scale=8, border=4)))
    assert target.path == "/portal/licences/verify"
    return await stack.portal.get(f"{target.path}?{target.query}")


async def test_a_scanned_valid_licence_says_valid_with_its_particulars(
    portal_stack: PortalStack,
) -> None:
    licence = await issue(portal_stack)
    r = await scan(portal_stack, licence["number"])
    text = assert_page(r, 200)
    assert '核验结果：<span class="verdict">有效</span>' in text
    for shown in (licence["number"], NAME, USCC, licence["item_name"], licence["kid"]):
        assert shown in text
    assert "电子签名已用青岛市应急管理局公布的公钥核验通过" in text
    assert "查询证照状态清单" in text
    # A verification is live: nothing may keep an old answer.
    assert r.headers["cache-control"] == "no-store"
    # The credential itself is not the page's to show.
    assert licence["token"] not in text


async def test_after_revocation_the_same_code_says_revoked(portal_stack: PortalStack) -> None:
    licence = await issue(portal_stack)
    assert "有效</span>" in (await scan(portal_stack, licence["number"])).text
    await set_status(
        portal_stack, licence["number"], "revoked", "以欺骗手段取得许可 PRIVATE-REASON"
    )
    text = assert_page(await scan(portal_stack, licence["number"]), 200)
    assert "已撤销</span>" in text
    assert "发证机关已撤销该证照" in text
    # The bureau's reason is its own record, not the public's.
    assert "PRIVATE-REASON" not in text


async def test_suspended_licence(portal_stack: PortalStack) -> None:
    licence = await issue(portal_stack)
    await set_status(portal_stack, licence["number"], "suspended", "整改期间")
    r = await portal_stack.portal.get(
        "/portal/licences/verify", params={"licence": licence["number"]}
    )
    assert "已暂停</span>" in assert_page(r, 200)


async def test_a_forged_token_is_refused_and_its_claims_are_not_shown(
    portal_stack: PortalStack,
) -> None:
    licence = await issue(portal_stack)
    header, payload, signature = licence["token"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    r = await portal_stack.portal.get("/portal/licences/verify", params={"token": forged})
    text = assert_page(r, 200)
    assert "伪造或无法识别</span>" in text
    assert NAME not in text
    assert licence["number"] not in text


async def test_an_unknown_number_is_not_ours(portal_stack: PortalStack) -> None:
    r = await portal_stack.portal.get(
        "/portal/licences/verify", params={"licence": "QDAJ-1999-000001"}
    )
    text = assert_page(r, 404)
    assert "伪造或无法识别</span>" in text
    assert "本局没有签发过这张证照" in text
    # The form is there to try another number, with the one asked about in it.
    assert 'value="QDAJ-1999-000001"' in text


async def test_an_overlong_number_is_explained_and_kept(portal_stack: PortalStack) -> None:
    typed = "QDAJ-2026-" + "0" * 40
    r = await portal_stack.portal.get("/portal/licences/verify", params={"licence": typed})
    text = assert_page(r, 400)
    assert "证照编号最长40个字符，您输入了50个" in text
    assert f'value="{typed}"' in text
    assert 'aria-invalid="true"' in text


async def test_without_a_query_the_page_is_the_form(portal_stack: PortalStack) -> None:
    r = await portal_stack.portal.get("/portal/licences/verify")
    text = assert_page(r, 200)
    assert '<label for="licence">证照编号</label>' in text
    assert "核验结果：" not in text
    assert r.headers["cache-control"] == "public, max-age=3600"


async def test_markup_in_the_input_is_shown_as_text(portal_stack: PortalStack) -> None:
    r = await portal_stack.portal.get(
        "/portal/licences/verify", params={"licence": '"><script>alert(1)</script>'}
    )
    text = r.text
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;" in text


class TestInABrowser:
    """A phone opens what the QR code says, as a person scanning the licence would."""

    async def test_scan_valid_then_revoked(
        self, portal_stack: PortalStack, phone: Any, screenshots: Path
    ) -> None:
        licence = await issue(portal_stack)
        png = await portal_stack.portal.get(f"/api/permits/licences/{licence['number']}/qr.png")
        target = urlsplit(decode_matrix(png_to_matrix(png.content, scale=8, border=4)))
        # The code names the configured public host; this stack serves it elsewhere.
        opened = f"{portal_stack.url}{target.path}?{target.query}"
        refused: list[str] = []
        phone.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)

        await phone.goto(opened)
        verdict = phone.locator(".verdict")
        assert await verdict.inner_text() == "有效"
        assert await phone.locator("h1").inner_text() == "电子证照核验"
        # The stylesheet loaded under the page's CSP, and nothing is wider than the phone.
        brand = await phone.evaluate(
            "getComputedStyle(document.querySelector('header.site')).backgroundColor"
        )
        assert brand == "rgb(11, 79, 138)"
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
        await phone.screenshot(path=screenshots / "portal-licence-valid.png", full_page=True)

        await set_status(portal_stack, licence["number"], "revoked", "以欺骗手段取得许可")
        await phone.goto(opened)
        assert await verdict.inner_text() == "已撤销"
        await phone.screenshot(path=screenshots / "portal-licence-revoked.png", full_page=True)
        assert refused == []

    async def test_verify_by_number_with_the_form(
        self, portal_stack: PortalStack, phone: Any
    ) -> None:
        licence = await issue(portal_stack)
        await phone.goto(f"{portal_stack.url}/portal/")
        await phone.get_by_label("证照编号").fill(licence["number"])
        await phone.get_by_role("button", name="核验").click()
        await phone.wait_for_url("**/portal/licences/verify?licence=*")
        assert await phone.locator(".verdict").inner_text() == "有效"

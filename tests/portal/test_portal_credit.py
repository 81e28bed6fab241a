"""Credit publicity on the portal, with the real credit service behind the gateway: the red
and black lists and penalties (search, pages, history), an enterprise's page by its USCC with
every public record's dated history and repair status (repaired, revoked), malformed and
unknown codes, and nothing private on any of them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.portal import pages_credit
from kernel.uscc import make_uscc
from services.credit import public_history_router
from services.credit.dependencies import business_today
from tests.portal.conftest import PortalStack
from tests.portal.test_portal_framework import assert_page

USCC_A = make_uscc(6101)  # black-listed, with a penalty
USCC_B = make_uscc(6102)  # red-listed
USCC_C = make_uscc(6103)  # a second penalty, for the pages
USCC_D = make_uscc(6104)  # a penalty repaired, a black listing repaired then revoked
NOBODY = make_uscc(6199)
NAME_A = "青岛海湾化工有限公司"
NAME_B = "青岛北港物流有限公司"
NAME_C = "青岛东岸仓储有限公司"
NAME_D = "青岛南山机械有限公司"
SERVED = date(2026, 9, 30)
TODAY = date(2026, 10, 20)
# Values only the bureau's own records hold; none may ever appear on a public page.
PRIVATE = (
    "PRIVATE-FACTS-7731",
    "PRIVATE-GROUNDS-7732",
    "鲁AQBPRIVATE7733",
    "PRIVATE-STATEMENT-7734",
    "PRIVATE-CONTACT-7735",
    "PRIVATE-APPROVAL-7736",
    "PRIVATE-REVOCATION-7737",
)
# D's penalty facts: public while in publicity, withdrawn once its repair ended it.
ENDED_FACTS = "未按规定开展有限空间作业审批-7738"
HISTORY_ROUTE = "/public/enterprises/{uscc}/history"


@pytest.fixture(scope="module", autouse=True)
def credit_history_route(portal_stack: PortalStack) -> None:
    """Credit's public history route, until services/credit/main.py includes it."""
    app = portal_stack["credit"].app
    if not any(getattr(r, "path", None) == HISTORY_ROUTE for r in app.routes):
        app.include_router(public_history_router.router)


class Credit:
    def __init__(self, stack: PortalStack) -> None:
        self.stack = stack
        self.service = stack["credit"]

    def travel_to(self, day: date) -> None:
        self.service.app.dependency_overrides[business_today] = lambda: day

    async def ok(self, method: str, url: str, role: str, **kw: Any) -> Any:
        headers = self.stack.as_(role, f"{role}-001")
        r = await self.service.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def penalty(self, uscc: str, name: str, number: int) -> Any:
        self.travel_to(SERVED)
        body = {
            "uscc": uscc,
            "enterprise_name": name,
            "decision_number": f"青应急罚〔2026〕{number}号",
            "decided_on": SERVED.isoformat(),
            "legal_basis": "《中华人民共和国安全生产法》第九十九条",
            "violation_summary": "许可证被暂扣期间仍从事危险化学品经营",
            "fine_amount": "200000.00",
            "other_measures": None,
            "severity": "serious",
            "source": "inspection",
        }
        return await self.ok("POST", "/penalties", "officer", json=body)

    async def blacklist(self, uscc: str, name: str) -> Any:
        self.travel_to(SERVED)
        case = await self.ok(
            "POST",
            "/blacklist",
            "officer",
            json={
                "uscc": uscc,
                "enterprise_name": name,
                "criterion": "unlicensed_operation",
                "facts": f"危险化学品经营许可证被暂扣期间仍从事经营活动。{PRIVATE[0]}",
                "basis_record_ids": [],
            },
        )
        await self.ok("POST", f"/blacklist/{case['id']}/notice", "officer")
        self.travel_to(date(2026, 10, 14))
        return await self.ok(
            "POST",
            f"/blacklist/{case['id']}/decision",
            "leader",
            json={"outcome": "listed", "reason": None},
        )

    async def redlist(self, uscc: str, name: str) -> Any:
        self.travel_to(date(2026, 3, 12))
        entry = await self.ok(
            "POST",
            "/redlist",
            "officer",
            json={
                "uscc": uscc,
                "enterprise_name": name,
                "standardisation_level": 2,
                "standardisation_certificate": PRIVATE[2],
                "accident_free_attested": True,
                "joint_incentive": True,
                "grounds": f"连续三年安全生产标准化二级达标，无事故 {PRIVATE[1]}",
            },
        )
        return await self.ok(
            "POST", f"/redlist/{entry['id']}/decision", "leader", json={"outcome": "approved"}
        )

    async def repaired(self, uscc: str, kind: str, target_id: str, *, on: date) -> Any:
        """A repair applied for and approved on `on`, with private words in every field."""
        self.travel_to(on)
        r = await self.service.client.post(
            "/repairs",
            headers=self.stack.as_("enterprise", uscc),
            json={
                "target_kind": kind,
                "target_id": target_id,
                "contact_name": PRIVATE[4],
                "contact_phone": "0532-88886666",
                "statement": f"已全部整改。{PRIVATE[3]}",
                "evidence": [
                    {
                        "kind": "rectification_proof",
                        "title": "整改报告",
                        "document_sha256": "b" * 64,
                    }
                ],
                "commitment_signed": True,
            },
        )
        assert r.status_code == 201, r.text
        repair = r.json()
        self.travel_to(on + timedelta(days=1))
        return await self.ok(
            "POST",
            f"/repairs/{repair['id']}/decision",
            "officer",
            json={"outcome": "approved", "reason": PRIVATE[5]},
        )

    async def repaired_then_revoked(self) -> dict[str, Any]:
        """D: a general penalty repaired in June (out of publicity since), and a black listing
        of 2025 repaired a year on and then revoked (listed again)."""
        self.travel_to(date(2026, 3, 12))
        penalty = await self.ok(
            "POST",
            "/penalties",
            "officer",
            json={
                "uscc": USCC_D,
                "enterprise_name": NAME_D,
                "decision_number": "青应急罚〔2026〕14号",
                "decided_on": "2026-03-10",
                "legal_basis": "《工贸企业有限空间作业安全规定》第二十八条",
                "violation_summary": ENDED_FACTS,
                "fine_amount": "30000.00",
                "other_measures": None,
                "severity": "general",
                "source": "inspection",
            },
        )
        self.travel_to(date(2025, 6, 3))
        case = await self.ok(
            "POST",
            "/blacklist",
            "officer",
            json={
                "uscc": USCC_D,
                "enterprise_name": NAME_D,
                "criterion": "unlicensed_operation",
                "facts": f"许可证被暂扣期间仍从事经营活动。{PRIVATE[0]}",
                "basis_record_ids": [],
            },
        )
        await self.ok("POST", f"/blacklist/{case['id']}/notice", "officer")
        self.travel_to(date(2025, 6, 30))
        listed = await self.ok(
            "POST",
            f"/blacklist/{case['id']}/decision",
            "leader",
            json={"outcome": "listed", "reason": None},
        )
        penalty_repair = await self.repaired(USCC_D, "record", penalty["id"], on=date(2026, 6, 11))
        early = date.fromisoformat(listed["early_removal_on"])
        listing_repair = await self.repaired(USCC_D, "blacklist", case["id"], on=early)
        self.travel_to(early + timedelta(days=5))
        await self.ok(
            "POST",
            f"/repairs/{listing_repair['id']}/revocation",
            "leader",
            json={"reason": PRIVATE[6]},
        )
        return {
            "penalty_d": penalty,
            "black_d": listed,
            "repair_d1": penalty_repair,
            "repair_d2": listing_repair,
        }


@pytest.fixture(scope="module")
async def seeded(portal_stack: PortalStack) -> AsyncIterator[dict[str, Any]]:
    credit = Credit(portal_stack)
    made = {
        "penalty_a": await credit.penalty(USCC_A, NAME_A, 12),
        "penalty_c": await credit.penalty(USCC_C, NAME_C, 13),
        "black": await credit.blacklist(USCC_A, NAME_A),
        "red": await credit.redlist(USCC_B, NAME_B),
    }
    made.update(await credit.repaired_then_revoked())
    credit.travel_to(TODAY)
    yield made
    credit.service.app.dependency_overrides.pop(business_today, None)


def assert_public_only(text: str, seeded: dict[str, Any]) -> None:
    for marker in PRIVATE:
        assert marker not in text
    # Internal record ids are the bureau's handles, not public information.
    for record in seeded.values():
        assert record["id"] not in text


async def test_red_list(portal_stack: PortalStack, seeded: dict[str, Any]) -> None:
    text = assert_page(await portal_stack.portal.get("/portal/credit/red"), 200)
    assert NAME_B in text
    assert USCC_B in text
    assert "2级" in text
    assert "2026年3月12日" in text
    assert "列入名单" in text  # the dated history
    assert f'href="/portal/credit/{USCC_B}"' in text
    assert NAME_A not in text
    assert_public_only(text, seeded)


async def test_black_list(portal_stack: PortalStack, seeded: dict[str, Any]) -> None:
    text = assert_page(await portal_stack.portal.get("/portal/credit/black"), 200)
    assert NAME_A in text
    assert USCC_A in text
    assert "未依法取得安全生产相关许可或者许可被暂扣、吊销期间从事相关生产经营活动" in text
    assert "2026年10月14日 列入名单" in text
    assert "公示中" in text
    assert_public_only(text, seeded)


async def test_penalties_with_repair_status(
    portal_stack: PortalStack, seeded: dict[str, Any]
) -> None:
    text = assert_page(await portal_stack.portal.get("/portal/credit/penalties"), 200)
    assert "青应急罚〔2026〕12号" in text
    assert "青应急罚〔2026〕13号" in text
    assert "罚款 200,000.00 元" in text
    repair_on = seeded["penalty_a"]["repair_eligible_on"]
    y, m, d = (int(p) for p in repair_on.split("-"))
    assert f"{y}年{m}月{d}日起可申请信用修复" in text
    assert_public_only(text, seeded)


async def test_search_by_name_and_by_code(
    portal_stack: PortalStack, seeded: dict[str, Any]
) -> None:
    by_name = (await portal_stack.portal.get("/portal/credit/penalties", params={"q": "东岸"})).text
    assert NAME_C in by_name
    assert NAME_A not in by_name
    assert 'value="东岸"' in by_name
    by_code = (await portal_stack.portal.get("/portal/credit/penalties", params={"q": USCC_A})).text
    assert NAME_A in by_code
    assert NAME_C not in by_code
    none = assert_page(
        await portal_stack.portal.get("/portal/credit/black", params={"q": "不存在的公司"}), 200
    )
    assert "没有找到与“不存在的公司”相符的公示信息" in none


async def test_pages_follow_the_cursor(
    portal_stack: PortalStack, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_credit, "PAGE_SIZE", 1)
    first = assert_page(await portal_stack.portal.get("/portal/credit/penalties"), 200)
    assert first.count("处罚决定书文号") == 1
    link = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert link is not None
    second = assert_page(await portal_stack.portal.get(html.unescape(link.group(1))), 200)
    assert second.count("处罚决定书文号") == 1
    numbers = {"青应急罚〔2026〕12号", "青应急罚〔2026〕13号"}
    seen = {n for n in numbers if n in first} | {n for n in numbers if n in second}
    assert seen == numbers
    assert 'rel="next"' not in second
    assert "回到第一页" in second


async def test_an_enterprise_page(portal_stack: PortalStack, seeded: dict[str, Any]) -> None:
    text = assert_page(await portal_stack.portal.get(f"/portal/credit/{USCC_A}"), 200)
    assert f"<h1>{NAME_A}" in text
    assert "当前信用状况：列入严重失信主体名单" in text
    assert "青应急罚〔2026〕12号" in text
    assert "青应急罚〔2026〕13号" not in text
    # In publicity: the decision's particulars, and when a repair may be applied for.
    assert "许可证被暂扣期间仍从事危险化学品经营" in text
    assert "罚款 200,000.00 元" in text
    assert "起可申请信用修复" in text
    assert "2026年10月14日</time> 列入名单" in text
    assert_public_only(text, seeded)
    red = assert_page(await portal_stack.portal.get(f"/portal/credit/{USCC_B}"), 200)
    assert "当前信用状况：列入守信红名单" in red
    assert_public_only(red, seeded)


async def test_an_enterprise_page_dates_every_step_and_each_repair(
    portal_stack: PortalStack, seeded: dict[str, Any]
) -> None:
    text = assert_page(await portal_stack.portal.get(f"/portal/credit/{USCC_D}"), 200)
    assert f"<h1>{NAME_D}" in text
    assert "当前信用状况：列入严重失信主体名单" in text
    # The repaired penalty: announced with its number and dates, its particulars withdrawn.
    penalty = text[text.index("行政处罚 青应急罚〔2026〕14号") :]
    penalty = penalty[: penalty.index("</ol>")]
    assert '<span class="badge badge-ok">已修复</span>' in penalty
    assert "2026年6月12日修复通过，停止公示" in penalty
    assert "公示期</dt><dd>2026年3月12日 至" in penalty
    assert "停止公示</dt><dd>2026年6月12日" in penalty
    assert ENDED_FACTS not in text
    assert "30,000.00" not in text
    # The black listing: repaired a year on, the repair revoked, listed again.
    black = text[text.index("严重失信主体名单（黑名单） <span") :]
    black = black[: black.index("</ol>")]
    assert '<span class="badge badge-bad">列入中</span>' in black
    assert "修复已撤销" in black
    assert "2026年7月2日修复通过，2026年7月6日依法撤销，恢复原状态" in black
    steps = re.findall(r'<time datetime="([0-9-]+)">[^<]+</time> ([^：<]+)', black)
    assert steps == [
        ("2025-06-30", "列入名单"),
        ("2026-07-02", "信用修复后移出"),
        ("2026-07-06", "信用修复撤销，恢复原状态"),
    ]
    # The whole timeline, oldest first, each step naming its record.
    table = text[text.index("<table>") : text.index("</table>")]
    rows = re.findall(
        r'<tr><td><time datetime="([0-9-]+)">[^<]+</time></td><td>([^<]+)</td>', table
    )
    assert [day for day, _ in rows] == sorted(day for day, _ in rows)
    assert ("2026-03-12", "行政处罚 青应急罚〔2026〕14号") in rows
    assert ("2026-06-12", "行政处罚 青应急罚〔2026〕14号") in rows
    assert ("2026-07-06", "严重失信主体名单（黑名单）") in rows
    assert "<caption>" in table
    assert 'scope="col"' in table
    assert_public_only(text, seeded)


async def test_the_black_list_shows_a_revoked_repair(
    portal_stack: PortalStack, seeded: dict[str, Any]
) -> None:
    r = await portal_stack.portal.get("/portal/credit/black", params={"q": USCC_D})
    text = assert_page(r, 200)
    assert NAME_D in text
    assert "信用修复已依法撤销，恢复列入" in text
    assert f'<a href="/portal/credit/{USCC_D}">查看全部信用记录</a>' in text
    assert_public_only(text, seeded)


async def test_the_home_search_goes_to_the_right_page(portal_stack: PortalStack) -> None:
    r = await portal_stack.portal.get("/portal/credit/search", params={"q": USCC_A.lower()})
    assert r.status_code == 303
    assert r.headers["location"] == f"/portal/credit/{USCC_A}"
    r = await portal_stack.portal.get(
        "/portal/credit/search", params={"q": "海湾", "list": "black"}
    )
    assert r.headers["location"] == "/portal/credit/black?q=%E6%B5%B7%E6%B9%BE"


async def test_unknown_code_is_a_helpful_404(
    portal_stack: PortalStack, seeded: dict[str, Any]
) -> None:
    text = assert_page(await portal_stack.portal.get(f"/portal/credit/{NOBODY}"), 404)
    assert "没有查到该代码的信用公示信息" in text
    assert "与营业执照核对" in text


@pytest.mark.parametrize(
    ("typed", "explained"),
    [
        (USCC_A[:-1] + ("0" if USCC_A[-1] != "0" else "1"), "第18位是校验码，按前17位计算应为"),
        (USCC_A[:10], "由18位数字或大写英文字母组成，您输入的是10位"),
        (USCC_A[:2] + "AB" + USCC_A[4:], "第3至8位是行政区划代码，只能是数字"),
        (USCC_A[:12] + "O" + USCC_A[13:], "第13位的字符不能用于统一社会信用代码"),
    ],
)
async def test_a_malformed_code_explains_the_rule(
    portal_stack: PortalStack, typed: str, explained: str
) -> None:
    text = assert_page(await portal_stack.portal.get(f"/portal/credit/{typed}"), 400)
    assert explained in text
    assert f'value="{typed}"' in text
    if len(typed) == 18:
        # An 18-character search is meant as a code: the list page explains the same rule
        # and keeps the input in its form.
        r = await portal_stack.portal.get("/portal/credit/penalties", params={"q": typed})
        listed = assert_page(r, 400)
        assert explained in listed
        assert f'value="{typed}"' in listed


async def test_search_a_list_on_a_phone(
    portal_stack: PortalStack, seeded: dict[str, Any], phone: Any, screenshots: Path
) -> None:
    await phone.goto(f"{portal_stack.url}/portal/credit/penalties")
    await phone.get_by_label("企业名称或统一社会信用代码").fill("东岸")
    await phone.get_by_role("button", name="查询").click()
    await phone.wait_for_url("**/portal/credit/penalties?q=*")
    names = await phone.locator(".entries h2").all_inner_texts()
    assert names == [NAME_C]
    await phone.screenshot(path=screenshots / "portal-credit-search.png", full_page=True)
    # From the entry to the enterprise's page, by its link.
    await phone.get_by_role("link", name=NAME_C).click()
    await phone.wait_for_url(f"**/portal/credit/{USCC_C}")
    assert NAME_C in await phone.locator("h1").inner_text()


async def test_the_navigation_folds_on_a_phone_and_unfolds_on_a_wide_screen(
    portal_stack: PortalStack, seeded: dict[str, Any], phone: Any, browser: Any, screenshots: Path
) -> None:
    await phone.goto(f"{portal_stack.url}/portal/credit/red")
    nav = phone.get_by_role("navigation", name="主导航")
    menu = nav.locator("summary")
    assert (await menu.inner_text()).startswith("栏目：红名单")
    # Folded: one button high, every section behind it.
    assert not await nav.get_by_role("link", name="黑名单").is_visible()
    header = await phone.locator("header.site").bounding_box()
    assert header is not None
    assert header["height"] < 160
    # Keyboard: the skip link, the home link, then 栏目; Enter unfolds it.
    for _ in range(3):
        await phone.keyboard.press("Tab")
    assert await menu.evaluate("e => e === document.activeElement")
    await phone.keyboard.press("Enter")
    link = nav.get_by_role("link", name="黑名单")
    assert await link.is_visible()
    await phone.screenshot(path=screenshots / "portal-nav-phone-open.png")
    await link.click()
    await phone.wait_for_url("**/portal/credit/black")

    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        wide = await context.new_page()
        await wide.goto(f"{portal_stack.url}/portal/credit/red")
        nav = wide.get_by_role("navigation", name="主导航")
        assert not await nav.locator("summary").is_visible()
        links = nav.get_by_role("link")
        assert await links.count() == 10
        tops = {round((await links.nth(i).bounding_box() or {"y": -1})["y"]) for i in range(10)}
        assert len(tops) == 1  # one row
        await wide.screenshot(path=screenshots / "portal-nav-wide.png")
    finally:
        await context.close()


async def test_an_enterprise_history_on_a_phone(
    portal_stack: PortalStack, seeded: dict[str, Any], phone: Any, screenshots: Path
) -> None:
    await phone.goto(f"{portal_stack.url}/portal/credit/{USCC_D}")
    assert NAME_D in await phone.locator("h1").inner_text()
    assert await phone.get_by_text("已修复", exact=True).first.is_visible()
    # The timeline is folded until asked for, then readable without scrolling sideways.
    table = phone.get_by_role("table")
    assert not await table.is_visible()
    await phone.get_by_text("按日期先后查看全部").click()
    assert await table.is_visible()
    box = await table.bounding_box()
    assert box is not None
    assert box["width"] <= 390
    await phone.screenshot(path=screenshots / "portal-credit-history.png", full_page=True)

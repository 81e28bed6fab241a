"""Every portal page in real headless Chromium on a phone: data made through the services'
APIs (as the bureau, the insurers and the enterprises would; the approved yearly plan and the
insurers' schedules stored as their own workflows leave them, as test_portal_inspections and
test_portal_insurers do), then each page opened at
390x844 and held to the portal's bar - one h1, zh-CN, nothing wider than the phone, a name for
every control and image, no console error, no CSP violation, no failed request - with a
full-page screenshot of each. Plus the QR codes of a valid and a revoked licence, a list
search, the draw recomputed in the page and on the server without JavaScript, and reading
with JavaScript off."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway.portal.pages_inspections import portal_today
from services.inspection.dependencies import business_today as inspection_today
from services.inspection.draws_router import draw_today
from services.insurance.dependencies import business_now as insurance_now
from services.insurance.dependencies import business_today as insurance_today
from tests.insurance.api.test_supervision import obligation, policy
from tests.permits.unit.test_qr import decode_matrix, png_to_matrix
from tests.portal.conftest import PHONE, PortalStack
from tests.portal.test_portal_credit import (
    NAME_A,
    NAME_B,
    NAME_C,
    USCC_A,
    USCC_B,
    USCC_C,
    USCC_D,
    Credit,
)
from tests.portal.test_portal_inspections import FEB_TODAY, PLANNED, _seed_plan
from tests.portal.test_portal_insurers import insert
from tests.portal.test_portal_licences import issue, set_status
from tests.support.seed import seed_insurer

TODAY = FEB_TODAY  # 12 February 2027: February's draw revealed, March's committed
PICC = "PICC-QD"
PICC_NAME = "中国人民财产保险青岛分公司"
INSTANT_ITEM = "QD-AJ-003"


@dataclass
class Site:
    """The running portal with its data: what the pages are expected to show."""

    stack: PortalStack
    valid_qr: str = ""
    revoked_qr: str = ""
    valid_number: str = ""
    drawn: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.stack.url}{path}"


async def _ok(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text
    return r.json()


async def _qr_target(stack: PortalStack, number: str) -> str:
    """What a phone's camera opens for this licence's QR code, on this stack's host."""
    png = await stack.portal.get(f"/api/permits/licences/{number}/qr.png")
    assert png.status_code == 200
    target = urlsplit(decode_matrix(png_to_matrix(png.content, scale=8, border=4)))
    assert target.path == "/portal/licences/verify"
    return f"{target.path}?{target.query}"


async def _draws(stack: PortalStack) -> list[str]:
    """The yearly plan as approval leaves it, the inspectors, and two monthly draws through
    the inspection API: February committed and revealed, March committed."""
    inspection = stack["inspection"]
    await _seed_plan(inspection.app.state.runtime)
    officer = stack.as_("officer", "officer-001")
    leader = stack.as_("leader", "leader-001")
    for i, name in enumerate(["王建国", "李明", "张伟", "刘洋"]):
        body = {
            "name": name,
            "subject": f"officer-{i}",
            "district": "市北区",
            "sectors": ["trade"],
            "conflicts": [],
            "monthly_cap": 10,
        }
        await _ok(await inspection.client.post("/inspectors", json=body, headers=officer))

    def on(day: date) -> None:
        inspection.app.dependency_overrides[draw_today] = lambda: day

    def source(day: str, round_: str) -> dict[str, Any]:
        return {"name": "中国福利彩票双色球", "round": round_, "expected_on": day}

    on(date(2027, 1, 10))
    body = {"count": 4, "source": source("2027-01-15", "2027-015")}
    await _ok(await inspection.client.post("/draws/2027/2", json=body, headers=officer))
    on(date(2027, 1, 16))
    value = {"public_value": "03 07 12 19 25 31 + 09"}
    await _ok(await inspection.client.post("/draws/2027/2/reveal", json=value, headers=leader))
    on(date(2027, 2, 10))
    body = {"count": 3, "source": source("2027-02-14", "2027-017")}
    await _ok(await inspection.client.post("/draws/2027/3", json=body, headers=officer))
    on(TODAY)
    doc = await _ok(await inspection.client.get("/draws/2027/2"))
    return [e["uscc"] for e in doc["listed"] if e["kind"] == "drawn"]


async def _insurers(stack: PortalStack) -> None:
    """Two insurers, a policy each, and their 6+3 schedules this year: on time, late, overdue."""
    runtime = stack["insurance"].app.state.runtime
    await seed_insurer(runtime, PICC, PICC_NAME)
    await seed_insurer(runtime, "PAIC-QD", "平安财产保险青岛分公司")
    p1 = policy(9301, PICC, starts_on=date(2027, 1, 1))
    p2 = policy(9302, "PAIC-QD", starts_on=date(2027, 1, 1))
    d = date
    await insert(
        runtime,
        p1,
        p2,
        obligation(p1, "risk_assessment", d(2027, 1, 20), status="verified",
                   delivered_on=d(2027, 1, 18)),
        obligation(p1, "key_check", d(2027, 2, 5), status="delivered",
                   delivered_on=d(2027, 2, 8)),  # late
        obligation(p1, "key_check", d(2027, 2, 10), seq=2),  # overdue
        obligation(p2, "hazard_assistance", d(2027, 2, 1), status="delivered",
                   delivered_on=d(2027, 1, 28)),
    )  # fmt: skip


@pytest.fixture(scope="module")
async def site(portal_stack: PortalStack) -> Site:
    """One set of data for every page, made once: credit records with their history and a
    revoked repair, two licences (one revoked), the monthly draws, the insurers' schedules;
    then every service and the portal on the same business day."""
    s = portal_stack
    credit = Credit(s)
    await credit.penalty(USCC_A, NAME_A, 12)
    await credit.penalty(USCC_C, NAME_C, 13)
    await credit.blacklist(USCC_A, NAME_A)
    await credit.redlist(USCC_B, NAME_B)
    await credit.repaired_then_revoked()

    valid = await issue(s)
    revoked = await issue(s)
    await set_status(s, revoked["number"], "revoked", "以欺骗手段取得许可")

    drawn = await _draws(s)
    await _insurers(s)

    credit.travel_to(TODAY)
    s["inspection"].app.dependency_overrides[inspection_today] = lambda: TODAY
    s["insurance"].app.dependency_overrides[insurance_today] = lambda: TODAY
    s["insurance"].app.dependency_overrides[insurance_now] = lambda: datetime.combine(
        TODAY, time(2), UTC
    )
    s.gateway.dependency_overrides[portal_today] = lambda: TODAY
    return Site(
        s,
        valid_qr=await _qr_target(s, valid["number"]),
        revoked_qr=await _qr_target(s, revoked["number"]),
        valid_number=valid["number"],
        drawn=drawn,
    )


# Runs in the page: the accessibility facts a phone user depends on, as data to assert on.
AUDIT = """() => {
  const text = (el) => (el ? el.textContent.replace(/\\s+/g, " ").trim() : "");
  const byIds = (ids) =>
    ids.split(/\\s+/).map((id) => text(document.getElementById(id))).join(" ").trim();
  const hidden = (el) => el.closest("[hidden], [aria-hidden='true']") !== null;
  const nameOf = (el) => {
    if (el.getAttribute("aria-labelledby")) return byIds(el.getAttribute("aria-labelledby"));
    if (el.getAttribute("aria-label")) return el.getAttribute("aria-label").trim();
    const labels = el.labels ? Array.from(el.labels).map(text).join(" ").trim() : "";
    if (labels) return labels;
    if (el.tagName === "BUTTON") return text(el);
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) return el.value;
    if (el.tagName === "IMG") return (el.getAttribute("alt") || "").trim();
    if (el.tagName.toLowerCase() === "svg") return text(el.querySelector(":scope > title"));
    return (el.getAttribute("title") || "").trim();
  };
  const controls = Array.from(document.querySelectorAll(
    "input:not([type=hidden]), select, textarea, button"));
  const images = Array.from(document.querySelectorAll("img, svg[role=img], [role=img]"));
  return {
    lang: document.documentElement.lang,
    h1: document.querySelectorAll("h1").length,
    scrollWidth: document.scrollingElement.scrollWidth,
    innerWidth: window.innerWidth,
    unnamedControls: controls.filter((el) => !nameOf(el)).map((el) => el.outerHTML.slice(0, 120)),
    unnamedImages: images.filter((el) => !hidden(el) && el.getAttribute("role") !== "presentation"
      && !nameOf(el)).map((el) => el.outerHTML.slice(0, 120)),
    tablesWithoutCaption: Array.from(document.querySelectorAll("table"))
      .filter((t) => !text(t.querySelector("caption")) && !nameOf(t)).length,
    landmarks: ["header", "nav", "main", "footer"].filter((s) => document.querySelector(s)).length,
    cssLoaded: getComputedStyle(document.querySelector("header.site")).backgroundColor
      === "rgb(11, 79, 138)",
    csp: window.__cspViolations || [],
  };
}"""

# Before any page script: keep every CSP violation the browser reports.
WATCH_CSP = """window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});"""


@dataclass
class Opened:
    """A page as the phone showed it, and everything that went wrong while loading it."""

    audit: dict[str, Any]
    problems: list[str]


def watch(page: Any) -> list[str]:
    """Console errors (Chromium reports CSP refusals there too), uncaught exceptions, failed
    requests and error responses, as they happen."""
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    return problems


async def open_page(page: Any, url: str) -> Opened:
    await page.add_init_script(WATCH_CSP)
    problems = watch(page)
    response = await page.goto(url, wait_until="load")
    assert response is not None
    assert response.status == 200, f"{url}: HTTP {response.status}"
    audit: dict[str, Any] = await page.evaluate(AUDIT)
    return Opened(audit, problems)


def assert_accessible(opened: Opened, where: str) -> None:
    audit = opened.audit
    assert audit["lang"] == "zh-CN", where
    assert audit["h1"] == 1, where
    assert audit["scrollWidth"] <= audit["innerWidth"], f"{where}: scrolls sideways"
    assert audit["unnamedControls"] == [], where
    assert audit["unnamedImages"] == [], where
    assert audit["tablesWithoutCaption"] == 0, where
    assert audit["landmarks"] == 4, where
    assert audit["cssLoaded"], f"{where}: the stylesheet did not apply"
    assert audit["csp"] == [], where
    assert opened.problems == [], where


LEAKS = ("object at 0x", "built-in method", "Undefined", "None", "[]", "{}")

# name (the screenshot's), path, and text the page must show (its data, not only its frame).
PAGES: list[tuple[str, str, str]] = [
    ("home", "/portal/", "证照编号"),
    ("licence-form", "/portal/licences/verify", "证照编号"),
    ("licence-qr-valid", "{valid_qr}", "有效"),
    ("licence-qr-revoked", "{revoked_qr}", "已撤销"),
    ("credit-red", "/portal/credit/red", NAME_B),
    ("credit-black", "/portal/credit/black", NAME_A),
    ("credit-penalties", "/portal/credit/penalties", "青应急罚〔2026〕13号"),
    ("credit-enterprise", f"/portal/credit/{USCC_A}", NAME_A),
    ("credit-history", f"/portal/credit/{USCC_D}", "修复已撤销"),
    ("guidance", "/portal/guidance", "违法行为"),
    ("permit-items", "/portal/permits/items", INSTANT_ITEM),
    ("permit-item", f"/portal/permits/items/{INSTANT_ITEM}", "办理"),
    ("approvers", "/portal/approvers", "tel:"),
    ("inspections", "/portal/inspections", "2027年3月"),
    ("inspections-revealed", "/portal/inspections/2027-02", "青岛门户测试企业"),
    ("inspections-committed", "/portal/inspections/2027-03", "待揭晓"),
    ("inspections-check", "/portal/inspections/2027-02/check", "与公示结果一致"),
    ("insurers", "/portal/insurers", PICC_NAME),
    ("insurer", f"/portal/insurers/{PICC}", "逐月情况"),
    ("measures", "/portal/measures", "措施10"),
]


@pytest.mark.parametrize(("name", "path", "shows"), PAGES, ids=[p[0] for p in PAGES])
async def test_every_page_on_a_phone(
    site: Site, phone: Any, screenshots: Path, name: str, path: str, shows: str
) -> None:
    target = path.format(valid_qr=site.valid_qr, revoked_qr=site.revoked_qr)
    opened = await open_page(phone, site.url(target))
    assert shows in await phone.content(), name
    shown = await phone.locator("body").inner_text()
    # A template that reached a Python object instead of its value prints its repr.
    assert not [leak for leak in LEAKS if leak in shown], name
    assert_accessible(opened, name)
    await phone.screenshot(path=screenshots / f"portal-{name}.png", full_page=True)


async def test_qr_codes_of_a_valid_and_a_revoked_licence(site: Site, phone: Any) -> None:
    problems = watch(phone)
    await phone.goto(site.url(site.valid_qr))
    assert await phone.locator(".verdict").inner_text() == "有效"
    assert site.valid_number in await phone.locator("main").inner_text()
    await phone.goto(site.url(site.revoked_qr))
    assert await phone.locator(".verdict").inner_text() == "已撤销"
    assert "发证机关已撤销该证照" in await phone.locator("main").inner_text()
    assert problems == []


async def test_search_the_guidance_and_a_credit_list(site: Site, phone: Any) -> None:
    problems = watch(phone)
    await phone.goto(site.url("/portal/guidance"))
    await phone.get_by_label("关键词").fill("动火")
    await phone.get_by_role("button", name="查找").click()
    await phone.wait_for_url("**/portal/guidance?q=*")
    rows = await phone.locator("tbody th[scope=row]").all_inner_texts()
    assert rows
    assert all(code.startswith("CV-") for code in rows)
    assert "动火" in await phone.locator("tbody").inner_text()

    # The home page's credit search: a code goes straight to the enterprise's page.
    await phone.goto(site.url("/portal/"))
    await phone.get_by_label("企业名称或统一社会信用代码").fill(USCC_C)
    await phone.get_by_role("button", name="查询").click()
    await phone.wait_for_url(f"**/portal/credit/{USCC_C}")
    assert NAME_C in await phone.locator("h1").inner_text()
    assert problems == []


async def test_recompute_the_draw_in_the_page(site: Site, phone: Any, screenshots: Path) -> None:
    opened = await open_page(phone, site.url("/portal/inspections/2027-02"))
    shown = await phone.locator("[data-drawn-uscc]").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-drawn-uscc'))"
    )
    assert shown == site.drawn
    await phone.get_by_role("button", name="在本页重新计算").click()
    verdict = phone.locator("#drawcheck-result .verdict")
    await verdict.wait_for()
    assert await phone.locator("#drawcheck-result").get_attribute("aria-live") == "polite"
    assert await verdict.inner_text() == "本机重新计算完成：与公示结果一致。"
    checks = await phone.locator("#drawcheck-result li").all_inner_texts()
    assert len(checks) == 8  # seven steps and the list on this page
    assert all("：通过" in c for c in checks), checks
    await phone.locator("#drawcheck-result").scroll_into_view_if_needed()
    await phone.screenshot(path=screenshots / "portal-drawcheck-in-page.png", full_page=True)
    assert_accessible(opened, "drawcheck")


async def test_recompute_the_draw_on_the_server_without_javascript(
    site: Site, browser: Any, screenshots: Path
) -> None:
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, locale="zh-CN",
        java_script_enabled=False,
    )  # fmt: skip
    try:
        page = await context.new_page()
        problems = watch(page)
        await page.goto(site.url("/portal/inspections/2027-02"))
        # Without a script the in-page button stays hidden; the server's check is the way.
        assert not await page.get_by_role("button", name="在本页重新计算").is_visible()
        await page.get_by_role("link", name="在服务器上重新计算").click()
        await page.wait_for_url("**/portal/inspections/2027-02/check")
        assert (await page.locator(".verdict").inner_text()).strip() == "与公示结果一致"
        assert await page.locator("tbody .badge-bad").count() == 0
        for uscc in site.drawn:
            assert uscc in await page.locator("main").inner_text()
        await page.screenshot(path=screenshots / "portal-drawcheck-server.png", full_page=True)
        assert problems == []
    finally:
        await context.close()


@pytest.mark.parametrize(
    ("path", "shows"),
    [
        ("/portal/", "企业名称或统一社会信用代码"),
        ("/portal/credit/black", NAME_A),
        (f"/portal/credit/{USCC_B}", "列入守信红名单"),
        ("/portal/inspections/2027-02", PLANNED),
        ("/portal/insurers", PICC_NAME),
        ("/portal/measures", "措施10"),
    ],
    ids=["home", "credit-black", "credit-enterprise", "inspections", "insurers", "measures"],
)
async def test_reading_works_without_javascript(
    site: Site, browser: Any, path: str, shows: str
) -> None:
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, locale="zh-CN", java_script_enabled=False
    )
    try:
        page = await context.new_page()
        problems = watch(page)
        response = await page.goto(site.url(path))
        assert response is not None
        assert response.status == 200
        assert shows in await page.locator("main").inner_text()
        assert await page.locator("h1").count() == 1
        # The folded navigation is a <details>: it opens without a script.
        nav = page.get_by_role("navigation", name="主导航")
        await nav.locator("summary").click()
        assert await nav.get_by_role("link", name="十条措施").is_visible()
        assert problems == []
    finally:
        await context.close()

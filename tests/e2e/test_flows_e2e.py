"""Flows 1, 5 and 6 of DOMAIN.md end to end, and flow 4's last step (an insurer's risk level
raises the enterprise's inspection priority): real processes, driven only over the gateway
with a token per role, checked as each user would see it.

1. Pledge licence: an enterprise signs the pledge and has its licence at once; inspection
   schedules the verification visit the officer sees, due by the pledge's deadline; the result
   goes back. A kept pledge leaves the licence valid and the credit file clean; a false one
   revokes the licence (the public verification says so) and credit publishes a dishonesty
   record, in the public list and in the enterprise's own file.
6. "No" escalation: an officer cannot say "no", only propose it; the applicant sees the
   application waiting (not rejected) while its time limit keeps running into overdue; an
   officer cannot decide it; the leader confirms one rejection and overturns another.
5. Planning: the yearly plan applies every frequency rule to the registry (key enterprises
   planned, general ones drawn at most once, standardised capped at one, a joint inspection
   exempts, insurer risk raises priority or plans); the month's list and the draw's commitment
   are public 15 days ahead; after the public value is out the draw is revealed, and anyone
   recomputes it with hashlib from what was published; the next month's pool leaves out who
   was already drawn this year.

Time limits and the draw's reveal need days to pass: permits and inspection are restarted with
a business-clock offset (PERMITS_/INSPECTION_CLOCK_OFFSET_DAYS), as an operator rehearsing
would; credit's and insurance's clocks are not moved here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import httpx
import pytest

from kernel.uscc import make_uscc
from kernel.vocab import Sector
from kernel.workdays import shanghai_today
from tests.e2e.conftest import SERVICES, Suite, wait_healthy
from tests.support.builders import policy_body

pytestmark = pytest.mark.e2e

PLEDGE_ITEM = "QD-AJ-005"  # 加油站危险化学品经营许可证延期（承诺制）
REVIEW_ITEM = "QD-AJ-001"  # 危险化学品经营许可证核发（新办）: on-site check, standard review
HONEST = make_uscc(64_001)
FALSE_PLEDGE = make_uscc(64_002)
CONFIRMED = make_uscc(64_101)  # its rejection is confirmed by the leader
OVERTURNED = make_uscc(64_102)  # its proposed rejection is overturned
INSURER = "E2E-FLOW-PICC"
PUBLICATION_LEAD_DAYS = 15  # 提前15日公示月度执法检查企业名单 (measure 8)


# --- over the gateway ------------------------------------------------------------------------


def api(suite: Suite, path: str) -> str:
    return f"{suite.gateway}/api/{path}"


def call(
    suite: Suite,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
    **params: Any,
) -> httpx.Response:
    return httpx.request(
        method, api(suite, path), json=body, params=params, headers=headers or {}, timeout=30
    )


def ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200,)), (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A refusal as every client sees it: the status, problem+json, the stable code."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = dict(response.json())
    assert problem["code"] == code, problem
    return problem


def until(suite: Suite, probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll a cross-service effect with a deadline; fail with every service's log tail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    logs = "\n".join(f"--- {s}\n{suite.log_tail(s, 25)}" for s in SERVICES)
    pytest.fail(f"{what} not seen within {timeout}s (last: {last!r})\n{logs}")


def officer(suite: Suite, n: int = 1) -> dict[str, str]:
    return suite.token("officer", f"officer-flow-{n}")


def leader(suite: Suite) -> dict[str, str]:
    return suite.token("leader", "leader-flow")


def enterprise(suite: Suite, uscc: str) -> dict[str, str]:
    return suite.token("enterprise", uscc)


def offset(suite: Suite, service: str) -> int:
    """The business-clock offset the service is running with now."""
    return int(suite.env.get(f"{service.upper()}_CLOCK_OFFSET_DAYS", "0"))


def move_clock(suite: Suite, service: str, days: int) -> None:
    """Restart a service with its business date `days` after the real one."""
    suite.restart(service, **{f"{service.upper()}_CLOCK_OFFSET_DAYS": str(days)})
    wait_healthy(suite, timeout=60)


@pytest.fixture(scope="module")
def flows(suite: Suite) -> Suite:
    """The suite with permits reading the working-day schedules of the years after the
    installed calendar (a pledge's 20 working days and a review's limit can end in one)."""
    if "PERMITS_CALENDAR_DIR" not in suite.env:
        suite.restart("permits", PERMITS_CALENDAR_DIR=suite.env["CREDIT_CALENDAR_DIR"])
    wait_healthy(suite, timeout=60)
    return suite


# --- flow 1: pledge licence ------------------------------------------------------------------


def apply_on_pledge(suite: Suite, uscc: str, name: str) -> dict[str, Any]:
    pledge = ok(call(suite, "GET", f"permits/items/{PLEDGE_ITEM}/pledge"))
    assert hashlib.sha256(pledge["text"].encode()).hexdigest() == pledge["sha256"]
    body = {
        "item_code": PLEDGE_ITEM,
        "enterprise_name": name,
        "pledge": {"accepted": True, "text_sha256": pledge["sha256"]},
    }
    return dict(ok(call(suite, "POST", "permits/applications", enterprise(suite, uscc), body), 201))


def verification(suite: Suite, licence: dict[str, Any]) -> dict[str, Any]:
    """What anyone scanning the licence's QR code is told (no token)."""
    return dict(ok(call(suite, "GET", "permits/licences/verify", token=licence["token"])))


def visit_of(suite: Suite, uscc: str) -> dict[str, Any] | None:
    page = ok(call(suite, "GET", "inspection/pledge-visits", officer(suite), uscc=uscc))
    return page["items"][0] if page["items"] else None


def record_visit(suite: Suite, visit: dict[str, Any], passed: bool, findings: str) -> Any:
    body = {"passed": passed, "findings": findings, "inspectors": ["执法员甲", "执法员乙"]}
    return ok(
        call(
            suite,
            "POST",
            f"inspection/pledge-visits/{visit['id']}/result",
            {**officer(suite), "If-Match": f'"{visit["version"]}"'},
            body,
        )
    )


def test_pledge_licence_is_verified_and_a_false_pledge_revokes_it_into_credit(
    flows: Suite,
) -> None:
    suite = flows
    today = shanghai_today() + timedelta(days=offset(suite, "permits"))
    issued = {}
    for uscc, name in ((HONEST, "青岛诚信加油站"), (FALSE_PLEDGE, "青岛虚假承诺加油站")):
        application = apply_on_pledge(suite, uscc, name)
        # Approved on the pledge in the same answer, with a licence anyone can verify.
        assert (application["path"], application["status"]) == ("pledge", "approved")
        licence = application["licence"]
        assert licence["approval_path"] == "pledge"
        assert licence["pledge_status"] == "awaiting_verification"
        verify_by = date.fromisoformat(licence["pledge_verify_by"])
        # 20 working days: at least four weeks, at most a few more for holidays.
        assert today + timedelta(days=27) <= verify_by <= today + timedelta(days=45)
        assert verification(suite, licence)["valid"] is True
        issued[uscc] = licence

    # Inspection schedules the verification visits; the officer sees each one's deadline.
    visits = {
        uscc: until(suite, lambda u=uscc: visit_of(suite, u), f"the pledge visit for {uscc}")
        for uscc in (HONEST, FALSE_PLEDGE)
    }
    for uscc, visit in visits.items():
        assert visit["licence_number"] == issued[uscc]["number"]
        assert visit["state"] == "due"
        assert visit["verify_by"] == issued[uscc]["pledge_verify_by"]
        assert (visit["deadline_unknown"], visit["is_overdue"]) == (False, False)
    # The visit list is the bureau's: the enterprise cannot read it.
    hidden = call(suite, "GET", "inspection/pledge-visits", enterprise(suite, HONEST))
    assert hidden.status_code == 403, hidden.text

    kept = record_visit(suite, visits[HONEST], True, "现场核查：安全设施、管理制度与承诺一致")
    assert kept["state"] == "passed"
    breached = record_visit(
        suite, visits[FALSE_PLEDGE], False, "现场核查：油罐区可燃气体报警装置缺失，与承诺不符"
    )
    assert breached["state"] == "breached"
    # One result per visit: a second one is refused, whatever it says.
    again = call(
        suite,
        "POST",
        f"inspection/pledge-visits/{visits[FALSE_PLEDGE]['id']}/result",
        officer(suite),
        {"passed": True, "findings": "复核通过", "inspectors": ["执法员甲", "执法员乙"]},
    )
    assert again.status_code == 409, again.text

    # Permits acts on the result: the false pledge's licence is revoked for everyone.
    def licence_now(uscc: str) -> dict[str, Any]:
        return dict(ok(call(suite, "GET", f"permits/licences/{issued[uscc]['number']}")))

    revoked = until(
        suite,
        lambda: (lic := licence_now(FALSE_PLEDGE))["status"] == "revoked" and lic,
        "the false pledge's licence revoked",
    )
    assert revoked["pledge_status"] == "breached"
    assert "承诺不实" in revoked["status_reason"]
    public = verification(suite, issued[FALSE_PLEDGE])
    assert (public["valid"], public["status"]) == (False, "revoked")
    own = ok(call(suite, "GET", "permits/licences", enterprise(suite, FALSE_PLEDGE)))["items"]
    assert [(lic["number"], lic["status"]) for lic in own] == [
        (issued[FALSE_PLEDGE]["number"], "revoked")
    ]
    # The honest pledge is closed and its licence stays valid.
    honest = until(
        suite,
        lambda: (lic := licence_now(HONEST))["pledge_status"] == "kept" and lic,
        "the kept pledge closed",
    )
    assert honest["status"] == "active"
    assert verification(suite, issued[HONEST])["valid"] is True

    # Credit publishes the dishonesty: in the public list (no token) and the enterprise's file.
    def public_dishonesty(uscc: str) -> list[dict[str, Any]]:
        page = ok(call(suite, "GET", "credit/records", uscc=uscc, record_class="dishonesty"))
        return list(page["items"])

    record = until(suite, lambda: public_dishonesty(FALSE_PLEDGE), "the dishonesty record")[0]
    assert record["document_number"] == issued[FALSE_PLEDGE]["number"]
    assert (record["source"], record["is_in_publicity"]) == ("permits", True)
    assert record["has_repair_notice"] is True
    assert record["source_reference"] is None  # where it came from is not the public's
    standing = ok(call(suite, "GET", f"credit/standing/{FALSE_PLEDGE}"))
    assert standing["dishonesty_in_publicity"] == 1
    file = ok(call(suite, "GET", "credit/records", enterprise(suite, FALSE_PLEDGE)))["items"]
    assert [r["id"] for r in file] == [record["id"]]
    pledge_sha = ok(call(suite, "GET", f"permits/items/{PLEDGE_ITEM}/pledge"))["sha256"]
    # The enterprise sees what its record rests on: the very pledge text it signed.
    assert file[0]["source_reference"] == f"pledge sha256 {pledge_sha}"
    notice = call(
        suite, "GET", f"credit/records/{record['id']}/notice", enterprise(suite, FALSE_PLEDGE)
    )
    assert notice.status_code == 200, notice.text
    assert issued[FALSE_PLEDGE]["number"] in notice.text

    # Permits handled the kept pledge before the breach (inspection's events stay in order),
    # so by now credit would have the honest enterprise's record if one were ever sent.
    assert public_dishonesty(HONEST) == []
    assert ok(call(suite, "GET", f"credit/standing/{HONEST}"))["dishonesty_in_publicity"] == 0
    feed = ok(call(suite, "GET", "credit/changes", after=0, limit=500))["items"]
    recorded = [i["uscc"] for i in feed if i["type"] == "credit.dishonesty.recorded.v1"]
    assert recorded == [FALSE_PLEDGE]

    # The officer's registry counts the revoked licence out.
    until(
        suite,
        lambda: (
            ok(call(suite, "GET", f"inspection/enterprises/{FALSE_PLEDGE}", officer(suite)))[
                "licences_active"
            ]
            == 0
        ),
        "the registry's licence count after the revocation",
    )


# --- flow 6: "no" escalation -----------------------------------------------------------------


def decide(
    suite: Suite,
    application: dict[str, Any],
    headers: dict[str, str],
    action: str,
    reason: str | None = None,
    legal_basis: str | None = None,
    version: int | None = None,
) -> httpx.Response:
    body = {"action": action, "reason": reason, "legal_basis": legal_basis}
    tag = {"If-Match": f'"{version}"'} if version is not None else {}
    return call(
        suite,
        "POST",
        f"permits/applications/{application['id']}/decisions",
        {**headers, **tag},
        {k: v for k, v in body.items() if v is not None},
    )


def application_seen_by(suite: Suite, uscc: str, application_id: str) -> dict[str, Any]:
    return dict(
        ok(call(suite, "GET", f"permits/applications/{application_id}", enterprise(suite, uscc)))
    )


def test_a_proposed_rejection_waits_for_the_leader_while_its_clock_runs(flows: Suite) -> None:
    suite = flows
    submitted = {}
    for uscc, name in ((CONFIRMED, "青岛拟不予许可化工"), (OVERTURNED, "青岛改判许可化工")):
        body = {"item_code": REVIEW_ITEM, "enterprise_name": name, "form": {"储存能力": "50吨"}}
        app = ok(call(suite, "POST", "permits/applications", enterprise(suite, uscc), body), 201)
        assert (app["path"], app["status"], app["licence"]) == ("standard", "under_review", None)
        assert app["due_on"] is not None
        assert app["is_overdue"] is False
        submitted[uscc] = app
    basis = "《危险化学品经营许可证管理办法》第六条"
    reason = "储存设施与周边建筑安全距离不符合国家标准"

    # Nobody says a direct "no"; a proposal must say why and under which law.
    first = submitted[CONFIRMED]
    refused(
        decide(suite, first, officer(suite), "reject", reason, basis),
        409,
        "direct_rejection_forbidden",
    )
    refused(
        decide(suite, first, officer(suite), "propose_rejection", reason),
        422,
        "rejection_unfounded",
    )
    for uscc, app in submitted.items():
        proposed = ok(
            decide(suite, app, officer(suite), "propose_rejection", reason, basis, app["version"])
        )
        assert proposed["status"] == "rejection_proposed"
        submitted[uscc] = proposed

    # The applicant sees it waiting for the leader, not rejected, on the same time limit.
    seen = application_seen_by(suite, CONFIRMED, first["id"])
    assert seen["status"] == "rejection_proposed"
    assert (seen["decided_at"], seen["licence"]) == (None, None)
    assert (seen["due_on"], seen["limit_days"]) == (first["due_on"], first["limit_days"])
    assert [s["action"] for s in seen["steps"]] == ["submit", "propose_rejection"]
    mine = ok(
        call(suite, "GET", "permits/applications", enterprise(suite, CONFIRMED), status="rejected")
    )
    assert mine["items"] == []

    # An officer cannot decide it, neither the "no" nor the "yes".
    app = submitted[CONFIRMED]
    for action in ("confirm_rejection", "send_back"):
        refused(
            decide(suite, app, officer(suite, 2), action, reason, basis),
            403,
            "review_step_not_yours",
        )
    refused(decide(suite, app, officer(suite, 2), "approve"), 409, "awaiting_leader")

    # The leader overturns one proposed "no": approved, with a licence anyone can verify.
    other = submitted[OVERTURNED]
    approved = ok(decide(suite, other, leader(suite), "approve", version=other["version"]))
    assert approved["status"] == "approved"
    licence = approved["licence"]
    assert licence["approval_path"] == "standard"
    assert verification(suite, licence)["valid"] is True
    seen = application_seen_by(suite, OVERTURNED, other["id"])
    assert (seen["status"], seen["licence"]["number"]) == ("approved", licence["number"])
    assert [s["action"] for s in seen["steps"]] == ["submit", "propose_rejection", "approve"]

    # The other's clock keeps running while the leader has not decided: past its due date it is
    # overdue for the applicant, in the officers' queue and in the public figures.
    due = date.fromisoformat(first["due_on"])
    move_clock(suite, "permits", (due - shanghai_today()).days + 1)
    seen = application_seen_by(suite, CONFIRMED, first["id"])
    assert (seen["status"], seen["is_overdue"]) == ("rejection_proposed", True)
    queue = ok(call(suite, "GET", "permits/applications", officer(suite), overdue="true"))["items"]
    assert first["id"] in {a["id"] for a in queue}
    assert other["id"] not in {a["id"] for a in queue}  # decided in time
    assert all(a["is_overdue"] for a in queue)
    figures = {f["item_code"]: f for f in ok(call(suite, "GET", "permits/figures"))["items"]}
    assert figures[REVIEW_ITEM]["open_overdue"] >= 1
    assert figures[REVIEW_ITEM]["rejections_proposed"] >= 2

    # The leader confirms the "no", late, with its own reason and legal basis; a decision
    # based on a stale version of the application is refused (412).
    leader_reason = "经复核，储存设施安全距离不足，依法不予许可"
    refused(
        decide(
            suite, app, leader(suite), "confirm_rejection", leader_reason, basis, app["version"] - 1
        ),
        412,
        "version_mismatch",
    )
    confirmed = ok(
        decide(suite, app, leader(suite), "confirm_rejection", leader_reason, basis, app["version"])
    )
    assert confirmed["status"] == "rejected"
    seen = application_seen_by(suite, CONFIRMED, first["id"])
    assert (seen["status"], seen["is_overdue"]) == ("rejected", False)
    assert (seen["rejection_reason"], seen["rejection_legal_basis"]) == (leader_reason, basis)
    assert seen["decided_at"] is not None
    assert [(s["action"], s["actor"].split(":")[0]) for s in seen["steps"]] == [
        ("submit", "enterprise"),
        ("propose_rejection", "officer"),
        ("confirm_rejection", "leader"),
    ]
    figures = {f["item_code"]: f for f in ok(call(suite, "GET", "permits/figures"))["items"]}
    assert figures[REVIEW_ITEM]["rejections_confirmed"] >= 1


# --- flow 5: the yearly plan and the monthly double-random draw; flow 4's risk priority -------

KEY = "hazardous_chemicals"  # a high-risk sector: key enterprises by default
GENERAL = [make_uscc(65_001 + i) for i in range(6)]
GENERAL_STANDARDISED = make_uscc(65_010)  # standardisation level 1: at most one a year
JOINT_INSPECTED = make_uscc(65_011)  # a same-type joint inspection: exempt this year
JOINT_COMPLAINT = make_uscc(65_012)  # joint inspection, but a complaint: normal treatment
KEY_STANDARDISED = make_uscc(65_013)  # key and level 2: planned, capped at one
HIGH_RISK = make_uscc(65_201)  # general, its insurer assessed a high risk
MAJOR_RISK = make_uscc(65_202)  # general, its insurer assessed a major risk
# Whatever spelling is typed, the seed takes the public value in this canonical form.
PUBLIC_VALUE, CANONICAL_VALUE = "03 07 12 19 25 31 + 09", "3 7 12 19 25 31 9"
INSPECTORS = ("张执法", "李执法", "王执法", "赵执法")


def canonical(value: Any) -> bytes:
    """The draw's canonical JSON (algorithm qd-double-random/2, step 2)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def publication_deadline(year: int, month: int) -> date:
    return date(year, month, 1) - timedelta(days=PUBLICATION_LEAD_DAYS)


def planned_month(uscc: str, year: int) -> int:
    """The one month a once-a-year planned enterprise gets: spread from a stable hash of its
    USCC and the year (written here from the plan's documented rule, not imported)."""
    digest = hashlib.blake2b(f"{uscc}:{year}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 12 + 1


def planning_dates(real_today: date) -> tuple[date, int]:
    """The business date to commit on and the month to draw: in the same year as that date
    (so a joint inspection of the plan's year can already have happened), not December (so
    the next month's pool is of the same plan), its list due at least a day after the
    commitment (the public value must come out in between)."""
    day = real_today if real_today.month <= 9 else date(real_today.year + 1, 1, 2)
    month = next(
        m
        for m in range(day.month + 1, 12)
        if publication_deadline(day.year, m) >= day + timedelta(days=1)
    )
    return day, month


def register(suite: Suite, uscc: str, name: str, sector: str, **extra: Any) -> None:
    body = {"uscc": uscc, "name": name, "district": "市北区", "sector": sector, **extra}
    ok(call(suite, "POST", "inspection/enterprises", officer(suite), body), 201)


def insured_with_risk(suite: Suite, today: date) -> None:
    """HIGH_RISK and MAJOR_RISK insured by INSURER, whose risk assessments reach inspection."""
    admin = suite.token("admin", "e2e-admin")
    insurer = {
        "id": INSURER,
        "name": "人保财险青岛流程测试分公司",
        "uscc": make_uscc(65_300),
        "contact_name": "王经理",
        "contact_phone": "0532-81234567",
    }
    ok(call(suite, "POST", "insurance/insurers", admin, insurer), 201)
    as_insurer = suite.token("insurer", INSURER)
    for n, level in ((65_201, "high"), (65_202, "major")):
        policy = ok(
            call(
                suite,
                "POST",
                "insurance/policies",
                as_insurer,
                policy_body(n, policy_number=f"E2E-FLOW-{n}"),
            ),
            201,
        )
        assessment = {
            "policy_id": policy["id"],
            "risk_level": level,
            "assessed_on": today.isoformat(),
            "assessors": ["风险评估师 孙工"],
            "findings": "储罐区可燃气体报警器失效，重大危险源监测未接入",
            "hazards_found": 3,
            "evidence": [
                {"name": "评估报告.pdf", "sha256": "e" * 64, "media_type": "application/pdf"}
            ],
        }
        ok(call(suite, "POST", "insurance/insurer/risk-assessments", as_insurer, assessment), 201)
    for uscc, level in ((HIGH_RISK, "high"), (MAJOR_RISK, "major")):
        until(
            suite,
            lambda u=uscc, lv=level: (
                ok(call(suite, "GET", f"inspection/enterprises/{u}", officer(suite)))["risk_level"]
                == lv
            ),
            f"the {level} risk level in inspection's registry",
        )


def plan_entries(suite: Suite, plan_id: str) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = ok(
            call(suite, "GET", f"inspection/plans/{plan_id}/entries", officer(suite), **params)
        )
        entries.update({e["uscc"]: e for e in page["items"]})
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


def rules_of(entry: dict[str, Any]) -> dict[str, str]:
    return {r["rule"]: r["effect"] for r in entry["rules"]}


def draw_source(expected_on: date) -> dict[str, str]:
    return {
        "name": "中国福利彩票双色球",
        "round": f"{expected_on:%Y}-e2e",
        "expected_on": expected_on.isoformat(),
    }


def drawn_by_hand(pool: list[dict[str, Any]], count: int, seed: bytes) -> list[str]:
    """Step 5 of qd-double-random/2 with hashlib: priority sampling on sha256(seed || USCC)."""

    def key(entry: dict[str, Any]) -> tuple[Fraction, str]:
        h = int.from_bytes(hashlib.sha256(seed + entry["uscc"].encode("ascii")).digest(), "big")
        return Fraction(h + 1, entry["weight"]), entry["uscc"]

    return [e["uscc"] for e in sorted(pool, key=key)[:count]]


def test_the_plan_and_the_public_draw_keep_every_frequency_rule(flows: Suite) -> None:
    suite = flows
    real_today = shanghai_today()
    day, month = planning_dates(real_today)
    year = day.year
    if offset(suite, "inspection") != (day - real_today).days:
        move_clock(suite, "inspection", (day - real_today).days)

    # The registry: key and general enterprises, standardised ones, two joint inspections.
    key_planned = next(
        u for u in (make_uscc(65_100 + i) for i in range(200)) if planned_month(u, year) == month
    )
    register(suite, key_planned, "青岛重点监管化工有限公司", KEY)
    register(suite, KEY_STANDARDISED, "青岛标准化二级化工有限公司", KEY, standardisation_level=2)
    for n, uscc in enumerate(GENERAL):
        register(suite, uscc, f"青岛一般商贸企业{n}有限公司", "trade")
    register(
        suite, GENERAL_STANDARDISED, "青岛标准化一级商贸有限公司", "trade", standardisation_level=1
    )
    register(suite, JOINT_INSPECTED, "青岛联合检查商贸有限公司", "trade")
    register(suite, JOINT_COMPLAINT, "青岛被投诉商贸有限公司", "trade")
    register(suite, HIGH_RISK, "青岛较大风险化工有限公司", KEY, tier="general")
    register(suite, MAJOR_RISK, "青岛重大风险化工有限公司", KEY, tier="general")
    for uscc, override in ((JOINT_INSPECTED, None), (JOINT_COMPLAINT, "complaint")):
        joint = {
            "uscc": uscc,
            "year": year,
            "inspection_type": "work_safety",
            "led_by": "青岛市安全生产委员会办公室",
            "inspected_on": day.isoformat(),
            "override": override,
            "override_reason": "群众投诉仓库违规住人" if override else None,
        }
        ok(call(suite, "POST", "inspection/joint-inspections", officer(suite), joint), 201)
    # Flow 4's last step: the insurer's risk assessments raise the priority in inspection.
    insured_with_risk(suite, real_today)
    for n, name in enumerate(INSPECTORS):
        body = {
            "name": name,
            "subject": f"inspector-flow-{n}",
            "district": "市北区",
            "sectors": [s.value for s in Sector],
            # The first inspector's brother-in-law runs the key enterprise (sealed, never public).
            "conflicts": [key_planned] if n == 0 else [],
            "monthly_cap": 12,
        }
        ok(call(suite, "POST", "inspection/inspectors", officer(suite), body), 201)

    # The yearly plan: the bureau drafts, only a leader approves; an enterprise sees its own
    # line of an approved plan and nothing else.
    plan = ok(call(suite, "POST", "inspection/plans", officer(suite), {"year": year}), 201)
    own_line = f"inspection/plans/{plan['id']}/entries/{key_planned}"
    refused(
        call(suite, "GET", own_line, enterprise(suite, key_planned)), 404, "plan_entry_not_found"
    )
    assert (
        call(suite, "POST", f"inspection/plans/{plan['id']}/approval", officer(suite)).status_code
        == 403
    )
    assert (
        ok(call(suite, "POST", f"inspection/plans/{plan['id']}/approval", leader(suite)))["state"]
        == "approved"
    )
    entries = plan_entries(suite, plan["id"])
    assert ok(call(suite, "GET", own_line, enterprise(suite, key_planned))) == entries[key_planned]
    refused(
        call(
            suite,
            "GET",
            f"inspection/plans/{plan['id']}/entries/{KEY_STANDARDISED}",
            enterprise(suite, key_planned),
        ),
        404,
        "plan_entry_not_found",
    )

    def line(uscc: str) -> tuple[str, int, int | None]:
        e = entries[uscc]
        return e["mode"], e["min_inspections"], e["max_inspections"]

    assert line(key_planned) == ("planned", 1, None)
    assert entries[key_planned]["planned_months"] == [month]
    assert line(KEY_STANDARDISED) == ("planned", 1, 1)
    assert "standardised_at_most_one" in rules_of(entries[KEY_STANDARDISED])
    for uscc in GENERAL:
        assert line(uscc) == ("random", 0, 1)
    assert line(GENERAL_STANDARDISED) == ("random", 0, 1)
    assert "standardised_at_most_one" in rules_of(entries[GENERAL_STANDARDISED])
    assert line(JOINT_INSPECTED) == ("exempt", 0, 0)
    assert rules_of(entries[JOINT_INSPECTED])["joint_inspection_exemption"] == "exempt"
    assert line(JOINT_COMPLAINT) == ("random", 0, 1)
    assert rules_of(entries[JOINT_COMPLAINT])["joint_inspection_exemption"] == "override_complaint"
    # A high risk raises the priority (and the draw weight below); a major one plans it.
    assert line(HIGH_RISK) == ("random", 0, 1)
    assert (entries[HIGH_RISK]["priority"], rules_of(entries[HIGH_RISK])) == (
        30,
        {"general_double_random": "random_max_1", "risk_raises_priority": "priority_+30"},
    )
    assert line(MAJOR_RISK) == ("planned", 1, None)
    assert entries[MAJOR_RISK]["priority"] == 50
    for entry in entries.values():
        # Whoever else the registry holds, no line breaks the yearly frequency rules.
        assert entry["mode"] != "random" or entry["max_inspections"] == 1
        assert (
            entry["mode"] != "planned"
            or len(entry["planned_months"]) == entry["min_inspections"] >= 1
        )

    # The month's list: nothing before the commitment, refused once it is too late to give the
    # 15 days' notice, public (no token) from the commitment on.
    draw_path = f"inspection/draws/{year}/{month}"
    refused(call(suite, "GET", draw_path), 404, "draw_not_found")
    late = {"count": 1, "source": draw_source(day + timedelta(days=1))}
    refused(
        call(suite, "POST", f"inspection/draws/{day.year}/{day.month}", officer(suite), late),
        422,
        "publication_too_late",
    )
    commit = {"count": 3, "team_size": 2, "source": draw_source(day + timedelta(days=1))}
    assert call(suite, "POST", draw_path, enterprise(suite, GENERAL[0]), commit).status_code == 403
    ok(call(suite, "POST", draw_path, officer(suite), commit), 201)
    committed = ok(call(suite, "GET", draw_path))
    assert committed["state"] == "committed"
    assert date.fromisoformat(committed["published_on"]) == day <= publication_deadline(year, month)
    assert (committed["secret"], committed["seed"]) == (None, None)
    inputs = committed["inputs"]
    assert hashlib.sha256(canonical(inputs)).hexdigest() == committed["inputs_digest"]
    # The list follows the approved plan: planned this month, and the pool of general ones.
    planned = {
        u for u, e in entries.items() if e["mode"] == "planned" and month in e["planned_months"]
    }
    assert (
        {e["uscc"] for e in committed["listed"]}
        == planned
        == {p["uscc"] for p in inputs["planned"]}
    )
    assert key_planned in planned
    pool = {p["uscc"]: p for p in inputs["pool"]}
    assert set(pool) == {u for u, e in entries.items() if e["mode"] == "random"}
    assert JOINT_INSPECTED not in pool
    assert KEY_STANDARDISED not in pool
    assert all(p["weight"] == 1 + max(entries[u]["priority"], 0) // 10 for u, p in pool.items())
    assert pool[HIGH_RISK]["weight"] == 4
    # Conflicts of interest are sealed: only their salted digest is public.
    assert all(set(r) == {"id", "name", "sectors", "monthly_cap"} for r in inputs["roster"])
    assert key_planned not in json.dumps(inputs["roster"])
    assert "conflicts" not in inputs

    # A listed enterprise may ask for guidance before its inspection; an unlisted one may not.
    guidance = {"question": "检查前想了解重大危险源备案要求", "contact": "李经理 0532-88886666"}
    asked = ok(
        call(
            suite,
            "POST",
            f"{draw_path}/guidance-requests",
            enterprise(suite, key_planned),
            guidance,
        ),
        201,
    )
    assert asked["state"] == "open"
    refused(
        call(
            suite,
            "POST",
            f"{draw_path}/guidance-requests",
            enterprise(suite, JOINT_INSPECTED),
            guidance,
        ),
        422,
        "enterprise_not_listed",
    )

    # Nobody can reveal before the public value is out.
    reveal = {"public_value": PUBLIC_VALUE}
    refused(
        call(suite, "POST", f"{draw_path}/reveal", leader(suite), reveal),
        422,
        "source_value_not_yet_due",
    )
    move_clock(suite, "inspection", (day - real_today).days + 1)
    assert call(suite, "POST", f"{draw_path}/reveal", officer(suite), reveal).status_code == 403
    ok(call(suite, "POST", f"{draw_path}/reveal", leader(suite), reveal))

    # Anyone checks the revealed draw against what was published before the value was known.
    revealed = ok(call(suite, "GET", draw_path))
    assert revealed["state"] == "revealed"
    assert date.fromisoformat(revealed["revealed_on"]) <= publication_deadline(year, month)
    assert (revealed["inputs"], revealed["commitment"]) == (inputs, committed["commitment"])
    secret = bytes.fromhex(revealed["secret"])
    assert hashlib.sha256(secret).hexdigest() == committed["commitment"]
    seed = hashlib.sha256(
        secret + CANONICAL_VALUE.encode() + hashlib.sha256(canonical(inputs)).digest()
    )
    assert revealed["seed"] == seed.hexdigest()
    drawn = [
        e["uscc"]
        for e in sorted(
            (e for e in revealed["listed"] if e["kind"] == "drawn"), key=lambda e: e["rank"]
        )
    ]
    assert drawn == drawn_by_hand(list(pool.values()), 3, seed.digest())
    names = {r["name"] for r in inputs["roster"]}
    for listed in revealed["listed"]:
        # Two inspectors at least (行政处罚法 第四十二条), from the roster, none conflicted.
        assert len(set(listed["team"])) == 2
        assert set(listed["team"]) <= names
    team_of_key = next(e["team"] for e in revealed["listed"] if e["uscc"] == key_planned)
    assert INSPECTORS[0] not in team_of_key
    recomputed = ok(call(suite, "POST", f"{draw_path}/recompute"))
    assert recomputed["matches"] is True
    assert recomputed["selected"] == drawn

    # Next month's pool leaves out whoever was drawn this year (at most once a year).
    nxt = ok(
        call(
            suite,
            "POST",
            f"inspection/draws/{year}/{month + 1}",
            officer(suite),
            {"count": 2, "source": draw_source(day + timedelta(days=2))},
        ),
        201,
    )
    assert {p["uscc"] for p in nxt["inputs"]["pool"]} == set(pool) - set(drawn)
    assert {p["uscc"] for p in nxt["inputs"]["planned"]} == {
        u for u, e in entries.items() if e["mode"] == "planned" and month + 1 in e["planned_months"]
    }
    assert key_planned not in {e["uscc"] for e in nxt["listed"]}

"""Credit and inspection end to end over the gateway (flows 2 and 3 of DOMAIN.md), real
processes, a token per role, checked as each user would see it.

An inspection case goes through the four steps and ends in a penalty decision; credit publishes
it with its repair notice; the enterprise repairs its credit. A black listing stops permits' fast
paths and gives the enterprise at least two planned inspections in inspection's yearly plan;
after credit repair it is back to normal treatment in both. Year-long waits (the minimum
publicity period, the year on the black list before early removal) are crossed by restarting
credit with a clock offset (CREDIT_CLOCK_OFFSET_DAYS), as an operator rehearsing would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from tests.e2e.conftest import Suite, wait_healthy

pytestmark = pytest.mark.e2e

REPAIRED = make_uscc(61_001)
LISTED = make_uscc(61_002)
EVIDENCE = [{"kind": "rectification_proof", "title": "整改报告", "document_sha256": "b" * 64}]


def until(suite: Suite, probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    logs = "\n".join(f"--- {s}\n{suite.log_tail(s)}" for s in ("credit", "inspection"))
    pytest.fail(f"{what} not seen within {timeout}s (last: {last!r})\n{logs}")


def api(suite: Suite, path: str) -> str:
    return f"{suite.gateway}/api/{path}"


def post(suite: Suite, path: str, body: Any | None, headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.post(api(suite, path), json=body, headers=headers, timeout=15)
    assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
    return dict(r.json())


def officer(suite: Suite) -> dict[str, str]:
    return suite.token("officer", "officer-e2e-1")


def leader(suite: Suite) -> dict[str, str]:
    return suite.token("leader", "leader-e2e")


def penalise(suite: Suite, uscc: str, name: str, *, criterion: str | None = None) -> None:
    """The four-step procedure in inspection, ending in a penalty decision."""
    # Permits' licence events may have entered the enterprise in the registry already.
    r = httpx.post(
        api(suite, "inspection/enterprises"),
        json={"uscc": uscc, "name": name, "district": "市北区", "sector": "trade"},
        headers=officer(suite),
        timeout=15,
    )
    assert r.status_code in (201, 409), r.text
    on_site = httpx.get(
        api(suite, "inspection/guidance/violations"), params={"management": "false"}, timeout=10
    ).json()["items"][0]["code"]
    today = shanghai_today().isoformat()
    case = post(
        suite,
        "inspection/inspections",
        {
            "uscc": uscc,
            "source": "assignment",
            "reference": "市局交办〔2026〕3号",
            "team": ["officer-e2e-1", "officer-e2e-2"],
            "notice": {"served_on": today, "text": "依法对你单位开展安全生产执法检查"},
            "education_plan": {"topics": ["安全设备维护保养"]},
        },
        officer(suite),
    )
    post(
        suite,
        f"inspection/inspections/{case['id']}/findings",
        {
            "violation_code": on_site,
            "description": "现场检查发现该项违法行为，当场未能改正",
            "evidence": [{"sha256": "c" * 64, "label": "现场照片"}],
            "corrected_on_spot": False,
            "harm": "harmful",
        },
        officer(suite),
    )
    post(
        suite,
        f"inspection/inspections/{case['id']}/deliberation",
        {
            "minutes": "经合议，违法事实清楚，证据确凿，依法给予警告并处罚款",
            "participants": ["officer-e2e-1", "officer-e2e-2"],
            "decisions": [
                {
                    "finding": 1,
                    "fine": "20000.00",
                    "measures": ["warning"],
                    "blacklist_criterion": criterion,
                }
            ],
        },
        officer(suite),
    )
    post(
        suite,
        f"inspection/inspections/{case['id']}/feedback",
        {
            "delivered_on": today,
            "lesson": "讲解安全设备维护保养的法定要求",
            "questions_answered": 1,
            "questions": [{"question": "多久检测一次？", "answer": "按标准和说明书定期检测"}],
        },
        officer(suite),
    )


def public_penalties(suite: Suite, uscc: str) -> list[dict[str, Any]]:
    r = httpx.get(api(suite, "credit/penalties"), params={"uscc": uscc}, timeout=10)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def standing(suite: Suite, uscc: str) -> str:
    return str(httpx.get(api(suite, f"credit/standing/{uscc}"), timeout=10).json()["standing"])


def instant_path(suite: Suite, uscc: str) -> str:
    r = httpx.post(
        api(suite, "permits/applications"),
        json={"item_code": "QD-AJ-003", "enterprise_name": "青岛端到端信用企业"},
        headers=suite.token("enterprise", uscc),
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["path"])


def move_credit_clock(suite: Suite, days: int) -> None:
    suite.restart("credit", CREDIT_CLOCK_OFFSET_DAYS=str(days))
    wait_healthy(suite)


def repair(suite: Suite, uscc: str, kind: str, target: str) -> dict[str, Any]:
    application = post(
        suite,
        "credit/repairs",
        {
            "target_kind": kind,
            "target_id": target,
            "contact_name": "李经理",
            "contact_phone": "0532-88886666",
            "statement": "违法行为已全部纠正，罚款已缴清",
            "evidence": EVIDENCE,
            "commitment_signed": True,
        },
        suite.token("enterprise", uscc),
    )
    return post(
        suite,
        f"credit/repairs/{application['id']}/decision",
        {"outcome": "approved", "reason": "材料真实，整改到位"},
        officer(suite),
    )


def plan_entry(suite: Suite, uscc: str) -> dict[str, Any]:
    """A fresh yearly plan for next year, approved by the leader; the enterprise's own line."""
    year = shanghai_today().year + 1
    plan = post(suite, "inspection/plans", {"year": year}, officer(suite))
    post(suite, f"inspection/plans/{plan['id']}/approval", None, leader(suite))
    r = httpx.get(
        api(suite, f"inspection/plans/{plan['id']}/entries/{uscc}"),
        headers=suite.token("enterprise", uscc),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_penalty_from_an_inspection_is_published_then_repaired(suite: Suite) -> None:
    wait_healthy(suite)
    penalise(suite, REPAIRED, "青岛端到端信用企业一")
    penalty = until(suite, lambda: public_penalties(suite, REPAIRED), "the penalty in publicity")[0]
    assert "信用修复告知书" in penalty["repair_notice"]
    assert penalty["decision_number"].startswith("青应急罚〔")

    # Three months and more later (the minimum publicity period), the enterprise repairs.
    move_credit_clock(suite, 100)
    decided = repair(suite, REPAIRED, "record", penalty["id"])
    assert decided["state"] == "approved"
    assert public_penalties(suite, REPAIRED) == []
    # Another enterprise never sees the application; the applicant does.
    other = httpx.get(
        api(suite, f"credit/repairs/{decided['id']}"),
        headers=suite.token("enterprise", LISTED),
        timeout=10,
    )
    assert other.status_code == 404
    mine = httpx.get(
        api(suite, "credit/repairs"), headers=suite.token("enterprise", REPAIRED), timeout=10
    ).json()["items"]
    assert [(a["id"], a["state"]) for a in mine] == [(decided["id"], "approved")]

    def repaired_in_feed() -> bool:
        feed = httpx.get(api(suite, "credit/changes"), params={"after": 0}, timeout=10).json()
        return any(
            item["type"] == "credit.publicity.ended.v1" and item["data"]["reason"] == "repaired"
            for item in feed["items"]
        )

    until(suite, repaired_in_feed, "the repair in the public change feed")


def test_black_listing_means_two_planned_inspections_until_repaired(suite: Suite) -> None:
    wait_healthy(suite)
    assert instant_path(suite, LISTED) == "instant"
    penalise(suite, LISTED, "青岛端到端信用企业二", criterion="penalty_evaded")

    def case_opened() -> dict[str, Any] | None:
        cases = httpx.get(api(suite, "credit/blacklist/cases"), headers=officer(suite)).json()
        return next((c for c in cases["items"] if c["uscc"] == LISTED), None)

    case = until(suite, case_opened, "the black-list case inspection's decision opened")
    post(suite, f"credit/blacklist/{case['id']}/notice", None, officer(suite))
    post(
        suite,
        f"credit/blacklist/{case['id']}/objection",
        {"statement": "罚款已缴清，请求不予列入"},
        suite.token("enterprise", LISTED),
    )
    decision = {"outcome": "listed", "reason": "缴款发生在强制执行之后，逃避执行的事实成立"}
    refused = httpx.post(
        api(suite, f"credit/blacklist/{case['id']}/decision"),
        json=decision,
        headers=officer(suite),
        timeout=10,
    )
    assert refused.status_code == 403  # the leader decides
    post(suite, f"credit/blacklist/{case['id']}/decision", decision, leader(suite))
    assert standing(suite, LISTED) == "blacklisted"

    # Permits and inspection act on credit's event.
    until(suite, lambda: instant_path(suite, LISTED) == "standard", "permits stopping fast paths")

    def registry_blacklisted() -> bool:
        r = httpx.get(api(suite, f"inspection/enterprises/{LISTED}"), headers=officer(suite))
        return bool(r.json().get("credit_standing") == "blacklisted")

    until(suite, registry_blacklisted, "the registry's black-list standing")
    entry = plan_entry(suite, LISTED)
    assert entry["mode"] == "planned"
    assert entry["min_inspections"] >= 2
    assert len(entry["planned_months"]) >= 2

    # A year on the list later, early removal through credit repair.
    offset = (date.fromisoformat(case_listed_on(suite, case["id"])) - shanghai_today()).days + 400
    move_credit_clock(suite, offset)
    assert repair(suite, LISTED, "blacklist", case["id"])["state"] == "approved"
    assert standing(suite, LISTED) == "normal"
    until(suite, lambda: instant_path(suite, LISTED) == "instant", "permits back to normal")

    def registry_normal() -> bool:
        r = httpx.get(api(suite, f"inspection/enterprises/{LISTED}"), headers=officer(suite))
        return bool(r.json().get("credit_standing") == "normal")

    until(suite, registry_normal, "the registry back to normal")
    entry = plan_entry(suite, LISTED)
    assert (entry["mode"], entry["min_inspections"]) == ("random", 0)
    assert entry["max_inspections"] == 1


def case_listed_on(suite: Suite, case_id: str) -> str:
    cases = httpx.get(api(suite, "credit/blacklist/cases"), headers=officer(suite)).json()
    return str(next(c for c in cases["items"] if c["id"] == case_id)["decided_on"])

"""Insurance linkage end to end over the gateway (flow 4 of DOMAIN.md): real processes, a token
per role, checked as each user would see it.

Two insurers cover two enterprises. Inspectors find two hazards at one of them; each becomes a
hazard-assistance obligation for that enterprise's insurer only. The insurer reports its help
with the first (the receipt binds its answer to the bytes it sent), the bureau verifies it,
and a major risk assessment raises the enterprise's risk in inspection's registry. The second
hazard's help is never reported: once insurance's clock passes its due date (restarted with
INSURANCE_CLOCK_OFFSET_DAYS, as an operator rehearsing would) it is overdue for the bureau and
in the insurer's public scorecard.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from tests.e2e.conftest import Suite, wait_healthy
from tests.support.builders import policy_body

pytestmark = pytest.mark.e2e

COVERED = make_uscc(62_001)  # insured by INSURER_A, where the hazards are found
OTHER = make_uscc(62_002)  # insured by INSURER_B
INSURER_A = "E2E-PICC"
INSURER_B = "E2E-CPIC"
EVIDENCE = [{"name": "整改前后对比.jpg", "sha256": "d" * 64, "media_type": "image/jpeg"}]


def until(suite: Suite, probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    logs = "\n".join(f"--- {s}\n{suite.log_tail(s)}" for s in ("inspection", "insurance"))
    pytest.fail(f"{what} not seen within {timeout}s (last: {last!r})\n{logs}")


def api(suite: Suite, path: str) -> str:
    return f"{suite.gateway}/api/{path}"


def post(suite: Suite, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.post(api(suite, path), json=body, headers=headers, timeout=15)
    assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
    return dict(r.json())


def get(suite: Suite, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    r = httpx.get(api(suite, path), params=params, headers=headers or {}, timeout=15)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
    return r.json()


def officer(suite: Suite) -> dict[str, str]:
    return suite.token("officer", "officer-e2e-1")


def register_insurers(suite: Suite) -> None:
    for n, (insurer_id, name) in enumerate(
        [(INSURER_A, "人保财险青岛分公司"), (INSURER_B, "太平洋财险青岛分公司")]
    ):
        post(
            suite,
            "insurance/insurers",
            {
                "id": insurer_id,
                "name": name,
                "uscc": make_uscc(62_100 + n),
                "contact_name": "王经理",
                "contact_phone": "0532-81234567",
            },
            suite.token("admin", "e2e-admin"),
        )


def find_hazards(suite: Suite) -> list[str]:
    """The four-step procedure's inspect step at COVERED, recording two government hazards."""
    r = httpx.post(
        api(suite, "inspection/enterprises"),
        json={
            "uscc": COVERED,
            "name": "青岛端到端化工有限公司",
            "district": "黄岛区",
            "sector": "hazardous_chemicals",
        },
        headers=officer(suite),
        timeout=15,
    )
    # The policy's activation event may have entered the enterprise already.
    assert r.status_code in (201, 409), r.text
    case = post(
        suite,
        "inspection/inspections",
        {
            "uscc": COVERED,
            "source": "assignment",
            "reference": "市局交办〔2026〕9号",
            "team": ["officer-e2e-1", "officer-e2e-2"],
            "notice": {
                "served_on": shanghai_today().isoformat(),
                "text": "依法开展安全生产执法检查",
            },
            "education_plan": {"topics": ["危险化学品储存安全"]},
        },
        officer(suite),
    )
    ids = []
    for description in ("罐区防火堤内堆放杂物，消防通道堵塞", "可燃气体报警器未定期检定"):
        updated = post(
            suite,
            f"inspection/inspections/{case['id']}/hazards",
            {
                "grade": "general",
                "description": description,
                "evidence": [{"sha256": "ab" * 32, "label": "现场照片"}],
            },
            officer(suite),
        )
        ids.append(updated["hazards"][-1]["id"])
    return ids


def test_government_hazards_become_the_right_insurers_tasks_and_a_missed_one_is_overdue(
    suite: Suite,
) -> None:
    wait_healthy(suite)
    today = shanghai_today()
    register_insurers(suite)
    insurer_a = suite.token("insurer", INSURER_A)
    insurer_b = suite.token("insurer", INSURER_B)
    policy = post(
        suite,
        "insurance/policies",
        policy_body(62_001, policy_number="E2E-AZX-0001", custom_services=["one_plan"]),
        insurer_a,
    )
    post(suite, "insurance/policies", policy_body(62_002, policy_number="E2E-AZX-0002"), insurer_b)
    assert policy["status"] == "active"
    schedule = get(suite, f"insurance/policies/{policy['id']}/obligations", insurer_a, limit=100)
    kinds = {o["kind"] for o in schedule["items"]}
    assert {"risk_assessment", "key_check", "full_check", "training", "one_plan"} <= kinds

    hazard_ids = find_hazards(suite)

    def assistance(headers: dict[str, str]) -> list[dict[str, Any]]:
        body = get(suite, "insurance/obligations", headers, kind="hazard_assistance", uscc=COVERED)
        return list(body["items"])

    tasks = until(
        suite, lambda: len(assistance(insurer_a)) == 2 and assistance(insurer_a), "assistance"
    )
    assert {t["hazard_id"] for t in tasks} == set(hazard_ids)
    assert {t["insurer_id"] for t in tasks} == {INSURER_A}
    # The other insurer has no task for an enterprise it does not cover and cannot read one.
    assert get(suite, "insurance/obligations", insurer_b, kind="hazard_assistance")["items"] == []
    foreign = httpx.get(api(suite, f"insurance/obligations/{tasks[0]['id']}"), headers=insurer_b)
    assert (foreign.status_code, foreign.json()["code"]) == (403, "obligation_not_yours")

    helped, missed = sorted(tasks, key=lambda t: hazard_ids.index(t["hazard_id"]))
    content = json.dumps(
        {
            "obligation_id": helped["id"],
            "assisted_on": today.isoformat(),
            "performed_by": ["安全工程师 刘工"],
            "measures": "协助企业清理防火堤内杂物，恢复消防通道，并培训值班人员",
            "outcome": "rectified",
            "evidence": EVIDENCE,
        },
        ensure_ascii=False,
    ).encode()
    headers = {**insurer_a, "Content-Type": "application/json", "Idempotency-Key": "e2e-help-1"}
    first = httpx.post(
        api(suite, "insurance/insurer/hazard-assistance"),
        content=content,
        headers=headers,
        timeout=15,
    )
    assert first.status_code == 201, first.text
    receipt = first.json()["receipt"]
    assert receipt["request_sha256"] == hashlib.sha256(content).hexdigest()
    # A retry through the gateway (the insurer's network dropped the answer) is the same answer.
    again = httpx.post(
        api(suite, "insurance/insurer/hazard-assistance"),
        content=content,
        headers=headers,
        timeout=15,
    )
    assert (again.status_code, again.json()["receipt"]) == (201, receipt)

    post(
        suite,
        f"insurance/obligations/{helped['id']}/verification",
        {"outcome": "accepted"},
        officer(suite),
    )
    assert get(suite, f"insurance/obligations/{helped['id']}", officer(suite))["status"] == (
        "verified"
    )

    # A major risk found by the insurer raises the enterprise's risk in inspection's registry.
    post(
        suite,
        "insurance/insurer/risk-assessments",
        {
            "policy_id": policy["id"],
            "risk_level": "major",
            "assessed_on": today.isoformat(),
            "assessors": ["风险评估师 孙工"],
            "findings": "重大危险源在线监测数据未接入，储罐区可燃气体报警器失效",
            "hazards_found": 2,
            "evidence": EVIDENCE,
        },
        insurer_a,
    )
    until(
        suite,
        lambda: (
            get(suite, f"inspection/enterprises/{COVERED}", officer(suite))["risk_level"] == "major"
        ),
        "the major risk level in inspection's registry",
    )

    # The second hazard's help is never reported; insurance's clock passes its due date.
    due = date.fromisoformat(missed["due_on"])
    suite.restart("insurance", INSURANCE_CLOCK_OFFSET_DAYS=str((due - today).days + 1))
    wait_healthy(suite)
    overdue = get(
        suite, "insurance/obligations", officer(suite), kind="hazard_assistance", overdue="true"
    )["items"]
    assert [(o["id"], o["days_overdue"]) for o in overdue] == [(missed["id"], 1)]

    period = {"from": today.isoformat(), "to": (due + timedelta(days=1)).isoformat()}
    cards = {c["insurer_id"]: c for c in get(suite, "insurance/scorecards", **period)["items"]}
    help_a = cards[INSURER_A]["obligations"]["by_kind"]["hazard_assistance"]
    assert {k: help_a[k] for k in ("due", "delivered", "verified", "overdue")} == {
        "due": 2,
        "delivered": 1,
        "verified": 1,
        "overdue": 1,
    }
    assert cards[INSURER_A]["obligations"]["overdue"] >= 1
    assert "hazard_assistance" not in cards[INSURER_B]["obligations"]["by_kind"] or (
        cards[INSURER_B]["obligations"]["by_kind"]["hazard_assistance"]["due"] == 0
    )
    # The public scorecard names insurers, never the enterprises they serve.
    public = httpx.get(api(suite, "insurance/scorecards"), params=period, timeout=15).text
    assert COVERED not in public
    assert "端到端化工" not in public

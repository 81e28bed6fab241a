"""The gateway as its users meet it, with real processes: an insurer's system on an API key, a
department on client credentials reading a data set under a grant that the enterprise can see
was used, the enterprise profile with one service down, and the suite's one OpenAPI.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from kernel.uscc import make_uscc
from tests.e2e.conftest import Suite, wait_healthy
from tests.support.builders import policy_body

pytestmark = pytest.mark.e2e

INSURER = "E2E-GW-PICC"
DEPARTMENT = "QD-MARKET"
LICENSED = make_uscc(63_001)
INSURED = 63_002


def api(suite: Suite, path: str) -> str:
    return f"{suite.gateway}/api/{path}"


def ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200,)), response.text
    return dict(response.json())


def test_an_insurer_system_works_on_an_api_key_until_it_is_revoked(suite: Suite) -> None:
    wait_healthy(suite)
    admin = suite.token("admin", "e2e-admin")
    ok(
        httpx.post(
            api(suite, "insurance/insurers"),
            json={
                "id": INSURER,
                "name": "人保财险网关测试分公司",
                "uscc": make_uscc(63_100),
                "contact_name": "王经理",
                "contact_phone": "0532-81234567",
            },
            headers=admin,
            timeout=10,
        ),
        201,
    )
    created = ok(
        httpx.post(
            api(suite, "gateway/api-keys"),
            json={"subject": INSURER, "name": "承保系统"},
            headers=admin,
            timeout=10,
        ),
        201,
    )
    key = {"X-API-Key": created["key"]}
    # The insurer's system registers a policy with nothing but its key; insurance sees the
    # gateway's short-lived token for that insurer and applies its own rules.
    policy = ok(
        httpx.post(
            api(suite, "insurance/policies"),
            json=policy_body(INSURED, policy_number="AQ-GW-0001"),
            headers=key,
            timeout=10,
        ),
        201,
    )
    assert policy["insurer_id"] == INSURER
    listed = ok(httpx.get(api(suite, "gateway/api-keys"), headers=key, timeout=10))
    assert [k["key_id"] for k in listed["items"]] == [created["key_id"]]
    assert "key" not in listed["items"][0]

    ok(
        httpx.post(
            api(suite, f"gateway/api-keys/{created['key_id']}/revoke"),
            json={"reason": "密钥泄露，立即吊销"},
            headers=admin,
            timeout=10,
        )
    )
    refused = httpx.get(api(suite, "insurance/policies"), headers=key, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_api_key"


def test_a_department_reads_licences_under_a_grant_and_the_enterprise_sees_it(
    suite: Suite,
) -> None:
    wait_healthy(suite)
    admin = suite.token("admin", "e2e-admin")
    enterprise = suite.token("enterprise", LICENSED)
    licence = ok(
        httpx.post(
            api(suite, "permits/applications"),
            json={"item_code": "QD-AJ-003", "enterprise_name": "青岛网关共享测试企业"},
            headers=enterprise,
            timeout=10,
        ),
        201,
    )["licence"]

    client = ok(
        httpx.post(
            api(suite, "gateway/clients"),
            json={"role": "department", "subject": DEPARTMENT, "name": "市场监管局数据交换系统"},
            headers=admin,
            timeout=10,
        ),
        201,
    )
    issued = ok(
        httpx.post(
            f"{suite.gateway}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        )
    )
    department = {"Authorization": f"Bearer {issued['access_token']}"}
    claims = jwt.decode(issued["access_token"], options={"verify_signature": False})
    assert (claims["role"], claims["sub"]) == ("department", DEPARTMENT)

    # No grant yet: refused, naming the data set.
    no_grant = httpx.get(api(suite, "data/licences"), headers=department, timeout=10)
    assert no_grant.status_code == 403
    assert no_grant.json()["code"] == "no_grant"

    grant = ok(
        httpx.post(
            api(suite, "gateway/grants"),
            json={
                "department": DEPARTMENT,
                "dataset": "licences",
                "purpose": "核查危险化学品经营企业许可状态（联合监管）",
                "expires_at": (datetime.now(UTC) + timedelta(days=90)).isoformat(),
            },
            headers=admin,
            timeout=10,
        ),
        201,
    )
    read = ok(
        httpx.get(
            api(suite, "data/licences"), params={"uscc": LICENSED}, headers=department, timeout=10
        )
    )
    assert read["grant_id"] == grant["id"]
    assert [item["number"] for item in read["items"]] == [licence["number"]]

    # The enterprise sees who read its licences, when and why.
    seen = ok(httpx.get(api(suite, "gateway/data-reads"), headers=enterprise, timeout=10))
    (entry,) = seen["items"]
    assert entry["department"] == DEPARTMENT
    assert entry["dataset"] == "licences"
    assert entry["purpose"] == grant["purpose"]
    assert entry["id"] == read["read_id"]
    # Another enterprise sees nothing of it.
    other = suite.token("enterprise", make_uscc(63_009))
    assert ok(httpx.get(api(suite, "gateway/data-reads"), headers=other, timeout=10))["items"] == []


def test_the_profile_marks_a_stopped_service_missing_and_keeps_the_rest(suite: Suite) -> None:
    wait_healthy(suite)
    officer = suite.token("officer", "e2e-officer")
    profile_url = api(suite, f"enterprises/{LICENSED}/profile")
    whole = ok(httpx.get(profile_url, headers=officer, timeout=15))
    assert whole["complete"] is True
    assert whole["parts"]["licences"]["status"] == "ok"
    assert whole["parts"]["licences"]["data"]["items"], whole["parts"]["licences"]

    suite.stop("insurance")
    try:
        started = time.monotonic()
        partial = ok(httpx.get(profile_url, headers=officer, timeout=15))
        assert time.monotonic() - started < 10  # bounded by the aggregate timeout, no hang
        assert partial["complete"] is False
        assert partial["parts"]["insurance"]["status"] == "missing"
        assert [m["upstream"] for m in partial["missing"]] == ["insurance"]
        assert partial["parts"]["licences"]["status"] == "ok"
        assert partial["parts"]["credit"]["status"] == "ok"
        # Proxied calls to it are a 503 naming it, at once.
        down = httpx.get(api(suite, "insurance/policies"), headers=officer, timeout=15)
        assert down.status_code == 503
        assert down.json()["upstream"] == "insurance"
    finally:
        suite.restart("insurance")
    wait_healthy(suite, timeout=60)


def test_one_openapi_for_the_whole_suite(suite: Suite) -> None:
    wait_healthy(suite)
    doc = ok(httpx.get(f"{suite.gateway}/openapi.json", timeout=15))
    paths = set(doc["paths"])
    for expected in (
        "/api/permits/licences",
        "/api/credit/standing/{uscc}",
        "/api/inspection/inspections",
        "/api/insurance/policies",
        "/api/enterprises/{uscc}/profile",
        "/oauth/token",
    ):
        assert expected in paths, expected
    assert not any(p.startswith(("/api/permits/events", "/api/credit/metrics")) for p in paths)
    assert doc.get("x-unavailable-services", []) == []
    assert httpx.get(f"{suite.gateway}/docs", timeout=10).status_code == 200

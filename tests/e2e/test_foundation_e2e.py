"""End to end over the gateway: health, a policy crossing Kafka, broker outage and data loss."""

from __future__ import annotations

import asyncio
import importlib
import re
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from kernel import audit
from kernel.db import make_engine
from kernel.settings import REPO_ROOT
from kernel.uscc import make_uscc
from tests.e2e.conftest import SERVICES, Suite, wait_healthy
from tests.support.builders import policy_body

pytestmark = pytest.mark.e2e


def register_insurer(suite: Suite, insurer_id: str = "PICC-QD") -> None:
    """The bureau's admin registers the insurer before it may register policies."""
    r = httpx.post(
        f"{suite.gateway}/api/insurance/insurers",
        json={
            "id": insurer_id,
            "name": "中国人民财产保险股份有限公司青岛市分公司",
            "uscc": make_uscc(59_001),
            "contact_name": "张经理",
            "contact_phone": "0532-80000000",
        },
        headers=suite.token("admin", "e2e-admin"),
        timeout=10,
    )
    # Another test of this module's suite may have registered it already.
    assert r.status_code == 201 or r.json().get("code") == "insurer_exists", r.text


def register_policy(suite: Suite, n: int, sector: str) -> None:
    """PICC-QD registers a policy for enterprise n over the gateway (201, or the test fails)."""
    r = httpx.post(
        f"{suite.gateway}/api/insurance/policies",
        json=policy_body(50_000 + n, sector=sector),
        headers=suite.token("insurer", "PICC-QD"),
        timeout=10,
    )
    assert r.status_code == 201, r.text


def registry_entry(suite: Suite, n: int, timeout: float = 60.0) -> dict[str, Any]:
    url = f"{suite.gateway}/api/inspection/enterprises/{make_uscc(50_000 + n)}"
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = httpx.get(url, headers=suite.token("officer"), timeout=5)
        if r.status_code == 200:
            return dict(r.json())
        last = (r.status_code, r.text[:200])
        time.sleep(0.2)
    pytest.fail(
        f"enterprise {n} never reached the registry: {last}\n{suite.log_tail('inspection')}"
    )


def applied_count(suite: Suite) -> float:
    """Events inspection applied from insurance, read from its own metrics endpoint."""
    text = httpx.get(f"http://127.0.0.1:{suite.ports['inspection']}/metrics", timeout=5).text
    wanted = ('outcome="applied"', 'service="inspection"', 'source="insurance"')
    for line in text.splitlines():
        if line.startswith("consumer_events_total{") and all(w in line for w in wanted):
            match = re.search(r"\} ([0-9.e+]+)$", line)
            assert match, line
            return float(match.group(1))
    return 0.0


def test_gateway_reports_every_upstream_healthy(suite: Suite) -> None:
    body = wait_healthy(suite)
    assert body["status"] == "ok"
    upstreams = body["upstreams"]
    assert isinstance(upstreams, dict)
    assert sorted(upstreams) == sorted(SERVICES)
    assert all(u["status"] == "ok" for u in upstreams.values())


def test_policy_crosses_kafka_into_the_registry(suite: Suite) -> None:
    wait_healthy(suite)
    register_insurer(suite)
    register_policy(suite, 1, "gas_station")
    entry = registry_entry(suite, 1)
    assert entry["insurer_id"] == "PICC-QD"
    assert entry["is_insured"] is True
    assert entry["sector"] == "gas_station"


def test_malformed_uscc_is_422_through_the_gateway(suite: Suite) -> None:
    wait_healthy(suite)
    register_insurer(suite)
    body = policy_body(50_002, uscc="91370200MA3C1234OX")
    r = httpx.post(
        f"{suite.gateway}/api/insurance/policies",
        json=body,
        headers=suite.token("insurer", "PICC-QD"),
        timeout=10,
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "uscc"
    listed = httpx.get(
        f"{suite.gateway}/api/insurance/policies",
        headers=suite.token("insurer", "PICC-QD"),
        timeout=10,
    ).json()
    assert "AQ-2026-50002" not in [p["policy_number"] for p in listed["items"]]


def test_broker_outage_and_data_loss_lose_no_event(suite: Suite) -> None:
    wait_healthy(suite)
    register_insurer(suite)
    registry_entry(suite, 1)  # the earlier event has been applied
    before = applied_count(suite)
    suite.broker.stop()
    register_policy(suite, 3, "gas_station")
    # The memory broker comes back empty: topics, offsets and any event it held are gone.
    suite.broker.start()
    assert registry_entry(suite, 3)["insurer_id"] == "PICC-QD"
    register_policy(suite, 4, "gas_station")
    registry_entry(suite, 4)
    time.sleep(3)  # room for any duplicate application to show up
    assert applied_count(suite) - before == 2


def test_instant_licence_through_the_gateway_verifies_then_revoked(suite: Suite) -> None:
    wait_healthy(suite)
    enterprise = suite.token("enterprise", make_uscc(60_001))
    r = httpx.post(
        f"{suite.gateway}/api/permits/applications",
        json={"item_code": "QD-AJ-003", "enterprise_name": "青岛端到端秒批企业"},
        headers=enterprise,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    licence = r.json()["licence"]
    verify = f"{suite.gateway}/api/permits/licences/verify"
    # Anyone can verify: no token.
    assert httpx.get(verify, params={"token": licence["token"]}, timeout=10).json()["valid"]
    r = httpx.post(
        f"{suite.gateway}/api/permits/licences/{licence['number']}/status",
        json={"status": "revoked", "reason": "端到端测试撤销"},
        headers=suite.token("leader"),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    check = httpx.get(verify, params={"token": licence["token"]}, timeout=10).json()
    assert check["status"] == "revoked"
    png = httpx.get(f"{suite.gateway}/api/permits/licences/{licence['number']}/qr.png", timeout=10)
    assert png.content.startswith(b"\x89PNG")


def test_every_write_is_in_a_sealed_audit_chain_the_verify_command_accepts(suite: Suite) -> None:
    """A policy registered over the gateway: the insurer's write in insurance, the event's
    effect in inspection, each in its service's chain; `python -m kernel.audit verify` agrees."""
    wait_healthy(suite)
    register_insurer(suite)
    register_policy(suite, 7, "hazardous_chemicals")
    registry_entry(suite, 7)

    def report(service: str) -> dict[str, Any]:
        async def check() -> dict[str, Any]:
            package = importlib.import_module(f"services.{service}.models")
            engine = make_engine(suite.env[f"{service.upper()}_DATABASE_URL"])
            try:
                return (await audit.verify(engine, package.TABLES.audit)).as_dict()
            finally:
                await engine.dispose()

        return asyncio.run(check())

    deadline = time.monotonic() + 30
    reports = {s: report(s) for s in SERVICES}
    while any(r["unsealed"] for r in reports.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        reports = {s: report(s) for s in SERVICES}
    for service, found in reports.items():
        assert found["ok"], (service, found)
        assert found["unsealed"] == 0, (service, found)
    assert reports["insurance"]["checked"] > 0
    assert reports["inspection"]["checked"] > 0

    # The operator's command, on the same database, says the same.
    url = suite.env["INSURANCE_DATABASE_URL"]
    command = [sys.executable, "-m", "kernel.audit", "verify", "insurance", "--database-url", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "insurance: audit chain intact" in done.stdout

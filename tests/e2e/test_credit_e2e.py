"""Credit end to end over the gateway (flows 2 and 3 of DOMAIN.md), real processes.

Inspection's penalty decisions enter as its contract events on its topic (its case handling
is not built yet); everything else is driven over the gateway with a token per role and checked
as each user would see it: the public list, the enterprise's repair, permits' fast paths.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from kernel.contracts.inspection import PenaltyDecidedV1
from kernel.db import utcnow
from kernel.events import EventEnvelope, to_kafka
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from tests.e2e.conftest import Suite, wait_healthy

pytestmark = pytest.mark.e2e

REPAIRED = make_uscc(61_001)
LISTED = make_uscc(61_002)


class Inspection:
    """Inspection's side: its penalty decisions, on its topic, in its sequence."""

    def __init__(self, suite: Suite) -> None:
        self.suite, self.sequence = suite, 0

    def decide(self, uscc: str, number: int, *, criterion: str | None = None) -> None:
        self.sequence += 1
        payload = PenaltyDecidedV1(
            case_id=str(uuid.uuid4()),
            decision_number=f"青应急罚〔2026〕{number}号",
            uscc=uscc,
            enterprise_name=f"青岛端到端信用企业{number}",
            # Long enough ago that repair is open today (3 months for a general penalty).
            decided_on=shanghai_today() - timedelta(days=100),
            legal_basis="《中华人民共和国安全生产法》第九十九条",
            violation_summary="未按规定对安全设备进行经常性维护、保养",
            fine_amount=None,
            other_measures="警告",
            severity="general",
            blacklist_criterion=criterion,
        )
        envelope = EventEnvelope(
            id=str(uuid.uuid4()),
            source="/inspection",
            type=payload.TYPE,
            subject=uscc,
            time=utcnow(),
            sequence=self.sequence,
            data=payload.model_dump(mode="json"),
        )
        asyncio.run(self._send(envelope))

    async def _send(self, envelope: EventEnvelope) -> None:
        message = to_kafka(envelope)
        producer = AIOKafkaProducer(bootstrap_servers=self.suite.broker.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                "inspection.events",
                value=message.value,
                key=str(message.key).encode(),
                headers=list(message.headers.items()),
            )
        finally:
            await producer.stop()


@pytest.fixture(scope="module")
def inspection(suite: Suite) -> Inspection:
    return Inspection(suite)


def until(suite: Suite, probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"{what} not seen within {timeout}s (last: {last!r})\n{suite.log_tail('credit')}")


def api(suite: Suite, path: str) -> str:
    return f"{suite.gateway}/api/{path}"


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


def test_penalty_is_published_then_repaired_over_the_gateway(
    suite: Suite, inspection: Inspection
) -> None:
    wait_healthy(suite)
    inspection.decide(REPAIRED, 901)
    penalty = until(suite, lambda: public_penalties(suite, REPAIRED), "the penalty in publicity")[0]
    assert "信用修复告知书" in penalty["repair_notice"]
    assert date.fromisoformat(penalty["repair_eligible_on"]) <= shanghai_today()

    enterprise = suite.token("enterprise", REPAIRED)
    r = httpx.post(
        api(suite, "credit/repairs"),
        json={
            "target_kind": "record",
            "target_id": penalty["id"],
            "contact_name": "李经理",
            "contact_phone": "0532-88886666",
            "statement": "安全设备已全部维护保养并建立台账",
            "evidence": [
                {
                    "kind": "rectification_proof",
                    "title": "维护保养台账",
                    "document_sha256": "b" * 64,
                }
            ],
            "commitment_signed": True,
        },
        headers=enterprise,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    application = r.json()
    # Another enterprise cannot see it; the applicant and the officer can.
    other = suite.token("enterprise", LISTED)
    assert (
        httpx.get(api(suite, f"credit/repairs/{application['id']}"), headers=other).status_code
        == 404
    )
    r = httpx.post(
        api(suite, f"credit/repairs/{application['id']}/decision"),
        json={"outcome": "approved", "reason": "整改到位，材料真实"},
        headers=suite.token("officer", "officer-e2e"),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert public_penalties(suite, REPAIRED) == []
    mine = httpx.get(api(suite, "credit/repairs"), headers=enterprise, timeout=10).json()["items"]
    assert [(a["id"], a["state"]) for a in mine] == [(application["id"], "approved")]

    def repaired_in_feed() -> bool:
        feed = httpx.get(api(suite, "credit/changes"), params={"after": 0}, timeout=10).json()
        return any(
            item["type"] == "credit.publicity.ended.v1" and item["data"]["reason"] == "repaired"
            for item in feed["items"]
        )

    until(suite, repaired_in_feed, "the repair in the public change feed")


def test_black_listing_stops_permits_fast_paths_until_reversed(
    suite: Suite, inspection: Inspection
) -> None:
    wait_healthy(suite)
    assert instant_path(suite, LISTED) == "instant"
    inspection.decide(LISTED, 902, criterion="penalty_evaded")
    penalty = until(suite, lambda: public_penalties(suite, LISTED), "the penalty in publicity")[0]

    officer = suite.token("officer", "officer-e2e")
    cases = httpx.get(api(suite, "credit/blacklist/cases"), headers=officer, timeout=10).json()
    case = next(c for c in cases["items"] if c["uscc"] == LISTED)
    r = httpx.post(api(suite, f"credit/blacklist/{case['id']}/notice"), headers=officer, timeout=10)
    assert r.status_code == 200, r.text
    r = httpx.post(
        api(suite, f"credit/blacklist/{case['id']}/objection"),
        json={"statement": "罚款已缴清，请求不予列入"},
        headers=suite.token("enterprise", LISTED),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    # An officer may not decide; the leader does.
    decision = {"outcome": "listed", "reason": "缴款发生在强制执行之后，逃避执行的事实成立"}
    r = httpx.post(
        api(suite, f"credit/blacklist/{case['id']}/decision"), json=decision, headers=officer
    )
    assert r.status_code == 403
    r = httpx.post(
        api(suite, f"credit/blacklist/{case['id']}/decision"),
        json=decision,
        headers=suite.token("leader", "leader-e2e"),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert standing(suite, LISTED) == "blacklisted"
    listed = httpx.get(api(suite, "credit/blacklist"), params={"q": LISTED}, timeout=10).json()
    assert [e["uscc"] for e in listed["items"]] == [LISTED]
    until(suite, lambda: instant_path(suite, LISTED) == "standard", "permits stopping fast paths")

    # The penalty decision is revoked on reconsideration: the listing falls with it.
    r = httpx.post(
        api(suite, f"credit/records/{penalty['id']}/reversal"),
        json={"reason": "行政复议撤销原处罚决定", "document_number": "青政复决〔2026〕8号"},
        headers=suite.token("leader", "leader-e2e"),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    assert standing(suite, LISTED) == "normal"
    until(suite, lambda: instant_path(suite, LISTED) == "instant", "permits back to normal")

"""An enterprise's public credit history (`GET /public/enterprises/{uscc}/history`), on SQLite
and PostgreSQL, with data made through credit's own API: a penalty in publicity, a repair
applied for (not public), approved (public), revoked (public, restored); a black listing
repaired; a red listing; what never was public stays out, and no private value appears."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.errors import PROBLEM_JSON
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import public_history_router
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app
from tests.support import bearer, running

USCC_A = make_uscc(951)
USCC_B = make_uscc(952)
USCC_C = make_uscc(953)
NOBODY = make_uscc(959)
NAME_A = "青岛海湾化工有限公司"
NAME_B = "青岛北港物流有限公司"
RECORDED = date(2026, 3, 12)  # penalties decided 2026-03-10, general: repairable from 11 June
ELIGIBLE = date(2026, 6, 11)
DECIDED = date(2026, 6, 12)
REVOKED = date(2026, 7, 1)
ROUTE = "/public/enterprises/{uscc}/history"

# Values only the enterprise and the bureau hold; none may ever reach the public history.
STATEMENT = "PRIVATE-STATEMENT-8841 已完成整改"
CONTACT = "PRIVATE-CONTACT-8842"
REJECTION = "PRIVATE-REJECTION-8843 材料不全"
APPROVAL = "PRIVATE-APPROVAL-8844 经现场核实"
REVOCATION = "PRIVATE-REVOCATION-8845 整改报告系伪造"
FACTS = "PRIVATE-FACTS-8846"
GROUNDS = "PRIVATE-GROUNDS-8847"
CERTIFICATE = "AQBPRIVATE8848"
PRIVATE = (STATEMENT, CONTACT, REJECTION, APPROVAL, REVOCATION, FACTS, GROUNDS, CERTIFICATE)


def with_history(app: FastAPI) -> FastAPI:
    """The app with the history route, unless its main module already includes it."""
    if not any(getattr(r, "path", None) == ROUTE for r in app.routes):
        app.include_router(public_history_router.router)
    return app


@dataclass
class Api:
    client: httpx.AsyncClient
    app: FastAPI
    issuer: DevIssuer

    def travel_to(self, day: date) -> None:
        self.app.dependency_overrides[business_today] = lambda: day

    def as_(self, role: str, sub: str) -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    async def ok(self, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
        r = await self.client.request(method, url, headers=headers, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def history(self, uscc: str) -> dict[str, Any]:
        r = await self.client.get(f"/public/enterprises/{uscc}/history")  # no token: public
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "public, max-age=60"
        for marker in PRIVATE:
            assert marker not in r.text
        # Who did it is the bureau's: officers' keys never appear.
        assert "officer-001" not in r.text
        assert "leader-001" not in r.text
        body: dict[str, Any] = r.json()
        return body

    async def penalty(self, uscc: str, name: str, number: int, decided_on: str) -> str:
        body = {
            "uscc": uscc,
            "enterprise_name": name,
            "decision_number": f"青应急罚〔2026〕{number}号",
            "decided_on": decided_on,
            "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
            "violation_summary": "未对重大危险源进行定期检测、评估、监控",
            "fine_amount": "50000.00",
            "other_measures": "责令限期改正",
            "severity": "general",
            "source": "inspection",
        }
        return str(
            (await self.ok("POST", "/penalties", self.as_("officer", "officer-001"), json=body))[
                "id"
            ]
        )

    async def apply(self, uscc: str, kind: str, target_id: str) -> str:
        body = {
            "target_kind": kind,
            "target_id": target_id,
            "contact_name": CONTACT,
            "contact_phone": "0532-88886666",
            "statement": STATEMENT,
            "evidence": [
                {"kind": "rectification_proof", "title": "整改报告", "document_sha256": "a" * 64}
            ],
            "commitment_signed": True,
        }
        return str(
            (await self.ok("POST", "/repairs", self.as_("enterprise", uscc), json=body))["id"]
        )

    async def decide(self, repair_id: str, outcome: str, reason: str) -> None:
        await self.ok(
            "POST",
            f"/repairs/{repair_id}/decision",
            self.as_("officer", "officer-001"),
            json={"outcome": outcome, "reason": reason},
        )


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Api]:
    settings = CreditSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    app = with_history(create_app(settings))
    async with running(app) as (client, _runtime):
        api = Api(client, app, issuer)
        api.travel_to(RECORDED)
        yield api


def kinds(entry: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["occurred_on"], s["kind"]) for s in entry["steps"]]


async def test_a_penalty_from_publicity_through_repair_and_revocation(api: Api) -> None:
    repaired = await api.penalty(USCC_A, NAME_A, 12, "2026-03-10")
    refused = await api.penalty(USCC_A, NAME_A, 13, "2026-03-10")

    body = await api.history(USCC_A)
    assert (body["uscc"], body["enterprise_name"], body["as_of"]) == (USCC_A, NAME_A, "2026-03-12")
    assert body["truncated"] is False
    first = {e["id"]: e for e in body["entries"]}[repaired]
    assert first["kind"] == "penalty"
    assert first["document_number"] == "青应急罚〔2026〕12号"
    assert first["is_current"] is True
    assert first["particulars"] == {
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
        "summary": "未对重大危险源进行定期检测、评估、监控",
        "fine_amount": "50000.00",
        "other_measures": "责令限期改正",
    }
    assert first["repair"] == {
        "status": "none",
        "eligible_on": "2026-06-11",
        "repaired_on": None,
        "revoked_on": None,
    }
    assert kinds(first) == [("2026-03-12", "published")]

    # Applications are the enterprise's business: nothing public changes.
    api.travel_to(ELIGIBLE)
    approved_id = await api.apply(USCC_A, "record", repaired)
    refused_id = await api.apply(USCC_A, "record", refused)
    pending = {e["id"]: e for e in (await api.history(USCC_A))["entries"]}
    assert pending[repaired]["repair"]["status"] == "none"
    assert kinds(pending[repaired]) == [("2026-03-12", "published")]

    api.travel_to(DECIDED)
    await api.decide(approved_id, "approved", APPROVAL)
    await api.decide(refused_id, "rejected", REJECTION)
    body = await api.history(USCC_A)
    entries = {e["id"]: e for e in body["entries"]}
    done = entries[repaired]
    assert done["repair"] == {
        "status": "repaired",
        "eligible_on": None,
        "repaired_on": "2026-06-12",
        "revoked_on": None,
    }
    assert (done["is_current"], done["ended_on"], done["end_reason"]) == (
        False,
        "2026-06-12",
        "repaired",
    )
    # Out of publicity: the decision's particulars are withdrawn, the repair stays announced.
    assert done["particulars"] is None
    assert done["document_number"] == "青应急罚〔2026〕12号"
    assert kinds(done) == [("2026-03-12", "published"), ("2026-06-12", "repaired")]
    # A refusal is the enterprise's: the refused record reads as before, still in publicity.
    assert entries[refused]["repair"]["status"] == "none"
    assert entries[refused]["is_current"] is True
    assert kinds(entries[refused]) == [("2026-03-12", "published")]
    assert [(s["occurred_on"], s["kind"], s["document_number"]) for s in body["timeline"]] == [
        ("2026-03-12", "published", "青应急罚〔2026〕12号"),
        ("2026-03-12", "published", "青应急罚〔2026〕13号"),
        ("2026-06-12", "repaired", "青应急罚〔2026〕12号"),
    ]

    api.travel_to(REVOKED)
    await api.ok(
        "POST",
        f"/repairs/{approved_id}/revocation",
        api.as_("leader", "leader-001"),
        json={"reason": REVOCATION},
    )
    again = {e["id"]: e for e in (await api.history(USCC_A))["entries"]}[repaired]
    assert again["repair"] == {
        "status": "revoked",
        "eligible_on": "2026-06-11",
        "repaired_on": "2026-06-12",
        "revoked_on": "2026-07-01",
    }
    assert (again["is_current"], again["ended_on"], again["end_reason"]) == (True, None, None)
    assert again["particulars"] is not None
    assert kinds(again) == [
        ("2026-03-12", "published"),
        ("2026-06-12", "repaired"),
        ("2026-07-01", "restored"),
    ]


async def test_publicity_past_its_last_day_withdraws_the_particulars(api: Api) -> None:
    record = await api.penalty(USCC_A, NAME_A, 21, "2026-03-10")
    live = (await api.history(USCC_A))["entries"][0]
    api.travel_to(date.fromisoformat(live["ends_on"]).replace(day=1).replace(year=2030))
    # Past its last day the record is off the lists even before the daily pass ends it.
    (gone,) = (await api.history(USCC_A))["entries"]
    assert gone["id"] == record
    assert (gone["is_current"], gone["particulars"]) == (False, None)
    assert gone["repair"]["eligible_on"] is None
    assert kinds(gone) == [("2026-03-12", "published")]


async def test_a_reversed_decision_keeps_only_its_announcement(api: Api) -> None:
    record = await api.penalty(USCC_C, NAME_A, 31, "2026-03-10")
    api.travel_to(date(2026, 4, 2))
    await api.ok(
        "POST",
        f"/records/{record}/reversal",
        api.as_("leader", "leader-001"),
        json={"reason": REVOCATION, "document_number": "青政复决字〔2026〕3号"},
    )
    (entry,) = (await api.history(USCC_C))["entries"]
    assert (entry["is_current"], entry["ended_on"], entry["end_reason"]) == (
        False,
        "2026-04-02",
        "reversed",
    )
    assert entry["particulars"] is None
    assert entry["repair"]["status"] == "none"
    assert kinds(entry) == [("2026-03-12", "published"), ("2026-04-02", "reversed")]
    assert "青政复决字〔2026〕3号" in entry["steps"][1]["note"]


async def test_black_and_red_list_entries_with_their_repair(api: Api) -> None:
    officer, leader = api.as_("officer", "officer-001"), api.as_("leader", "leader-001")
    api.travel_to(date(2026, 3, 2))
    red = await api.ok(
        "POST",
        "/redlist",
        officer,
        json={
            "uscc": USCC_B,
            "enterprise_name": NAME_B,
            "standardisation_level": 2,
            "standardisation_certificate": CERTIFICATE,
            "accident_free_attested": True,
            "joint_incentive": True,
            "grounds": f"连续三年安全生产标准化二级达标 {GROUNDS}",
        },
    )
    await api.ok("POST", f"/redlist/{red['id']}/decision", leader, json={"outcome": "approved"})

    # A case proposed and noticed but not decided is not public.
    case = await api.ok(
        "POST",
        "/blacklist",
        officer,
        json={
            "uscc": USCC_A,
            "enterprise_name": NAME_A,
            "criterion": "unlicensed_operation",
            "facts": f"许可证被暂扣期间仍从事经营活动。{FACTS}",
            "basis_record_ids": [],
        },
    )
    await api.ok("POST", f"/blacklist/{case['id']}/notice", officer)
    assert (await api.history(USCC_A))["entries"] == []

    api.travel_to(date(2026, 3, 20))
    listed = await api.ok(
        "POST",
        f"/blacklist/{case['id']}/decision",
        leader,
        json={"outcome": "listed", "reason": None},
    )
    (entry,) = (await api.history(USCC_A))["entries"]
    assert (entry["kind"], entry["is_current"], entry["starts_on"]) == (
        "blacklist",
        True,
        "2026-03-20",
    )
    assert entry["criterion_zh"].startswith("未依法取得安全生产相关许可")
    assert entry["repair"]["status"] == "none"
    assert kinds(entry) == [("2026-03-20", "listed")]

    early = date.fromisoformat(listed["early_removal_on"])
    api.travel_to(early)
    repair_id = await api.apply(USCC_A, "blacklist", case["id"])
    await api.decide(repair_id, "approved", APPROVAL)
    (entry,) = (await api.history(USCC_A))["entries"]
    assert entry["repair"] == {
        "status": "repaired",
        "eligible_on": None,
        "repaired_on": early.isoformat(),
        "revoked_on": None,
    }
    assert (entry["is_current"], entry["ended_on"], entry["end_reason"]) == (
        False,
        early.isoformat(),
        "repaired",
    )
    assert kinds(entry) == [("2026-03-20", "listed"), (early.isoformat(), "removed_repaired")]

    body = await api.history(USCC_B)
    (red_entry,) = body["entries"]
    assert body["enterprise_name"] == NAME_B
    assert (
        red_entry["kind"],
        red_entry["standardisation_level"],
        red_entry["joint_incentive"],
    ) == (
        "redlist",
        2,
        True,
    )
    assert red_entry["repair"]["status"] == "not_applicable"
    assert kinds(red_entry) == [("2026-03-02", "listed")]


async def test_unknown_and_malformed_codes(api: Api) -> None:
    body = await api.history(NOBODY)
    assert body == {
        "uscc": NOBODY,
        "enterprise_name": None,
        "as_of": "2026-03-12",
        "entries": [],
        "timeline": [],
        "truncated": False,
    }
    wrong = NOBODY[:-1] + ("0" if NOBODY[-1] != "0" else "1")
    r = await api.client.get(f"/public/enterprises/{wrong}/history")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    assert "uscc" in r.text

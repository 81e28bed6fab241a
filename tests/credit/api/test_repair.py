"""Credit repair API (信用修复): apply, decide within 3 working days, revoke, read — on SQLite and
PostgreSQL, with the business date pinned through `business_today`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.pagination import encode_cursor
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import repair
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app
from services.credit.models import (
    BlacklistEntry,
    CreditRecord,
    HistoryEntry,
    RepairApplication,
    Standing,
    WebsiteDelivery,
)
from tests.support import bearer, running

USCC_A = make_uscc(401)
USCC_B = make_uscc(402)
RECORDED = date(2026, 3, 12)  # penalty decided 2026-03-10, general: repairable from 2026-06-11
ELIGIBLE = date(2026, 6, 11)  # a Thursday; due three working days later, Tuesday 16 June
DUE = date(2026, 6, 16)
SHA = "a" * 64


def penalty_body(uscc: str = USCC_A, number: int = 12) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "enterprise_name": "青岛海湾化工有限公司",
        "decision_number": f"青应急罚〔2026〕{number}号",
        "decided_on": "2026-03-10",
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
        "violation_summary": "未对重大危险源进行定期检测、评估、监控",
        "fine_amount": "50000.00",
        "other_measures": "责令限期改正",
        "severity": "general",
        "source": "inspection",
    }


def repair_body(target_id: str, kind: str = "record", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "target_kind": kind,
        "target_id": target_id,
        "contact_name": "王安全",
        "contact_phone": "0532-88886666",
        "statement": "已完成重大危险源检测评估并建立监控制度，罚款已缴纳。",
        "evidence": [
            {"kind": "rectification_proof", "title": "整改报告", "document_sha256": SHA},
            {"kind": "fine_paid", "title": "罚款缴纳凭证", "url": "https://example.cn/r.pdf"},
        ],
        "commitment_signed": True,
    }
    body.update(overrides)
    return body


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer

    def travel_to(self, day: date) -> None:
        self.app.dependency_overrides[business_today] = lambda: day

    def as_(self, role: str, sub: str) -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    @property
    def officer(self) -> dict[str, str]:
        return self.as_("officer", "officer-001")

    @property
    def leader(self) -> dict[str, str]:
        return self.as_("leader", "leader-001")

    def enterprise(self, uscc: str = USCC_A) -> dict[str, str]:
        return self.as_("enterprise", uscc)

    async def penalty(self, uscc: str = USCC_A, number: int = 12) -> str:
        """A published penalty recorded on RECORDED; the business date moves to ELIGIBLE."""
        self.travel_to(RECORDED)
        r = await self.client.post(
            "/penalties", json=penalty_body(uscc, number), headers=self.officer
        )
        assert r.status_code == 201, r.text
        self.travel_to(ELIGIBLE)
        return str(r.json()["id"])

    async def apply(self, target_id: str, uscc: str = USCC_A, **overrides: Any) -> httpx.Response:
        return await self.client.post(
            "/repairs", json=repair_body(target_id, **overrides), headers=self.enterprise(uscc)
        )

    async def applied(self, target_id: str, uscc: str = USCC_A, **overrides: Any) -> str:
        r = await self.apply(target_id, uscc, **overrides)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def decide(
        self, repair_id: str, outcome: str = "approved", reason: str | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/repairs/{repair_id}/decision",
            json={"outcome": outcome, "reason": reason},
            headers=self.officer,
        )

    async def revoke(self, repair_id: str, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(
            f"/repairs/{repair_id}/revocation",
            json={"reason": "整改证明系伪造（以欺诈手段获得信用修复）"},
            headers=headers,
        )

    async def listing(self, uscc: str = USCC_A, *, early_removal_on: date = ELIGIBLE) -> str:
        """A black-list case in state listed, as the lists workflow leaves it."""
        entry_id = str(uuid.uuid4())
        async with unit_of_work(self.runtime.session_factory) as session:
            session.add(
                BlacklistEntry(
                    id=entry_id,
                    uscc=uscc,
                    enterprise_name="青岛海湾化工有限公司",
                    criterion="major_accident",
                    facts="一年内两次因重大事故隐患受到行政处罚",
                    basis_record_ids=[],
                    state="listed",
                    active_key=uscc,
                    proposed_on=date(2025, 5, 1),
                    proposed_by="officer:officer-001",
                    decided_on=date(2025, 6, 1),
                    decided_by="leader:leader-001",
                    listed_until=date(2028, 6, 1),
                    early_removal_on=early_removal_on,
                    rule_pack_id="test",
                    rule_pack_version="1",
                    created_at=utcnow(),
                    version=1,
                )
            )
            await session.merge(
                Standing(
                    uscc=uscc, standing="blacklisted", since=date(2025, 6, 1), updated_at=utcnow()
                )
            )
        return entry_id


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
    app = create_app(settings)
    async with running(app) as (client, runtime):
        api = Api(client, runtime, app, issuer)
        api.travel_to(ELIGIBLE)
        yield api


async def rows(runtime: ServiceRuntime, model: Any, *where: Any) -> list[Any]:
    async with runtime.session_factory() as session:
        return list((await session.scalars(sa.select(model).where(*where))).all())


async def event_types(runtime: ServiceRuntime) -> list[str]:
    table = runtime.tables.outbox
    async with runtime.session_factory() as session:
        result = await session.execute(sa.select(table.c.type, table.c.data).order_by(table.c.id))
        return [row.type for row in result]


async def events(runtime: ServiceRuntime, type_: str) -> list[dict[str, Any]]:
    table = runtime.tables.outbox
    async with runtime.session_factory() as session:
        result = await session.execute(
            sa.select(table.c.data).where(table.c.type == type_).order_by(table.c.id)
        )
        return [dict(row.data) for row in result]


async def public_penalty_ids(api: Api) -> set[str]:
    r = await api.client.get("/penalties")
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


class TestApply:
    async def test_too_early_names_the_eligible_date_and_writes_nothing(self, api: Api) -> None:
        record_id = await api.penalty()
        api.travel_to(ELIGIBLE - timedelta(days=1))
        r = await api.apply(record_id)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert r.headers["content-type"] == "application/problem+json"
        assert problem["code"] == "repair_not_yet_eligible"
        assert problem["field"] == "target_id"
        assert problem["eligible_on"] == "2026-06-11"
        assert "2026-06-11" in problem["detail"]
        assert await rows(api.runtime, RepairApplication) == []

    async def test_received_with_its_due_date_and_private_history(self, api: Api) -> None:
        record_id = await api.penalty()
        r = await api.apply(record_id)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["state"] == "pending"
        assert (body["received_on"], body["due_on"]) == ("2026-06-11", "2026-06-16")
        assert body["due_note"] is None
        assert body["working_days_remaining"] == 3
        assert body["is_overdue"] is False
        assert body["on_time"] is None
        assert body["uscc"] == USCC_A
        assert body["applicant"] == f"enterprise:{USCC_A}"
        assert body["evidence"][0]["document_sha256"] == SHA
        assert [h["kind"] for h in body["history"]] == ["applied"]
        (row,) = await rows(api.runtime, RepairApplication)
        assert row.active_key == f"record:{record_id}"
        on_target = await rows(
            api.runtime, HistoryEntry, HistoryEntry.subject_id == record_id,
            HistoryEntry.kind == "repair_applied",
        )  # fmt: skip
        assert [h.public for h in on_target] == [False]
        # The application does not change what the public sees.
        assert record_id in await public_penalty_ids(api)

    async def test_another_enterprises_target_looks_absent(self, api: Api) -> None:
        record_id = await api.penalty()
        stranger = await api.apply(record_id, uscc=USCC_B)
        missing = await api.apply(str(uuid.uuid4()), uscc=USCC_B)
        assert stranger.status_code == missing.status_code == 404
        assert stranger.json()["code"] == missing.json()["code"] == "repair_target_not_found"
        assert await rows(api.runtime, RepairApplication) == []

    async def test_duplicate_pending_is_a_conflict(self, api: Api) -> None:
        record_id = await api.penalty()
        await api.applied(record_id)
        r = await api.apply(record_id)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "repair_pending"
        assert len(await rows(api.runtime, RepairApplication)) == 1

    async def test_refused_applications_change_nothing(self, api: Api) -> None:
        record_id = await api.penalty()
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"contact_phone": "12345"}, "validation_failed", "contact_phone"),
            ({"commitment_signed": False}, "commitment_not_signed", "commitment_signed"),
            ({"evidence": []}, "evidence_missing", "evidence"),
            ({"evidence": [{"kind": "other", "title": "照片"}]}, "validation_failed", "evidence.0"),
            (
                {"evidence": [{"kind": "other", "title": "x", "document_sha256": "abc"}]},
                "validation_failed",
                "evidence.0.document_sha256",
            ),
        ]
        for overrides, code, field in cases:
            r = await api.apply(record_id, **overrides)
            assert r.status_code == 422, (overrides, r.text)
            problem = r.json()
            assert problem["code"] == code, problem
            fields = [e["field"] for e in problem.get("errors", [])] or [problem.get("field")]
            assert field in fields, problem
        assert await rows(api.runtime, RepairApplication) == []

    async def test_incentive_and_bureau_callers_refused(self, api: Api) -> None:
        record_id = await api.penalty()
        r = await api.client.post("/repairs", json=repair_body(record_id), headers=api.officer)
        assert r.status_code == 403
        r = await api.client.post("/repairs", json=repair_body(record_id))
        assert r.status_code == 401

    async def test_idempotency_key_applies_once(self, api: Api) -> None:
        record_id = await api.penalty()
        headers = {**api.enterprise(), "Idempotency-Key": "repair-0001"}
        first = await api.client.post("/repairs", json=repair_body(record_id), headers=headers)
        again = await api.client.post("/repairs", json=repair_body(record_id), headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert len(await rows(api.runtime, RepairApplication)) == 1

    async def test_calendar_not_loaded_accepts_without_due_date(self, api: Api) -> None:
        record_id = await api.penalty()
        api.travel_to(date(2026, 12, 30))  # three working days reach into 2027, not published
        r = await api.apply(record_id)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["due_on"] is None
        assert "calendar not loaded" in body["due_note"]
        assert body["is_overdue"] is False
        assert body["working_days_remaining"] is None


class TestDecide:
    async def test_approval_ends_publicity_and_queues_the_website(self, api: Api) -> None:
        record_id = await api.penalty()
        repair_id = await api.applied(record_id)
        assert record_id in await public_penalty_ids(api)
        r = await api.decide(repair_id)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["state"] == "approved"
        assert body["on_time"] is True
        assert body["decided_by"] == "officer:officer-001"
        assert [h["kind"] for h in body["history"]] == ["applied", "approved"]
        assert record_id not in await public_penalty_ids(api)
        (record,) = await rows(api.runtime, CreditRecord, CreditRecord.id == record_id)
        assert (record.state, record.end_reason, record.ended_on) == ("ended", "repaired", ELIGIBLE)
        types = await event_types(api.runtime)
        assert "credit.publicity.ended.v1" in types
        (decided,) = await events(api.runtime, "credit.repair.decided.v1")
        assert decided["outcome"] == "approved"
        assert decided["on_time"] is True
        assert decided["due_on"] == "2026-06-16"
        (delivery,) = await rows(api.runtime, WebsiteDelivery)
        assert (delivery.kind, delivery.state, delivery.subject_id) == (
            "repair_approved",
            "pending",
            repair_id,
        )
        assert delivery.payload["document_number"] == "青应急罚〔2026〕12号"
        assert delivery.payload["uscc"] == USCC_A
        assert delivery.payload["decided_on"] == "2026-06-11"
        (app_row,) = await rows(api.runtime, RepairApplication)
        assert app_row.active_key is None
        again = await api.decide(repair_id)
        assert again.status_code == 409
        assert again.json()["code"] == "repair_not_pending"

    async def test_rejection_needs_a_reason_and_is_not_pushed(self, api: Api) -> None:
        record_id = await api.penalty()
        repair_id = await api.applied(record_id)
        r = await api.decide(repair_id, "rejected")
        assert r.status_code == 422
        assert (r.json()["code"], r.json()["field"]) == ("reason_required", "reason")
        (row,) = await rows(api.runtime, RepairApplication)
        assert row.state == "pending"
        r = await api.decide(repair_id, "rejected", "罚款缴纳凭证与决定书金额不符")
        assert r.status_code == 200, r.text
        assert r.json()["decision_reason"] == "罚款缴纳凭证与决定书金额不符"
        mine = await api.client.get(f"/repairs/{repair_id}", headers=api.enterprise())
        assert mine.json()["history"][-1]["kind"] == "rejected"
        assert record_id in await public_penalty_ids(api)
        assert await rows(api.runtime, WebsiteDelivery) == []
        assert "credit.publicity.ended.v1" not in await event_types(api.runtime)
        # The target is free again: the enterprise may correct and apply anew.
        await api.applied(record_id)

    async def test_enterprise_cannot_decide(self, api: Api) -> None:
        repair_id = await api.applied(await api.penalty())
        r = await api.client.post(
            f"/repairs/{repair_id}/decision",
            json={"outcome": "approved"},
            headers=api.enterprise(),
        )
        assert r.status_code == 403

    async def test_blacklist_approval_restores_normal_standing(self, api: Api) -> None:
        entry_id = await api.listing()
        repair_id = await api.applied(entry_id, kind="blacklist")
        r = await api.decide(repair_id)
        assert r.status_code == 200, r.text
        (entry,) = await rows(api.runtime, BlacklistEntry)
        assert (entry.state, entry.removal_reason) == ("removed", "repaired")
        assert entry.active_key is None
        (changed,) = await events(api.runtime, "credit.standing.changed.v1")
        assert (changed["uscc"], changed["previous"], changed["standing"]) == (
            USCC_A,
            "blacklisted",
            "normal",
        )
        (delivery,) = await rows(api.runtime, WebsiteDelivery)
        assert delivery.payload["target_kind"] == "blacklist"
        assert delivery.payload["document_number"] is None

    async def test_blacklist_before_early_removal_date(self, api: Api) -> None:
        entry_id = await api.listing(early_removal_on=ELIGIBLE + timedelta(days=30))
        r = await api.apply(entry_id, kind="blacklist")
        assert r.status_code == 422
        assert r.json()["eligible_on"] == "2026-07-11"

    async def test_overdue_after_the_due_date(self, api: Api) -> None:
        repair_id = await api.applied(await api.penalty())
        api.travel_to(DUE)
        on_due = (await api.client.get(f"/repairs/{repair_id}", headers=api.officer)).json()
        assert (on_due["is_overdue"], on_due["working_days_remaining"]) == (False, 0)
        api.travel_to(DUE + timedelta(days=1))
        late = await api.client.get(f"/repairs/{repair_id}", headers=api.officer)
        assert (late.json()["is_overdue"], late.json()["working_days_remaining"]) == (True, -1)
        overdue = await api.client.get("/repairs?overdue=true", headers=api.officer)
        assert [i["id"] for i in overdue.json()["items"]] == [repair_id]
        on_track = await api.client.get("/repairs?overdue=false", headers=api.officer)
        assert on_track.json()["items"] == []
        async with api.runtime.session_factory() as session:
            assert await repair.refresh_overdue_gauge(session, DUE + timedelta(days=1)) == 1
        gauge = REGISTRY.get_sample_value("credit_repairs_overdue", {"service": "credit"})
        assert gauge == 1
        r = await api.decide(repair_id)
        assert r.json()["on_time"] is False
        assert r.json()["is_overdue"] is False
        assert REGISTRY.get_sample_value("credit_repairs_overdue", {"service": "credit"}) == 0
        (decided,) = await events(api.runtime, "credit.repair.decided.v1")
        assert decided["on_time"] is False


class TestRevoke:
    async def test_leader_revokes_and_the_record_is_public_again(self, api: Api) -> None:
        record_id = await api.penalty()
        repair_id = await api.applied(record_id)
        await api.decide(repair_id)
        assert record_id not in await public_penalty_ids(api)
        api.travel_to(date(2026, 7, 1))
        forbidden = await api.revoke(repair_id, api.officer)
        assert forbidden.status_code == 403
        r = await api.revoke(repair_id, api.leader)
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["revoked_on"]) == ("revoked", "2026-07-01")
        assert record_id in await public_penalty_ids(api)
        types = await event_types(api.runtime)
        assert "credit.publicity.restored.v1" in types
        (revoked,) = await events(api.runtime, "credit.repair.revoked.v1")
        assert revoked["application_id"] == repair_id
        kinds = sorted(d.kind for d in await rows(api.runtime, WebsiteDelivery))
        assert kinds == ["repair_approved", "repair_revoked"]
        again = await api.revoke(repair_id, api.leader)
        assert again.status_code == 409
        assert again.json()["code"] == "repair_not_approved"

    async def test_restored_after_its_window_stays_out_of_publicity(self, api: Api) -> None:
        record_id = await api.penalty()
        repair_id = await api.applied(record_id)
        await api.decide(repair_id)
        api.travel_to(date(2027, 3, 11))  # the original window ended on 2027-03-10
        r = await api.revoke(repair_id, api.leader)
        assert r.status_code == 200, r.text
        (record,) = await rows(api.runtime, CreditRecord, CreditRecord.id == record_id)
        assert record.state == "published"
        assert record_id not in await public_penalty_ids(api)

    async def test_pending_cannot_be_revoked(self, api: Api) -> None:
        repair_id = await api.applied(await api.penalty())
        r = await api.revoke(repair_id, api.leader)
        assert r.status_code == 409

    async def test_blacklist_restore_conflicts_with_a_newer_open_case(self, api: Api) -> None:
        entry_id = await api.listing()
        repair_id = await api.applied(entry_id, kind="blacklist")
        await api.decide(repair_id)
        await api.listing()  # a new case listed since the repair
        r = await api.revoke(repair_id, api.leader)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "blacklist_case_open"
        (row,) = await rows(api.runtime, RepairApplication)
        assert row.state == "approved"
        assert await events(api.runtime, "credit.repair.revoked.v1") == []

    async def test_blacklist_revocation_relists(self, api: Api) -> None:
        entry_id = await api.listing()
        repair_id = await api.applied(entry_id, kind="blacklist")
        await api.decide(repair_id)
        r = await api.revoke(repair_id, api.leader)
        assert r.status_code == 200, r.text
        (entry,) = await rows(api.runtime, BlacklistEntry)
        assert (entry.state, entry.active_key) == ("listed", USCC_A)
        standings = [e["standing"] for e in await events(api.runtime, "credit.standing.changed.v1")]
        assert standings == ["normal", "blacklisted"]


class TestRead:
    async def test_enterprise_sees_only_its_own(self, api: Api) -> None:
        mine = await api.applied(await api.penalty(USCC_A, 12))
        theirs = await api.applied(await api.penalty(USCC_B, 13), uscc=USCC_B)
        own = await api.client.get("/repairs", headers=api.enterprise())
        assert [i["id"] for i in own.json()["items"]] == [mine]
        peek = await api.client.get("/repairs", params={"uscc": USCC_B}, headers=api.enterprise())
        assert peek.json()["items"] == []
        other = await api.client.get(f"/repairs/{theirs}", headers=api.enterprise())
        assert other.status_code == 404
        assert other.json()["code"] == "repair_not_found"
        everyone = await api.client.get("/repairs", headers=api.officer)
        assert {i["id"] for i in everyone.json()["items"]} == {mine, theirs}
        only_b = await api.client.get("/repairs", params={"uscc": USCC_B}, headers=api.officer)
        assert [i["id"] for i in only_b.json()["items"]] == [theirs]
        public = await api.client.get("/repairs")
        assert public.status_code == 401

    async def test_filters_and_pages(self, api: Api) -> None:
        first = await api.applied(await api.penalty(USCC_A, 12))
        second = await api.applied(await api.penalty(USCC_A, 13))
        await api.decide(first)
        pending = await api.client.get("/repairs?state=pending", headers=api.officer)
        assert [i["id"] for i in pending.json()["items"]] == [second]
        page1 = await api.client.get("/repairs?limit=1", headers=api.officer)
        assert [i["id"] for i in page1.json()["items"]] == [second]
        cursor = page1.json()["next_cursor"]
        page2 = await api.client.get(f"/repairs?limit=1&cursor={cursor}", headers=api.officer)
        assert [i["id"] for i in page2.json()["items"]] == [first]
        assert page2.json()["next_cursor"] is None

    async def test_a_cursor_with_a_naive_instant_is_422_not_500(self, api: Api) -> None:
        cursor = encode_cursor("2026-06-11T08:00:00", "x")
        r = await api.client.get("/repairs", params={"cursor": cursor}, headers=api.officer)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == "cursor"


class TestPrivateReasons:
    """The officer's and the leader's own words are the enterprise's and the bureau's: the
    public history of the target and the standing event carry a fixed note."""

    SECRET = "经电话核实，联系人王安全（13912345678）承认整改报告系代写"

    async def public_notes(self, api: Api, path: str) -> list[str]:
        r = await api.client.get(path)
        assert r.status_code == 200, r.text
        return [h["note"] for h in r.json()["history"]]

    async def test_approval_reason_is_not_published(self, api: Api) -> None:
        record_id = await api.penalty()
        repair_id = await api.applied(record_id)
        assert (await api.decide(repair_id, reason=self.SECRET)).status_code == 200
        # Public again after a revocation, the record shows its "repaired" step to everyone.
        assert (await api.revoke(repair_id, api.leader)).status_code == 200
        notes = await self.public_notes(api, f"/records/{record_id}")
        assert len(notes) == 3
        assert not any(self.SECRET in n for n in notes)
        own = await api.client.get(f"/records/{record_id}", headers=api.enterprise())
        assert self.SECRET in [(h["detail"] or {}).get("reason") for h in own.json()["history"]]
        # A black-list entry removed by a repair is public, with its history.
        entry_id = await api.listing(USCC_B)
        listing_repair = await api.applied(entry_id, uscc=USCC_B, kind="blacklist")
        assert (await api.decide(listing_repair, reason=self.SECRET)).status_code == 200
        notes_b = await self.public_notes(api, f"/blacklist/{entry_id}")
        assert notes_b
        assert not any(self.SECRET in n for n in notes_b)
        standing = await events(api.runtime, "credit.standing.changed.v1")
        assert standing
        assert not any(self.SECRET in e["reason"] for e in standing)

    async def test_revocation_reason_is_not_published(self, api: Api) -> None:
        record_id = await api.penalty()
        repair_id = await api.applied(record_id)
        await api.decide(repair_id)
        r = await api.client.post(
            f"/repairs/{repair_id}/revocation", json={"reason": self.SECRET}, headers=api.leader
        )
        assert r.status_code == 200, r.text
        notes = await self.public_notes(api, f"/records/{record_id}")
        assert "restored" in [
            h["kind"] for h in (await api.client.get(f"/records/{record_id}")).json()["history"]
        ]
        assert not any(self.SECRET in n for n in notes)
        (restored,) = await events(api.runtime, "credit.publicity.restored.v1")
        assert self.SECRET not in restored["reason"]
        # The bureau still reads the leader's reason on the application.
        own = await api.client.get(f"/repairs/{repair_id}", headers=api.officer)
        assert own.json()["revocation_reason"] == self.SECRET

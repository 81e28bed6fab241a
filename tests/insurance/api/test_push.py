"""The insurer push API on SQLite and PostgreSQL: service records and hazard-assistance
reports — strict validation, receipts, idempotent replays, who may push, and reading back.

The business date is 16 March 2026 (the fixture's); policies start ten days earlier, so the
first key check, full check and training windows are open and the second ones are not.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.uscc import make_uscc
from services.insurance import obligations
from services.insurance.models import (
    Hazard,
    HazardAssistanceReport,
    Obligation,
    ObligationEvent,
    Policy,
    RiskAssessment,
    ServiceRecord,
)
from tests.insurance.conftest import InsuranceApi
from tests.support.builders import policy_body

PICC = "PICC-QD"
CPIC = "PINGAN-QD"
SHA_A = hashlib.sha256(b"photo-a").hexdigest()
SHA_B = hashlib.sha256(b"report-b").hexdigest()
EVIDENCE = [
    {
        "name": "现场检查照片.jpg",
        "sha256": SHA_A,
        "media_type": "image/jpeg",
        "url": "https://evidence.picc.example/2026/03/a.jpg",
    },
    {"name": "检查报告.pdf", "sha256": SHA_B, "media_type": "application/pdf"},
]


@dataclass
class Push:
    """The app plus shortcuts for policies, their obligations and pushes."""

    api: InsuranceApi

    @property
    def client(self) -> httpx.AsyncClient:
        return self.api.client

    async def policy(self, insurer: str = PICC, n: int = 1, **over: Any) -> dict[str, Any]:
        """A policy registered by `insurer`, in force today, for enterprise make_uscc(n)."""
        terms = {
            "policy_number": f"{insurer}-{n:04d}",
            "starts_on": (self.api.today - timedelta(days=10)).isoformat(),
            "ends_on": (self.api.today + timedelta(days=350)).isoformat(),
        }
        body = policy_body(n, **{**terms, **over})
        r = await self.client.post("/policies", json=body, headers=self.api.as_("insurer", insurer))
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def obligations(
        self, policy_id: str, kind: str | None = None, status: str | None = None
    ) -> list[Obligation]:
        query = sa.select(Obligation).where(Obligation.policy_id == policy_id)
        if kind is not None:
            query = query.where(Obligation.kind == kind)
        if status is not None:
            query = query.where(Obligation.status == status)
        async with self.api.runtime.session_factory() as session:
            return list((await session.scalars(query.order_by(Obligation.seq))).all())

    async def obligation(self, policy_id: str, kind: str, seq: int = 1) -> Obligation:
        found = [o for o in await self.obligations(policy_id, kind) if o.seq == seq]
        assert len(found) == 1, f"no {kind} #{seq} in the schedule of {policy_id}"
        return found[0]

    async def get(self, model: Any, row_id: str) -> Any:
        async with self.api.runtime.session_factory() as session:
            return await session.get(model, row_id)

    async def set_policy_status(self, policy_id: str, status: str) -> None:
        async with self.api.runtime.session_factory() as session, session.begin():
            policy = await session.get(Policy, policy_id)
            assert policy is not None
            policy.status = status

    async def end_policy(self, policy_id: str, status: str, *, last_covered: date) -> None:
        """End the policy as the life-cycle pass would: expired on, or cancelled from, a day."""
        async with self.api.runtime.session_factory() as session, session.begin():
            policy = await session.get(Policy, policy_id)
            assert policy is not None
            policy.status = status
            if status == "cancelled":
                policy.cancelled_on = last_covered
            else:
                policy.ends_on = last_covered

    async def hazard_obligation(self, policy: dict[str, Any], found_on: date) -> Obligation:
        """A government-found hazard and the help it puts on the policy, as the consumer does."""
        hazard = Hazard(
            id=str(uuid.uuid4()),
            inspection_id=str(uuid.uuid4()),
            uscc=policy["uscc"],
            enterprise_name=policy["enterprise_name"],
            grade="general",
            description="罐区防火堤内堆放杂物",
            found_on=found_on,
            rectify_by=found_on + timedelta(days=14),
            received_at=self.api.now,
        )
        async with self.api.runtime.session_factory() as session, session.begin():
            session.add(hazard)
            await session.flush()
            (obligation,) = await obligations.hazard_assistance_for(
                session, hazard, 15, self.api.now
            )
        assert (obligation.kind, obligation.window_start) == ("hazard_assistance", found_on)
        return obligation

    async def post(
        self,
        path: str,
        body: Any,
        insurer: str = PICC,
        key: str | None = None,
        raw: bytes | None = None,
    ) -> httpx.Response:
        headers = {**self.api.as_("insurer", insurer), "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        return await self.client.post(path, content=content, headers=headers)

    async def nothing_pushed(self) -> None:
        """No record of any kind, no idempotency entry, no event beyond policy activation."""
        assert await self.api.count(ServiceRecord) == 0
        assert await self.api.count(RiskAssessment) == 0
        assert await self.api.count(HazardAssistanceReport) == 0
        assert await self.api.count(self.api.runtime.tables.idempotency) == 0
        assert set(await self.api.outbox_types()) <= {"insurance.policy.activated.v1"}


@pytest.fixture
async def push(insurance: InsuranceApi) -> Push:
    await insurance.register_insurer(PICC)
    await insurance.register_insurer(CPIC)
    return Push(insurance)


def record_body(obligation_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "obligation_id": obligation_id,
        "delivered_on": "2026-03-16",
        "performed_by": ["李工程师", "王安全员"],
        "summary": "对储罐区、装卸区进行重点排查，发现消防通道堵塞一处，已当场指导整改。",
        "hazards_found": 1,
        "evidence": EVIDENCE,
    }
    body.update(over)
    return body


def assistance_body(obligation_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "obligation_id": obligation_id,
        "assisted_on": "2026-03-16",
        "performed_by": ["赵工程师"],
        "measures": "协助企业清理防火堤内杂物，制定消防通道日常巡查制度。",
        "outcome": "rectified",
        "evidence": EVIDENCE[:1],
    }
    body.update(over)
    return body


def problem(r: httpx.Response, status: int, code: str, field: str | None = None) -> Any:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body


def invalid(r: httpx.Response) -> dict[str, str]:
    body = problem(r, 422, "validation_failed")
    return {e["field"]: e["rule"] for e in body["errors"]}


def canonical(receipt: dict[str, Any]) -> bytes:
    """The receipt's canonical string as documented, rebuilt independently of the service."""
    return "\n".join(
        [
            "qd-insurer-receipt/1",
            f"kind={receipt['kind']}",
            f"record_id={receipt['receipt_id']}",
            f"insurer_id={receipt['insurer_id']}",
            f"received_at={receipt['received_at']}",
            f"request_sha256={receipt['request_sha256']}",
        ]
    ).encode()


def assert_receipt(receipt: dict[str, Any], sent: bytes, kind: str, record_id: str) -> None:
    assert receipt["algorithm"] == "qd-insurer-receipt/1"
    assert (receipt["kind"], receipt["receipt_id"]) == (kind, record_id)
    assert receipt["request_sha256"] == hashlib.sha256(sent).hexdigest()
    assert receipt["receipt_sha256"] == hashlib.sha256(canonical(receipt)).hexdigest()


async def obligation_events(push: Push, obligation_id: str) -> Sequence[str]:
    async with push.api.runtime.session_factory() as session:
        rows = await session.scalars(
            sa.select(ObligationEvent.action)
            .where(ObligationEvent.obligation_id == obligation_id)
            .order_by(ObligationEvent.id)
        )
        return list(rows.all())


class TestServiceRecord:
    async def test_delivers_the_obligation_and_answers_with_a_receipt(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        sent = json.dumps(record_body(check.id), ensure_ascii=False, indent=1).encode()
        r = await push.post("/insurer/service-records", None, raw=sent)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["kind"] == "key_check"
        assert (body["obligation_id"], body["policy_id"]) == (check.id, policy["id"])
        assert (body["insurer_id"], body["uscc"]) == (PICC, policy["uscc"])
        assert body["performed_by"] == ["李工程师", "王安全员"]
        assert body["hazards_found"] == 1
        assert body["participants"] is None
        assert body["evidence"][0]["url"] == EVIDENCE[0]["url"]
        assert body["evidence"][1] == {**EVIDENCE[1], "url": None}
        assert_receipt(body["receipt"], sent, "service_record", body["id"])
        assert body["receipt"]["received_at"] == "2026-03-16T02:00:00.000000Z"

        after = await push.get(Obligation, check.id)
        assert after.status == "delivered"
        assert (after.record_id, after.delivered_on) == (body["id"], date(2026, 3, 16))
        assert "delivered" in await obligation_events(push, check.id)
        row = await push.get(ServiceRecord, body["id"])
        assert row.request_sha256 == body["receipt"]["request_sha256"]
        assert row.receipt_sha256 == body["receipt"]["receipt_sha256"]
        assert row.received_at == datetime(2026, 3, 16, 2, 0, tzinfo=UTC)
        assert row.received_from == f"insurer:{PICC}"
        assert row.evidence[1] == EVIDENCE[1]  # no url key kept for a file without one

    async def test_training_counts_participants(self, push: Push) -> None:
        policy = await push.policy()
        training = await push.obligation(policy["id"], "training")
        body = record_body(training.id, participants=86)
        del body["hazards_found"]
        r = await push.post("/insurer/service-records", body)
        assert r.status_code == 201, r.text
        assert r.json()["participants"] == 86
        assert r.json()["kind"] == "training"

    async def test_training_without_participants_is_refused(self, push: Push) -> None:
        policy = await push.policy()
        training = await push.obligation(policy["id"], "training")
        body = record_body(training.id)
        del body["hazards_found"]
        r = await push.post("/insurer/service-records", body)
        problem(r, 422, "participants_required", "participants")
        await push.nothing_pushed()
        assert (await push.get(Obligation, training.id)).status == "open"

    @pytest.mark.parametrize(
        ("kind", "over", "field", "code"),
        [
            ("key_check", {"participants": 12}, "participants", "participants_not_allowed"),
            ("key_check", {"hazards_found": None}, "hazards_found", "hazards_found_required"),
            (
                "training",
                {"participants": 30, "hazards_found": 0},
                "hazards_found",
                "hazards_found_not_allowed",
            ),
        ],
        ids=["participants-on-check", "check-without-hazards", "hazards-on-training"],
    )
    async def test_counts_must_fit_the_kind(
        self, push: Push, kind: str, over: dict[str, Any], field: str, code: str
    ) -> None:
        policy = await push.policy()
        obligation = await push.obligation(policy["id"], kind)
        body = {k: v for k, v in record_body(obligation.id, **over).items() if v is not None}
        problem(await push.post("/insurer/service-records", body), 422, code, field)
        await push.nothing_pushed()

    @pytest.mark.parametrize(
        ("kind", "endpoint"),
        [
            ("risk_assessment", "POST /insurer/risk-assessments"),
            ("hazard_assistance", "POST /insurer/hazard-assistance"),
        ],
    )
    async def test_kinds_with_their_own_push_are_pointed_there(
        self, push: Push, kind: str, endpoint: str
    ) -> None:
        policy = await push.policy()
        if kind == "hazard_assistance":
            obligation = await push.hazard_obligation(policy, date(2026, 3, 12))
        else:
            obligation = await push.obligation(policy["id"], kind)
        body = record_body(obligation.id)
        del body["hazards_found"]
        r = await push.post("/insurer/service-records", body)
        problem_body = problem(r, 422, "obligation_kind_has_own_endpoint", "obligation_id")
        assert problem_body["endpoint"] == endpoint
        assert endpoint in problem_body["detail"]
        assert (await push.get(Obligation, obligation.id)).status == "open"

    async def test_future_date_is_refused(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        r = await push.post(
            "/insurer/service-records", record_body(check.id, delivered_on="2026-03-17")
        )
        problem(r, 422, "date_in_future", "delivered_on")
        await push.nothing_pushed()

    async def test_date_before_the_policy_is_refused(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        r = await push.post(
            "/insurer/service-records", record_body(check.id, delivered_on="2026-03-05")
        )
        problem(r, 422, "date_before_policy", "delivered_on")

    async def test_date_before_the_window_is_refused(self, push: Push) -> None:
        policy = await push.policy()
        second = await push.obligation(policy["id"], "key_check", seq=2)
        assert second.window_start > push.api.today
        r = await push.post("/insurer/service-records", record_body(second.id))
        body = problem(r, 422, "delivered_before_window", "delivered_on")
        assert second.window_start.isoformat() in body["detail"]
        assert (await push.get(Obligation, second.id)).status == "open"
        await push.nothing_pushed()

    async def test_a_delivered_obligation_is_409(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        first = await push.post("/insurer/service-records", record_body(check.id), key="k-first-1")
        assert first.status_code == 201
        again = await push.post(
            "/insurer/service-records",
            record_body(check.id, summary="第二次提交的记录内容"),
        )
        body = problem(again, 409, "obligation_not_open")
        assert body["obligation_status"] == "delivered"
        assert await push.api.count(ServiceRecord) == 1

    async def test_a_service_given_under_cover_is_recorded_after_the_policy_ended(
        self, push: Push
    ) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        await push.end_policy(policy["id"], "cancelled", last_covered=date(2026, 3, 15))
        r = await push.post(
            "/insurer/service-records", record_body(check.id, delivered_on="2026-03-15")
        )
        assert r.status_code == 201, r.text
        assert (await push.get(Obligation, check.id)).status == "delivered"

    @pytest.mark.parametrize("status", ["expired", "cancelled"])
    async def test_no_service_is_recorded_after_the_last_covered_day(
        self, push: Push, status: str
    ) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        await push.end_policy(policy["id"], status, last_covered=date(2026, 3, 15))
        r = await push.post("/insurer/service-records", record_body(check.id))
        body = problem(r, 422, "date_after_cover", "delivered_on")
        assert "2026-03-15" in body["detail"]
        assert (await push.get(Obligation, check.id)).status == "open"
        await push.nothing_pushed()


def _names(n: int) -> list[str]:
    return [f"检查员{i}" for i in range(n)]


def _evidence(n: int) -> list[dict[str, Any]]:
    return [
        {
            "name": f"f{i}.jpg",
            "sha256": hashlib.sha256(bytes([i])).hexdigest(),
            "media_type": "image/png",
        }
        for i in range(n)
    ]


EV = EVIDENCE[0]

# (change to a valid body, the field named, the rule named)
RECORD_VALIDATION = [
    ({"colour": "red"}, "colour", "extra_forbidden"),
    ({"obligation_id": None}, "obligation_id", "string_type"),
    ({"obligation_id": "x" * 37}, "obligation_id", "string_too_long"),
    ({"delivered_on": "2026-02-30"}, "delivered_on", "date_from_datetime_parsing"),
    ({"performed_by": []}, "performed_by", "too_short"),
    ({"performed_by": _names(11)}, "performed_by", "too_long"),
    ({"performed_by": ["李工", "  "]}, "performed_by.1", "string_too_short"),
    ({"performed_by": ["李工", "李工"]}, "performed_by", "names_not_distinct"),
    ({"performed_by": ["李" * 65]}, "performed_by.0", "string_too_long"),
    ({"summary": "查"}, "summary", "string_too_short"),
    ({"summary": "查" * 4001}, "summary", "string_too_long"),
    ({"hazards_found": -1}, "hazards_found", "greater_than_equal"),
    ({"hazards_found": 10_001}, "hazards_found", "less_than_equal"),
    ({"participants": 0}, "participants", "greater_than_equal"),
    ({"evidence": []}, "evidence", "too_short"),
    ({"evidence": _evidence(21)}, "evidence", "too_long"),
    ({"evidence": [EV, {**EV, "name": "again.jpg"}]}, "evidence", "evidence_not_distinct"),
    (
        {"evidence": [{**EV, "sha256": SHA_A.upper()}]},
        "evidence.0.sha256",
        "string_pattern_mismatch",
    ),
    ({"evidence": [{**EV, "sha256": SHA_A[:63]}]}, "evidence.0.sha256", "string_pattern_mismatch"),
    ({"evidence": [{**EV, "media_type": "text/html"}]}, "evidence.0.media_type", "enum"),
    ({"evidence": [{**EV, "url": "http://x.example/a.jpg"}]}, "evidence.0.url", "url_not_https"),
    ({"evidence": [{**EV, "url": "https://"}]}, "evidence.0.url", "url_not_https"),
    ({"evidence": [{**EV, "url": "https://x.example/a b"}]}, "evidence.0.url", "url_invalid"),
    ({"evidence": [{**EV, "url": "https://x/" + "a" * 2000}]}, "evidence.0.url", "string_too_long"),
    ({"evidence": [{**EV, "name": ""}]}, "evidence.0.name", "string_too_short"),
    ({"evidence": [{**EV, "size": 10}]}, "evidence.0.size", "extra_forbidden"),
]


class TestServiceRecordValidation:
    @pytest.mark.parametrize(
        ("over", "field", "rule"),
        RECORD_VALIDATION,
        ids=[f"{f}-{r}" for _, f, r in RECORD_VALIDATION],
    )
    async def test_each_rule_names_field_and_rule(
        self, push: Push, over: dict[str, Any], field: str, rule: str
    ) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        r = await push.post("/insurer/service-records", {**record_body(check.id), **over})
        errors = invalid(r)
        assert errors.get(field) == rule, errors
        await push.nothing_pushed()
        assert (await push.get(Obligation, check.id)).status == "open"

    async def test_malformed_json_is_422(self, push: Push) -> None:
        r = await push.post("/insurer/service-records", None, raw=b'{"obligation_id": ')
        assert invalid(r) == {"body": "json_invalid"}


class TestIdempotency:
    async def test_replay_returns_the_first_answer_byte_for_byte(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        body = record_body(check.id)
        first = await push.post("/insurer/service-records", body, key="svc-2026-0001")
        assert first.status_code == 201, first.text
        push.api.advance(timedelta(minutes=5))
        # The same request spelled differently on the wire is still the same request.
        respelled = json.dumps(body, ensure_ascii=True, sort_keys=True).encode()
        again = await push.post(
            "/insurer/service-records", None, key="svc-2026-0001", raw=respelled
        )
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        receipt = again.json()["receipt"]
        assert (
            receipt["request_sha256"]
            == hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()
        )
        assert await push.api.count(ServiceRecord) == 1
        assert await obligation_events(push, check.id) == ["scheduled", "delivered"]

    async def test_key_reused_with_another_body_is_422(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        first = await push.post(
            "/insurer/service-records", record_body(check.id), key="svc-2026-0002"
        )
        assert first.status_code == 201
        other = await push.post(
            "/insurer/service-records", record_body(check.id, hazards_found=3), key="svc-2026-0002"
        )
        problem(other, 422, "idempotency_key_reused")
        assert await push.api.count(ServiceRecord) == 1
        row = await push.get(ServiceRecord, first.json()["id"])
        assert row.hazards_found == 1

    async def test_keys_are_per_insurer(self, push: Push) -> None:
        mine = await push.policy(PICC, 1)
        theirs = await push.policy(CPIC, 2)
        a = await push.obligation(mine["id"], "key_check")
        b = await push.obligation(theirs["id"], "key_check")
        ra = await push.post("/insurer/service-records", record_body(a.id), PICC, key="same-key-01")
        rb = await push.post("/insurer/service-records", record_body(b.id), CPIC, key="same-key-01")
        assert (ra.status_code, rb.status_code) == (201, 201)
        assert ra.json()["id"] != rb.json()["id"]

    async def test_a_refused_push_can_be_retried_with_its_key(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        late = record_body(check.id, delivered_on="2026-03-18")
        problem(
            await push.post("/insurer/service-records", late, key="svc-retry-01"),
            422,
            "date_in_future",
        )
        push.api.set_today(date(2026, 3, 18))
        r = await push.post("/insurer/service-records", late, key="svc-retry-01")
        assert r.status_code == 201, r.text


class TestWhoMayPush:
    async def test_another_insurers_obligation_is_403_and_nothing_is_written(
        self, push: Push
    ) -> None:
        policy = await push.policy(PICC)
        check = await push.obligation(policy["id"], "key_check")
        r = await push.post("/insurer/service-records", record_body(check.id), CPIC, key="cpic-k-1")
        problem(r, 403, "obligation_not_yours", "obligation_id")
        await push.nothing_pushed()
        assert (await push.get(Obligation, check.id)).status == "open"
        assert await obligation_events(push, check.id) == ["scheduled"]

    async def test_unknown_obligation_is_404(self, push: Push) -> None:
        r = await push.post("/insurer/service-records", record_body(str(uuid.uuid4())))
        problem(r, 404, "obligation_not_found", "obligation_id")

    async def test_unregistered_insurer_is_403(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        r = await push.post("/insurer/service-records", record_body(check.id), "GHOST-QD")
        problem(r, 403, "insurer_not_registered")
        await push.nothing_pushed()

    async def test_suspended_insurer_is_403_even_for_a_replay(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        body = record_body(check.id)
        first = await push.post("/insurer/service-records", body, key="before-suspension")
        assert first.status_code == 201
        r = await push.client.post(
            f"/insurers/{PICC}/suspension",
            json={"reason": "虚报服务记录"},
            headers=push.api.as_("admin"),
        )
        assert r.status_code == 200
        for path, payload in [
            ("/insurer/service-records", body),
            ("/insurer/risk-assessments", {}),
            ("/insurer/hazard-assistance", {}),
        ]:
            problem(
                await push.post(path, payload, key="before-suspension"), 403, "insurer_suspended"
            )

    @pytest.mark.parametrize("role", ["enterprise", "officer", "admin", "public", "department"])
    async def test_only_insurers_push(self, push: Push, role: str) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        r = await push.client.post(
            "/insurer/service-records",
            json=record_body(check.id),
            headers=push.api.as_(role, policy["uscc"]),
        )
        problem(r, 403, "forbidden")
        assert (await push.client.post("/insurer/service-records", json={})).status_code == 401
        await push.nothing_pushed()


class TestHazardAssistance:
    async def test_report_delivers_the_assistance(self, push: Push) -> None:
        policy = await push.policy()
        help_ = await push.hazard_obligation(policy, date(2026, 3, 12))
        sent = json.dumps(assistance_body(help_.id, outcome="in_progress")).encode()
        r = await push.post("/insurer/hazard-assistance", None, raw=sent)
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["hazard_id"], body["outcome"]) == (help_.hazard_id, "in_progress")
        assert (body["obligation_id"], body["policy_id"], body["uscc"]) == (
            help_.id,
            policy["id"],
            policy["uscc"],
        )
        assert_receipt(body["receipt"], sent, "hazard_assistance", body["id"])
        after = await push.get(Obligation, help_.id)
        assert (after.status, after.record_id) == ("delivered", body["id"])
        row = await push.get(HazardAssistanceReport, body["id"])
        assert (row.hazard_id, row.measures) == (help_.hazard_id, body["measures"])
        assert row.receipt_sha256 == body["receipt"]["receipt_sha256"]

    async def test_only_an_assistance_obligation(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        r = await push.post("/insurer/hazard-assistance", assistance_body(check.id))
        body = problem(r, 422, "obligation_not_hazard_assistance", "obligation_id")
        assert body["endpoint"] == "POST /insurer/service-records"
        await push.nothing_pushed()

    async def test_before_the_hazard_was_found_is_refused(self, push: Push) -> None:
        policy = await push.policy()
        help_ = await push.hazard_obligation(policy, date(2026, 3, 12))
        r = await push.post(
            "/insurer/hazard-assistance", assistance_body(help_.id, assisted_on="2026-03-11")
        )
        problem(r, 422, "delivered_before_window", "assisted_on")
        r = await push.post(
            "/insurer/hazard-assistance", assistance_body(help_.id, assisted_on="2026-03-17")
        )
        problem(r, 422, "date_in_future", "assisted_on")
        await push.nothing_pushed()

    @pytest.mark.parametrize(
        ("over", "field", "rule"),
        [
            ({"outcome": "done"}, "outcome", "enum"),
            ({"measures": "x"}, "measures", "string_too_short"),
            ({"performed_by": []}, "performed_by", "too_short"),
            ({"evidence": []}, "evidence", "too_short"),
            ({"hazard_id": "h-1"}, "hazard_id", "extra_forbidden"),
            ({"assisted_on": None}, "assisted_on", "date_type"),
        ],
    )
    async def test_validation(
        self, push: Push, over: dict[str, Any], field: str, rule: str
    ) -> None:
        policy = await push.policy()
        help_ = await push.hazard_obligation(policy, date(2026, 3, 12))
        r = await push.post("/insurer/hazard-assistance", assistance_body(help_.id, **over))
        assert invalid(r).get(field) == rule
        await push.nothing_pushed()

    async def test_replay_and_reuse(self, push: Push) -> None:
        policy = await push.policy()
        help_ = await push.hazard_obligation(policy, date(2026, 3, 12))
        body = assistance_body(help_.id)
        first = await push.post("/insurer/hazard-assistance", body, key="assist-000001")
        again = await push.post("/insurer/hazard-assistance", body, key="assist-000001")
        assert (first.status_code, again.content) == (201, first.content)
        other = await push.post(
            "/insurer/hazard-assistance", {**body, "outcome": "in_progress"}, key="assist-000001"
        )
        problem(other, 422, "idempotency_key_reused")
        assert await push.api.count(HazardAssistanceReport) == 1

    async def test_other_insurer_unknown_and_inactive(self, push: Push) -> None:
        policy = await push.policy()
        help_ = await push.hazard_obligation(policy, date(2026, 3, 12))
        r = await push.post("/insurer/hazard-assistance", assistance_body(help_.id), CPIC)
        problem(r, 403, "obligation_not_yours", "obligation_id")
        r = await push.post("/insurer/hazard-assistance", assistance_body(str(uuid.uuid4())))
        problem(r, 404, "obligation_not_found")
        await push.end_policy(policy["id"], "cancelled", last_covered=date(2026, 3, 15))
        r = await push.post("/insurer/hazard-assistance", assistance_body(help_.id))
        problem(r, 422, "date_after_cover", "assisted_on")
        await push.nothing_pushed()


class TestReadingRecords:
    async def test_record_readers(self, push: Push) -> None:
        policy = await push.policy()
        check = await push.obligation(policy["id"], "key_check")
        created = (await push.post("/insurer/service-records", record_body(check.id))).json()
        help_ = await push.hazard_obligation(policy, date(2026, 3, 12))
        report = (await push.post("/insurer/hazard-assistance", assistance_body(help_.id))).json()
        for url, item, prefix in [
            (f"/service-records/{created['id']}", created, "service_record"),
            (f"/hazard-assistance/{report['id']}", report, "hazard_assistance"),
        ]:
            for role, sub in [
                ("insurer", PICC),
                ("enterprise", policy["uscc"]),
                ("officer", "o-1"),
                ("leader", "l-1"),
                ("admin", "a-1"),
            ]:
                r = await push.client.get(url, headers=push.api.as_(role, sub))
                assert r.status_code == 200, (role, r.text)
                assert r.json() == item  # the receipt too, rebuilt from the row
            for role, sub in [
                ("insurer", CPIC),
                ("enterprise", make_uscc(99)),
                ("public", "anyone"),
                ("department", "CBIRC-QD"),
            ]:
                r = await push.client.get(url, headers=push.api.as_(role, sub))
                problem(r, 403, f"{prefix}_not_yours")
            assert (await push.client.get(url)).status_code == 401
        for url, prefix in [
            ("/service-records/", "service_record"),
            ("/hazard-assistance/", "hazard_assistance"),
        ]:
            r = await push.client.get(url + str(uuid.uuid4()), headers=push.api.as_("officer"))
            problem(r, 404, f"{prefix}_not_found")

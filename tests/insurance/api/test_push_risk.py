"""Risk assessments pushed by insurers, on SQLite and PostgreSQL: the scheduled assessment
delivered, reassessments, the graded service re-planned from the level, RiskAssessedV1 for
inspection, validation, replays, and who may read or list assessments."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.uscc import make_uscc
from services.insurance.models import Obligation, Policy, RiskAssessment
from tests.insurance.api.test_push import (
    CPIC,
    EVIDENCE,
    PICC,
    Push,
    assert_receipt,
    invalid,
    problem,
    push,
)

__all__ = ["push"]  # the fixture, shared with the service-record tests

RISK_EVENT = "insurance.risk.assessed.v1"


def assessment_body(policy_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "policy_id": policy_id,
        "risk_level": "high",
        "assessed_on": "2026-03-16",
        "assessors": ["陈评估师", "刘注册安全工程师"],
        "findings": "液氨储罐区安全距离不足，应急预案未演练，特种作业人员2人证书过期。",
        "hazards_found": 3,
        "evidence": EVIDENCE,
    }
    body.update(over)
    return body


async def risk_events(push: Push) -> list[Any]:
    outbox = push.api.runtime.tables.outbox
    async with push.api.runtime.session_factory() as session:
        rows = await session.execute(
            sa.select(outbox).where(outbox.c.type == RISK_EVENT).order_by(outbox.c.id)
        )
        return list(rows.all())


async def graded(push: Push, policy_id: str) -> list[tuple[int, str, str, str, str | None]]:
    """(seq, window_start, due_on, status, risk_level) of the policy's graded services."""
    return [
        (o.seq, o.window_start.isoformat(), o.due_on.isoformat(), o.status, o.risk_level)
        for o in await push.obligations(policy_id, "graded_service")
    ]


def monthly_major(first: int, months: list[tuple[str, str]]) -> list[tuple[int, str, str]]:
    return [(seq, start, end) for seq, (start, end) in enumerate(months, start=first)]


# The calendar months covered from 16 March 2026 to the policy's end on 1 March 2027; the
# one-day part of March 2027 is too short for its own service and joins February.
MAJOR_FROM_16_MARCH = [
    ("2026-03-16", "2026-03-31"),
    ("2026-04-01", "2026-04-30"),
    ("2026-05-01", "2026-05-31"),
    ("2026-06-01", "2026-06-30"),
    ("2026-07-01", "2026-07-31"),
    ("2026-08-01", "2026-08-31"),
    ("2026-09-01", "2026-09-30"),
    ("2026-10-01", "2026-10-31"),
    ("2026-11-01", "2026-11-30"),
    ("2026-12-01", "2026-12-31"),
    ("2027-01-01", "2027-01-31"),
    ("2027-02-01", "2027-03-01"),
]


class TestFirstAssessment:
    async def test_delivers_the_scheduled_assessment_and_tells_inspection(self, push: Push) -> None:
        policy = await push.policy()
        scheduled = await push.obligation(policy["id"], "risk_assessment")
        sent = json.dumps(assessment_body(policy["id"]), ensure_ascii=False).encode()
        r = await push.post("/insurer/risk-assessments", None, raw=sent)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["obligation_id"] == scheduled.id
        assert (body["risk_level"], body["assessed_on"]) == ("high", "2026-03-16")
        assert (body["insurer_id"], body["uscc"], body["hazards_found"]) == (
            PICC,
            policy["uscc"],
            3,
        )
        assert body["assessors"] == ["陈评估师", "刘注册安全工程师"]
        assert_receipt(body["receipt"], sent, "risk_assessment", body["id"])

        after = await push.get(Obligation, scheduled.id)
        assert (after.status, after.record_id) == ("delivered", body["id"])
        assert (await push.get(Policy, policy["id"])).risk_level == "high"
        row = await push.get(RiskAssessment, body["id"])
        assert (row.request_sha256, row.received_from) == (
            hashlib.sha256(sent).hexdigest(),
            f"insurer:{PICC}",
        )

        (event,) = await risk_events(push)
        assert event.subject == policy["uscc"]
        assert event.data == {
            "assessment_id": body["id"],
            "uscc": policy["uscc"],
            "insurer_id": PICC,
            "risk_level": "high",
            "assessed_on": "2026-03-16",
            "findings": assessment_body("x")["findings"],
        }

    async def test_high_plans_a_graded_service_every_two_months(self, push: Push) -> None:
        policy = await push.policy()
        r = await push.post("/insurer/risk-assessments", assessment_body(policy["id"]))
        assert r.status_code == 201
        rows = await graded(push, policy["id"])
        assert [(s, w, d) for s, w, d, _, _ in rows] == [
            (1, "2026-03-16", "2026-04-30"),
            (2, "2026-05-01", "2026-06-30"),
            (3, "2026-07-01", "2026-08-31"),
            (4, "2026-09-01", "2026-10-31"),
            (5, "2026-11-01", "2026-12-31"),
            (6, "2027-01-01", "2027-03-01"),
        ]
        assert {(st, lvl) for *_, st, lvl in rows} == {("open", "high")}


class TestRiskLevelReplansGradedService:
    async def test_major_then_low(self, push: Push) -> None:
        policy = await push.policy()
        assert await graded(push, policy["id"]) == []  # no level yet, no graded service
        major = await push.post(
            "/insurer/risk-assessments", assessment_body(policy["id"], risk_level="major")
        )
        assert major.status_code == 201, major.text
        rows = await graded(push, policy["id"])
        assert [(s, w, d) for s, w, d, _, _ in rows] == monthly_major(1, MAJOR_FROM_16_MARCH)
        assert {(st, lvl) for *_, st, lvl in rows} == {("open", "major")}

        push.api.set_today(date(2026, 4, 2))
        low = await push.post(
            "/insurer/risk-assessments",
            assessment_body(policy["id"], risk_level="low", assessed_on="2026-04-02"),
        )
        assert low.status_code == 201, low.text
        assert low.json()["obligation_id"] is None  # a reassessment: nothing was scheduled
        assert (await push.get(Policy, policy["id"])).risk_level == "low"
        rows = await graded(push, policy["id"])
        # Services whose window had opened by the reassessment stand; later ones are withdrawn.
        assert [(s, st) for s, _, _, st, _ in rows] == [(1, "open"), (2, "open")] + [
            (s, "withdrawn") for s in range(3, 13)
        ]
        withdrawn = await push.obligations(policy["id"], "graded_service", "withdrawn")
        assert all("risk level reassessed" in (o.withdrawn_reason or "") for o in withdrawn)
        events = await risk_events(push)
        assert [(e.data["risk_level"], e.data["assessed_on"]) for e in events] == [
            ("major", "2026-03-16"),
            ("low", "2026-04-02"),
        ]

    async def test_low_then_major_adds_monthly_services_from_the_reassessment(
        self, push: Push
    ) -> None:
        policy = await push.policy()
        await push.post(
            "/insurer/risk-assessments", assessment_body(policy["id"], risk_level="low")
        )
        assert await graded(push, policy["id"]) == []
        push.api.set_today(date(2026, 9, 10))
        r = await push.post(
            "/insurer/risk-assessments",
            assessment_body(policy["id"], risk_level="major", assessed_on="2026-09-10"),
        )
        assert r.status_code == 201, r.text
        rows = await graded(push, policy["id"])
        assert [(s, w, d) for s, w, d, _, _ in rows] == monthly_major(
            1, [("2026-09-10", "2026-09-30"), *MAJOR_FROM_16_MARCH[7:]]
        )

    async def test_same_level_again_changes_nothing(self, push: Push) -> None:
        policy = await push.policy()
        await push.post("/insurer/risk-assessments", assessment_body(policy["id"]))
        before = await graded(push, policy["id"])
        push.api.set_today(date(2026, 6, 1))
        r = await push.post(
            "/insurer/risk-assessments", assessment_body(policy["id"], assessed_on="2026-06-01")
        )
        assert r.status_code == 201
        assert await graded(push, policy["id"]) == before
        assert len(await risk_events(push)) == 2

    async def test_an_assessment_older_than_the_latest_is_refused(self, push: Push) -> None:
        policy = await push.policy()
        push.api.set_today(date(2026, 3, 20))
        first = await push.post(
            "/insurer/risk-assessments",
            assessment_body(policy["id"], risk_level="major", assessed_on="2026-03-20"),
        )
        assert first.status_code == 201
        before = await graded(push, policy["id"])
        r = await push.post(
            "/insurer/risk-assessments",
            assessment_body(policy["id"], risk_level="low", assessed_on="2026-03-18"),
        )
        problem(r, 422, "assessment_older_than_latest", "assessed_on")
        assert await push.api.count(RiskAssessment) == 1
        assert (await push.get(Policy, policy["id"])).risk_level == "major"
        assert await graded(push, policy["id"]) == before
        assert len(await risk_events(push)) == 1


class TestAssessmentRefusals:
    @pytest.mark.parametrize(
        ("over", "field", "rule"),
        [
            ({"risk_level": "extreme"}, "risk_level", "enum"),
            ({"assessors": []}, "assessors", "too_short"),
            ({"assessors": [f"评估师{i}" for i in range(11)]}, "assessors", "too_long"),
            ({"assessors": ["\t"]}, "assessors.0", "string_too_short"),
            ({"findings": "高" * 4001}, "findings", "string_too_long"),
            ({"hazards_found": None}, "hazards_found", "int_type"),
            ({"hazards_found": 2.5}, "hazards_found", "int_from_float"),
            (
                {"evidence": [{**EVIDENCE[0], "media_type": "image/gif"}]},
                "evidence.0.media_type",
                "enum",
            ),
            ({"policy_id": ""}, "policy_id", "string_too_short"),
            ({"obligation_id": "x"}, "obligation_id", "extra_forbidden"),
        ],
    )
    async def test_validation_names_field_and_rule(
        self, push: Push, over: dict[str, Any], field: str, rule: str
    ) -> None:
        policy = await push.policy()
        r = await push.post("/insurer/risk-assessments", {**assessment_body(policy["id"]), **over})
        assert invalid(r).get(field) == rule
        await push.nothing_pushed()

    @pytest.mark.parametrize(
        ("assessed_on", "code"),
        [("2026-03-17", "date_in_future"), ("2026-03-05", "date_before_policy")],
    )
    async def test_dates(self, push: Push, assessed_on: str, code: str) -> None:
        policy = await push.policy()
        r = await push.post(
            "/insurer/risk-assessments", assessment_body(policy["id"], assessed_on=assessed_on)
        )
        problem(r, 422, code, "assessed_on")
        await push.nothing_pushed()
        assert (await push.get(Policy, policy["id"])).risk_level is None

    async def test_another_insurers_policy_is_403_and_nothing_is_written(self, push: Push) -> None:
        policy = await push.policy(PICC)
        r = await push.post(
            "/insurer/risk-assessments", assessment_body(policy["id"], risk_level="major"), CPIC
        )
        problem(r, 403, "policy_not_yours", "policy_id")
        await push.nothing_pushed()
        assert (await push.get(Policy, policy["id"])).risk_level is None
        assert await graded(push, policy["id"]) == []
        scheduled = await push.obligation(policy["id"], "risk_assessment")
        assert scheduled.status == "open"

    async def test_unknown_policy_is_404(self, push: Push) -> None:
        r = await push.post("/insurer/risk-assessments", assessment_body(str(uuid.uuid4())))
        problem(r, 404, "policy_not_found", "policy_id")

    async def test_pending_policy_is_409(self, push: Push) -> None:
        today = push.api.today
        policy = await push.policy(
            starts_on=(today + timedelta(days=5)).isoformat(),
            ends_on=(today + timedelta(days=300)).isoformat(),
        )
        assert policy["status"] == "pending"
        r = await push.post("/insurer/risk-assessments", assessment_body(policy["id"]))
        body = problem(r, 409, "policy_not_active")
        assert body["policy_status"] == "pending"
        await push.nothing_pushed()

    @pytest.mark.parametrize("status", ["expired", "cancelled"])
    async def test_ended_policy_is_409(self, push: Push, status: str) -> None:
        policy = await push.policy()
        await push.set_policy_status(policy["id"], status)
        r = await push.post("/insurer/risk-assessments", assessment_body(policy["id"]))
        problem(r, 409, "policy_not_active")
        await push.nothing_pushed()

    async def test_replay_and_key_reuse(self, push: Push) -> None:
        policy = await push.policy()
        body = assessment_body(policy["id"], risk_level="major")
        first = await push.post("/insurer/risk-assessments", body, key="ra-2026-000001")
        push.api.advance(timedelta(seconds=30))
        again = await push.post("/insurer/risk-assessments", body, key="ra-2026-000001")
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.content == first.content
        assert len(await risk_events(push)) == 1
        assert len(await graded(push, policy["id"])) == 12
        other = await push.post(
            "/insurer/risk-assessments", {**body, "risk_level": "low"}, key="ra-2026-000001"
        )
        problem(other, 422, "idempotency_key_reused")
        assert await push.api.count(RiskAssessment) == 1
        assert (await push.get(Policy, policy["id"])).risk_level == "major"


class TestReadingAssessments:
    async def test_one_assessment_readers(self, push: Push) -> None:
        policy = await push.policy()
        created = (
            await push.post("/insurer/risk-assessments", assessment_body(policy["id"]))
        ).json()
        url = f"/risk-assessments/{created['id']}"
        for role, sub in [
            ("insurer", PICC),
            ("enterprise", policy["uscc"]),
            ("officer", "o"),
            ("leader", "l"),
            ("admin", "a"),
        ]:
            r = await push.client.get(url, headers=push.api.as_(role, sub))
            assert r.status_code == 200, (role, r.text)
            assert r.json() == created
        for role, sub in [
            ("insurer", CPIC),
            ("enterprise", make_uscc(77)),
            ("public", "p"),
            ("department", "d"),
        ]:
            problem(
                await push.client.get(url, headers=push.api.as_(role, sub)),
                403,
                "risk_assessment_not_yours",
            )
        r = await push.client.get(
            f"/risk-assessments/{uuid.uuid4()}", headers=push.api.as_("officer")
        )
        problem(r, 404, "risk_assessment_not_found")

    async def test_listing_is_scoped_and_newest_first(self, push: Push) -> None:
        a1 = await push.policy(PICC, 1)
        a2 = await push.policy(PICC, 2)
        b3 = await push.policy(CPIC, 3)
        ids = {}
        for policy, insurer, day in [
            (a1, PICC, "2026-03-10"),
            (a2, PICC, "2026-03-12"),
            (b3, CPIC, "2026-03-11"),
            (a1, PICC, "2026-03-16"),
        ]:
            r = await push.post(
                "/insurer/risk-assessments",
                assessment_body(policy["id"], assessed_on=day),
                insurer,
            )
            assert r.status_code == 201, r.text
            ids[(policy["id"], day)] = r.json()["id"]

        async def listed(role: str, sub: str, query: str = "") -> list[tuple[str, str]]:
            r = await push.client.get(f"/risk-assessments{query}", headers=push.api.as_(role, sub))
            assert r.status_code == 200, r.text
            return [(i["policy_id"], i["assessed_on"]) for i in r.json()["items"]]

        assert await listed("officer", "o") == [
            (a1["id"], "2026-03-16"),
            (a2["id"], "2026-03-12"),
            (b3["id"], "2026-03-11"),
            (a1["id"], "2026-03-10"),
        ]
        assert await listed("insurer", PICC) == [
            (a1["id"], "2026-03-16"),
            (a2["id"], "2026-03-12"),
            (a1["id"], "2026-03-10"),
        ]
        assert await listed("insurer", CPIC) == [(b3["id"], "2026-03-11")]
        # Another insurer's policy or enterprise shows nothing, rather than someone else's data.
        assert await listed("insurer", CPIC, f"?policy_id={a1['id']}") == []
        assert await listed("insurer", CPIC, f"?uscc={a2['uscc']}") == []
        assert await listed("enterprise", a1["uscc"]) == [
            (a1["id"], "2026-03-16"),
            (a1["id"], "2026-03-10"),
        ]
        assert await listed("leader", "l", f"?uscc={a2['uscc']}") == [(a2["id"], "2026-03-12")]
        assert await listed("admin", "a", f"?policy_id={a1['id']}") == [
            (a1["id"], "2026-03-16"),
            (a1["id"], "2026-03-10"),
        ]
        r = await push.client.get(
            f"/risk-assessments?uscc={a2['uscc']}", headers=push.api.as_("enterprise", a1["uscc"])
        )
        problem(r, 403, "risk_assessment_not_yours", "uscc")
        for role in ("public", "department"):
            r = await push.client.get("/risk-assessments", headers=push.api.as_(role, "x"))
            problem(r, 403, "forbidden")
        r = await push.client.get("/risk-assessments?uscc=123", headers=push.api.as_("officer"))
        assert invalid(r).get("uscc") is not None

        officer = push.api.as_("officer")
        page = (await push.client.get("/risk-assessments?limit=3", headers=officer)).json()
        assert len(page["items"]) == 3
        rest = await push.client.get(
            f"/risk-assessments?limit=3&cursor={page['next_cursor']}", headers=officer
        )
        assert [i["id"] for i in rest.json()["items"]] == [ids[(a1["id"], "2026-03-10")]]
        assert rest.json()["next_cursor"] is None
        bad = await push.client.get("/risk-assessments?cursor=bm90LWEtY3Vyc29y", headers=officer)
        problem(bad, 422, "invalid_cursor")

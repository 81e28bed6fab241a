"""Insurance API: registering and reading policies; activation schedules the 6+3 services.

On SQLite and PostgreSQL; the business date is the fixture's (2026-03-16) unless moved.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.uscc import make_uscc
from services.insurance.models import Hazard, Insurer, Obligation, ObligationEvent, Policy
from tests.insurance.conftest import InsuranceApi
from tests.support.builders import policy_body as build_policy

USCC_A = make_uscc(101)
USCC_B = make_uscc(102)
STARTS, ENDS = date(2026, 3, 6), date(2027, 3, 5)


def policy_body(n: int = 101, /, **overrides: Any) -> dict[str, Any]:
    """A registration in force on the fixture's business date (2026-03-16)."""
    base: dict[str, Any] = {
        "enterprise_name": "青岛海湾化工有限公司" if n == 101 else f"青岛第{n}化工有限公司",
        "starts_on": STARTS.isoformat(),
        "ends_on": ENDS.isoformat(),
    }
    return build_policy(n, **{**base, **overrides})


async def obligations_of(api: InsuranceApi, policy_id: str) -> list[Obligation]:
    async with api.runtime.session_factory() as session:
        return list(
            (
                await session.scalars(
                    sa.select(Obligation)
                    .where(Obligation.policy_id == policy_id)
                    .order_by(Obligation.kind, Obligation.seq)
                )
            ).all()
        )


async def add_hazard(
    api: InsuranceApi,
    hazard_id: str,
    uscc: str,
    found_on: date,
    rectify_by: date | None,
    rectified_on: date | None = None,
) -> None:
    async with api.runtime.session_factory() as session, session.begin():
        session.add(
            Hazard(
                id=hazard_id,
                inspection_id="case-1",
                uscc=uscc,
                enterprise_name="青岛海湾化工有限公司",
                grade="general",
                description="储罐区可燃气体报警器失效",
                found_on=found_on,
                rectify_by=rectify_by,
                rectified_on=rectified_on,
                received_at=datetime(2026, 3, 1, tzinfo=UTC),
            )
        )


@pytest.fixture
async def api(insurance: InsuranceApi) -> InsuranceApi:
    await insurance.register_insurer("PICC-QD")
    await insurance.register_insurer("PAIC-QD")
    return insurance


class TestRegisterPolicy:
    async def test_policy_in_force_is_active_scheduled_and_emits_one_event(
        self, api: InsuranceApi
    ) -> None:
        r = await api.client.post(
            "/policies", json=policy_body(), headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "active"
        assert body["insurer_id"] == "PICC-QD"
        assert body["activated_at"] is not None
        assert body["custom_services"] == []
        assert (body["risk_level"], body["cancelled_on"], body["ended_at"]) == (None, None, None)
        async with api.runtime.session_factory() as session:
            events = (await session.execute(sa.select(api.runtime.tables.outbox))).all()
        assert [e.type for e in events] == ["insurance.policy.activated.v1"]
        assert events[0].subject == USCC_A
        assert events[0].data["policy_id"] == body["id"]
        assert events[0].data["enterprise_name"] == "青岛海湾化工有限公司"
        # 6 March 2026 – 5 March 2027: the quarters and half-years of the policy year.
        schedule = await obligations_of(api, body["id"])
        assert Counter(o.kind for o in schedule) == {
            "risk_assessment": 1,
            "key_check": 4,
            "full_check": 2,
            "training": 2,
        }
        key_checks = [(o.window_start, o.due_on) for o in schedule if o.kind == "key_check"]
        assert key_checks == [
            (STARTS, date(2026, 6, 5)),
            (date(2026, 6, 6), date(2026, 9, 5)),
            (date(2026, 9, 6), date(2026, 12, 5)),
            (date(2026, 12, 6), ENDS),
        ]
        full_checks = [(o.window_start, o.due_on) for o in schedule if o.kind == "full_check"]
        assert full_checks == [(STARTS, date(2026, 9, 5)), (date(2026, 9, 6), ENDS)]
        assert {o.status for o in schedule} == {"open"}
        assert {(o.insurer_id, o.uscc) for o in schedule} == {("PICC-QD", USCC_A)}
        assert await api.count(ObligationEvent) == len(schedule)

    async def test_custom_services_are_scheduled_and_shown_sorted(self, api: InsuranceApi) -> None:
        r = await api.client.post(
            "/policies",
            json=policy_body(custom_services=["onsite_staff", "one_plan"]),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 201, r.text
        assert r.json()["custom_services"] == ["one_plan", "onsite_staff"]
        kinds = Counter(o.kind for o in await obligations_of(api, r.json()["id"]))
        assert kinds["one_plan"] == 1
        assert kinds["onsite_staff"] == 12
        assert "remote_guidance" not in kinds

    @pytest.mark.parametrize(
        ("services", "field"),
        [
            (["one_plan", "one_plan"], "custom_services"),
            (["one_plan", "massage"], "custom_services.1"),
            ("one_plan", "custom_services"),
        ],
    )
    async def test_custom_services_are_validated(
        self, api: InsuranceApi, services: Any, field: str
    ) -> None:
        r = await api.client.post(
            "/policies",
            json=policy_body(custom_services=services),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 422
        assert r.json()["code"] == "validation_failed"
        assert [e["field"] for e in r.json()["errors"]] == [field]
        assert await api.count(Policy) == 0

    async def test_future_policy_is_pending_without_event_or_schedule(
        self, api: InsuranceApi
    ) -> None:
        r = await api.client.post(
            "/policies",
            json=policy_body(starts_on="2026-03-21", ends_on="2027-03-20"),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "pending"
        assert r.json()["activated_at"] is None
        assert await api.outbox_types() == []
        assert await api.count(Obligation) == 0

    async def test_known_unrectified_hazards_become_assistance_at_activation(
        self, api: InsuranceApi
    ) -> None:
        await add_hazard(api, "hz-open", USCC_A, date(2026, 3, 10), date(2026, 4, 7))
        await add_hazard(api, "hz-nodeadline", USCC_A, date(2026, 3, 12), None)
        await add_hazard(
            api, "hz-fixed", USCC_A, date(2026, 3, 1), date(2026, 3, 20), date(2026, 3, 9)
        )
        await add_hazard(api, "hz-other", USCC_B, date(2026, 3, 10), date(2026, 4, 7))
        r = await api.client.post(
            "/policies", json=policy_body(), headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 201, r.text
        help_owed = [o for o in await obligations_of(api, r.json()["id"]) if o.hazard_id]
        assert [(o.hazard_id, o.kind, o.seq, o.window_start, o.due_on) for o in help_owed] == [
            ("hz-open", "hazard_assistance", 1, date(2026, 3, 10), date(2026, 4, 7)),
            ("hz-nodeadline", "hazard_assistance", 2, date(2026, 3, 12), date(2026, 3, 27)),
        ]

    async def test_unregistered_insurer_is_refused_and_nothing_written(
        self, api: InsuranceApi
    ) -> None:
        r = await api.client.post(
            "/policies", json=policy_body(), headers=api.as_("insurer", "CLIC-QD")
        )
        assert r.status_code == 403
        assert r.json()["code"] == "insurer_not_registered"
        assert await api.count(Policy) == 0
        assert await api.outbox_types() == []

    async def test_suspended_insurer_is_refused(self, api: InsuranceApi) -> None:
        async with api.runtime.session_factory() as session, session.begin():
            insurer = await session.get(Insurer, "PAIC-QD")
            assert insurer is not None
            insurer.status, insurer.status_reason = "suspended", "服务严重超期"
        r = await api.client.post(
            "/policies", json=policy_body(), headers=api.as_("insurer", "PAIC-QD")
        )
        assert r.status_code == 403
        assert r.json()["code"] == "insurer_suspended"
        assert await api.count(Policy) == 0

    async def test_malformed_uscc_is_422_naming_the_field_and_writes_nothing(
        self, api: InsuranceApi
    ) -> None:
        bad = USCC_A[:-1] + ("0" if USCC_A[-1] != "0" else "1")
        r = await api.client.post(
            "/policies", json=policy_body(uscc=bad), headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "validation_failed"
        assert [e["field"] for e in problem["errors"]] == ["uscc"]
        assert problem["errors"][0]["rule"] == "uscc_invalid"
        assert "check character" in problem["errors"][0]["message"]
        assert await api.count(Policy) == 0
        assert await api.outbox_types() == []

    @pytest.mark.parametrize(
        ("overrides", "field", "code"),
        [
            (
                {"ends_on": "2026-01-01", "starts_on": "2026-06-01"},
                "ends_on",
                "policy_period_invalid",
            ),
            (
                {"starts_on": "2026-03-01", "ends_on": "2027-03-03"},
                "ends_on",
                "policy_period_too_long",
            ),
            ({"premium": "6000000.00"}, "premium", "premium_not_below_coverage"),
            ({"starts_on": "2025-03-16", "ends_on": "2026-03-15"}, "ends_on", "policy_expired"),
        ],
    )
    async def test_business_rules_are_named(
        self, api: InsuranceApi, overrides: dict[str, str], field: str, code: str
    ) -> None:
        r = await api.client.post(
            "/policies", json=policy_body(**overrides), headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == code
        assert r.json()["field"] == field
        assert await api.count(Policy) == 0
        assert await api.count(Obligation) == 0

    async def test_only_insurers_register(self, api: InsuranceApi) -> None:
        r = await api.client.post("/policies", json=policy_body(), headers=api.as_("officer"))
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"
        r = await api.client.post("/policies", json=policy_body())
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert await api.count(Policy) == 0

    async def test_duplicate_number_is_409(self, api: InsuranceApi) -> None:
        headers = api.as_("insurer", "PICC-QD")
        first = await api.client.post("/policies", json=policy_body(), headers=headers)
        assert first.status_code == 201
        scheduled = await api.count(Obligation)
        r = await api.client.post("/policies", json=policy_body(), headers=headers)
        assert r.status_code == 409
        assert r.json()["code"] == "policy_exists"
        assert await api.count(Policy) == 1
        assert await api.count(Obligation) == scheduled

    async def test_idempotency_key_replays_first_answer_once(self, api: InsuranceApi) -> None:
        headers = {**api.as_("insurer", "PICC-QD"), "Idempotency-Key": "retry-0001-abc"}
        first = await api.client.post("/policies", json=policy_body(), headers=headers)
        scheduled = await api.count(Obligation)
        second = await api.client.post("/policies", json=policy_body(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert await api.count(Policy) == 1
        assert await api.count(Obligation) == scheduled
        assert await api.outbox_types() == ["insurance.policy.activated.v1"]
        reused = await api.client.post(
            "/policies", json=policy_body(policy_number="AQ-OTHER"), headers=headers
        )
        assert reused.status_code == 422
        assert reused.json()["code"] == "idempotency_key_reused"
        assert await api.count(Policy) == 1


class TestReadPolicies:
    async def test_insurer_sees_own_policies_only(self, api: InsuranceApi) -> None:
        mine = await api.client.post(
            "/policies", json=policy_body(), headers=api.as_("insurer", "PICC-QD")
        )
        theirs = await api.client.post(
            "/policies",
            json=policy_body(102, policy_number="CP-9"),
            headers=api.as_("insurer", "PAIC-QD"),
        )
        picc = api.as_("insurer", "PICC-QD")
        own = await api.client.get(f"/policies/{mine.json()['id']}", headers=picc)
        assert own.status_code == 200
        assert own.json() == mine.json()
        other = await api.client.get(f"/policies/{theirs.json()['id']}", headers=picc)
        assert other.status_code == 403
        assert other.json()["code"] == "policy_not_yours"
        missing = await api.client.get("/policies/nope", headers=picc)
        assert missing.status_code == 404
        assert missing.json()["code"] == "policy_not_found"
        listing = await api.client.get("/policies", headers=picc)
        assert [p["policy_number"] for p in listing.json()["items"]] == ["AQ-2026-0101"]

    async def test_enterprise_reads_its_own(self, api: InsuranceApi) -> None:
        created = await api.client.post(
            "/policies", json=policy_body(), headers=api.as_("insurer", "PICC-QD")
        )
        own = await api.client.get(
            f"/policies/{created.json()['id']}", headers=api.as_("enterprise", USCC_A)
        )
        assert own.status_code == 200
        other = await api.client.get(
            f"/policies/{created.json()['id']}", headers=api.as_("enterprise", USCC_B)
        )
        assert other.status_code == 403
        listed = await api.client.get(
            "/policies", params={"uscc": USCC_B}, headers=api.as_("enterprise", USCC_A)
        )
        assert listed.status_code == 403

    @pytest.mark.parametrize("role", ["department", "public", "service"])
    async def test_other_roles_may_not_list(self, api: InsuranceApi, role: str) -> None:
        r = await api.client.get("/policies", headers=api.as_(role))
        assert r.status_code == 403

    async def test_cursor_pagination_walks_every_policy_once(self, api: InsuranceApi) -> None:
        headers = api.as_("insurer", "PICC-QD")
        for n in range(5):
            r = await api.client.post(
                "/policies",
                json=policy_body(200 + n, policy_number=f"AQ-{n}"),
                headers=headers,
            )
            assert r.status_code == 201
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (
                await api.client.get("/policies", params=params, headers=api.as_("officer"))
            ).json()
            seen += [p["policy_number"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"AQ-{n}" for n in range(5)]
        bad = await api.client.get("/policies", params={"cursor": "!!"}, headers=api.as_("officer"))
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_cursor"

"""A policy's life cycle: cancellation (退保) over the API, and the life-cycle pass that
activates, expires and ends cancelled policies exactly once. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.db import unit_of_work, utcnow
from kernel.uscc import make_uscc
from services.insurance import obligations, service
from services.insurance.config import InsuranceSettings
from services.insurance.models import Insurer, Obligation, ObligationEvent, Policy
from services.insurance.service import LifecycleReport
from tests.insurance.conftest import TODAY, InsuranceApi
from tests.support.builders import policy_body as build_policy

USCC_A = make_uscc(301)
STARTS, ENDS = date(2026, 1, 1), date(2026, 12, 31)
CANCEL = "/policies/{}/cancellation"


def policy_body(n: int = 301, **overrides: Any) -> dict[str, Any]:
    dates = {"starts_on": STARTS.isoformat(), "ends_on": ENDS.isoformat()}
    return build_policy(n, **{**dates, **overrides})


@pytest.fixture
async def api(insurance: InsuranceApi) -> InsuranceApi:
    await insurance.register_insurer("PICC-QD")
    await insurance.register_insurer("PAIC-QD")
    return insurance


async def register(api: InsuranceApi, insurer: str = "PICC-QD", **overrides: Any) -> str:
    r = await api.client.post(
        "/policies", json=policy_body(**overrides), headers=api.as_("insurer", insurer)
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def run_pass(api: InsuranceApi, day: date) -> LifecycleReport:
    settings = api.runtime.settings
    assert isinstance(settings, InsuranceSettings)
    async with unit_of_work(api.runtime.session_factory) as session:
        return await service.lifecycle_pass(session, api.runtime.outbox, day, settings)


async def policy_row(api: InsuranceApi, policy_id: str) -> Policy:
    async with api.runtime.session_factory() as session:
        policy = await session.get(Policy, policy_id)
    assert policy is not None
    return policy


async def schedule(api: InsuranceApi, policy_id: str) -> list[Obligation]:
    async with api.runtime.session_factory() as session:
        return list(
            (
                await session.scalars(
                    sa.select(Obligation)
                    .where(Obligation.policy_id == policy_id)
                    .order_by(Obligation.due_on, Obligation.kind, Obligation.seq)
                )
            ).all()
        )


async def ended_events(api: InsuranceApi) -> list[dict[str, Any]]:
    outbox = api.runtime.tables.outbox
    async with api.runtime.session_factory() as session:
        rows = (
            await session.execute(
                sa.select(outbox.c.data)
                .where(outbox.c.type == "insurance.policy.ended.v1")
                .order_by(outbox.c.id)
            )
        ).all()
    return [dict(r.data) for r in rows]


async def snapshot(api: InsuranceApi, policy_id: str) -> tuple[Any, ...]:
    policy = await policy_row(api, policy_id)
    return (
        policy.status,
        policy.cancelled_on,
        policy.cancel_reason,
        policy.ended_at,
        [(o.id, o.status) for o in await schedule(api, policy_id)],
        await api.count(ObligationEvent),
        await api.outbox_types(),
    )


def cancellation(day: date, reason: str = "企业停产，申请退保") -> dict[str, str]:
    return {"cancelled_on": day.isoformat(), "reason": reason}


class TestCancellation:
    async def test_future_cancellation_trims_the_schedule_and_ends_in_the_pass(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api)
        cut = date(2026, 5, 20)
        r = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(cut), headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["cancelled_on"]) == ("active", "2026-05-20")
        assert (body["cancel_reason"], body["ended_at"]) == ("企业停产，申请退保", None)
        rows = await schedule(api, policy_id)
        kept = [(o.kind, o.seq) for o in rows if o.status == "open"]
        # The Q1 key check (due 31 Mar) and the risk assessment (31 Jan) stay owed.
        assert kept == [("risk_assessment", 1), ("key_check", 1)]
        withdrawn = [o for o in rows if o.status == "withdrawn"]
        assert {o.withdrawn_reason for o in withdrawn} == {"policy cancelled"}
        assert all(o.due_on > cut for o in withdrawn)
        assert len(withdrawn) == len(rows) - 2
        async with api.runtime.session_factory() as session:
            actions = (
                await session.scalars(
                    sa.select(ObligationEvent.actor).where(ObligationEvent.action == "withdrawn")
                )
            ).all()
        assert set(actions) == {"insurer:PICC-QD"}
        assert await ended_events(api) == []
        # Still in force on its last covered day; ended once the day after.
        assert await run_pass(api, cut) == LifecycleReport()
        assert await run_pass(api, cut + timedelta(days=1)) == LifecycleReport(cancelled=1)
        policy = await policy_row(api, policy_id)
        assert policy.status == "cancelled"
        assert policy.ended_at is not None
        assert await ended_events(api) == [
            {
                "policy_id": policy_id,
                "policy_number": "AQ-2026-0301",
                "uscc": USCC_A,
                "insurer_id": "PICC-QD",
                "reason": "cancelled",
                "last_covered_on": "2026-05-20",
            }
        ]
        assert await run_pass(api, cut + timedelta(days=2)) == LifecycleReport()
        assert len(await ended_events(api)) == 1

    async def test_cancellation_effective_today_ends_the_policy_now(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api)
        r = await api.client.post(
            CANCEL.format(policy_id),
            json=cancellation(TODAY),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["ended_at"] is not None
        events = await ended_events(api)
        assert [(e["reason"], e["last_covered_on"]) for e in events] == [
            ("cancelled", TODAY.isoformat())
        ]
        # The Q1 key check is due 31 March, after the last covered day: withdrawn.
        rows = await schedule(api, policy_id)
        assert next(o for o in rows if o.kind == "key_check").status == "withdrawn"
        # The risk assessment was due 31 January: still owed, and overdue.
        assessment = next(o for o in rows if o.kind == "risk_assessment")
        assert assessment.status == "open"
        assert await run_pass(api, TODAY + timedelta(days=1)) == LifecycleReport()
        assert len(await ended_events(api)) == 1

    async def test_delivered_services_due_after_the_cut_stay_delivered(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api)
        async with unit_of_work(api.runtime.session_factory) as session:
            key_check = await session.scalar(
                sa.select(Obligation).where(
                    Obligation.policy_id == policy_id,
                    Obligation.kind == "key_check",
                    Obligation.seq == 1,
                )
            )
            assert key_check is not None
            await obligations.record_delivery(
                session, key_check, date(2026, 3, 10), "rec-1", "insurer:PICC-QD", api.now
            )
        r = await api.client.post(
            CANCEL.format(policy_id),
            json=cancellation(date(2026, 3, 20)),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 200, r.text
        rows = await schedule(api, policy_id)
        assert next(o for o in rows if o.kind == "key_check" and o.seq == 1).status == ("delivered")

    async def test_admin_may_cancel(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        r = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(TODAY), headers=api.as_("admin")
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"

    @pytest.mark.parametrize(
        ("day", "code"),
        [
            (TODAY - timedelta(days=1), "cancellation_backdated"),
            (ENDS + timedelta(days=1), "cancellation_after_term"),
        ],
    )
    async def test_dates_outside_today_to_the_end_are_refused(
        self, api: InsuranceApi, day: date, code: str
    ) -> None:
        policy_id = await register(api)
        before = await snapshot(api, policy_id)
        r = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(day), headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 422
        assert r.json()["code"] == code
        assert r.json()["field"] == "cancelled_on"
        assert await snapshot(api, policy_id) == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"cancelled_on": "2026-04-01"}, "reason"),
            ({"cancelled_on": "2026-04-01", "reason": "x"}, "reason"),
            ({"reason": "企业停产"}, "cancelled_on"),
            ({"cancelled_on": "2026-04-01", "reason": "企业停产", "force": True}, "force"),
        ],
    )
    async def test_body_is_validated(
        self, api: InsuranceApi, body: dict[str, Any], field: str
    ) -> None:
        policy_id = await register(api)
        before = await snapshot(api, policy_id)
        r = await api.client.post(
            CANCEL.format(policy_id), json=body, headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == [field]
        assert await snapshot(api, policy_id) == before

    async def test_another_insurer_cannot_cancel(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        before = await snapshot(api, policy_id)
        r = await api.client.post(
            CANCEL.format(policy_id),
            json=cancellation(TODAY),
            headers=api.as_("insurer", "PAIC-QD"),
        )
        assert r.status_code == 403
        assert r.json()["code"] == "policy_not_yours"
        assert await snapshot(api, policy_id) == before

    async def test_unknown_policy_is_404(self, api: InsuranceApi) -> None:
        r = await api.client.post(
            CANCEL.format("nope"), json=cancellation(TODAY), headers=api.as_("insurer", "PICC-QD")
        )
        assert r.status_code == 404
        assert r.json()["code"] == "policy_not_found"

    @pytest.mark.parametrize("role", ["officer", "leader", "enterprise", "department"])
    async def test_other_roles_cannot_cancel(self, api: InsuranceApi, role: str) -> None:
        policy_id = await register(api)
        before = await snapshot(api, policy_id)
        sub = USCC_A if role == "enterprise" else "someone"
        r = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(TODAY), headers=api.as_(role, sub)
        )
        assert r.status_code == 403
        assert await snapshot(api, policy_id) == before
        anonymous = await api.client.post(CANCEL.format(policy_id), json=cancellation(TODAY))
        assert anonymous.status_code == 401

    async def test_suspended_insurer_cannot_cancel(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        async with api.runtime.session_factory() as session, session.begin():
            insurer = await session.get(Insurer, "PICC-QD")
            assert insurer is not None
            insurer.status, insurer.updated_at = "suspended", utcnow()
        before = await snapshot(api, policy_id)
        r = await api.client.post(
            CANCEL.format(policy_id),
            json=cancellation(TODAY),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 403
        assert r.json()["code"] == "insurer_suspended"
        assert await snapshot(api, policy_id) == before

    async def test_twice_is_409_and_an_ended_policy_is_409(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        headers = api.as_("insurer", "PICC-QD")
        first = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(date(2026, 6, 1)), headers=headers
        )
        assert first.status_code == 200
        before = await snapshot(api, policy_id)
        again = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(TODAY), headers=headers
        )
        assert again.status_code == 409
        assert again.json()["code"] == "policy_cancellation_pending"
        assert await snapshot(api, policy_id) == before
        api.set_today(date(2026, 6, 2))
        await run_pass(api, api.today)
        ended = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(api.today), headers=headers
        )
        assert ended.status_code == 409
        assert ended.json()["code"] == "policy_ended"

    async def test_idempotency_key_replays_the_cancellation(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        headers = {**api.as_("insurer", "PICC-QD"), "Idempotency-Key": "cancel-0001-abc"}
        first = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(TODAY), headers=headers
        )
        second = await api.client.post(
            CANCEL.format(policy_id), json=cancellation(TODAY), headers=headers
        )
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert len(await ended_events(api)) == 1


class TestPendingCancellation:
    async def test_cancelled_before_its_start_never_comes_into_force(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api, starts_on="2026-04-01", ends_on="2027-03-31")
        r = await api.client.post(
            CANCEL.format(policy_id),
            json=cancellation(date(2026, 3, 20)),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["activated_at"] is None
        assert await api.outbox_types() == []
        assert await run_pass(api, date(2026, 4, 1)) == LifecycleReport()
        assert await api.outbox_types() == []
        assert await schedule(api, policy_id) == []

    async def test_cancelled_within_its_term_activates_with_the_shorter_cover(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api, starts_on="2026-04-01", ends_on="2027-03-31")
        r = await api.client.post(
            CANCEL.format(policy_id),
            json=cancellation(date(2026, 8, 31)),
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending"
        assert await run_pass(api, date(2026, 4, 1)) == LifecycleReport(activated=1)
        rows = await schedule(api, policy_id)
        assert max(o.due_on for o in rows) == date(2026, 8, 31)
        assert {o.status for o in rows} == {"open"}
        key_checks = [(o.window_start, o.due_on) for o in rows if o.kind == "key_check"]
        assert key_checks == [
            (date(2026, 4, 1), date(2026, 6, 30)),
            (date(2026, 7, 1), date(2026, 8, 31)),
        ]
        assert await run_pass(api, date(2026, 9, 1)) == LifecycleReport(cancelled=1)
        assert await api.outbox_types() == [
            "insurance.policy.activated.v1",
            "insurance.policy.ended.v1",
        ]
        assert (await ended_events(api))[0]["last_covered_on"] == "2026-08-31"


class TestLifecyclePass:
    async def test_pending_policy_activates_on_its_start_day_once(self, api: InsuranceApi) -> None:
        policy_id = await register(api, starts_on="2026-04-01", ends_on="2027-03-31")
        assert await run_pass(api, date(2026, 3, 31)) == LifecycleReport()
        assert await api.count(Obligation) == 0
        assert await run_pass(api, date(2026, 4, 1)) == LifecycleReport(activated=1)
        policy = await policy_row(api, policy_id)
        assert policy.status == "active"
        assert policy.activated_at is not None
        scheduled = await api.count(Obligation)
        # An assessment, 4 policy quarters, 2 policy half-years, 2 trainings.
        assert scheduled == 1 + 4 + 2 + 2
        assert await run_pass(api, date(2026, 4, 2)) == LifecycleReport()
        assert await api.count(Obligation) == scheduled
        assert await api.outbox_types() == ["insurance.policy.activated.v1"]
        async with api.runtime.session_factory() as session:
            actors = set((await session.scalars(sa.select(ObligationEvent.actor))).all())
        assert actors == {"system:insurance"}

    async def test_active_policy_expires_the_day_after_its_end_once(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api)
        assert await run_pass(api, ENDS) == LifecycleReport()
        assert await run_pass(api, ENDS + timedelta(days=1)) == LifecycleReport(expired=1)
        policy = await policy_row(api, policy_id)
        assert policy.status == "expired"
        assert policy.ended_at is not None
        assert [(e["reason"], e["last_covered_on"]) for e in await ended_events(api)] == [
            ("expired", "2026-12-31")
        ]
        assert await run_pass(api, ENDS + timedelta(days=30)) == LifecycleReport()
        assert len(await ended_events(api)) == 1
        # Nothing was withdrawn by the expiry: every service was due within the term.
        assert {o.status for o in await schedule(api, policy_id)} == {"open"}

    async def test_a_late_pass_activates_then_ends_in_order(self, api: InsuranceApi) -> None:
        await register(api, starts_on="2026-04-01", ends_on="2026-06-30")
        assert await run_pass(api, date(2026, 7, 5)) == LifecycleReport(activated=1, expired=1)
        assert await api.outbox_types() == [
            "insurance.policy.activated.v1",
            "insurance.policy.ended.v1",
        ]

    async def test_each_policy_once_among_many(self, api: InsuranceApi) -> None:
        for n in range(3):
            await register(
                api, policy_number=f"AQ-P{n}", uscc=make_uscc(310 + n), starts_on="2026-04-01"
            )
        for n in range(2):
            await register(api, policy_number=f"AQ-A{n}", uscc=make_uscc(320 + n))
        report = await run_pass(api, date(2026, 4, 1))
        assert report == LifecycleReport(activated=3)
        report = await run_pass(api, date(2027, 1, 1))
        assert report == LifecycleReport(expired=5)
        assert await run_pass(api, date(2027, 1, 2)) == LifecycleReport()
        assert (await api.outbox_types()).count("insurance.policy.ended.v1") == 5

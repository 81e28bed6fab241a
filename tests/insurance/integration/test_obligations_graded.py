"""Graded service (分类分级) re-planned by risk level: obligations.apply_risk_level, the use case
the insurer push API calls with each assessment. Real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.db import unit_of_work, utcnow
from kernel.uscc import make_uscc
from services.insurance import obligations, service
from services.insurance.config import InsuranceSettings
from services.insurance.domain import RiskLevel
from services.insurance.models import Obligation, ObligationEvent, Policy, RiskAssessment
from tests.insurance.conftest import InsuranceApi
from tests.support.builders import policy_body

USCC = make_uscc(501)
ACTOR = "insurer:PICC-QD"


@pytest.fixture
async def api(insurance: InsuranceApi) -> InsuranceApi:
    await insurance.register_insurer("PICC-QD")
    return insurance


async def register(api: InsuranceApi, **overrides: Any) -> str:
    body = policy_body(501, **{"starts_on": "2026-01-01", "ends_on": "2026-12-31", **overrides})
    r = await api.client.post("/policies", json=body, headers=api.as_("insurer", "PICC-QD"))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def assess(api: InsuranceApi, policy_id: str, level: str, on: date) -> None:
    async with unit_of_work(api.runtime.session_factory) as session:
        policy = await session.get(Policy, policy_id)
        assert policy is not None
        await obligations.apply_risk_level(session, policy, RiskLevel(level), on, ACTOR)


async def graded(api: InsuranceApi, policy_id: str) -> list[tuple[Any, ...]]:
    async with api.runtime.session_factory() as session:
        rows = (
            await session.scalars(
                sa.select(Obligation)
                .where(Obligation.policy_id == policy_id, Obligation.kind == "graded_service")
                .order_by(Obligation.seq)
            )
        ).all()
    return [(o.seq, o.window_start, o.due_on, o.status, o.risk_level) for o in rows]


def open_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [r for r in rows if r[3] == "open"]


class TestApplyRiskLevel:
    async def test_major_owes_a_graded_service_every_month_from_the_assessment(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api)
        await assess(api, policy_id, "major", date(2026, 2, 10))
        rows = await graded(api, policy_id)
        assert rows[0] == (1, date(2026, 2, 10), date(2026, 2, 28), "open", "major")
        assert rows[1] == (2, date(2026, 3, 1), date(2026, 3, 31), "open", "major")
        assert rows[-1] == (11, date(2026, 12, 1), date(2026, 12, 31), "open", "major")
        r = await api.client.get(
            f"/policies/{policy_id}/obligations",
            params={"kind": "graded_service"},
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert [i["risk_level"] for i in r.json()["items"]] == ["major"] * 11
        policy = await api.client.get(f"/policies/{policy_id}", headers=api.as_("officer"))
        assert policy.json()["risk_level"] == "major"

    async def test_medium_or_low_owes_nothing_extra(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        before = await api.count(Obligation)
        await assess(api, policy_id, "medium", date(2026, 2, 10))
        assert await graded(api, policy_id) == []
        assert await api.count(Obligation) == before
        async with api.runtime.session_factory() as session:
            policy = await session.get(Policy, policy_id)
        assert policy is not None
        assert policy.risk_level == "medium"

    async def test_lowered_to_high_replans_what_has_not_started(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        await assess(api, policy_id, "major", date(2026, 2, 10))
        await assess(api, policy_id, "high", date(2026, 5, 15))
        rows = await graded(api, policy_id)
        # February to May (May's window opened on the 1st) stand; June onwards withdrawn.
        assert [r[0] for r in open_rows(rows) if r[4] == "major"] == [1, 2, 3, 4]
        assert [r[0] for r in rows if r[3] == "withdrawn"] == list(range(5, 12))
        assert [(r[0], r[1], r[2]) for r in rows if r[4] == "high"] == [
            (12, date(2026, 6, 1), date(2026, 6, 30)),
            (13, date(2026, 7, 1), date(2026, 8, 31)),
            (14, date(2026, 9, 1), date(2026, 10, 31)),
            (15, date(2026, 11, 1), date(2026, 12, 31)),
        ]
        async with api.runtime.session_factory() as session:
            notes = (
                await session.scalars(
                    sa.select(ObligationEvent.note).where(ObligationEvent.action == "withdrawn")
                )
            ).all()
        assert set(notes) == {"risk level reassessed: major → high on 2026-05-15"}

    async def test_lowered_to_low_withdraws_the_rest(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        await assess(api, policy_id, "high", date(2026, 3, 1))
        await assess(api, policy_id, "low", date(2026, 7, 20))
        rows = await graded(api, policy_id)
        # Mar–Apr, May–Jun and Jul–Aug (opened 1 July) stand; Sep–Oct and Nov–Dec go.
        assert [(r[0], r[3]) for r in rows] == [
            (1, "open"),
            (2, "open"),
            (3, "open"),
            (4, "withdrawn"),
            (5, "withdrawn"),
        ]

    async def test_confirming_the_level_changes_nothing(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        await assess(api, policy_id, "major", date(2026, 2, 10))
        before = (await graded(api, policy_id), await api.count(ObligationEvent))
        await assess(api, policy_id, "major", date(2026, 6, 10))
        assert (await graded(api, policy_id), await api.count(ObligationEvent)) == before

    async def test_an_assessment_older_than_one_on_file_changes_nothing(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api)
        await assess(api, policy_id, "high", date(2026, 3, 1))
        async with api.runtime.session_factory() as session, session.begin():
            session.add(
                RiskAssessment(
                    id="ra-later",
                    policy_id=policy_id,
                    obligation_id=None,
                    insurer_id="PICC-QD",
                    uscc=USCC,
                    risk_level="high",
                    assessed_on=date(2026, 3, 1),
                    assessors=["李工"],
                    findings="储罐区报警器失效",
                    hazards_found=1,
                    evidence=[],
                    request_sha256="0" * 64,
                    receipt_sha256="1" * 64,
                    received_at=utcnow(),
                    received_from=ACTOR,
                )
            )
        before = (await graded(api, policy_id), await api.count(ObligationEvent))
        await assess(api, policy_id, "major", date(2026, 2, 20))
        assert (await graded(api, policy_id), await api.count(ObligationEvent)) == before
        async with api.runtime.session_factory() as session:
            policy = await session.get(Policy, policy_id)
        assert policy is not None
        assert policy.risk_level == "high"

    async def test_a_pending_policy_keeps_the_level_for_its_activation(
        self, api: InsuranceApi
    ) -> None:
        policy_id = await register(api, starts_on="2026-04-01", ends_on="2027-03-31")
        await assess(api, policy_id, "major", date(2026, 3, 16))
        assert await graded(api, policy_id) == []
        settings = api.runtime.settings
        assert isinstance(settings, InsuranceSettings)
        async with unit_of_work(api.runtime.session_factory) as session:
            await service.lifecycle_pass(session, api.runtime.outbox, date(2026, 4, 1), settings)
        rows = await graded(api, policy_id)
        assert len(rows) == 12
        assert rows[0][1:3] == (date(2026, 4, 1), date(2026, 4, 30))

    async def test_a_pending_cancellation_bounds_the_new_services(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        r = await api.client.post(
            f"/policies/{policy_id}/cancellation",
            json={"cancelled_on": "2026-05-20", "reason": "企业停产，申请退保"},
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 200
        await assess(api, policy_id, "major", date(2026, 3, 16))
        assert [(r[1], r[2]) for r in await graded(api, policy_id)] == [
            (date(2026, 3, 16), date(2026, 3, 31)),
            (date(2026, 4, 1), date(2026, 4, 30)),
            (date(2026, 5, 1), date(2026, 5, 20)),
        ]

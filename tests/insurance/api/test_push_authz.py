"""Insurer A can never read or write insurer B's records: every push and read route, both ways,
on SQLite and PostgreSQL. A refused write leaves every table as it was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from services.insurance.models import (
    HazardAssistanceReport,
    Obligation,
    ObligationEvent,
    Policy,
    RiskAssessment,
    ServiceRecord,
)
from tests.insurance.api.test_push import (
    CPIC,
    PICC,
    Push,
    assistance_body,
    problem,
    push,
    record_body,
)
from tests.insurance.api.test_push_risk import assessment_body

__all__ = ["push"]


@dataclass
class Book:
    """One insurer's policy with one pushed record of each kind, and obligations still open."""

    insurer: str
    policy: dict[str, Any]
    record_id: str
    assessment_id: str
    report_id: str
    open_full_check: str
    open_assistance: str


async def book(push: Push, insurer: str, n: int) -> Book:
    policy = await push.policy(insurer, n)
    check = await push.obligation(policy["id"], "key_check")
    record = await push.post("/insurer/service-records", record_body(check.id), insurer)
    assessment = await push.post(
        "/insurer/risk-assessments",
        assessment_body(policy["id"], assessed_on="2026-03-10"),
        insurer,
    )
    helped = await push.hazard_obligation(policy, date(2026, 3, 12))
    report = await push.post("/insurer/hazard-assistance", assistance_body(helped.id), insurer)
    assert (record.status_code, assessment.status_code, report.status_code) == (201, 201, 201)
    open_help = await push.hazard_obligation(policy, date(2026, 3, 14))
    full_check = await push.obligation(policy["id"], "full_check")
    return Book(
        insurer,
        policy,
        record.json()["id"],
        assessment.json()["id"],
        report.json()["id"],
        full_check.id,
        open_help.id,
    )


async def snapshot(push: Push) -> tuple[Any, ...]:
    """Everything a push could change."""
    async with push.api.runtime.session_factory() as session:
        obligations = (
            await session.execute(
                sa.select(Obligation.id, Obligation.status, Obligation.record_id).order_by(
                    Obligation.id
                )
            )
        ).all()
        levels = (
            await session.execute(sa.select(Policy.id, Policy.risk_level).order_by(Policy.id))
        ).all()
    tables = push.api.runtime.tables
    counted = (
        tables.outbox,
        tables.idempotency,
        ServiceRecord,
        RiskAssessment,
        HazardAssistanceReport,
        ObligationEvent,
    )
    return (
        [tuple(o) for o in obligations],
        [tuple(p) for p in levels],
        [await push.api.count(t) for t in counted],
    )


ROUTES = [
    "push service record",
    "push risk assessment",
    "push hazard assistance",
    "read service record",
    "read risk assessment",
    "read hazard assistance",
    "list risk assessments",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("attacker", [PICC, CPIC])
async def test_an_insurer_never_reaches_another_insurers_records(
    push: Push, route: str, attacker: str
) -> None:
    books = {PICC: await book(push, PICC, 1), CPIC: await book(push, CPIC, 2)}
    victim = books[CPIC if attacker == PICC else PICC]
    before = await snapshot(push)
    headers = push.api.as_("insurer", attacker)
    key = {"Idempotency-Key": f"attack-{route.replace(' ', '-')}"}

    if route == "push service record":
        body = record_body(victim.open_full_check, hazards_found=0)
        r = await push.client.post("/insurer/service-records", json=body, headers=headers | key)
        problem(r, 403, "obligation_not_yours", "obligation_id")
    elif route == "push risk assessment":
        body = assessment_body(victim.policy["id"], risk_level="major")
        r = await push.client.post("/insurer/risk-assessments", json=body, headers=headers | key)
        problem(r, 403, "policy_not_yours", "policy_id")
    elif route == "push hazard assistance":
        body = assistance_body(victim.open_assistance)
        r = await push.client.post("/insurer/hazard-assistance", json=body, headers=headers | key)
        problem(r, 403, "obligation_not_yours", "obligation_id")
    elif route == "read service record":
        r = await push.client.get(f"/service-records/{victim.record_id}", headers=headers)
        problem(r, 403, "service_record_not_yours")
    elif route == "read risk assessment":
        r = await push.client.get(f"/risk-assessments/{victim.assessment_id}", headers=headers)
        problem(r, 403, "risk_assessment_not_yours")
    elif route == "read hazard assistance":
        r = await push.client.get(f"/hazard-assistance/{victim.report_id}", headers=headers)
        problem(r, 403, "hazard_assistance_not_yours")
    else:
        for query in (f"policy_id={victim.policy['id']}", f"uscc={victim.policy['uscc']}", ""):
            r = await push.client.get(f"/risk-assessments?{query}", headers=headers)
            assert r.status_code == 200
            seen = {i["insurer_id"] for i in r.json()["items"]}
            assert victim.insurer not in seen
        own = await push.client.get("/risk-assessments", headers=headers)
        assert [i["id"] for i in own.json()["items"]] == [books[attacker].assessment_id]

    assert await snapshot(push) == before
    # The victim's own records are still its own and readable by it.
    mine = push.api.as_("insurer", victim.insurer)
    r = await push.client.get(f"/service-records/{victim.record_id}", headers=mine)
    assert r.status_code == 200

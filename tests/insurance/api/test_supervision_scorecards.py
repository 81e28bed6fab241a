"""Insurer scorecards over the API on SQLite and PostgreSQL: exact counts per insurer, kind and
month, the clock that makes services overdue, period rules, and that anyone may read them
without learning which enterprise is behind a number."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from kernel.uscc import make_uscc
from tests.insurance.api.test_supervision import (
    at,
    get,
    obligation,
    policy,
    refused,
    seed,
    whistle,
)
from tests.insurance.conftest import TODAY, InsuranceApi

MARCH = "from=2026-03-01&to=2026-03-31"

KINDS = (
    "risk_assessment",
    "key_check",
    "full_check",
    "training",
    "hazard_assistance",
    "graded_service",
    "one_plan",
    "remote_guidance",
    "onsite_staff",
)


def counts(**nonzero: Any) -> dict[str, Any]:
    """Obligation counts: zeros and null rates unless given."""
    base: dict[str, Any] = {
        "due": 0,
        "delivered": 0,
        "delivered_on_time": 0,
        "verified": 0,
        "rejected_at_least_once": 0,
        "overdue": 0,
        "open_not_yet_due": 0,
        "assessable": 0,
        "on_time_rate": None,
        "verified_rate": None,
    }
    base.update(nonzero)
    return base


def whistle_counts(**nonzero: int) -> dict[str, int]:
    base = dict.fromkeys(
        (
            "raised",
            "acknowledged_in_time",
            "ack_breaches",
            "awaiting_acknowledgement",
            "delivered_in_time",
            "delivery_breaches",
            "awaiting_delivery",
        ),
        0,
    )
    base.update(nonzero)
    return base


def score(total: dict[str, Any], **by_kind: dict[str, Any]) -> dict[str, Any]:
    return {**total, "by_kind": {k: by_kind.get(k, counts()) for k in KINDS}}


async def scorecard_world(api: InsuranceApi) -> None:
    """PICC owes four services due in March (one of each outcome); PAIC one, delivered early."""
    await api.register_insurer("PICC-QD", "中国人民财产保险青岛分公司")
    await api.register_insurer("PAIC-QD", "平安财产保险青岛分公司")
    await api.register_insurer("ZZ-QD", "紫竹财产保险青岛分公司")
    p1 = policy(1, "PICC-QD", starts_on=date(2026, 2, 1))
    p2 = policy(2, "PAIC-QD", starts_on=date(2026, 2, 1))
    d = date
    await seed(
        api,
        p1,
        p2,
        obligation(p1, "risk_assessment", d(2026, 3, 1), status="verified",
                   delivered_on=d(2026, 2, 27)),
        obligation(p1, "key_check", d(2026, 3, 10), status="delivered",
                   delivered_on=d(2026, 3, 12)),  # a late delivery
        obligation(p1, "key_check", d(2026, 3, 15), seq=2, rejections=1),  # rejected, overdue
        obligation(p1, "training", TODAY),  # due today: in time
        obligation(p1, "full_check", d(2026, 3, 31), status="withdrawn"),
        obligation(p1, "full_check", d(2026, 2, 28), seq=2),  # February
        obligation(p1, "one_plan", d(2026, 4, 1)),  # April
        obligation(p2, "hazard_assistance", d(2026, 3, 31), status="delivered",
                   delivered_on=d(2026, 3, 14)),
        whistle(p1, at(d(2026, 3, 2), 10), status="delivered",
                acknowledged_at=at(d(2026, 3, 2), 11), delivered_at=at(d(2026, 3, 2), 20)),
        whistle(p1, at(d(2026, 3, 10), 9), ack_breached_at=at(d(2026, 3, 11), 9)),
        # Raised half an hour into 1 March in Qingdao (still 28 February in UTC).
        whistle(p1, at(d(2026, 3, 1), 0, 30), status="delivered",
                acknowledged_at=at(d(2026, 3, 2), 1, 30), delivered_at=at(d(2026, 3, 3), 0)),
        whistle(p1, at(d(2026, 4, 1), 0, 30)),  # April in Qingdao
        whistle(p1, at(TODAY, 9)),  # an hour ago
    )  # fmt: skip


PICC_MARCH = score(
    counts(
        due=4,
        delivered=2,
        delivered_on_time=1,
        verified=1,
        rejected_at_least_once=1,
        overdue=1,
        open_not_yet_due=1,
        assessable=3,
        on_time_rate=0.3333,
        verified_rate=0.3333,
    ),
    risk_assessment=counts(
        due=1,
        delivered=1,
        delivered_on_time=1,
        verified=1,
        assessable=1,
        on_time_rate=1.0,
        verified_rate=1.0,
    ),
    key_check=counts(
        due=2,
        delivered=1,
        rejected_at_least_once=1,
        overdue=1,
        assessable=2,
        on_time_rate=0.0,
        verified_rate=0.0,
    ),
    training=counts(due=1, open_not_yet_due=1),
)
PICC_MARCH_WHISTLES = whistle_counts(
    raised=4,
    acknowledged_in_time=1,
    ack_breaches=2,
    awaiting_acknowledgement=1,
    delivered_in_time=2,
    delivery_breaches=1,
    awaiting_delivery=1,
)
PAIC_MARCH = score(
    counts(
        due=1,
        delivered=1,
        delivered_on_time=1,
        assessable=1,
        on_time_rate=1.0,
        verified_rate=0.0,
    ),
    hazard_assistance=counts(
        due=1,
        delivered=1,
        delivered_on_time=1,
        assessable=1,
        on_time_rate=1.0,
        verified_rate=0.0,
    ),
)


class TestScorecards:
    async def test_every_insurer_counted_exactly(self, insurance: InsuranceApi) -> None:
        await scorecard_world(insurance)
        body = await get(insurance, f"/scorecards?{MARCH}")
        assert body["period"] == {"from": "2026-03-01", "to": "2026-03-31", "days": 31}
        assert (body["as_of"], body["as_of_instant"]) == ("2026-03-16", "2026-03-16T02:00:00Z")
        assert [i["insurer_id"] for i in body["items"]] == ["PAIC-QD", "PICC-QD", "ZZ-QD"]
        paic, picc, idle = body["items"]
        assert picc == {
            "insurer_id": "PICC-QD",
            "insurer_name": "中国人民财产保险青岛分公司",
            "insurer_status": "active",
            "obligations": PICC_MARCH,
            "whistles": PICC_MARCH_WHISTLES,
        }
        assert paic["obligations"] == PAIC_MARCH
        assert paic["whistles"] == whistle_counts()
        assert idle["obligations"] == score(counts())
        assert idle["whistles"] == whistle_counts()

    async def test_anyone_may_read_and_no_enterprise_is_named(
        self, insurance: InsuranceApi
    ) -> None:
        await scorecard_world(insurance)
        anonymous = await insurance.client.get(f"/scorecards?{MARCH}")
        assert anonymous.status_code == 200
        for text in (make_uscc(1), make_uscc(2), "化工", "刘安全员", "13800000000"):
            assert text not in anonymous.text
        callers = [
            ("public", "anyone"),
            ("enterprise", make_uscc(2)),
            ("insurer", "PAIC-QD"),
            ("department", "NFRA-QD"),
            ("officer", "o1"),
        ]
        for role, sub in callers:
            assert await get(insurance, f"/scorecards?{MARCH}", insurance.as_(role, sub)) == (
                anonymous.json()
            )
        r = await insurance.client.get(
            f"/scorecards?{MARCH}", headers={"Authorization": "Bearer forged"}
        )
        assert r.status_code == 401

    async def test_one_insurer_by_filter(self, insurance: InsuranceApi) -> None:
        await scorecard_world(insurance)
        body = await get(insurance, f"/scorecards?{MARCH}&insurer_id=PAIC-QD")
        assert [i["insurer_id"] for i in body["items"]] == ["PAIC-QD"]
        assert body["items"][0]["obligations"] == PAIC_MARCH
        assert (await get(insurance, f"/scorecards?{MARCH}&insurer_id=NOBODY"))["items"] == []

    async def test_the_due_day_passing_makes_services_overdue(
        self, insurance: InsuranceApi
    ) -> None:
        await scorecard_world(insurance)
        insurance.set_today(date(2026, 3, 17))  # 10:00: yesterday's 09:00 whistle is unanswered
        body = await get(insurance, f"/scorecards?{MARCH}&insurer_id=PICC-QD")
        assert body["as_of"] == "2026-03-17"
        picc = body["items"][0]
        assert (picc["obligations"]["overdue"], picc["obligations"]["open_not_yet_due"]) == (2, 0)
        assert (picc["obligations"]["assessable"], picc["obligations"]["on_time_rate"]) == (4, 0.25)
        assert picc["obligations"]["by_kind"]["training"]["overdue"] == 1
        assert picc["whistles"] == {
            **PICC_MARCH_WHISTLES,
            "ack_breaches": 3,
            "awaiting_acknowledgement": 0,
        }

    @pytest.mark.parametrize(
        ("query", "code", "field"),
        [
            ("from=2026-03-31&to=2026-03-01", "period_reversed", "to"),
            ("from=2026-01-01&to=2027-01-02", "period_too_long", "to"),
            ("to=2026-03-31", "validation_failed", "from"),
            ("from=2026-13-01&to=2026-03-31", "validation_failed", "from"),
            ("from=2026-03-01", "validation_failed", "to"),
            (f"{MARCH}&insurer_id={'X' * 65}", "validation_failed", "insurer_id"),
        ],
    )
    async def test_invalid_periods_name_the_field(
        self, insurance: InsuranceApi, query: str, code: str, field: str
    ) -> None:
        await insurance.register_insurer("PICC-QD")
        refused(await get(insurance, f"/scorecards?{query}", None, 422), code, field)

    async def test_a_whole_leap_year_is_allowed(self, insurance: InsuranceApi) -> None:
        body = await get(insurance, "/scorecards?from=2028-01-01&to=2028-12-31")
        assert body["period"]["days"] == 366


class TestInsurerScorecard:
    async def test_the_period_and_its_months(self, insurance: InsuranceApi) -> None:
        await scorecard_world(insurance)
        body = await get(insurance, "/scorecards/PICC-QD?from=2026-02-15&to=2026-04-10")
        assert (body["insurer_id"], body["insurer_name"]) == (
            "PICC-QD",
            "中国人民财产保险青岛分公司",
        )
        assert body["period"] == {"from": "2026-02-15", "to": "2026-04-10", "days": 55}
        assert body["obligations"] == score(
            counts(
                due=6,
                delivered=2,
                delivered_on_time=1,
                verified=1,
                rejected_at_least_once=1,
                overdue=2,
                open_not_yet_due=2,
                assessable=4,
                on_time_rate=0.25,
                verified_rate=0.25,
            ),
            risk_assessment=PICC_MARCH["by_kind"]["risk_assessment"],
            key_check=PICC_MARCH["by_kind"]["key_check"],
            training=PICC_MARCH["by_kind"]["training"],
            full_check=counts(due=1, overdue=1, assessable=1, on_time_rate=0.0, verified_rate=0.0),
            one_plan=counts(due=1, open_not_yet_due=1),
        )
        assert body["whistles"]["raised"] == 5
        assert [(m["month"], m["period"]) for m in body["months"]] == [
            ("2026-02", {"from": "2026-02-15", "to": "2026-02-28", "days": 14}),
            ("2026-03", {"from": "2026-03-01", "to": "2026-03-31", "days": 31}),
            ("2026-04", {"from": "2026-04-01", "to": "2026-04-10", "days": 10}),
        ]
        february, march, april = body["months"]
        assert (february["obligations"]["due"], february["obligations"]["overdue"]) == (1, 1)
        assert february["whistles"] == whistle_counts()
        assert march["obligations"] == PICC_MARCH
        assert march["whistles"] == PICC_MARCH_WHISTLES
        assert april["obligations"]["by_kind"]["one_plan"]["open_not_yet_due"] == 1
        assert april["whistles"] == whistle_counts(
            raised=1, awaiting_acknowledgement=1, awaiting_delivery=1
        )

    async def test_public_unknown_insurer_and_period_rules(self, insurance: InsuranceApi) -> None:
        await scorecard_world(insurance)
        anonymous = await get(insurance, f"/scorecards/PAIC-QD?{MARCH}")
        assert anonymous["obligations"] == PAIC_MARCH
        assert len(anonymous["months"]) == 1
        as_enterprise = insurance.as_("enterprise", make_uscc(1))
        assert await get(insurance, f"/scorecards/PAIC-QD?{MARCH}", as_enterprise) == anonymous
        refused(await get(insurance, f"/scorecards/NOBODY?{MARCH}", None, 404), "insurer_not_found")
        refused(
            await get(insurance, "/scorecards/PICC-QD?from=2026-03-02&to=2026-03-01", None, 422),
            "period_reversed",
            "to",
        )

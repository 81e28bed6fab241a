"""Supervision over the API on SQLite and PostgreSQL: the bureau's overdue list, its summary
and coverage gaps, with who may see them.

State is seeded straight into the tables (policies, obligations, pushes, whistles, the registry
copy) so these tests hold the supervision reads to exact figures whatever the write paths do.
The business date is the fixture's Monday 16 March 2026 (10:00 in Qingdao).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.db import utcnow
from kernel.uscc import make_uscc
from services.insurance.models import (
    Enterprise,
    HazardAssistanceReport,
    Obligation,
    Policy,
    RiskAssessment,
    ServiceRecord,
    Whistle,
)
from tests.insurance.conftest import TODAY, InsuranceApi

# --- Seeding --------------------------------------------------------------------------------


def day(offset: int) -> date:
    """A business date relative to the fixture's today."""
    return TODAY + timedelta(days=offset)


def policy(
    n: int,
    insurer_id: str = "PICC-QD",
    *,
    number: str | None = None,
    status: str = "active",
    starts_on: date | None = None,
    ends_on: date | None = None,
    cancelled_on: date | None = None,
    cancel_reason: str | None = None,
    sector: str = "hazardous_chemicals",
    risk_level: str | None = None,
    custom_services: list[str] | None = None,
) -> Policy:
    starts = starts_on or day(-15)
    return Policy(
        id=str(uuid.uuid4()),
        policy_number=number or f"{insurer_id}-{n}-{starts.isoformat()}",
        insurer_id=insurer_id,
        uscc=make_uscc(n),
        enterprise_name=f"青岛第{n}化工有限公司",
        sector=sector,
        starts_on=starts,
        ends_on=ends_on or starts + timedelta(days=364),
        coverage_amount=Decimal("5000000.00"),
        premium=Decimal("18000.00"),
        status=status,
        custom_services=custom_services or [],
        risk_level=risk_level,
        cancelled_on=cancelled_on,
        cancel_reason=cancel_reason,
        created_at=utcnow(),
        created_by="insurer:seed",
    )


def obligation(
    p: Policy,
    kind: str,
    due_on: date,
    *,
    id: str | None = None,
    seq: int = 1,
    status: str = "open",
    delivered_on: date | None = None,
    rejections: int = 0,
    hazard_id: str | None = None,
) -> Obligation:
    now = utcnow()
    return Obligation(
        id=id or str(uuid.uuid4()),
        policy_id=p.id,
        insurer_id=p.insurer_id,
        uscc=p.uscc,
        kind=kind,
        seq=seq,
        window_start=due_on - timedelta(days=30),
        due_on=due_on,
        status=status,
        hazard_id=hazard_id,
        delivered_on=delivered_on,
        delivered_at=None if delivered_on is None else now,
        rejections=rejections,
        withdrawn_reason="policy cancelled" if status == "withdrawn" else None,
        created_at=now,
        updated_at=now,
    )


def _receipt(tag: str) -> dict[str, Any]:
    return {
        "request_sha256": (tag * 64)[:64],
        "receipt_sha256": (tag.upper() * 64)[:64],
        "received_at": utcnow(),
        "received_from": "insurer:seed",
    }


EVIDENCE = [{"name": "现场照片.jpg", "sha256": "e" * 64, "media_type": "image/jpeg"}]


def service_record(o: Obligation, delivered_on: date, summary: str) -> ServiceRecord:
    return ServiceRecord(
        id=str(uuid.uuid4()),
        obligation_id=o.id,
        policy_id=o.policy_id,
        insurer_id=o.insurer_id,
        uscc=o.uscc,
        kind=o.kind,
        delivered_on=delivered_on,
        performed_by=["王工程师", "李工程师"],
        summary=summary,
        participants=None,
        hazards_found=2,
        evidence=EVIDENCE,
        **_receipt("a"),
    )


def assessment(
    p: Policy, assessed_on: date, level: str, o: Obligation | None = None
) -> RiskAssessment:
    return RiskAssessment(
        id=str(uuid.uuid4()),
        policy_id=p.id,
        obligation_id=None if o is None else o.id,
        insurer_id=p.insurer_id,
        uscc=p.uscc,
        risk_level=level,
        assessed_on=assessed_on,
        assessors=["赵评估师"],
        findings="储罐区防雷接地检测过期",
        hazards_found=1,
        evidence=EVIDENCE,
        **_receipt("b"),
    )


def assistance_report(o: Obligation, assisted_on: date) -> HazardAssistanceReport:
    return HazardAssistanceReport(
        id=str(uuid.uuid4()),
        obligation_id=o.id,
        policy_id=o.policy_id,
        hazard_id=o.hazard_id or str(uuid.uuid4()),
        insurer_id=o.insurer_id,
        uscc=o.uscc,
        assisted_on=assisted_on,
        performed_by=["孙工程师"],
        measures="协助制定整改方案并复核",
        outcome="rectified",
        evidence=EVIDENCE,
        **_receipt("c"),
    )


def whistle(p: Policy, raised_at: datetime, **over: Any) -> Whistle:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "uscc": p.uscc,
        "enterprise_name": p.enterprise_name,
        "policy_id": p.id,
        "insurer_id": p.insurer_id,
        "category": "hazard_help",
        "description": "配电室隐患不会整改，请求保险公司派员指导",
        "location": None,
        "contact_name": "刘安全员",
        "contact_phone": "13800000000",
        "status": "raised",
        "raised_at": raised_at,
        "ack_due_at": raised_at + timedelta(hours=24),
        "delivery_due_at": raised_at + timedelta(hours=72),
        "evidence": [],
    }
    values.update(over)
    return Whistle(**values)


def enterprise(
    n: int, *, district: str = "黄岛区", sector: str = "hazardous_chemicals", tier: str = "key"
) -> Enterprise:
    return Enterprise(
        uscc=make_uscc(n),
        name=f"青岛第{n}化工有限公司",
        district=district,
        sector=sector,
        tier=tier,
        updated_at=utcnow(),
    )


async def seed(api: InsuranceApi, *rows: Any) -> None:
    """Insert rows in one transaction (parents before children)."""
    async with api.runtime.session_factory() as session, session.begin():
        for row in rows:
            session.add(row)
            await session.flush()


def at(day_: date, hour: int, minute: int = 0) -> datetime:
    """An instant given in Qingdao time (UTC+8)."""
    return datetime(day_.year, day_.month, day_.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def get(
    api: InsuranceApi, url: str, headers: dict[str, str] | None = None, status: int = 200
) -> Any:
    r = await api.client.get(url, headers=headers or {})
    assert r.status_code == status, r.text
    return r.json()


def refused(body: Any, code: str, field: str | None = None) -> None:
    assert body["code"] == code, body
    if field is not None:
        fields = [e["field"] for e in body.get("errors", [])] or [body.get("field")]
        assert fields == [field], body


NOT_BUREAU = [("insurer", "PICC-QD"), ("enterprise", make_uscc(1)), ("department", "NFRA-QD")]
BUREAU = [("officer", "o1"), ("leader", "l1"), ("admin", "a1")]


# --- Overdue obligations --------------------------------------------------------------------


async def overdue_world(api: InsuranceApi) -> dict[str, Policy]:
    """Three policies with obligations overdue by 1 to 43 days, and some that are not."""
    await api.register_insurer("PICC-QD", "中国人民财产保险青岛分公司")
    await api.register_insurer("PAIC-QD", "平安财产保险青岛分公司")
    p1 = policy(1, "PICC-QD", number="PICC-0001")
    p2 = policy(2, "PAIC-QD", number="PAIC-0002")
    p3 = policy(3, "PICC-QD", number="PICC-0003")
    await seed(
        api,
        enterprise(1, district="黄岛区"),
        enterprise(2, district="市南区"),
        p1,
        p2,
        p3,
        obligation(p1, "key_check", date(2026, 3, 1), id="ob-a", rejections=1),
        obligation(p1, "training", date(2026, 3, 15), id="ob-b"),
        obligation(p1, "full_check", TODAY, id="ob-c"),  # due today: in time
        obligation(
            p1,
            "key_check",
            date(2026, 3, 1),
            id="ob-d",
            seq=2,
            status="delivered",
            delivered_on=date(2026, 2, 28),
        ),
        obligation(p1, "one_plan", date(2026, 2, 1), id="ob-e", status="withdrawn"),
        obligation(p2, "hazard_assistance", date(2026, 2, 1), id="ob-f", hazard_id="hz-1"),
        obligation(p2, "key_check", date(2026, 3, 1), id="ob-g"),
        obligation(p3, "risk_assessment", date(2026, 3, 10), id="ob-h"),
    )
    return {"p1": p1, "p2": p2, "p3": p3}


def ids(page: Any) -> list[str]:
    return [item["obligation_id"] for item in page["items"]]


class TestOverdue:
    async def test_oldest_first_with_who_owes_what(self, insurance: InsuranceApi) -> None:
        await overdue_world(insurance)
        page = await get(insurance, "/supervision/overdue", insurance.as_("officer"))
        assert ids(page) == ["ob-f", "ob-a", "ob-g", "ob-h", "ob-b"]
        assert page["next_cursor"] is None
        first, second = page["items"][0], page["items"][1]
        assert first == {
            "obligation_id": "ob-f",
            "kind": "hazard_assistance",
            "seq": 1,
            "window_start": "2026-01-02",
            "due_on": "2026-02-01",
            "days_overdue": 43,
            "rejections": 0,
            "hazard_id": "hz-1",
            "policy_id": first["policy_id"],
            "policy_number": "PAIC-0002",
            "insurer_id": "PAIC-QD",
            "insurer_name": "平安财产保险青岛分公司",
            "uscc": make_uscc(2),
            "enterprise_name": "青岛第2化工有限公司",
            "district": "市南区",
        }
        assert (second["days_overdue"], second["rejections"]) == (15, 1)
        not_in_registry = page["items"][3]
        assert (not_in_registry["uscc"], not_in_registry["district"]) == (make_uscc(3), None)
        assert page["items"][4]["days_overdue"] == 1

    async def test_the_due_day_passing_makes_it_overdue(self, insurance: InsuranceApi) -> None:
        await overdue_world(insurance)
        insurance.set_today(day(1))
        page = await get(insurance, "/supervision/overdue?min_days=1", insurance.as_("leader"))
        assert ids(page)[-1] == "ob-c"
        assert page["items"][-1]["days_overdue"] == 1

    async def test_keyset_pages_cover_everything_once(self, insurance: InsuranceApi) -> None:
        await overdue_world(insurance)
        seen: list[str] = []
        url = "/supervision/overdue?limit=2"
        while True:
            page = await get(insurance, url, insurance.as_("admin"))
            assert len(page["items"]) <= 2
            seen += ids(page)
            if page["next_cursor"] is None:
                break
            url = f"/supervision/overdue?limit=2&cursor={page['next_cursor']}"
        assert seen == ["ob-f", "ob-a", "ob-g", "ob-h", "ob-b"]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("insurer_id=PAIC-QD", ["ob-f", "ob-g"]),
            ("kind=key_check", ["ob-a", "ob-g"]),
            ("district=黄岛区", ["ob-a", "ob-b"]),
            ("min_days=15", ["ob-f", "ob-a", "ob-g"]),
            ("min_days=7&insurer_id=PICC-QD", ["ob-a"]),
            ("insurer_id=NOBODY", []),
        ],
    )
    async def test_filters(self, insurance: InsuranceApi, query: str, expected: list[str]) -> None:
        await overdue_world(insurance)
        page = await get(insurance, f"/supervision/overdue?{query}", insurance.as_("officer"))
        assert ids(page) == expected

    async def test_invalid_queries_name_the_field(self, insurance: InsuranceApi) -> None:
        await overdue_world(insurance)
        officer = insurance.as_("officer")
        cases = [
            ("kind=audit", "validation_failed", "kind"),
            ("min_days=0", "validation_failed", "min_days"),
            ("limit=201", "validation_failed", "limit"),
            ("cursor=not-a-cursor", "invalid_cursor", None),
        ]
        for query, code, field in cases:
            body = await get(insurance, f"/supervision/overdue?{query}", officer, 422)
            refused(body, code, field)

    async def test_only_the_bureau_sees_it(self, insurance: InsuranceApi) -> None:
        await overdue_world(insurance)
        for role, sub in BUREAU:
            await get(insurance, "/supervision/overdue", insurance.as_(role, sub))
        for role, sub in [*NOT_BUREAU, ("public", "anyone")]:
            body = await get(insurance, "/supervision/overdue", insurance.as_(role, sub), 403)
            refused(body, "forbidden")
        await get(insurance, "/supervision/overdue", None, 401)


# --- The bureau's summary -------------------------------------------------------------------


class TestSummary:
    async def test_totals_across_insurers(self, insurance: InsuranceApi) -> None:
        world = await overdue_world(insurance)
        p1, p2 = world["p1"], world["p2"]
        await seed(
            insurance,
            policy(4, "PAIC-QD", status="pending", starts_on=date(2026, 4, 1)),
            enterprise(4),  # its policy starts in April: a gap today
            enterprise(5, sector="gas_station"),  # never insured: a gap
            enterprise(6, sector="trade"),  # not obliged to insure
            # Open, ack breach recorded, delivery due passed on 13 March.
            whistle(p1, at(date(2026, 3, 10), 9), ack_breached_at=at(date(2026, 3, 11), 9)),
            # Acknowledged in time, delivery due passed on 15 March.
            whistle(
                p2,
                at(date(2026, 3, 12), 9),
                status="acknowledged",
                acknowledged_at=at(date(2026, 3, 12), 11),
            ),
            whistle(p2, at(TODAY, 9)),  # raised an hour ago
            whistle(
                p1,
                at(date(2026, 3, 1), 9),
                status="closed",
                acknowledged_at=at(date(2026, 3, 3), 9),
                delivered_at=at(date(2026, 3, 5), 9),
                closed_at=at(date(2026, 3, 6), 9),
                ack_breached_at=at(date(2026, 3, 2), 9),
                delivery_breached_at=at(date(2026, 3, 4), 9),
            ),
        )
        body = await get(insurance, "/supervision/summary", insurance.as_("officer"))
        assert body == {
            "as_of": "2026-03-16",
            "as_of_instant": "2026-03-16T02:00:00Z",
            "policies": {"active": 3, "pending": 1},
            "due_this_month": {
                "period": {"from": "2026-03-01", "to": "2026-03-31", "days": 31},
                "obligations": {
                    "due": 6,
                    "delivered": 1,
                    "delivered_on_time": 1,
                    "verified": 0,
                    "rejected_at_least_once": 1,
                    "overdue": 4,
                    "open_not_yet_due": 1,
                    "assessable": 5,
                    "on_time_rate": 0.2,
                    "verified_rate": 0.0,
                },
            },
            "overdue": {
                "total": 5,
                "by_kind": {
                    "risk_assessment": 1,
                    "key_check": 2,
                    "full_check": 0,
                    "training": 1,
                    "hazard_assistance": 1,
                    "graded_service": 0,
                    "one_plan": 0,
                    "remote_guidance": 0,
                    "onsite_staff": 0,
                },
                "oldest_due_on": "2026-02-01",
            },
            "whistles": {"open": 3, "ack_breached": 1, "delivery_breached": 2, "with_breaches": 2},
            "coverage_gaps": 2,
        }

    async def test_an_empty_platform_is_all_zeros(self, insurance: InsuranceApi) -> None:
        body = await get(insurance, "/supervision/summary", insurance.as_("admin"))
        assert body["policies"] == {"active": 0, "pending": 0}
        assert body["due_this_month"]["obligations"]["on_time_rate"] is None
        assert body["overdue"]["total"] == 0
        assert body["overdue"]["oldest_due_on"] is None
        assert body["whistles"]["open"] == 0
        assert body["coverage_gaps"] == 0

    async def test_only_the_bureau_sees_it(self, insurance: InsuranceApi) -> None:
        for role, sub in BUREAU:
            await get(insurance, "/supervision/summary", insurance.as_(role, sub))
        for role, sub in [*NOT_BUREAU, ("public", "anyone")]:
            await get(insurance, "/supervision/summary", insurance.as_(role, sub), 403)
        await get(insurance, "/supervision/summary", None, 401)


# --- Coverage gaps --------------------------------------------------------------------------


async def gap_world(api: InsuranceApi) -> dict[str, str]:
    """High-risk enterprises in every cover situation, and one not obliged to insure."""
    await api.register_insurer("PICC-QD", "中国人民财产保险青岛分公司")
    await api.register_insurer("PAIC-QD", "平安财产保险青岛分公司")
    await seed(
        api,
        enterprise(10),  # never insured
        enterprise(11),
        policy(11, "PICC-QD"),  # covered
        enterprise(12),
        policy(
            12,
            "PICC-QD",
            number="PICC-12-OLD",
            status="expired",
            starts_on=date(2025, 3, 2),
            ends_on=date(2026, 3, 1),
        ),
        policy(
            12,
            "PAIC-QD",
            number="PAIC-12-NEW",
            status="pending",
            starts_on=date(2026, 4, 1),
            ends_on=date(2027, 3, 31),
        ),
        enterprise(13, sector="trade"),  # not high-risk
        enterprise(14, sector="gas_station"),
        policy(
            14,
            "PAIC-QD",
            number="PAIC-14",
            status="cancelled",
            starts_on=date(2025, 9, 1),
            cancelled_on=day(-1),
            cancel_reason="企业退保",
        ),
        enterprise(15),
        policy(15, "PICC-QD", cancelled_on=TODAY, cancel_reason="企业退保"),  # covers today
        enterprise(16, sector="mining", district="市南区"),
        policy(16, "PICC-QD", number="PICC-16", starts_on=date(2025, 3, 16), ends_on=day(-1)),
        enterprise(17),
        policy(17, "PAIC-QD", number="PAIC-17", status="pending", starts_on=TODAY),
    )
    return {f"e{n}": make_uscc(n) for n in range(10, 18)}


def usccs(page: Any) -> list[str]:
    return [item["uscc"] for item in page["items"]]


class TestCoverageGaps:
    async def test_each_gap_with_the_cover_before_and_after(self, insurance: InsuranceApi) -> None:
        e = await gap_world(insurance)
        page = await get(insurance, "/coverage-gaps", insurance.as_("officer"))
        assert usccs(page) == sorted([e["e10"], e["e12"], e["e14"], e["e16"], e["e17"]])
        gaps = {item["uscc"]: item for item in page["items"]}
        assert gaps[e["e10"]] == {
            "uscc": e["e10"],
            "name": "青岛第10化工有限公司",
            "district": "黄岛区",
            "sector": "hazardous_chemicals",
            "tier": "key",
            "uncovered_since": None,
            "last_policy": None,
            "next_policy": None,
        }
        between = gaps[e["e12"]]
        assert between["uncovered_since"] == "2026-03-02"
        last, following = between["last_policy"], between["next_policy"]
        assert {k: v for k, v in last.items() if k != "policy_id"} == {
            "policy_number": "PICC-12-OLD",
            "insurer_id": "PICC-QD",
            "insurer_name": "中国人民财产保险青岛分公司",
            "starts_on": "2025-03-02",
            "ended_on": "2026-03-01",
            "reason": "expired",
            "cancel_reason": None,
        }
        assert {k: v for k, v in following.items() if k != "policy_id"} == {
            "policy_number": "PAIC-12-NEW",
            "insurer_id": "PAIC-QD",
            "insurer_name": "平安财产保险青岛分公司",
            "starts_on": "2026-04-01",
            "ends_on": "2027-03-31",
        }
        cancelled = gaps[e["e14"]]["last_policy"]
        assert (cancelled["reason"], cancelled["ended_on"], cancelled["cancel_reason"]) == (
            "cancelled",
            "2026-03-15",
            "企业退保",
        )
        assert gaps[e["e14"]]["next_policy"] is None
        lapsed = gaps[e["e16"]]
        assert (lapsed["last_policy"]["reason"], lapsed["uncovered_since"]) == (
            "expired",
            "2026-03-16",
        )
        waiting = gaps[e["e17"]]
        assert (waiting["last_policy"], waiting["next_policy"]["starts_on"]) == (None, "2026-03-16")

    async def test_cover_resumes_when_the_next_policy_is_active(
        self, insurance: InsuranceApi
    ) -> None:
        e = await gap_world(insurance)
        insurance.set_today(date(2026, 4, 1))
        officer = insurance.as_("officer")
        # Its start date came, but until activated it is pending: the status decides.
        assert e["e12"] in usccs(await get(insurance, "/coverage-gaps", officer))
        async with insurance.runtime.session_factory() as session, session.begin():
            await session.execute(
                sa.update(Policy)
                .where(Policy.policy_number == "PAIC-12-NEW")
                .values(status="active")
            )
        page = await get(insurance, "/coverage-gaps", officer)
        assert e["e12"] not in usccs(page)
        assert e["e11"] not in usccs(page)

    @pytest.mark.parametrize(
        ("query", "expected"),
        [("district=市南区", ["e16"]), ("sector=mining", ["e16"]), ("sector=gas_station", ["e14"])],
    )
    async def test_filters(self, insurance: InsuranceApi, query: str, expected: list[str]) -> None:
        e = await gap_world(insurance)
        page = await get(insurance, f"/coverage-gaps?{query}", insurance.as_("officer"))
        assert usccs(page) == [e[k] for k in expected]

    async def test_pages_by_uscc(self, insurance: InsuranceApi) -> None:
        e = await gap_world(insurance)
        seen: list[str] = []
        url = "/coverage-gaps?limit=2"
        while url:
            page = await get(insurance, url, insurance.as_("leader"))
            seen += usccs(page)
            cursor = page["next_cursor"]
            url = f"/coverage-gaps?limit=2&cursor={cursor}" if cursor else ""
        assert seen == sorted([e["e10"], e["e12"], e["e14"], e["e16"], e["e17"]])

    async def test_invalid_filters_name_the_field(self, insurance: InsuranceApi) -> None:
        officer = insurance.as_("officer")
        body = await get(insurance, "/coverage-gaps?sector=trade", officer, 422)
        refused(body, "sector_not_high_risk", "sector")
        body = await get(insurance, "/coverage-gaps?sector=bakery", officer, 422)
        refused(body, "validation_failed", "sector")
        body = await get(insurance, "/coverage-gaps?cursor=%25%25", officer, 422)
        refused(body, "invalid_cursor")

    async def test_the_bureau_and_departments_see_it_others_do_not(
        self, insurance: InsuranceApi
    ) -> None:
        await gap_world(insurance)
        for role, sub in BUREAU:
            page = await get(insurance, "/coverage-gaps", insurance.as_(role, sub))
            assert len(page["items"]) == 5
        # A department reads it through the gateway's data set, under a grant, each read logged.
        refused = [("insurer", "PICC-QD"), ("enterprise", make_uscc(10)), ("public", "x")]
        for role, sub in [*refused, ("department", "NFRA-QD")]:
            await get(insurance, "/coverage-gaps", insurance.as_(role, sub), 403)
        await get(insurance, "/coverage-gaps", None, 401)

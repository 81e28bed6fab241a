"""An enterprise's service history over the API on SQLite and PostgreSQL: the bureau and the
enterprise see everything in date order, an insurer only its own part, anyone else nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from kernel.uscc import make_uscc
from tests.insurance.api.test_supervision import (
    assessment,
    assistance_report,
    at,
    enterprise,
    get,
    obligation,
    policy,
    refused,
    seed,
    service_record,
    whistle,
)
from tests.insurance.conftest import InsuranceApi

X, Y = make_uscc(301), make_uscc(302)
URL = f"/enterprises/{X}/service-history"


async def history_world(api: InsuranceApi) -> dict[str, str]:
    """X was insured by PICC last year and by PAIC since March; Y by PICC."""
    await api.register_insurer("PICC-QD", "中国人民财产保险青岛分公司")
    await api.register_insurer("PAIC-QD", "平安财产保险青岛分公司")
    await api.register_insurer("ZZ-QD")
    d = date
    old = policy(
        301,
        "PICC-QD",
        number="PICC-301",
        status="expired",
        starts_on=d(2025, 3, 1),
        ends_on=d(2026, 2, 28),
        risk_level="high",
    )
    new = policy(
        301,
        "PAIC-QD",
        number="PAIC-301",
        starts_on=d(2026, 3, 1),
        ends_on=d(2027, 2, 28),
        custom_services=["one_plan"],
    )
    other = policy(302, "PICC-QD", number="PICC-302")
    check = obligation(
        old, "key_check", d(2025, 6, 1), status="verified", delivered_on=d(2025, 5, 20)
    )
    help_ = obligation(
        old,
        "hazard_assistance",
        d(2025, 8, 1),
        status="delivered",
        delivered_on=d(2025, 7, 25),
        hazard_id="hz-301",
    )
    assess = obligation(
        new, "risk_assessment", d(2026, 3, 31), status="delivered", delivered_on=d(2026, 3, 10)
    )
    late = obligation(new, "key_check", d(2026, 3, 10))
    record = service_record(check, d(2025, 5, 20), "重点部位排查，发现两处隐患")
    reassessed = assessment(old, d(2025, 4, 1), "high")
    assessed = assessment(new, d(2026, 3, 10), "medium", assess)
    report = assistance_report(help_, d(2025, 7, 25))
    answered = whistle(
        old,
        at(d(2025, 7, 1), 9),
        status="closed",
        acknowledged_at=at(d(2025, 7, 1), 10),
        delivered_at=at(d(2025, 7, 2), 9),
        closed_at=at(d(2025, 7, 3), 9),
        feedback="satisfied",
    )
    ignored = whistle(new, at(d(2026, 3, 12), 9), ack_breached_at=at(d(2026, 3, 13), 9))
    other_ob = obligation(other, "key_check", d(2026, 3, 1))
    await seed(
        api, enterprise(301, district="即墨区"), old, new, other, check, help_, assess, late,
        record, reassessed, assessed, report, answered, ignored, other_ob,
        service_record(other_ob, d(2026, 3, 1), "另一家企业的排查"),
        whistle(other, at(d(2026, 3, 2), 9)),
    )  # fmt: skip
    return {
        "old": old.id,
        "new": new.id,
        "check": check.id,
        "help": help_.id,
        "assess": assess.id,
        "late": late.id,
        "record": record.id,
        "reassessed": reassessed.id,
        "assessed": assessed.id,
        "report": report.id,
        "answered": answered.id,
        "ignored": ignored.id,
    }


def sections(body: Any) -> dict[str, list[str]]:
    names = (
        "policies",
        "obligations",
        "service_records",
        "risk_assessments",
        "hazard_assistance_reports",
        "whistles",
    )
    return {name: [item["id"] for item in body[name]] for name in names}


class TestServiceHistory:
    async def test_the_bureau_sees_everything_in_date_order(self, insurance: InsuranceApi) -> None:
        w = await history_world(insurance)
        body = await get(insurance, URL, insurance.as_("officer"))
        assert (body["uscc"], body["scope"]) == (X, "all")
        assert body["enterprise"] == {
            "name": "青岛第301化工有限公司",
            "district": "即墨区",
            "sector": "hazardous_chemicals",
            "tier": "key",
        }
        assert sections(body) == {
            "policies": [w["old"], w["new"]],
            "obligations": [w["check"], w["help"], w["late"], w["assess"]],
            "service_records": [w["record"]],
            "risk_assessments": [w["reassessed"], w["assessed"]],
            "hazard_assistance_reports": [w["report"]],
            "whistles": [w["answered"], w["ignored"]],
        }
        old, new = body["policies"]
        assert {k: old[k] for k in ("policy_number", "insurer_name", "status", "risk_level")} == {
            "policy_number": "PICC-301",
            "insurer_name": "中国人民财产保险青岛分公司",
            "status": "expired",
            "risk_level": "high",
        }
        assert (new["custom_services"], new["starts_on"], new["ends_on"]) == (
            ["one_plan"],
            "2026-03-01",
            "2027-02-28",
        )
        check, _help, late, assess = body["obligations"]
        assert (check["status"], check["delivered_on"], check["is_overdue"]) == (
            "verified",
            "2025-05-20",
            False,
        )
        assert (late["status"], late["due_on"], late["is_overdue"]) == ("open", "2026-03-10", True)
        assert assess["delivered_on"] == "2026-03-10"
        record = body["service_records"][0]
        assert record["summary"] == "重点部位排查，发现两处隐患"
        assert record["performed_by"] == ["王工程师", "李工程师"]
        assert (record["request_sha256"], record["receipt_sha256"]) == ("a" * 64, "A" * 64)
        assert record["evidence"][0]["sha256"] == "e" * 64
        assert body["risk_assessments"][1]["obligation_id"] == w["assess"]
        assert body["risk_assessments"][0]["obligation_id"] is None
        assert body["hazard_assistance_reports"][0]["hazard_id"] == "hz-301"
        answered, ignored = body["whistles"]
        assert (answered["status"], answered["feedback"], answered["ack_breached"]) == (
            "closed",
            "satisfied",
            False,
        )
        assert (ignored["status"], ignored["ack_breached"], ignored["delivery_breached"]) == (
            "raised",
            True,
            True,
        )
        for role, sub in [("leader", "l1"), ("admin", "a1")]:
            assert await get(insurance, URL, insurance.as_(role, sub)) == body

    async def test_the_enterprise_sees_its_own_history_whole(self, insurance: InsuranceApi) -> None:
        await history_world(insurance)
        bureau = await get(insurance, URL, insurance.as_("officer"))
        assert await get(insurance, URL, insurance.as_("enterprise", X)) == bureau

    async def test_each_insurer_sees_only_its_own_part(self, insurance: InsuranceApi) -> None:
        w = await history_world(insurance)
        picc = await get(insurance, URL, insurance.as_("insurer", "PICC-QD"))
        assert picc["scope"] == "insurer"
        assert sections(picc) == {
            "policies": [w["old"]],
            "obligations": [w["check"], w["help"]],
            "service_records": [w["record"]],
            "risk_assessments": [w["reassessed"]],
            "hazard_assistance_reports": [w["report"]],
            "whistles": [w["answered"]],
        }
        paic = await get(insurance, URL, insurance.as_("insurer", "PAIC-QD"))
        assert sections(paic) == {
            "policies": [w["new"]],
            "obligations": [w["late"], w["assess"]],
            "service_records": [],
            "risk_assessments": [w["assessed"]],
            "hazard_assistance_reports": [],
            "whistles": [w["ignored"]],
        }

    @pytest.mark.parametrize(
        ("role", "sub", "code"),
        [
            ("insurer", "ZZ-QD", "enterprise_not_insured_by_you"),
            ("insurer", "NEVER-REGISTERED", "enterprise_not_insured_by_you"),
            ("enterprise", Y, "history_not_yours"),
            ("department", "NFRA-QD", "forbidden"),
            ("public", "anyone", "forbidden"),
        ],
    )
    async def test_anyone_else_is_refused(
        self, insurance: InsuranceApi, role: str, sub: str, code: str
    ) -> None:
        await history_world(insurance)
        refused(await get(insurance, URL, insurance.as_(role, sub), 403), code)

    async def test_a_token_is_required(self, insurance: InsuranceApi) -> None:
        await get(insurance, URL, None, 401)

    async def test_a_malformed_uscc_names_the_field(self, insurance: InsuranceApi) -> None:
        bad = X[:-1] + ("0" if X[-1] != "0" else "1")
        body = await get(
            insurance, f"/enterprises/{bad}/service-history", insurance.as_("officer"), 422
        )
        refused(body, "validation_failed", "uscc")
        assert body["errors"][0]["rule"] == "uscc_invalid"

    async def test_an_enterprise_never_insured_has_an_empty_history(
        self, insurance: InsuranceApi
    ) -> None:
        await history_world(insurance)
        unknown = make_uscc(399)
        url = f"/enterprises/{unknown}/service-history"
        empty: dict[str, list[str]] = {
            k: [] for k in sections(await get(insurance, URL, insurance.as_("officer")))
        }
        for role, sub in [("officer", "o1"), ("enterprise", unknown)]:
            body = await get(insurance, url, insurance.as_(role, sub))
            assert (body["uscc"], body["enterprise"], body["scope"]) == (unknown, None, "all")
            assert sections(body) == empty
        await get(insurance, url, insurance.as_("insurer", "PICC-QD"), 403)

    async def test_lower_case_uscc_is_normalised(self, insurance: InsuranceApi) -> None:
        await history_world(insurance)
        body = await get(
            insurance, f"/enterprises/{X.lower()}/service-history", insurance.as_("enterprise", X)
        )
        assert body["uscc"] == X
        assert len(body["policies"]) == 2

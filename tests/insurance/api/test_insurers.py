"""Insurers as registered machine clients, on SQLite and PostgreSQL: admission by the admin,
who sees contacts, suspension and reinstatement, and the roles matrix of every route."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.uscc import make_uscc
from services.insurance.models import Insurer, Policy
from tests.insurance.conftest import InsuranceApi
from tests.support.builders import policy_body

PICC_USCC = make_uscc(20_001)
ROLES = ["public", "enterprise", "officer", "leader", "insurer", "department", "admin"]
BUREAU = {"officer", "leader", "admin"}


def insurer_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "PICC-QD",
        "name": "中国人民财产保险股份有限公司青岛市分公司",
        "uscc": PICC_USCC,
        "contact_name": "张经理",
        "contact_phone": "0532-80001234",
    }
    body.update(over)
    return body


async def register(api: InsuranceApi, **over: Any) -> Any:
    r = await api.client.post("/insurers", json=insurer_body(**over), headers=api.as_("admin"))
    assert r.status_code == 201, r.text
    return r.json()


async def stored(api: InsuranceApi, insurer_id: str) -> Insurer | None:
    async with api.runtime.session_factory() as session:
        return await session.get(Insurer, insurer_id)


def problem(r: Any, status: int, code: str) -> Any:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code, body
    return body


class TestRegisterInsurer:
    async def test_admin_registers_an_insurer(self, insurance: InsuranceApi) -> None:
        body = await register(insurance)
        assert body["id"] == "PICC-QD"
        assert body["status"] == "active"
        assert body["uscc"] == PICC_USCC
        assert body["contact_phone"] == "0532-80001234"
        assert body["status_reason"] is None
        assert body["registered_by"] == "admin:tester"
        row = await stored(insurance, "PICC-QD")
        assert row is not None
        assert (row.name, row.status) == ("中国人民财产保险股份有限公司青岛市分公司", "active")

    async def test_registered_insurer_may_then_push(self, insurance: InsuranceApi) -> None:
        # The admission is what RegisteredInsurer checks: before it, the client is refused.
        headers = insurance.as_("insurer", "PICC-QD")
        r = await insurance.client.post(
            "/insurer/risk-assessments", json={"policy_id": "x"}, headers=headers
        )
        problem(r, 403, "insurer_not_registered")
        await register(insurance)
        r = await insurance.client.post(
            "/insurer/risk-assessments", json={"policy_id": "x"}, headers=headers
        )
        assert r.status_code == 422  # now past the gate, refused only for the body

    async def test_duplicate_id_is_409_and_changes_nothing(self, insurance: InsuranceApi) -> None:
        await register(insurance)
        r = await insurance.client.post(
            "/insurers",
            json=insurer_body(name="另一家公司", uscc=make_uscc(20_002)),
            headers=insurance.as_("admin"),
        )
        body = problem(r, 409, "insurer_exists")
        assert body["field"] == "id"
        assert await insurance.count(Insurer) == 1
        row = await stored(insurance, "PICC-QD")
        assert row is not None
        assert row.name == "中国人民财产保险股份有限公司青岛市分公司"

    async def test_duplicate_uscc_is_409(self, insurance: InsuranceApi) -> None:
        await register(insurance)
        r = await insurance.client.post(
            "/insurers", json=insurer_body(id="PICC-QD-2"), headers=insurance.as_("admin")
        )
        body = problem(r, 409, "insurer_uscc_exists")
        assert body["field"] == "uscc"
        assert await stored(insurance, "PICC-QD-2") is None

    @pytest.mark.parametrize(
        ("over", "field", "rule"),
        [
            ({"id": "-PICC"}, "id", "string_pattern_mismatch"),
            ({"id": "P"}, "id", "string_pattern_mismatch"),
            ({"id": "PICC QD"}, "id", "string_pattern_mismatch"),
            ({"id": "P" * 65}, "id", "string_pattern_mismatch"),
            ({"uscc": PICC_USCC[:-1] + ("0" if PICC_USCC[-1] != "0" else "1")}, "uscc", None),
            ({"name": "中"}, "name", "string_too_short"),
            ({"contact_name": ""}, "contact_name", "string_too_short"),
            ({"contact_phone": "12345"}, "contact_phone", "string_too_short"),
            ({"contact_phone": "0532-0000000"}, "contact_phone", "string_pattern_mismatch"),
            ({"website": "https://picc.example"}, "website", "extra_forbidden"),
        ],
        ids=[
            "id-leading-hyphen",
            "id-too-short",
            "id-space",
            "id-too-long",
            "uscc-check-character",
            "name-short",
            "contact-blank",
            "phone-short",
            "phone-pattern",
            "extra-field",
        ],
    )
    async def test_invalid_registration_names_field_and_rule(
        self, insurance: InsuranceApi, over: dict[str, Any], field: str, rule: str | None
    ) -> None:
        r = await insurance.client.post(
            "/insurers", json=insurer_body(**over), headers=insurance.as_("admin")
        )
        body = problem(r, 422, "validation_failed")
        fields = {e["field"]: e["rule"] for e in body["errors"]}
        assert field in fields, body
        if rule is not None:
            assert fields[field] == rule
        assert await insurance.count(Insurer) == 0

    async def test_missing_field_is_named(self, insurance: InsuranceApi) -> None:
        body = insurer_body()
        del body["uscc"]
        r = await insurance.client.post("/insurers", json=body, headers=insurance.as_("admin"))
        problem_body = problem(r, 422, "validation_failed")
        assert [(e["field"], e["rule"]) for e in problem_body["errors"]] == [("uscc", "missing")]

    async def test_replay_returns_the_first_answer(self, insurance: InsuranceApi) -> None:
        headers = {**insurance.as_("admin"), "Idempotency-Key": "insurer-picc-0001"}
        first = await insurance.client.post("/insurers", json=insurer_body(), headers=headers)
        again = await insurance.client.post("/insurers", json=insurer_body(), headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        other = await insurance.client.post(
            "/insurers", json=insurer_body(name="改名公司"), headers=headers
        )
        problem(other, 422, "idempotency_key_reused")
        assert await insurance.count(Insurer) == 1


class TestReadInsurers:
    async def test_bureau_sees_contacts_others_see_name_and_status(
        self, insurance: InsuranceApi
    ) -> None:
        await register(insurance)
        for role in ROLES:
            r = await insurance.client.get("/insurers", headers=insurance.as_(role))
            assert r.status_code == 200, (role, r.text)
            (item,) = r.json()["items"]
            if role in BUREAU:
                assert item["contact_phone"] == "0532-80001234"
                assert item["uscc"] == PICC_USCC
            else:
                assert item == {"id": "PICC-QD", "name": insurer_body()["name"], "status": "active"}
            one = await insurance.client.get("/insurers/PICC-QD", headers=insurance.as_(role))
            assert one.status_code == 200
            assert one.json() == item

    async def test_anonymous_is_401(self, insurance: InsuranceApi) -> None:
        await register(insurance)
        assert (await insurance.client.get("/insurers")).status_code == 401
        assert (await insurance.client.get("/insurers/PICC-QD")).status_code == 401

    async def test_unknown_insurer_is_404(self, insurance: InsuranceApi) -> None:
        r = await insurance.client.get("/insurers/NOPE", headers=insurance.as_("officer"))
        problem(r, 404, "insurer_not_found")

    async def test_pages_in_id_order_and_filters_by_status(self, insurance: InsuranceApi) -> None:
        for i, insurer_id in enumerate(["CPIC-QD", "PICC-QD", "AXA-QD"]):
            await register(insurance, id=insurer_id, uscc=make_uscc(20_100 + i))
        officer = insurance.as_("officer")
        first = (await insurance.client.get("/insurers?limit=2", headers=officer)).json()
        assert [i["id"] for i in first["items"]] == ["AXA-QD", "CPIC-QD"]
        rest = await insurance.client.get(
            f"/insurers?limit=2&cursor={first['next_cursor']}", headers=officer
        )
        assert [i["id"] for i in rest.json()["items"]] == ["PICC-QD"]
        assert rest.json()["next_cursor"] is None
        await insurance.client.post(
            "/insurers/CPIC-QD/suspension",
            json={"reason": "未按期提供服务"},
            headers=insurance.as_("admin"),
        )
        suspended = await insurance.client.get("/insurers?status=suspended", headers=officer)
        assert [i["id"] for i in suspended.json()["items"]] == ["CPIC-QD"]
        bad = await insurance.client.get("/insurers?cursor=%%%", headers=officer)
        assert bad.status_code == 422


class TestSuspension:
    async def test_suspend_then_reinstate(self, insurance: InsuranceApi) -> None:
        await register(insurance)
        admin = insurance.as_("admin")
        insurance.advance(timedelta(hours=1))
        r = await insurance.client.post(
            "/insurers/PICC-QD/suspension", json={"reason": "虚报服务记录"}, headers=admin
        )
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["status_reason"]) == ("suspended", "虚报服务记录")
        row = await stored(insurance, "PICC-QD")
        assert row is not None
        assert row.status == "suspended"
        assert row.updated_at == insurance.now

        push = await insurance.client.post(
            "/insurer/risk-assessments", json={}, headers=insurance.as_("insurer", "PICC-QD")
        )
        problem(push, 403, "insurer_suspended")
        again = await insurance.client.post(
            "/insurers/PICC-QD/suspension", json={"reason": "再次"}, headers=admin
        )
        problem(again, 409, "insurer_already_suspended")

        back = await insurance.client.post("/insurers/PICC-QD/reinstatement", headers=admin)
        assert back.status_code == 200
        assert (back.json()["status"], back.json()["status_reason"]) == ("active", None)
        push = await insurance.client.post(
            "/insurer/risk-assessments", json={}, headers=insurance.as_("insurer", "PICC-QD")
        )
        assert push.status_code == 422
        twice = await insurance.client.post("/insurers/PICC-QD/reinstatement", headers=admin)
        problem(twice, 409, "insurer_not_suspended")

    async def test_suspended_insurer_registers_no_policy(self, insurance: InsuranceApi) -> None:
        await register(insurance)
        terms = {
            "starts_on": (insurance.today - timedelta(days=1)).isoformat(),
            "ends_on": (insurance.today + timedelta(days=300)).isoformat(),
        }
        headers = insurance.as_("insurer", "PICC-QD")
        await insurance.client.post(
            "/insurers/PICC-QD/suspension",
            json={"reason": "虚报服务记录"},
            headers=insurance.as_("admin"),
        )
        r = await insurance.client.post("/policies", json=policy_body(5, **terms), headers=headers)
        problem(r, 403, "insurer_suspended")
        assert await insurance.count(Policy) == 0
        await insurance.client.post(
            "/insurers/PICC-QD/reinstatement", headers=insurance.as_("admin")
        )
        r = await insurance.client.post("/policies", json=policy_body(5, **terms), headers=headers)
        assert r.status_code == 201, r.text
        r = await insurance.client.post(
            "/policies", json=policy_body(6, **terms), headers=insurance.as_("insurer", "NOBODY")
        )
        problem(r, 403, "insurer_not_registered")

    async def test_unknown_insurer_is_404(self, insurance: InsuranceApi) -> None:
        admin = insurance.as_("admin")
        r = await insurance.client.post(
            "/insurers/NOPE/suspension", json={"reason": "理由"}, headers=admin
        )
        problem(r, 404, "insurer_not_found")
        r = await insurance.client.post("/insurers/NOPE/reinstatement", headers=admin)
        problem(r, 404, "insurer_not_found")

    async def test_reason_is_required(self, insurance: InsuranceApi) -> None:
        await register(insurance)
        r = await insurance.client.post(
            "/insurers/PICC-QD/suspension", json={"reason": " "}, headers=insurance.as_("admin")
        )
        body = problem(r, 422, "validation_failed")
        assert body["errors"][0]["field"] == "reason"
        row = await stored(insurance, "PICC-QD")
        assert row is not None
        assert row.status == "active"


WRITES = [
    ("POST", "/insurers", insurer_body(id="NEW-QD", uscc=make_uscc(20_009)), 201),
    ("POST", "/insurers/PICC-QD/suspension", {"reason": "虚报服务记录"}, 200),
    ("POST", "/insurers/PICC-QD/reinstatement", None, 409),
]


class TestRolesMatrix:
    @pytest.mark.parametrize(("method", "url", "json", "ok"), WRITES, ids=["create", "sus", "rei"])
    async def test_only_admin_writes(
        self, insurance: InsuranceApi, method: str, url: str, json: Any, ok: int
    ) -> None:
        await register(insurance)
        anonymous = await insurance.client.request(method, url, json=json)
        assert anonymous.status_code == 401
        for role in ROLES:
            if role == "admin":
                continue
            r = await insurance.client.request(
                method, url, json=json, headers=insurance.as_(role, "PICC-QD")
            )
            problem(r, 403, "forbidden")
        async with insurance.runtime.session_factory() as session:
            rows = (await session.execute(sa.select(Insurer.id, Insurer.status))).all()
        assert [tuple(r) for r in rows] == [("PICC-QD", "active")]
        r = await insurance.client.request(method, url, json=json, headers=insurance.as_("admin"))
        assert r.status_code == ok, r.text

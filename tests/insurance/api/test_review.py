"""Review of issue 6: the bugs found in services/insurance, each pinned by a test that failed
before its fix. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.insurance.models import Campaign, CampaignVisit, Insurer, Policy, Whistle
from tests.insurance.api.test_campaigns import campaign_body, launch, visit, visit_body
from tests.insurance.api.test_whistles import insure, whistle_body
from tests.insurance.conftest import TODAY, InsuranceApi
from tests.support.builders import policy_body

A, B = "PICC-QD", "PINGAN-QD"
X = make_uscc(401)


@pytest.fixture
async def api(insurance: InsuranceApi) -> InsuranceApi:
    await insurance.register_insurer(A)
    await insurance.register_insurer(B)
    return insurance


def invalid_field(r: httpx.Response) -> tuple[int, str, str, str]:
    """(status, code, field, rule) of a refused request."""
    body = r.json()
    error = body["errors"][0]
    return r.status_code, body["code"], error["field"], error["rule"]


def cursor_of(*key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


# --- NUL characters: PostgreSQL text cannot hold U+0000; it was a 500 there ------------------

NUL_PATHS = [
    "/policies/a%00b",
    "/policies/a%00b/obligations",
    "/obligations/a%00b",
    "/service-records/a%00b",
    "/risk-assessments/a%00b",
    "/hazard-assistance/a%00b",
    "/insurers/a%00b",
    "/whistles/a%00b",
    "/campaigns/a%00b",
    "/campaigns/a%00b/visits",
]

NUL_QUERIES = [
    ("/obligations", "insurer_id"),
    ("/risk-assessments", "policy_id"),
    ("/whistles", "insurer_id"),
    ("/scorecards", "insurer_id"),
    ("/supervision/overdue", "insurer_id"),
    ("/supervision/overdue", "district"),
    ("/coverage-gaps", "district"),
]

NUL_CURSORS = [
    ("/policies", cursor_of("a\x00b")),
    ("/insurers", cursor_of("a\x00b")),
    ("/coverage-gaps", cursor_of("a\x00b")),
    ("/obligations", cursor_of("2026-03-01", "a\x00b")),
    ("/risk-assessments", cursor_of("2026-03-01", "a\x00b")),
    ("/supervision/overdue", cursor_of("2026-03-01", "a\x00b")),
    ("/campaigns", cursor_of("2026-03-01", "a\x00b")),
    (f"/enterprises/{X}/expert-visits", cursor_of("2026-03-01", "a\x00b")),
    ("/whistles", cursor_of("2026-03-01T00:00:00+00:00", "a\x00b")),
]


class TestNulCharacters:
    @pytest.mark.parametrize("path", NUL_PATHS)
    async def test_in_a_path_id_is_422(self, api: InsuranceApi, path: str) -> None:
        r = await api.client.get(path, headers=api.as_("admin", "root"))
        status, code, _field, rule = invalid_field(r)
        assert (status, code, rule) == (422, "validation_failed", "string_nul_character")

    @pytest.mark.parametrize(("path", "param"), NUL_QUERIES)
    async def test_in_a_query_filter_is_422_naming_it(
        self, api: InsuranceApi, path: str, param: str
    ) -> None:
        params = {param: "a\x00b", "from": "2026-03-01", "to": "2026-03-31"}
        r = await api.client.get(path, params=params, headers=api.as_("admin", "root"))
        assert invalid_field(r) == (422, "validation_failed", param, "string_nul_character")

    @pytest.mark.parametrize(("path", "cursor"), NUL_CURSORS)
    async def test_in_a_cursor_is_invalid_cursor(
        self, api: InsuranceApi, path: str, cursor: str
    ) -> None:
        r = await api.client.get(path, params={"cursor": cursor}, headers=api.as_("admin", "root"))
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            422,
            "invalid_cursor",
            "cursor",
        )

    async def test_in_a_policy_body_is_422_and_nothing_is_written(self, api: InsuranceApi) -> None:
        body = policy_body(1, enterprise_name="青岛\x00化工有限公司")
        r = await api.client.post("/policies", json=body, headers=api.as_("insurer", A))
        assert invalid_field(r) == (
            422,
            "validation_failed",
            "enterprise_name",
            "string_nul_character",
        )
        assert await api.count(Policy) == 0

    async def test_in_a_nested_body_string_is_422_naming_its_place(self, api: InsuranceApi) -> None:
        api.set_today(TODAY.replace(month=6, day=20))
        campaign = await launch(api)
        body = visit_body()
        body["findings"][1]["description"] = "灭火器\x00过期"
        r = await api.client.post(
            f"/campaigns/{campaign['id']}/visits", json=body, headers=api.as_("officer", "o-1")
        )
        assert invalid_field(r) == (
            422,
            "validation_failed",
            "findings.1.description",
            "string_nul_character",
        )
        assert await api.count(CampaignVisit) == 0

    async def test_in_a_body_key_is_422(self, api: InsuranceApi) -> None:
        r = await api.client.post(
            "/campaigns", json={**campaign_body(), "a\x00": 1}, headers=api.as_("officer", "o")
        )
        assert invalid_field(r)[:2] == (422, "validation_failed")
        assert await api.count(Campaign) == 0

    async def test_in_a_suspension_path_is_422_and_the_insurer_stays_active(
        self, api: InsuranceApi
    ) -> None:
        r = await api.client.post(
            "/insurers/PICC%00/suspension", json={"reason": "违规"}, headers=api.as_("admin", "a")
        )
        assert invalid_field(r) == (422, "validation_failed", "insurer_id", "string_nul_character")
        async with api.runtime.session_factory() as session:
            insurer = await session.get(Insurer, A)
            assert insurer is not None
            assert insurer.status == "active"

    async def test_an_escaped_backslash_u0000_is_ordinary_text(self, api: InsuranceApi) -> None:
        # The six characters \u0000 (an escaped backslash) are no NUL: accepted as written.
        body = policy_body(1, enterprise_name="青岛\\u0000化工有限公司")
        r = await api.client.post("/policies", json=body, headers=api.as_("insurer", A))
        assert r.status_code == 201, r.text
        assert r.json()["enterprise_name"] == "青岛\\u0000化工有限公司"


# --- Scorecard periods at the ends of the calendar: an OverflowError (500) on a public route ---


class TestScorecardPeriodRange:
    @pytest.mark.parametrize(
        ("first", "last", "field"),
        [
            ("9999-12-01", "9999-12-31", "to"),
            ("0001-01-01", "0001-01-31", "from"),
            ("1899-12-01", "1899-12-31", "from"),
        ],
    )
    @pytest.mark.parametrize("path", ["/scorecards", f"/scorecards/{A}"])
    async def test_out_of_range_is_422_naming_the_parameter(
        self, api: InsuranceApi, path: str, first: str, last: str, field: str
    ) -> None:
        r = await api.client.get(path, params={"from": first, "to": last})
        body = r.json()
        assert (r.status_code, body["code"], body["field"]) == (422, "period_out_of_range", field)

    async def test_a_period_inside_the_range_still_scores(self, api: InsuranceApi) -> None:
        r = await api.client.get("/scorecards", params={"from": "2099-01-01", "to": "2099-12-31"})
        assert r.status_code == 200, r.text


# --- A whistle went to a policy whose cancellation had taken effect --------------------------


class TestWhistleRouting:
    async def test_a_policy_cancelled_before_today_takes_no_whistle(
        self, api: InsuranceApi
    ) -> None:
        api.set_today(shanghai_today())
        policy = await insure(api, 401, A)
        cancelled_on = api.today + timedelta(days=2)
        r = await api.client.post(
            f"/policies/{policy['id']}/cancellation",
            json={"cancelled_on": cancelled_on.isoformat(), "reason": "企业退保"},
            headers=api.as_("insurer", A),
        )
        assert r.status_code == 200, r.text
        # The day after the last covered day, before the life-cycle pass ran.
        api.set_today(cancelled_on + timedelta(days=1))
        r = await api.client.post(
            "/whistles", json=whistle_body(), headers=api.as_("enterprise", X)
        )
        assert (r.status_code, r.json()["code"]) == (409, "no_active_policy")
        assert await api.count(Whistle) == 0

    async def test_the_last_covered_day_still_takes_one(self, api: InsuranceApi) -> None:
        api.set_today(shanghai_today())
        policy = await insure(api, 401, A)
        cancelled_on = api.today + timedelta(days=2)
        await api.client.post(
            f"/policies/{policy['id']}/cancellation",
            json={"cancelled_on": cancelled_on.isoformat(), "reason": "企业退保"},
            headers=api.as_("insurer", A),
        )
        api.set_today(cancelled_on)
        r = await api.client.post(
            "/whistles", json=whistle_body(), headers=api.as_("enterprise", X)
        )
        assert r.status_code == 201, r.text
        assert r.json()["insurer_id"] == A


# --- The duplicate-visit conflict named a visit the caller may not read ----------------------


class TestDuplicateVisit:
    @pytest.fixture
    async def campaign(self, api: InsuranceApi) -> dict[str, Any]:
        api.set_today(TODAY.replace(month=6, day=20))
        return await launch(api)

    async def test_another_recorders_visit_id_is_not_disclosed_to_an_insurer(
        self, api: InsuranceApi, campaign: dict[str, Any]
    ) -> None:
        await visit(api, campaign["id"], who=api.as_("insurer", A))
        r = await api.client.post(
            f"/campaigns/{campaign['id']}/visits",
            json=visit_body(),
            headers=api.as_("insurer", B),
        )
        assert (r.status_code, r.json()["code"], r.json()["field"]) == (
            409,
            "visit_exists",
            "visited_on",
        )
        assert "visit_id" not in r.json()

    @pytest.mark.parametrize("second", ["officer", "insurer-a"])
    async def test_who_may_read_the_visit_is_told_its_id(
        self, api: InsuranceApi, campaign: dict[str, Any], second: str
    ) -> None:
        first = await visit(api, campaign["id"], who=api.as_("insurer", A))
        who = api.as_("officer", "o-2") if second == "officer" else api.as_("insurer", A)
        r = await api.client.post(
            f"/campaigns/{campaign['id']}/visits", json=visit_body(), headers=who
        )
        assert (r.status_code, r.json()["visit_id"]) == (409, first["id"])


# --- One code, one meaning: "already suspended" is not "you are suspended" -------------------


class TestSuspensionCodes:
    async def test_suspending_twice_is_409_insurer_already_suspended(
        self, api: InsuranceApi
    ) -> None:
        admin = api.as_("admin", "a")
        first = await api.client.post(
            f"/insurers/{A}/suspension", json={"reason": "违规"}, headers=admin
        )
        assert first.status_code == 200
        again = await api.client.post(
            f"/insurers/{A}/suspension", json={"reason": "再次"}, headers=admin
        )
        assert (again.status_code, again.json()["code"]) == (409, "insurer_already_suspended")
        async with api.runtime.session_factory() as session:
            row = await session.get(Insurer, A)
            assert row is not None
            assert row.status_reason == "违规"

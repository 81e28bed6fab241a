"""惠企助安 campaigns over the API, on SQLite and PostgreSQL: launching, recording expert visits
(size class, targeted sectors, period, duplicates), the public summary that never names who was
visited or what was found, and who may read the visits."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from kernel.uscc import make_uscc
from services.insurance.models import Campaign, CampaignVisit
from tests.insurance.conftest import InsuranceApi

TODAY = date(2026, 6, 20)
A, B = "PICC-QD", "PINGAN-QD"
E1, E2, E3 = make_uscc(401), make_uscc(402), make_uscc(403)
FINDING_TEXT = "配电箱未接地，电缆老化破损"
RECOMMENDATION = "立即断电更换电缆并做接地，一周内复查"


@pytest.fixture
async def api(insurance: InsuranceApi) -> InsuranceApi:
    insurance.set_today(TODAY)
    await insurance.register_insurer(A)
    await insurance.register_insurer(B)
    return insurance


def campaign_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "2026年惠企助安专家服务行动",
        "organiser": "青岛市应急管理局",
        "starts_on": "2026-04-01",
        "ends_on": "2026-12-31",
        "target_sectors": ["hazardous_chemicals", "machinery"],
        "description": "组织安全专家免费为中小微企业排查隐患、提出整改建议",
    }
    body.update(over)
    return body


def visit_body(uscc: str = E1, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": uscc,
        "enterprise_name": f"青岛{uscc[-4:]}机械加工有限公司",
        "sector": "machinery",
        "employees": 45,
        "annual_revenue": "8000000.00",  # 800万元: small
        "visited_on": "2026-06-10",
        "experts": [
            {"name": "刘专家", "speciality": "电气安全", "organisation": "青岛市安全生产专家库"},
            {"name": "陈专家", "speciality": "机械安全", "organisation": "青岛科技大学"},
        ],
        "findings": [
            {
                "category": "electrical",
                "description": FINDING_TEXT,
                "grade": "major",
                "recommendation": RECOMMENDATION,
            },
            {
                "category": "fire",
                "description": "灭火器过期两具",
                "grade": "general",
                "recommendation": "更换灭火器",
            },
        ],
    }
    body.update(over)
    return body


async def launch(api: InsuranceApi, **over: Any) -> dict[str, Any]:
    r = await api.client.post(
        "/campaigns", json=campaign_body(**over), headers=api.as_("officer", "o-1")
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def visit(
    api: InsuranceApi, campaign_id: str, who: dict[str, str] | None = None, **over: Any
) -> dict[str, Any]:
    r = await api.client.post(
        f"/campaigns/{campaign_id}/visits",
        json=visit_body(**over),
        headers=who or api.as_("officer", "o-1"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def refused_visit(
    api: InsuranceApi, campaign_id: str, status: int, who: dict[str, str] | None = None, **over: Any
) -> dict[str, Any]:
    r = await api.client.post(
        f"/campaigns/{campaign_id}/visits",
        json=visit_body(**over),
        headers=who or api.as_("officer", "o-1"),
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return dict(r.json())


class TestLaunch:
    @pytest.mark.parametrize("role", ["officer", "leader", "admin"])
    async def test_the_bureau_launches_a_campaign(self, api: InsuranceApi, role: str) -> None:
        r = await api.client.post("/campaigns", json=campaign_body(), headers=api.as_(role, "u1"))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["target_sectors"] == ["hazardous_chemicals", "machinery"]
        assert (body["visits"], body["enterprises_served"], body["hazards_found"]) == (0, 0, 0)
        assert body["enterprises_by_size"] == {"micro": 0, "small": 0, "medium": 0}
        assert set(body["findings_by_category"]) == {
            "equipment",
            "electrical",
            "fire",
            "hazardous_materials",
            "management",
            "training",
            "emergency",
            "other",
        }

    @pytest.mark.parametrize("role", ["enterprise", "insurer", "public", "department"])
    async def test_others_may_not(self, api: InsuranceApi, role: str) -> None:
        r = await api.client.post("/campaigns", json=campaign_body(), headers=api.as_(role, A))
        assert r.status_code == 403
        assert await api.count(Campaign) == 0

    @pytest.mark.parametrize(
        ("over", "field", "rule"),
        [
            ({"ends_on": "2026-03-31"}, "ends_on", "campaign_period_invalid"),
            ({"ends_on": "2027-04-02"}, "ends_on", "campaign_period_too_long"),
            ({"target_sectors": ["banking"]}, "target_sectors.0", "enum"),
            ({"target_sectors": ["mining", "mining"]}, "target_sectors", "sectors_repeated"),
            ({"name": "x"}, "name", "string_too_short"),
            ({"budget": 1}, "budget", "extra_forbidden"),
        ],
    )
    async def test_invalid_campaigns_name_the_field(
        self, api: InsuranceApi, over: dict[str, Any], field: str, rule: str
    ) -> None:
        r = await api.client.post(
            "/campaigns", json=campaign_body(**over), headers=api.as_("officer")
        )
        assert r.status_code == 422
        assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(field, rule)]
        assert await api.count(Campaign) == 0

    @pytest.mark.parametrize(
        ("starts_on", "ends_on"),
        [("2026-04-01", "2027-04-01"), ("2026-04-01", "2026-04-01"), ("2028-02-29", "2029-03-01")],
    )
    async def test_a_single_day_up_to_a_full_year(
        self, api: InsuranceApi, starts_on: str, ends_on: str
    ) -> None:
        c = await launch(api, starts_on=starts_on, ends_on=ends_on, target_sectors=[])
        assert (c["starts_on"], c["ends_on"], c["target_sectors"]) == (starts_on, ends_on, [])


class TestRecordVisit:
    async def test_the_bureau_records_a_visit_with_its_size_class(self, api: InsuranceApi) -> None:
        c = await launch(api)
        v = await visit(api, c["id"])
        assert v["size_class"] == "small"
        assert v["insurer_id"] is None
        assert v["recorded_by"] == "officer:o-1"
        assert v["campaign_name"] == c["name"]
        assert v["findings"][0]["description"] == FINDING_TEXT
        assert [e["name"] for e in v["experts"]] == ["刘专家", "陈专家"]

    async def test_a_registered_insurer_records_its_experts_visit(self, api: InsuranceApi) -> None:
        c = await launch(api)
        v = await visit(api, c["id"], api.as_("insurer", A))
        assert (v["insurer_id"], v["recorded_by"]) == (A, f"insurer:{A}")
        r = await api.client.post(
            f"/campaigns/{c['id']}/visits",
            json=visit_body(E2),
            headers=api.as_("insurer", "NOBODY"),
        )
        assert (r.status_code, r.json()["code"]) == (403, "insurer_not_registered")
        assert await api.count(CampaignVisit) == 1

    @pytest.mark.parametrize(
        ("employees", "revenue", "size"),
        [
            (19, "100000000.00", "micro"),
            (20, "2999999.99", "micro"),
            (20, "3000000.00", "small"),
            (300, "20000000.00", "medium"),
            (999, "400000000.00", "medium"),
            (1000, "399999999.99", "medium"),
        ],
    )
    async def test_size_classes(
        self, api: InsuranceApi, employees: int, revenue: str, size: str
    ) -> None:
        c = await launch(api)
        v = await visit(api, c["id"], employees=employees, annual_revenue=revenue)
        assert v["size_class"] == size

    async def test_a_large_enterprise_is_refused(self, api: InsuranceApi) -> None:
        c = await launch(api)
        problem = await refused_visit(
            api, c["id"], 422, employees=1000, annual_revenue="400000000.00"
        )
        assert (problem["code"], problem["field"]) == ("not_small_enterprise", "employees")
        assert "1000" in problem["detail"]
        assert "300号" in problem["detail"]
        assert await api.count(CampaignVisit) == 0

    async def test_a_sector_the_campaign_does_not_target_is_refused(
        self, api: InsuranceApi
    ) -> None:
        c = await launch(api)
        problem = await refused_visit(api, c["id"], 422, sector="trade")
        assert (problem["code"], problem["field"]) == ("sector_not_targeted", "sector")
        assert await api.count(CampaignVisit) == 0
        every = await launch(api, target_sectors=[])
        assert (await visit(api, every["id"], sector="trade"))["sector"] == "trade"

    @pytest.mark.parametrize(
        ("visited_on", "code"),
        [
            ("2026-03-31", "visit_outside_campaign"),
            ("2027-01-01", "visit_outside_campaign"),
            ("2026-06-21", "visit_in_future"),
        ],
    )
    async def test_the_visit_day_is_in_the_campaign_and_not_after_today(
        self, api: InsuranceApi, visited_on: str, code: str
    ) -> None:
        c = await launch(api)
        problem = await refused_visit(api, c["id"], 422, visited_on=visited_on)
        assert (problem["code"], problem["field"]) == (code, "visited_on")
        assert await api.count(CampaignVisit) == 0

    @pytest.mark.parametrize("visited_on", ["2026-04-01", TODAY.isoformat()])
    async def test_the_first_day_and_today_are_accepted(
        self, api: InsuranceApi, visited_on: str
    ) -> None:
        c = await launch(api)
        assert (await visit(api, c["id"], visited_on=visited_on))["visited_on"] == visited_on

    async def test_the_same_enterprise_twice_a_day_in_a_campaign_is_409(
        self, api: InsuranceApi
    ) -> None:
        c = await launch(api)
        await visit(api, c["id"])
        problem = await refused_visit(api, c["id"], 409, who=api.as_("insurer", A))
        assert (problem["code"], problem["field"]) == ("visit_exists", "visited_on")
        assert "visit_id" not in problem  # the bureau's visit is not the insurer's to read
        assert await api.count(CampaignVisit) == 1
        await visit(api, c["id"], visited_on="2026-06-11")
        other = await launch(api, name="2026年第二批惠企助安")
        await visit(api, other["id"])
        assert await api.count(CampaignVisit) == 3

    @pytest.mark.parametrize(
        ("over", "field", "rule"),
        [
            ({"experts": []}, "experts", "too_short"),
            (
                {
                    "experts": [
                        {"name": f"专家{i}", "speciality": "电气", "organisation": "专家库"}
                        for i in range(11)
                    ]
                },
                "experts",
                "too_long",
            ),
            ({"findings": [visit_body()["findings"][1]] * 51}, "findings", "too_long"),
            (
                {"findings": [{**visit_body()["findings"][0], "category": "noise"}]},
                "findings.0.category",
                "enum",
            ),
            (
                {"findings": [{**visit_body()["findings"][0], "grade": "critical"}]},
                "findings.0.grade",
                "enum",
            ),
            ({"employees": 0}, "employees", "greater_than_equal"),
            ({"annual_revenue": "-1"}, "annual_revenue", "greater_than_equal"),
            ({"uscc": "91370200MA3C00000X"}, "uscc", "uscc_invalid"),
            ({"sector": "banking"}, "sector", "enum"),
        ],
    )
    async def test_invalid_visits_name_the_field(
        self, api: InsuranceApi, over: dict[str, Any], field: str, rule: str
    ) -> None:
        c = await launch(api)
        r = await api.client.post(
            f"/campaigns/{c['id']}/visits", json=visit_body(**over), headers=api.as_("officer")
        )
        assert r.status_code == 422
        assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(field, rule)]
        assert await api.count(CampaignVisit) == 0

    async def test_no_findings_is_a_visit_too(self, api: InsuranceApi) -> None:
        c = await launch(api)
        assert (await visit(api, c["id"], findings=[]))["findings"] == []

    async def test_an_unknown_campaign_is_404(self, api: InsuranceApi) -> None:
        r = await api.client.post(
            "/campaigns/00000000-0000-0000-0000-000000000000/visits",
            json=visit_body(),
            headers=api.as_("officer"),
        )
        assert (r.status_code, r.json()["code"]) == (404, "campaign_not_found")

    @pytest.mark.parametrize("role", ["enterprise", "public", "department"])
    async def test_others_may_not_record(self, api: InsuranceApi, role: str) -> None:
        c = await launch(api)
        problem = await refused_visit(api, c["id"], 403, who=api.as_(role, E1))
        assert problem["code"] == "forbidden"
        assert await api.count(CampaignVisit) == 0


async def three_visits(api: InsuranceApi) -> dict[str, Any]:
    """E1 twice (small, then micro), E2 once by insurer A (medium); E3 in another campaign."""
    c = await launch(api)
    await visit(api, c["id"], visited_on="2026-05-10")
    await visit(
        api,
        c["id"],
        api.as_("insurer", A),
        uscc=E2,
        employees=350,
        annual_revenue="30000000",
        findings=[
            {
                "category": "hazardous_materials",
                "description": "危化品仓库混存氧化剂与易燃物",
                "grade": "major",
                "recommendation": "分区分类存放并设置隔离",
            }
        ],
        experts=[
            {"name": "刘专家", "speciality": "电气安全", "organisation": "青岛市安全生产专家库"}
        ],
    )
    await visit(api, c["id"], visited_on="2026-06-15", employees=12, findings=[])
    other = await launch(api, name="2026年第二批惠企助安")
    await visit(api, other["id"], uscc=E3)
    return c


class TestSummary:
    async def test_the_public_summary_counts_and_names_no_one(self, api: InsuranceApi) -> None:
        c = await three_visits(api)
        for role, sub in (
            ("public", "anonymous"),
            ("enterprise", E1),
            ("insurer", B),
            ("department", "nfra-qd"),
            ("officer", "o-1"),
        ):
            r = await api.client.get(f"/campaigns/{c['id']}", headers=api.as_(role, sub))
            assert r.status_code == 200, (role, r.text)
            body = r.json()
            assert body["visits"] == 3
            assert body["enterprises_served"] == 2
            # E1 by its latest visit (12 employees: micro), E2 medium.
            assert body["enterprises_by_size"] == {"micro": 1, "small": 0, "medium": 1}
            assert body["hazards_found"] == 3
            assert body["major_hazards_found"] == 2
            assert body["findings_by_category"]["electrical"] == {"general": 0, "major": 1}
            assert body["findings_by_category"]["fire"] == {"general": 1, "major": 0}
            assert body["findings_by_category"]["hazardous_materials"] == {
                "general": 0,
                "major": 1,
            }
            assert body["findings_by_category"]["training"] == {"general": 0, "major": 0}
            assert body["experts_involved"] == 2
            text = r.text
            for secret in (
                E1,
                E2,
                "机械加工",
                FINDING_TEXT,
                RECOMMENDATION,
                "危化品仓库",
                "刘专家",
            ):
                assert secret not in text, (role, secret)

    async def test_the_list_has_headline_figures_for_anyone_signed_in(
        self, api: InsuranceApi
    ) -> None:
        c = await three_visits(api)
        empty = await launch(
            api, name="2025年惠企助安", starts_on="2025-04-01", ends_on="2025-12-31"
        )
        r = await api.client.get("/campaigns", headers=api.as_("public", "anonymous"))
        assert r.status_code == 200
        items = r.json()["items"]
        assert [(i["name"], i["visits"], i["enterprises_served"]) for i in items][-1] == (
            "2025年惠企助安",
            0,
            0,
        )
        mine = next(i for i in items if i["id"] == c["id"])
        assert (mine["visits"], mine["enterprises_served"]) == (3, 2)
        assert E1 not in r.text
        assert FINDING_TEXT not in r.text
        # Pages, latest start first.
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            page = (
                await api.client.get("/campaigns", params=params, headers=api.as_("enterprise", E1))
            ).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [i["id"] for i in items]
        assert seen[-1] == empty["id"]
        assert len(seen) == 3

    async def test_reading_needs_a_token_and_an_unknown_campaign_is_404(
        self, api: InsuranceApi
    ) -> None:
        c = await launch(api)
        assert (await api.client.get("/campaigns")).status_code == 401
        assert (await api.client.get(f"/campaigns/{c['id']}")).status_code == 401
        r = await api.client.get("/campaigns/nope", headers=api.as_("public"))
        assert (r.status_code, r.json()["code"]) == (404, "campaign_not_found")


class TestVisitsReadership:
    async def test_the_bureau_sees_all_an_insurer_only_what_it_recorded(
        self, api: InsuranceApi
    ) -> None:
        c = await three_visits(api)
        url = f"/campaigns/{c['id']}/visits"
        r = await api.client.get(url, headers=api.as_("leader", "l-1"))
        assert r.status_code == 200
        assert [(v["uscc"], v["visited_on"]) for v in r.json()["items"]] == [
            (E1, "2026-06-15"),
            (E2, "2026-06-10"),
            (E1, "2026-05-10"),
        ]
        assert r.json()["items"][2]["findings"][0]["description"] == FINDING_TEXT
        r = await api.client.get(url, headers=api.as_("insurer", A))
        assert [v["uscc"] for v in r.json()["items"]] == [E2]
        r = await api.client.get(url, headers=api.as_("insurer", B))
        assert r.json()["items"] == []

    @pytest.mark.parametrize("role", ["enterprise", "public", "department"])
    async def test_others_read_only_the_summary(self, api: InsuranceApi, role: str) -> None:
        c = await three_visits(api)
        r = await api.client.get(f"/campaigns/{c['id']}/visits", headers=api.as_(role, E1))
        assert r.status_code == 403
        assert E1 not in r.text

    async def test_visits_page_by_day(self, api: InsuranceApi) -> None:
        c = await three_visits(api)
        url = f"/campaigns/{c['id']}/visits"
        first = (await api.client.get(url, params={"limit": 2}, headers=api.as_("admin"))).json()
        assert len(first["items"]) == 2
        rest = (
            await api.client.get(
                url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=api.as_("admin")
            )
        ).json()
        assert [v["visited_on"] for v in first["items"] + rest["items"]] == [
            "2026-06-15",
            "2026-06-10",
            "2026-05-10",
        ]
        assert rest["next_cursor"] is None
        r = await api.client.get(url, params={"cursor": "garbage"}, headers=api.as_("admin"))
        assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")

    async def test_an_enterprises_visits_for_the_bureau_and_itself(self, api: InsuranceApi) -> None:
        await three_visits(api)
        for who in (api.as_("officer", "o-1"), api.as_("enterprise", E1)):
            r = await api.client.get(f"/enterprises/{E1}/expert-visits", headers=who)
            assert r.status_code == 200, r.text
            assert [v["visited_on"] for v in r.json()["items"]] == ["2026-06-15", "2026-05-10"]
            assert {v["uscc"] for v in r.json()["items"]} == {E1}
        r = await api.client.get(f"/enterprises/{E3}/expert-visits", headers=api.as_("admin"))
        assert [v["campaign_name"] for v in r.json()["items"]] == ["2026年第二批惠企助安"]
        for who in (
            api.as_("enterprise", E2),
            api.as_("insurer", A),
            api.as_("public"),
            api.as_("department", "nfra-qd"),
        ):
            r = await api.client.get(f"/enterprises/{E1}/expert-visits", headers=who)
            assert r.status_code == 403
            assert FINDING_TEXT not in r.text
        r = await api.client.get("/enterprises/not-a-uscc/expert-visits", headers=api.as_("admin"))
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "uscc"

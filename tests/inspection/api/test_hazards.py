"""Hazards over the API on SQLite and PostgreSQL: working-day deadlines, HazardFoundV1 for
insurers, the enterprise's report, on-site verification, overdue lists, who may see what.

The business date is the case tests' 10 March 2026 unless a test moves it; deadlines count
working days from it on the official 2026 calendar.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.inspection.api.test_cases import (
    EVIDENCE,
    MGMT,
    USCC_A,
    USCC_B,
    Api,
    api,
    deliberation,
    start_body,
)

__all__ = ["api"]  # the fixture, shared with the case tests


def hazard_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "grade": "general",
        "description": "罐区防火堤内堆放杂物，消防通道堵塞",
        "evidence": EVIDENCE,
    }
    body.update(over)
    return body


async def add_hazard(api: Api, case_id: str, **over: Any) -> Any:
    case = await api.ok(
        "POST", f"/inspections/{case_id}/hazards", api.officer, json=hazard_body(**over)
    )
    return case["hazards"][-1]


async def case_with_hazard(api: Api, uscc: str = USCC_A, **over: Any) -> tuple[Any, Any]:
    case = await api.start(uscc)
    return case, await add_hazard(api, case["id"], **over)


class TestRecording:
    async def test_government_found_hazards_get_working_day_deadlines(self, api: Api) -> None:
        await api.enterprise_entry()
        case, general = await case_with_hazard(api)
        # Ten working days from Tuesday 10 March 2026; thirty for a major hazard.
        assert (general["rectify_by"], general["deadline_unknown"]) == ("2026-03-24", False)
        assert general["state"] == "open"
        major = await add_hazard(api, case["id"], grade="major")
        assert major["rectify_by"] == "2026-04-22"
        events = await api.outbox("inspection.hazard.found.v1")
        assert [(e.subject, e.data["grade"], e.data["rectify_by"]) for e in events] == [
            (USCC_A, "general", "2026-03-24"),
            (USCC_A, "major", "2026-04-22"),
        ]
        assert events[0].data["hazard_id"] == general["id"]
        assert events[0].data["inspection_id"] == case["id"]
        assert events[0].data["enterprise_name"].startswith("青岛测试企业")

    async def test_unknown_calendar_year_is_flagged_not_guessed(self, api: Api) -> None:
        await api.enterprise_entry()
        api.travel_to(date(2027, 1, 5))
        case = await api.ok(
            "POST",
            "/inspections",
            api.officer,
            json={
                **start_body(),
                "notice": {"served_on": "2027-01-05", "text": "检查告知"},
            },
        )
        hazard = await add_hazard(api, case["id"])
        assert (hazard["rectify_by"], hazard["deadline_unknown"]) == (None, True)
        (event,) = await api.outbox("inspection.hazard.found.v1")
        assert event.data["rectify_by"] is None
        api.travel_to(date(2027, 12, 31))
        assert (await api.ok("GET", "/hazards?overdue=true", api.officer))["items"] == []

    async def test_self_found_hazard_keeps_its_own_period_and_is_not_announced(
        self, api: Api
    ) -> None:
        await api.enterprise_entry()
        _case, hazard = await case_with_hazard(
            api, is_self_found=True, under_rectification=True, enterprise_rectify_by="2026-03-31"
        )
        assert (hazard["rectify_by"], hazard["is_self_found"]) == ("2026-03-31", True)
        assert await api.outbox("inspection.hazard.found.v1") == []

    async def test_incomplete_hazards_are_refused(self, api: Api) -> None:
        await api.enterprise_entry()
        case = await api.start()
        url = f"/inspections/{case['id']}/hazards"
        body = await api.refused(
            "POST", url, api.officer, 422, "hazard_evidence", json=hazard_body(evidence=[])
        )
        assert body["field"] == "evidence"
        await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "self_found_needs_period",
            json=hazard_body(is_self_found=True, under_rectification=True),
        )
        r = await api.client.post(url, json=hazard_body(), headers=api.enterprise())
        assert r.status_code == 403
        assert await api.outbox("inspection.hazard.found.v1") == []

    async def test_self_found_hazard_under_rectification_is_not_fined(self, api: Api) -> None:
        await api.enterprise_entry()
        case, hazard = await case_with_hazard(
            api,
            grade="major",
            is_self_found=True,
            under_rectification=True,
            enterprise_rectify_by="2026-04-30",
        )
        await api.finding(
            case["id"], MGMT, hazard_id=hazard["id"], corrected_on_spot=False, harm="harmful"
        )
        body = await api.refused(
            "POST",
            f"/inspections/{case['id']}/deliberation",
            api.officer,
            422,
            "fine_not_allowed",
            json=deliberation([{"finding": 1, "fine": "10000"}]),
        )
        assert body["lenient_rule"] == "self_found_hazard_under_rectification"
        after = await api.deliberate(case["id"], [{"finding": 1}])
        assert after["deliberation"]["decisions"][0]["kind"] == "rectification_order"

    async def test_hazards_alone_complete_the_inspect_step(self, api: Api) -> None:
        await api.enterprise_entry()
        case, _hazard = await case_with_hazard(api)
        after = await api.deliberate(case["id"], [])
        assert after["state"] == "feedback"


class TestRectification:
    async def test_report_verify_fail_then_pass(self, api: Api) -> None:
        await api.enterprise_entry(USCC_A)
        await api.enterprise_entry(USCC_B)
        _case, hazard = await case_with_hazard(api)
        url = f"/hazards/{hazard['id']}"
        report = {"description": "已清理防火堤内杂物并设置隔离", "evidence": EVIDENCE}

        await api.refused("GET", url, api.enterprise(USCC_B), 404, "hazard_not_found")
        await api.refused(
            "POST",
            f"{url}/rectification-report",
            api.enterprise(USCC_B),
            404,
            "hazard_not_found",
            json=report,
        )
        r = await api.client.post(f"{url}/rectification-report", json=report, headers=api.officer)
        assert r.status_code == 403
        await api.refused(
            "POST",
            f"{url}/verification",
            api.officer,
            409,
            "verify_reported_hazard",
            json={"passed": True},
        )
        await api.refused(
            "POST",
            f"{url}/rectification-report",
            api.enterprise(),
            422,
            "report_evidence",
            json={**report, "evidence": []},
        )

        api.travel_to(date(2026, 3, 16))
        reported = await api.ok(
            "POST", f"{url}/rectification-report", api.enterprise(), json=report
        )
        assert (reported["state"], reported["reported_on"]) == ("reported", "2026-03-16")
        await api.refused(
            "POST",
            f"{url}/rectification-report",
            api.enterprise(),
            409,
            "report_open_hazard",
            json=report,
        )
        await api.refused(
            "POST",
            f"{url}/verification",
            api.officer,
            422,
            "failed_verification_needs_note",
            json={"passed": False},
        )
        r = await api.client.post(
            f"{url}/verification",
            json={"passed": False, "note": "隔离设施未固定"},
            headers={**api.officer, "If-Match": '"1"'},
        )
        assert r.status_code == 412
        failed = await api.ok(
            "POST",
            f"{url}/verification",
            api.officer,
            json={"passed": False, "note": "隔离设施未固定"},
        )
        assert failed["state"] == "open"
        assert failed["rectify_by"] == "2026-03-24"
        assert await api.outbox("inspection.hazard.rectified.v1") == []

        await api.ok("POST", f"{url}/rectification-report", api.enterprise(), json=report)
        api.travel_to(date(2026, 3, 20))
        passed = await api.ok("POST", f"{url}/verification", api.officer, json={"passed": True})
        assert (passed["state"], passed["verified_on"]) == ("rectified", "2026-03-20")
        assert [v["passed"] for v in passed["verifications"]] == [False, True]
        (event,) = await api.outbox("inspection.hazard.rectified.v1")
        assert (event.subject, event.data["hazard_id"], event.data["verified_on"]) == (
            USCC_A,
            hazard["id"],
            "2026-03-20",
        )


class TestListing:
    async def test_overdue_and_own_only(self, api: Api) -> None:
        await api.enterprise_entry(USCC_A)
        await api.enterprise_entry(USCC_B)
        _a, hazard_a = await case_with_hazard(api, USCC_A)
        _b, hazard_b = await case_with_hazard(api, USCC_B, grade="major")

        api.travel_to(date(2026, 3, 24))
        assert (await api.ok("GET", "/hazards?overdue=true", api.officer))["items"] == []
        api.travel_to(date(2026, 3, 25))
        overdue = await api.ok("GET", "/hazards?overdue=true", api.officer)
        assert [(h["id"], h["is_overdue"]) for h in overdue["items"]] == [(hazard_a["id"], True)]
        not_overdue = await api.ok("GET", "/hazards?overdue=false", api.officer)
        assert [h["id"] for h in not_overdue["items"]] == [hazard_b["id"]]
        by_uscc = await api.ok("GET", f"/hazards?uscc={USCC_B}&state=open", api.officer)
        assert [h["id"] for h in by_uscc["items"]] == [hazard_b["id"]]

        mine = await api.ok("GET", "/hazards", api.enterprise(USCC_A))
        assert [h["id"] for h in mine["items"]] == [hazard_a["id"]]
        theirs = await api.ok("GET", f"/hazards?uscc={USCC_B}", api.enterprise(USCC_A))
        assert theirs["items"] == []
        one = await api.ok("GET", f"/hazards/{hazard_a['id']}", api.enterprise(USCC_A))
        assert one["is_overdue"] is True

        first = await api.ok("GET", "/hazards?limit=1", api.officer)
        second = await api.ok("GET", f"/hazards?limit=1&cursor={first['next_cursor']}", api.officer)
        assert {first["items"][0]["id"], second["items"][0]["id"]} == {
            hazard_a["id"],
            hazard_b["id"],
        }
        assert second["next_cursor"] is None

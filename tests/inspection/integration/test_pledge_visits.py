"""Pledge verification visits on SQLite and PostgreSQL (flow 1): permits' request arrives
through the inbox, a visit is due by the pledge's deadline, the result goes back as an event.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.consumer import EventApplier
from kernel.contracts.permits import PledgeVerificationRequestedV1
from kernel.db import utcnow
from kernel.events import EventEnvelope
from services.inspection.consumers import handlers
from services.inspection.models_cases import PledgeVisit
from tests.inspection.api.test_cases import USCC_A, USCC_B, Api, api

__all__ = ["api"]  # the app fixture of the case tests

LICENCE = "QDWH-2026-0042"


def requested(**over: Any) -> PledgeVerificationRequestedV1:
    fields: dict[str, Any] = {
        "licence_number": LICENCE,
        "application_id": "a0000000-0000-4000-8000-000000000042",
        "uscc": USCC_A,
        "enterprise_name": "青岛海湾化工有限公司",
        "item_code": "WH-JY-01",
        "item_name": "危险化学品经营许可证延续",
        "verify_by": date(2026, 4, 10),
    }
    fields.update(over)
    return PledgeVerificationRequestedV1(**fields)


class Permits:
    """Delivers permits' events to inspection's real handlers through the inbox."""

    def __init__(self, api: Api) -> None:
        self.applier = EventApplier(
            service="inspection",
            factory=api.runtime.session_factory,
            tables=api.runtime.tables,
            handlers=handlers,
            replay=None,
            max_attempts=1,
        )
        self.sequence = 0

    async def deliver(
        self, payload: PledgeVerificationRequestedV1, event_id: str | None = None
    ) -> str:
        self.sequence += 1
        envelope = EventEnvelope(
            id=event_id or str(uuid.uuid4()),
            source="/permits",
            type=payload.TYPE,
            subject=payload.uscc,
            time=utcnow(),
            sequence=self.sequence,
            data=payload.model_dump(mode="json"),
        )
        return await self.applier.deliver(envelope, None)


@pytest.fixture
def permits(api: Api) -> Permits:
    return Permits(api)


async def visits(api: Api) -> list[PledgeVisit]:
    async with api.runtime.session_factory() as session:
        return list((await session.scalars(sa.select(PledgeVisit))).all())


def result_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "passed": True,
        "findings": "储存场所、安全设施与承诺内容一致",
        "inspectors": ["officer-001", "officer-002"],
    }
    body.update(over)
    return body


class TestScheduling:
    async def test_one_visit_per_licence(self, api: Api, permits: Permits) -> None:
        event_id = str(uuid.uuid4())
        assert await permits.deliver(requested(), event_id) == "applied"
        assert await permits.deliver(requested(), event_id) == "duplicate"
        # Re-sent by permits as a new event: still the one visit.
        assert await permits.deliver(requested(verify_by=date(2026, 5, 1))) == "applied"
        (visit,) = await visits(api)
        assert (visit.licence_number, visit.uscc, visit.state) == (LICENCE, USCC_A, "due")
        assert visit.verify_by == date(2026, 4, 10)
        assert visit.item_name == "危险化学品经营许可证延续"

    async def test_due_and_overdue_lists(self, api: Api, permits: Permits) -> None:
        await permits.deliver(requested())
        await permits.deliver(
            requested(licence_number="QDWH-2026-0043", verify_by=date(2026, 3, 20))
        )
        await permits.deliver(
            requested(licence_number="QDWH-2027-0001", uscc=USCC_B, verify_by=None)
        )
        due = await api.ok("GET", "/pledge-visits?state=due", api.officer)
        assert [v["licence_number"] for v in due["items"]] == [
            "QDWH-2026-0043",
            LICENCE,
            "QDWH-2027-0001",
        ]
        unknown = due["items"][2]
        assert (unknown["verify_by"], unknown["deadline_unknown"]) == (None, True)

        api.travel_to(date(2026, 3, 21))
        overdue = await api.ok("GET", "/pledge-visits?overdue=true", api.officer)
        assert [(v["licence_number"], v["is_overdue"]) for v in overdue["items"]] == [
            ("QDWH-2026-0043", True)
        ]
        on_time = await api.ok("GET", "/pledge-visits?overdue=false", api.officer)
        assert len(on_time["items"]) == 2
        by_uscc = await api.ok("GET", f"/pledge-visits?uscc={USCC_B}", api.officer)
        assert [v["licence_number"] for v in by_uscc["items"]] == ["QDWH-2027-0001"]

        first = await api.ok("GET", "/pledge-visits?limit=2", api.officer)
        rest = await api.ok(
            "GET", f"/pledge-visits?limit=2&cursor={first['next_cursor']}", api.officer
        )
        assert [v["licence_number"] for v in first["items"] + rest["items"]] == [
            "QDWH-2026-0043",
            LICENCE,
            "QDWH-2027-0001",
        ]
        assert rest["next_cursor"] is None

        for role in ("enterprise", "insurer", "public"):
            r = await api.client.get("/pledge-visits", headers=api.as_(role, USCC_A))
            assert r.status_code == 403


class TestResult:
    async def test_breach_is_sent_back_once(self, api: Api, permits: Permits) -> None:
        await permits.deliver(requested())
        (visit,) = await visits(api)
        url = f"/pledge-visits/{visit.id}/result"

        body = await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "team_of_two",
            json=result_body(inspectors=["officer-001"]),
        )
        assert body["field"] == "inspectors"
        await api.refused(
            "POST",
            url,
            api.officer,
            422,
            "verified_in_future",
            json=result_body(verified_on="2026-03-11"),
        )
        r = await api.client.post(url, json=result_body(), headers=api.enterprise())
        assert r.status_code == 403
        r = await api.client.post(
            url, json=result_body(), headers={**api.officer, "If-Match": '"7"'}
        )
        assert r.status_code == 412

        breach = result_body(passed=False, findings="实际储存面积不足承诺的一半")
        recorded = await api.ok("POST", url, api.officer, json=breach)
        assert (recorded["state"], recorded["verified_on"]) == ("breached", "2026-03-10")
        assert recorded["recorded_by"] == "officer:officer-001"
        await api.refused("POST", url, api.officer, 409, "pledge_visit_once", json=result_body())

        (event,) = await api.outbox("inspection.pledge.verified.v1")
        assert event.subject == USCC_A
        assert event.data == {
            "licence_number": LICENCE,
            "uscc": USCC_A,
            "passed": False,
            "findings": "实际储存面积不足承诺的一半",
            "verified_on": "2026-03-10",
            "inspectors": ["officer-001", "officer-002"],
        }
        # A late duplicate of the request does not reopen the visit.
        assert await permits.deliver(requested()) == "applied"
        (still,) = await visits(api)
        assert still.state == "breached"
        await api.refused(
            "GET", f"/pledge-visits/{uuid.uuid4()}", api.officer, 404, "pledge_visit_not_found"
        )

    async def test_kept_pledge_passes(self, api: Api, permits: Permits) -> None:
        await permits.deliver(requested())
        (visit,) = await visits(api)
        one = await api.client.get(f"/pledge-visits/{visit.id}", headers=api.officer)
        assert one.headers["etag"] == '"1"'
        recorded = await api.ok(
            "POST",
            f"/pledge-visits/{visit.id}/result",
            api.officer,
            json=result_body(verified_on="2026-03-09"),
        )
        assert (recorded["state"], recorded["verified_on"]) == ("passed", "2026-03-09")
        (event,) = await api.outbox("inspection.pledge.verified.v1")
        assert event.data["passed"] is True

"""Inspection's hazard events → help the insured enterprise's insurer owes (协助整改).

The registered handlers are called with contract instances on a real database (SQLite and
PostgreSQL), as the consumer runner would, one transaction each.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.contracts.inspection import HazardFoundV1, HazardRectifiedV1
from kernel.db import unit_of_work, utcnow
from kernel.events import EventContract, EventEnvelope
from kernel.uscc import make_uscc
from services.insurance import obligation_consumers, service
from services.insurance.config import InsuranceSettings
from services.insurance.consumers import handlers
from services.insurance.models import Hazard, Obligation, ObligationEvent
from tests.insurance.conftest import InsuranceApi
from tests.support.builders import policy_body

USCC_A = make_uscc(601)
USCC_B = make_uscc(602)


def found(
    hazard_id: str,
    uscc: str = USCC_A,
    on: date = date(2026, 3, 16),
    rectify_by: date | None = date(2026, 4, 14),
) -> HazardFoundV1:
    return HazardFoundV1(
        hazard_id=hazard_id,
        inspection_id="case-2026-031",
        uscc=uscc,
        enterprise_name="青岛海湾化工有限公司",
        grade="major",
        description="液氯储罐区可燃气体报警器失效",
        found_on=on,
        rectify_by=rectify_by,
    )


def rectified(hazard_id: str, on: date = date(2026, 4, 2)) -> HazardRectifiedV1:
    return HazardRectifiedV1(hazard_id=hazard_id, uscc=USCC_A, verified_on=on)


async def apply(api: InsuranceApi, event: EventContract) -> None:
    """Run the registered handler for this event in its own transaction."""
    handler = handlers.get(event.TYPE)
    assert handler is not None, event.TYPE
    envelope = EventEnvelope(
        id=str(uuid.uuid4()),
        source="/inspection",
        type=event.TYPE,
        subject=USCC_A,
        time=utcnow(),
        sequence=1,
        data=event.model_dump(mode="json"),
    )
    async with unit_of_work(api.runtime.session_factory) as session:
        await handler.fn(session, handler.contract.model_validate(envelope.data), envelope)


@pytest.fixture
async def api(insurance: InsuranceApi) -> InsuranceApi:
    await insurance.register_insurer("PICC-QD")
    await insurance.register_insurer("PAIC-QD")
    return insurance


async def register(
    api: InsuranceApi, n: int = 601, insurer: str = "PICC-QD", **overrides: Any
) -> str:
    dates = {"starts_on": "2026-01-01", "ends_on": "2026-12-31"}
    r = await api.client.post(
        "/policies",
        json=policy_body(n, **{**dates, **overrides}),
        headers=api.as_("insurer", insurer),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def assistance(api: InsuranceApi) -> list[tuple[Any, ...]]:
    async with api.runtime.session_factory() as session:
        rows = (
            await session.scalars(
                sa.select(Obligation)
                .where(Obligation.kind == "hazard_assistance")
                .order_by(Obligation.insurer_id, Obligation.seq)
            )
        ).all()
    return [
        (o.insurer_id, o.uscc, o.hazard_id, o.seq, o.window_start, o.due_on, o.status) for o in rows
    ]


async def hazard(api: InsuranceApi, hazard_id: str) -> Hazard | None:
    async with api.runtime.session_factory() as session:
        return await session.get(Hazard, hazard_id)


def test_handlers_are_registered_for_both_events() -> None:
    found_handler = handlers.get("inspection.hazard.found.v1")
    rectified_handler = handlers.get("inspection.hazard.rectified.v1")
    assert found_handler is not None
    assert rectified_handler is not None
    assert found_handler.fn is obligation_consumers.on_hazard_found
    assert rectified_handler.fn is obligation_consumers.on_hazard_rectified
    assert "inspection" in handlers.sources


class TestHazardFound:
    async def test_becomes_help_owed_by_the_enterprises_insurer(self, api: InsuranceApi) -> None:
        await register(api)
        await register(api, 602, "PAIC-QD")
        await apply(api, found("hz-1"))
        assert await assistance(api) == [
            ("PICC-QD", USCC_A, "hz-1", 1, date(2026, 3, 16), date(2026, 4, 14), "open"),
        ]
        stored = await hazard(api, "hz-1")
        assert stored is not None
        assert (stored.uscc, stored.grade, stored.found_on, stored.rectify_by) == (
            USCC_A,
            "major",
            date(2026, 3, 16),
            date(2026, 4, 14),
        )
        async with api.runtime.session_factory() as session:
            history = (
                await session.execute(
                    sa.select(ObligationEvent.action, ObligationEvent.actor, ObligationEvent.note)
                    .join(Obligation, Obligation.id == ObligationEvent.obligation_id)
                    .where(Obligation.kind == "hazard_assistance")
                )
            ).all()
        assert [tuple(h) for h in history] == [
            ("scheduled", "system:insurance", "qd-6+3/2: major hazard found on 2026-03-16")
        ]

    async def test_visible_to_the_insurer_and_overdue_after_its_due_date(
        self, api: InsuranceApi
    ) -> None:
        await register(api)
        await apply(api, found("hz-1"))
        api.set_today(date(2026, 4, 20))
        r = await api.client.get(
            "/obligations",
            params={"kind": "hazard_assistance", "overdue": "true"},
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert [(i["hazard_id"], i["days_overdue"]) for i in r.json()["items"]] == [("hz-1", 6)]
        other = await api.client.get(
            "/obligations",
            params={"kind": "hazard_assistance"},
            headers=api.as_("insurer", "PAIC-QD"),
        )
        assert other.json()["items"] == []

    async def test_unknown_deadline_gives_the_configured_days(self, api: InsuranceApi) -> None:
        await register(api)
        await apply(api, found("hz-2", rectify_by=None))
        settings = api.runtime.settings
        assert isinstance(settings, InsuranceSettings)
        assert settings.hazard_assistance_days == 15
        assert [(r[4], r[5]) for r in await assistance(api)] == [
            (date(2026, 3, 16), date(2026, 3, 31))
        ]

    async def test_a_redelivery_changes_nothing(self, api: InsuranceApi) -> None:
        await register(api)
        await apply(api, found("hz-1"))
        before = (await assistance(api), await api.count(Hazard), await api.count(ObligationEvent))
        await apply(api, found("hz-1", rectify_by=date(2026, 5, 1)))
        after = (await assistance(api), await api.count(Hazard), await api.count(ObligationEvent))
        assert after == before

    async def test_numbered_per_policy(self, api: InsuranceApi) -> None:
        await register(api)
        await apply(api, found("hz-1"))
        await apply(api, found("hz-2", on=date(2026, 3, 17)))
        assert [(r[2], r[3]) for r in await assistance(api)] == [("hz-1", 1), ("hz-2", 2)]

    async def test_uninsured_enterprise_keeps_the_hazard_for_a_later_policy(
        self, api: InsuranceApi
    ) -> None:
        await apply(api, found("hz-1", on=date(2026, 3, 2), rectify_by=date(2026, 3, 30)))
        assert await api.count(Hazard) == 1
        assert await assistance(api) == []
        await register(api, starts_on="2026-03-10", ends_on="2027-03-09")
        # The help opens with the cover and keeps the hazard's deadline.
        assert [(r[2], r[4], r[5]) for r in await assistance(api)] == [
            ("hz-1", date(2026, 3, 10), date(2026, 3, 30))
        ]

    async def test_a_late_event_gives_the_same_help_as_one_before_activation(
        self, api: InsuranceApi
    ) -> None:
        # Found before the cover started, announced after the policy was activated: the help
        # is owed as if the event had come first (see the test above).
        await register(api, starts_on="2026-03-10", ends_on="2027-03-09")
        await apply(api, found("hz-1", on=date(2026, 3, 2), rectify_by=date(2026, 3, 30)))
        assert [(r[2], r[4], r[5]) for r in await assistance(api)] == [
            ("hz-1", date(2026, 3, 10), date(2026, 3, 30))
        ]

    async def test_pending_policy_gets_it_at_activation(self, api: InsuranceApi) -> None:
        await register(api, starts_on="2026-04-01", ends_on="2027-03-31")
        await apply(api, found("hz-1"))
        assert await assistance(api) == []
        settings = api.runtime.settings
        assert isinstance(settings, InsuranceSettings)
        async with unit_of_work(api.runtime.session_factory) as session:
            await service.lifecycle_pass(session, api.runtime.outbox, date(2026, 4, 1), settings)
        assert [(r[2], r[4], r[5]) for r in await assistance(api)] == [
            ("hz-1", date(2026, 4, 1), date(2026, 4, 14))
        ]

    async def test_not_after_the_last_covered_day(self, api: InsuranceApi) -> None:
        policy_id = await register(api)
        r = await api.client.post(
            f"/policies/{policy_id}/cancellation",
            json={"cancelled_on": "2026-03-20", "reason": "企业停产，申请退保"},
            headers=api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 200
        await apply(api, found("hz-late", on=date(2026, 3, 21)))
        await apply(api, found("hz-near", on=date(2026, 3, 18)))
        # Found after the cover: nothing owed. Found within: due by the last covered day.
        assert [(r[2], r[4], r[5]) for r in await assistance(api)] == [
            ("hz-near", date(2026, 3, 18), date(2026, 3, 20))
        ]

    async def test_every_policy_in_force_owes_help(self, api: InsuranceApi) -> None:
        await register(api)
        await register(api, insurer="PAIC-QD", policy_number="PA-2026-9")
        await apply(api, found("hz-1"))
        assert [(r[0], r[2]) for r in await assistance(api)] == [
            ("PAIC-QD", "hz-1"),
            ("PICC-QD", "hz-1"),
        ]


class TestHazardRectified:
    async def test_sets_the_rectified_day_and_leaves_the_help_owed(self, api: InsuranceApi) -> None:
        await register(api)
        await apply(api, found("hz-1"))
        await apply(api, rectified("hz-1"))
        stored = await hazard(api, "hz-1")
        assert stored is not None
        assert stored.rectified_on == date(2026, 4, 2)
        assert [r[6] for r in await assistance(api)] == ["open"]
        await apply(api, rectified("hz-1", on=date(2026, 4, 9)))
        stored = await hazard(api, "hz-1")
        assert stored is not None
        assert stored.rectified_on == date(2026, 4, 2)

    async def test_a_rectified_hazard_is_not_given_to_a_later_policy(
        self, api: InsuranceApi
    ) -> None:
        await apply(api, found("hz-1", on=date(2026, 3, 2), rectify_by=date(2026, 3, 30)))
        await apply(api, rectified("hz-1", on=date(2026, 3, 10)))
        await register(api)
        assert await assistance(api) == []

    async def test_unknown_hazard_is_ignored_and_logged(
        self, api: InsuranceApi, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="insurance.hazards"):
            await apply(api, rectified("hz-never"))
        assert await api.count(Hazard) == 0
        assert "hz-never" in caplog.text

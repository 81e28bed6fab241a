"""Obligation API: a policy's schedule, the scoped listing with overdue flags, one obligation's
history, and the bureau's verification. Object-level authorisation for every role; SQLite and
PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.db import unit_of_work
from kernel.errors import Conflict, RuleViolated
from kernel.uscc import make_uscc
from services.insurance import obligations
from services.insurance.models import Obligation, ObligationEvent
from tests.insurance.conftest import TODAY, InsuranceApi
from tests.support.builders import policy_body

USCC_A = make_uscc(401)
USCC_B = make_uscc(402)
STARTS, ENDS = date(2026, 1, 1), date(2026, 12, 31)


@dataclass
class World:
    api: InsuranceApi
    picc_policy: str  # PICC-QD insures enterprise A (with a one-enterprise plan)
    paic_policy: str  # PAIC-QD insures enterprise B

    async def obligation(self, policy_id: str, kind: str, seq: int = 1) -> Obligation:
        async with self.api.runtime.session_factory() as session:
            row = await session.scalar(
                sa.select(Obligation).where(
                    Obligation.policy_id == policy_id,
                    Obligation.kind == kind,
                    Obligation.seq == seq,
                )
            )
        assert row is not None
        return row

    async def deliver(self, obligation_id: str, on: date, record: str = "rec-1") -> None:
        async with unit_of_work(self.api.runtime.session_factory) as session:
            row = await session.get(Obligation, obligation_id)
            assert row is not None
            await obligations.record_delivery(
                session, row, on, record, "insurer:" + row.insurer_id, self.api.now
            )

    async def snapshot(self, obligation_id: str) -> tuple[Any, ...]:
        async with self.api.runtime.session_factory() as session:
            row = await session.get(Obligation, obligation_id)
            assert row is not None
            events = await session.scalar(
                sa.select(sa.func.count()).where(ObligationEvent.obligation_id == obligation_id)
            )
        return (row.status, row.rejections, row.record_id, row.verified_at, events)


@pytest.fixture
async def world(insurance: InsuranceApi) -> World:
    await insurance.register_insurer("PICC-QD")
    await insurance.register_insurer("PAIC-QD")
    ids = []
    for n, insurer, extra in ((401, "PICC-QD", ["one_plan"]), (402, "PAIC-QD", [])):
        r = await insurance.client.post(
            "/policies",
            json=policy_body(
                n,
                starts_on=STARTS.isoformat(),
                ends_on=ENDS.isoformat(),
                custom_services=extra,
            ),
            headers=insurance.as_("insurer", insurer),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return World(insurance, ids[0], ids[1])


async def walk(world: World, path: str, headers: dict[str, str], **params: Any) -> list[Any]:
    """Every item of a listing, page by page."""
    items: list[Any] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await world.api.client.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


class TestPolicySchedule:
    async def test_insurer_reads_its_policys_schedule_by_due_date(self, world: World) -> None:
        r = await world.api.client.get(
            f"/policies/{world.picc_policy}/obligations",
            headers=world.api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [(i["kind"], i["seq"], i["due_on"]) for i in items][:3] == [
            ("risk_assessment", 1, "2026-01-31"),
            ("one_plan", 1, "2026-03-02"),
            ("key_check", 1, "2026-03-31"),
        ]
        assert len(items) == 1 + 1 + 4 + 2 + 2
        first = items[0]
        assert first["window_start"] == "2026-01-01"
        assert first["mandatory"] is True
        assert items[1]["mandatory"] is False
        assert (first["status"], first["insurer_id"], first["uscc"]) == (
            "open",
            "PICC-QD",
            USCC_A,
        )
        # Business date 16 March: the assessment (31 Jan) and the plan (2 Mar) are overdue.
        assert [(i["kind"], i["days_overdue"]) for i in items if i["overdue"]] == [
            ("risk_assessment", 44),
            ("one_plan", 14),
        ]
        dues = [i["due_on"] for i in items]
        assert dues == sorted(dues)

    async def test_filters_and_pages(self, world: World) -> None:
        headers = world.api.as_("officer")
        path = f"/policies/{world.picc_policy}/obligations"
        key_checks = await walk(world, path, headers, kind="key_check", limit=1)
        assert [i["seq"] for i in key_checks] == [1, 2, 3, 4]
        every = await walk(world, path, headers, limit=3)
        assert len(every) == len({i["id"] for i in every}) == 10
        assert await walk(world, path, headers, status="verified") == []

    async def test_enterprise_reads_its_own(self, world: World) -> None:
        api = world.api
        own = await api.client.get(
            f"/policies/{world.picc_policy}/obligations", headers=api.as_("enterprise", USCC_A)
        )
        assert own.status_code == 200
        other = await api.client.get(
            f"/policies/{world.paic_policy}/obligations", headers=api.as_("enterprise", USCC_A)
        )
        assert other.status_code == 403
        assert other.json()["code"] == "policy_not_yours"

    async def test_another_insurer_is_403_and_unknown_404(self, world: World) -> None:
        api = world.api
        other = await api.client.get(
            f"/policies/{world.paic_policy}/obligations", headers=api.as_("insurer", "PICC-QD")
        )
        assert other.status_code == 403
        assert other.json()["code"] == "policy_not_yours"
        missing = await api.client.get(
            "/policies/nope/obligations", headers=api.as_("insurer", "PICC-QD")
        )
        assert missing.status_code == 404
        assert missing.json()["code"] == "policy_not_found"


class TestListObligations:
    async def test_insurer_sees_only_its_own(self, world: World) -> None:
        api = world.api
        items = await walk(world, "/obligations", api.as_("insurer", "PICC-QD"), limit=4)
        assert {i["insurer_id"] for i in items} == {"PICC-QD"}
        assert len(items) == 10
        explicit = await walk(
            world, "/obligations", api.as_("insurer", "PICC-QD"), insurer_id="PICC-QD"
        )
        assert len(explicit) == 10
        by_other_uscc = await walk(
            world, "/obligations", api.as_("insurer", "PICC-QD"), uscc=USCC_B
        )
        assert by_other_uscc == []

    async def test_insurer_asking_for_another_insurer_is_403(self, world: World) -> None:
        r = await world.api.client.get(
            "/obligations",
            params={"insurer_id": "PAIC-QD"},
            headers=world.api.as_("insurer", "PICC-QD"),
        )
        assert r.status_code == 403
        assert r.json()["code"] == "obligation_not_yours"

    async def test_enterprise_sees_only_its_own(self, world: World) -> None:
        api = world.api
        items = await walk(world, "/obligations", api.as_("enterprise", USCC_B))
        assert {i["uscc"] for i in items} == {USCC_B}
        assert len(items) == 9
        r = await api.client.get(
            "/obligations", params={"uscc": USCC_A}, headers=api.as_("enterprise", USCC_B)
        )
        assert r.status_code == 403
        assert r.json()["code"] == "obligation_not_yours"

    @pytest.mark.parametrize("role", ["officer", "leader", "admin"])
    async def test_bureau_sees_all_and_filters(self, world: World, role: str) -> None:
        api = world.api
        every = await walk(world, "/obligations", api.as_(role), limit=7)
        assert len(every) == len({i["id"] for i in every}) == 19
        dues = [(i["due_on"], i["id"]) for i in every]
        assert dues == sorted(dues)
        paic = await walk(world, "/obligations", api.as_(role), insurer_id="PAIC-QD")
        assert {i["insurer_id"] for i in paic} == {"PAIC-QD"}
        by_uscc = await walk(world, "/obligations", api.as_(role), uscc=USCC_A)
        assert {i["uscc"] for i in by_uscc} == {USCC_A}

    @pytest.mark.parametrize("role", ["department", "public", "service"])
    async def test_other_roles_are_403(self, world: World, role: str) -> None:
        r = await world.api.client.get("/obligations", headers=world.api.as_(role))
        assert r.status_code == 403
        assert (await world.api.client.get("/obligations")).status_code == 401

    async def test_overdue_follows_the_business_date_and_delivery(self, world: World) -> None:
        api = world.api
        officer = api.as_("officer")
        overdue = await walk(world, "/obligations", officer, overdue="true")
        assert sorted((i["uscc"], i["kind"]) for i in overdue) == sorted(
            [(USCC_A, "risk_assessment"), (USCC_A, "one_plan"), (USCC_B, "risk_assessment")]
        )
        assert all(i["overdue"] and i["days_overdue"] > 0 for i in overdue)
        plan = await world.obligation(world.picc_policy, "one_plan")
        await world.deliver(plan.id, date(2026, 3, 10))
        overdue = await walk(world, "/obligations", officer, overdue="true")
        assert len(overdue) == 2
        not_overdue = await walk(world, "/obligations", officer, overdue="false")
        assert len(not_overdue) == 17
        assert not any(i["overdue"] for i in not_overdue)
        # The due day itself is in time; the day after is overdue by one.
        api.set_today(date(2026, 3, 31))
        due_today = await walk(world, "/obligations", officer, kind="key_check", overdue="false")
        assert {i["due_on"] for i in due_today} >= {"2026-03-31"}
        api.set_today(date(2026, 4, 1))
        late = await walk(world, "/obligations", officer, kind="key_check", overdue="true")
        assert [(i["due_on"], i["days_overdue"]) for i in late] == [("2026-03-31", 1)] * 2

    async def test_due_range_kind_and_status_filters(self, world: World) -> None:
        officer = world.api.as_("officer")
        second_quarter = await walk(
            world, "/obligations", officer, due_from="2026-04-01", due_to="2026-06-30"
        )
        assert sorted({i["kind"] for i in second_quarter}) == ["full_check", "key_check"]
        assert all("2026-04-01" <= i["due_on"] <= "2026-06-30" for i in second_quarter)
        trainings = await walk(world, "/obligations", officer, kind="training")
        assert [i["due_on"] for i in trainings] == ["2026-07-02"] * 2 + ["2026-12-31"] * 2
        assert await walk(world, "/obligations", officer, status="delivered") == []

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"kind": "massage"}, "kind"),
            ({"status": "lost"}, "status"),
            ({"overdue": "maybe"}, "overdue"),
            ({"due_from": "2026-13-01"}, "due_from"),
            ({"uscc": "91370200MA3C1234OX"}, "uscc"),
            ({"limit": "0"}, "limit"),
        ],
    )
    async def test_bad_filters_are_422_naming_the_parameter(
        self, world: World, params: dict[str, str], field: str
    ) -> None:
        r = await world.api.client.get(
            "/obligations", params=params, headers=world.api.as_("officer")
        )
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == [field]

    async def test_bad_cursor_is_422(self, world: World) -> None:
        r = await world.api.client.get(
            "/obligations", params={"cursor": "!!"}, headers=world.api.as_("officer")
        )
        assert r.status_code == 422
        assert r.json()["code"] == "invalid_cursor"


class TestGetObligation:
    async def test_history_and_object_level_access(self, world: World) -> None:
        api = world.api
        assessment = await world.obligation(world.picc_policy, "risk_assessment")
        await world.deliver(assessment.id, date(2026, 2, 20), "assessment-7")
        path = f"/obligations/{assessment.id}"
        r = await api.client.get(path, headers=api.as_("insurer", "PICC-QD"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["delivered_on"], body["record_id"]) == (
            "delivered",
            "2026-02-20",
            "assessment-7",
        )
        assert body["overdue"] is False
        assert [(h["action"], h["actor"]) for h in body["history"]] == [
            ("scheduled", "insurer:PICC-QD"),
            ("delivered", "insurer:PICC-QD"),
        ]
        assert body["history"][0]["note"] == "qd-6+3/2"
        assert "late" in body["history"][1]["note"]  # due 31 January
        assert (await api.client.get(path, headers=api.as_("enterprise", USCC_A))).status_code == (
            200
        )
        assert (await api.client.get(path, headers=api.as_("leader"))).status_code == 200
        for headers in (api.as_("insurer", "PAIC-QD"), api.as_("enterprise", USCC_B)):
            r = await api.client.get(path, headers=headers)
            assert r.status_code == 403
            assert r.json()["code"] == "obligation_not_yours"
        assert (await api.client.get(path, headers=api.as_("department"))).status_code == 403

    async def test_unknown_is_404(self, world: World) -> None:
        r = await world.api.client.get("/obligations/nope", headers=world.api.as_("officer"))
        assert r.status_code == 404
        assert r.json()["code"] == "obligation_not_found"


class TestVerification:
    async def delivered(self, world: World) -> Obligation:
        key_check = await world.obligation(world.picc_policy, "key_check")
        await world.deliver(key_check.id, date(2026, 3, 12), "rec-kc-1")
        return key_check

    async def test_officer_accepts(self, world: World) -> None:
        api = world.api
        key_check = await self.delivered(world)
        r = await api.client.post(
            f"/obligations/{key_check.id}/verification",
            json={"outcome": "accepted"},
            headers=api.as_("officer", "officer-007"),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["verified_by"]) == ("verified", "officer:officer-007")
        assert body["verified_at"] is not None
        assert [h["action"] for h in body["history"]] == ["scheduled", "delivered", "verified"]
        again = await api.client.post(
            f"/obligations/{key_check.id}/verification",
            json={"outcome": "accepted"},
            headers=api.as_("officer"),
        )
        assert again.status_code == 409
        assert again.json()["code"] == "obligation_not_delivered"

    async def test_leader_rejects_with_a_reason_and_it_is_owed_again(self, world: World) -> None:
        api = world.api
        key_check = await self.delivered(world)
        r = await api.client.post(
            f"/obligations/{key_check.id}/verification",
            json={"outcome": "rejected", "note": "  排查记录缺少现场照片  "},
            headers=api.as_("leader", "leader-01"),
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["rejections"], body["record_id"]) == ("open", 1, None)
        assert body["delivered_on"] is None
        assert body["due_on"] == "2026-03-31"
        assert body["history"][-1] == {
            "action": "rejected",
            "at": body["history"][-1]["at"],
            "actor": "leader:leader-01",
            "note": "排查记录缺少现场照片",
        }
        # The due date stands: after it, the rejected check is overdue.
        api.set_today(date(2026, 4, 2))
        late = await api.client.get(f"/obligations/{key_check.id}", headers=api.as_("officer"))
        assert (late.json()["overdue"], late.json()["days_overdue"]) == (True, 2)
        # Delivered again, it can be verified.
        await world.deliver(key_check.id, date(2026, 4, 1), "rec-kc-2")
        ok = await api.client.post(
            f"/obligations/{key_check.id}/verification",
            json={"outcome": "accepted"},
            headers=api.as_("officer"),
        )
        assert ok.json()["status"] == "verified"
        assert ok.json()["rejections"] == 1

    @pytest.mark.parametrize("note", [None, "", "  不合格  ", "太短"])
    async def test_rejection_needs_a_real_reason(self, world: World, note: str | None) -> None:
        key_check = await self.delivered(world)
        before = await world.snapshot(key_check.id)
        body: dict[str, Any] = {"outcome": "rejected"}
        if note is not None:
            body["note"] = note
        r = await world.api.client.post(
            f"/obligations/{key_check.id}/verification", json=body, headers=world.api.as_("officer")
        )
        assert r.status_code == 422
        assert (r.json()["code"], r.json()["field"]) == ("rejection_note_required", "note")
        assert await world.snapshot(key_check.id) == before

    async def test_open_obligation_is_409(self, world: World) -> None:
        key_check = await world.obligation(world.picc_policy, "key_check")
        before = await world.snapshot(key_check.id)
        r = await world.api.client.post(
            f"/obligations/{key_check.id}/verification",
            json={"outcome": "accepted"},
            headers=world.api.as_("officer"),
        )
        assert r.status_code == 409
        assert r.json()["code"] == "obligation_not_delivered"
        assert await world.snapshot(key_check.id) == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"outcome": "fine"}, "outcome"),
            ({}, "outcome"),
            ({"outcome": "accepted", "extra": 1}, "extra"),
            ({"outcome": "rejected", "note": "x" * 1001}, "note"),
        ],
    )
    async def test_body_is_validated(self, world: World, body: dict[str, Any], field: str) -> None:
        key_check = await self.delivered(world)
        before = await world.snapshot(key_check.id)
        r = await world.api.client.post(
            f"/obligations/{key_check.id}/verification", json=body, headers=world.api.as_("officer")
        )
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == [field]
        assert await world.snapshot(key_check.id) == before

    @pytest.mark.parametrize(
        ("role", "sub"),
        [
            ("insurer", "PICC-QD"),
            ("insurer", "PAIC-QD"),
            ("enterprise", USCC_A),
            ("admin", "admin-1"),
            ("department", "cbirc"),
        ],
    )
    async def test_only_officers_and_leaders_verify(
        self, world: World, role: str, sub: str
    ) -> None:
        key_check = await self.delivered(world)
        before = await world.snapshot(key_check.id)
        r = await world.api.client.post(
            f"/obligations/{key_check.id}/verification",
            json={"outcome": "accepted"},
            headers=world.api.as_(role, sub),
        )
        assert r.status_code == 403
        assert await world.snapshot(key_check.id) == before

    async def test_unknown_is_404(self, world: World) -> None:
        r = await world.api.client.post(
            "/obligations/nope/verification",
            json={"outcome": "accepted"},
            headers=world.api.as_("officer"),
        )
        assert r.status_code == 404
        assert r.json()["code"] == "obligation_not_found"


class TestRecordDelivery:
    """The use case H2's push endpoints call; its refusals carry their rule and field."""

    async def test_before_the_window_opens_is_refused(self, world: World) -> None:
        second = await world.obligation(world.picc_policy, "key_check", 2)  # opens 1 April
        with pytest.raises(RuleViolated) as refused:
            await world.deliver(second.id, date(2026, 3, 16))
        assert (refused.value.code, refused.value.extra["field"]) == (
            "delivered_before_window",
            "delivered_on",
        )
        assert (await world.snapshot(second.id))[0] == "open"

    async def test_in_the_future_is_refused(self, world: World) -> None:
        first = await world.obligation(world.picc_policy, "key_check")
        with pytest.raises(RuleViolated) as refused:
            await world.deliver(first.id, TODAY + timedelta(days=1))
        assert (refused.value.code, refused.value.extra["field"]) == (
            "delivered_in_future",
            "delivered_on",
        )

    async def test_twice_is_a_conflict(self, world: World) -> None:
        first = await world.obligation(world.picc_policy, "key_check")
        await world.deliver(first.id, date(2026, 3, 10))
        before = await world.snapshot(first.id)
        with pytest.raises(Conflict) as refused:
            await world.deliver(first.id, date(2026, 3, 11), "rec-2")
        assert refused.value.code == "obligation_not_open"
        assert await world.snapshot(first.id) == before

"""Whistle loop (企业吹哨、保险报到) over the API, on SQLite and PostgreSQL: raising and routing,
the full loop with the clock moved, SLA breaches (late answers, the sweep, the background loop),
object-level authorisation, the role matrix and validation."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.db import unit_of_work, utcnow
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.insurance.models import Whistle, WhistleEvent
from services.insurance.whistles import SWEEP_ACTOR, sweep_breaches, whistle_loop
from tests.insurance.conftest import InsuranceApi
from tests.support.builders import policy_body

A, B = "PICC-QD", "PINGAN-QD"  # two insurers
NX, NY, NZ = 301, 302, 303
X, Y, Z = make_uscc(NX), make_uscc(NY), make_uscc(NZ)  # Z holds no policy
SHA = "ab" * 32


@pytest.fixture
async def api(insurance: InsuranceApi) -> InsuranceApi:
    # One business clock for the policy endpoint and the whistles, whichever it reads.
    insurance.set_today(shanghai_today())
    await insurance.register_insurer(A)
    await insurance.register_insurer(B)
    return insurance


async def insure(
    api: InsuranceApi, n: int, insurer: str, start_offset: int = -10, **over: Any
) -> dict[str, Any]:
    """A policy of enterprise `make_uscc(n)` with `insurer`, in force today."""
    body = policy_body(
        n,
        starts_on=(api.today + timedelta(days=start_offset)).isoformat(),
        ends_on=(api.today + timedelta(days=start_offset + 360)).isoformat(),
        **over,
    )
    r = await api.client.post("/policies", json=body, headers=api.as_("insurer", insurer))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active"
    return dict(r.json())


def whistle_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "hazard_help",
        "description": "储罐区可燃气体报警器频繁误报，请派专家到现场排查",
        "location": "黄岛区漓江西路1号 储罐区",
        "contact_name": "王安全",
        "contact_phone": "13812345678",
    }
    body.update(over)
    return body


def ack_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"responder_name": "李工程师", "responder_phone": "0532-80001234"}
    body.update(over)
    return body


def delivery_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "到场检修报警器两台，更换探头一只，培训操作人员3名",
        "evidence": [
            {
                "name": "现场照片.jpg",
                "sha256": SHA,
                "media_type": "image/jpeg",
                "url": "https://files.picc.example/w/1.jpg",
            },
            {"name": "检修记录.pdf", "sha256": "cd" * 32, "media_type": "application/pdf"},
        ],
    }
    body.update(over)
    return body


async def raise_(api: InsuranceApi, uscc: str = X, **over: Any) -> dict[str, Any]:
    r = await api.client.post(
        "/whistles", json=whistle_body(**over), headers=api.as_("enterprise", uscc)
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def post(
    api: InsuranceApi, whistle_id: str, step: str, body: dict[str, Any], who: dict[str, str]
) -> Any:
    return await api.client.post(f"/whistles/{whistle_id}/{step}", json=body, headers=who)


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


async def events(api: InsuranceApi, whistle_id: str) -> list[tuple[str, str]]:
    async with api.runtime.session_factory() as session:
        rows = await session.execute(
            sa.select(WhistleEvent.action, WhistleEvent.actor)
            .where(WhistleEvent.whistle_id == whistle_id)
            .order_by(WhistleEvent.id)
        )
        return [(r.action, r.actor) for r in rows]


async def listing(api: InsuranceApi, who: dict[str, str], **params: Any) -> list[str]:
    r = await api.client.get("/whistles", params=params, headers=who)
    assert r.status_code == 200, r.text
    return [w["id"] for w in r.json()["items"]]


async def sweep(api: InsuranceApi) -> int:
    async with unit_of_work(api.runtime.session_factory) as session:
        return await sweep_breaches(session, api.now)


class TestRaise:
    async def test_routed_to_the_insurer_of_the_policy_in_force_with_its_deadlines(
        self, api: InsuranceApi
    ) -> None:
        policy = await insure(api, NX, A)
        w = await raise_(api)
        assert w["status"] == "raised"
        assert w["insurer_id"] == A
        assert w["policy_id"] == policy["id"]
        assert w["uscc"] == X
        assert w["enterprise_name"] == policy["enterprise_name"]
        assert at(w["raised_at"]) == api.now
        assert at(w["ack_due_at"]) == api.now + timedelta(hours=24)
        assert at(w["delivery_due_at"]) == api.now + timedelta(hours=72)
        assert (w["ack_overdue"], w["delivery_overdue"], w["breached"]) == (False, False, False)
        assert [h["action"] for h in w["history"]] == ["raised"]
        assert w["history"][0]["actor"] == f"enterprise:{X}"
        # The insurer sees it in its queue.
        assert await listing(api, api.as_("insurer", A)) == [w["id"]]

    async def test_of_several_policies_in_force_the_latest_starting_one_answers(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A, start_offset=-100)
        later = await insure(api, NX, B, start_offset=-5)
        w = await raise_(api)
        assert (w["insurer_id"], w["policy_id"]) == (B, later["id"])

    async def test_without_a_policy_in_force_it_is_409_and_points_to_the_bureau(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A)  # another enterprise's policy does not count
        r = await api.client.post(
            "/whistles", json=whistle_body(), headers=api.as_("enterprise", Z)
        )
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "no_active_policy"
        assert "bureau" in r.json()["detail"]
        assert await api.count(Whistle) == 0
        assert await api.count(WhistleEvent) == 0

    async def test_a_policy_not_yet_started_does_not_count(self, api: InsuranceApi) -> None:
        body = policy_body(
            NZ,
            starts_on=(api.today + timedelta(days=3)).isoformat(),
            ends_on=(api.today + timedelta(days=300)).isoformat(),
        )
        r = await api.client.post("/policies", json=body, headers=api.as_("insurer", A))
        assert r.json()["status"] == "pending"
        r = await api.client.post(
            "/whistles", json=whistle_body(), headers=api.as_("enterprise", Z)
        )
        assert r.status_code == 409
        assert r.json()["code"] == "no_active_policy"

    async def test_a_policy_past_its_end_does_not_count_even_before_it_is_expired(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A, start_offset=-300)
        api.set_today(api.today + timedelta(days=61))  # ends_on was today + 60
        r = await api.client.post(
            "/whistles", json=whistle_body(), headers=api.as_("enterprise", X)
        )
        assert r.status_code == 409
        assert r.json()["code"] == "no_active_policy"

    async def test_idempotency_key_replays_the_first_answer(self, api: InsuranceApi) -> None:
        await insure(api, NX, A)
        headers = api.as_("enterprise", X) | {"Idempotency-Key": "whistle-0001"}
        first = await api.client.post("/whistles", json=whistle_body(), headers=headers)
        api.advance(timedelta(minutes=5))
        again = await api.client.post("/whistles", json=whistle_body(), headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await api.count(Whistle) == 1
        other = await api.client.post(
            "/whistles", json=whistle_body(category="training"), headers=headers
        )
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency_key_reused"
        assert await api.count(Whistle) == 1

    @pytest.mark.parametrize(
        ("over", "field", "rule"),
        [
            ({"category": "money"}, "category", "enum"),
            ({"description": "太短了"}, "description", "string_too_short"),
            ({"description": "长" * 2001}, "description", "string_too_long"),
            ({"contact_phone": "12345"}, "contact_phone", "string_too_short"),
            ({"contact_phone": "23812345678"}, "contact_phone", "string_pattern_mismatch"),
            ({"contact_name": ""}, "contact_name", "string_too_short"),
            ({"urgent": True}, "urgent", "extra_forbidden"),
        ],
    )
    async def test_validation_names_the_field_and_writes_nothing(
        self, api: InsuranceApi, over: dict[str, Any], field: str, rule: str
    ) -> None:
        await insure(api, NX, A)
        r = await api.client.post(
            "/whistles", json=whistle_body(**over), headers=api.as_("enterprise", X)
        )
        assert r.status_code == 422
        problem = r.json()
        assert problem["code"] == "validation_failed"
        assert [(e["field"], e["rule"]) for e in problem["errors"]] == [(field, rule)]
        assert await api.count(Whistle) == 0

    @pytest.mark.parametrize(
        "phone", ["13812345678", "0532-88886666", "053288886666", "010-12345678-801"]
    )
    async def test_mobile_and_landline_numbers_are_accepted(
        self, api: InsuranceApi, phone: str
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api, contact_phone=phone)
        assert w["contact_phone"] == phone

    @pytest.mark.parametrize(
        "role", ["insurer", "officer", "leader", "admin", "public", "department"]
    )
    async def test_only_an_enterprise_raises(self, api: InsuranceApi, role: str) -> None:
        await insure(api, NX, A)
        r = await api.client.post("/whistles", json=whistle_body(), headers=api.as_(role, X))
        assert r.status_code == 403
        assert await api.count(Whistle) == 0

    async def test_without_a_token_it_is_401(self, api: InsuranceApi) -> None:
        r = await api.client.post("/whistles", json=whistle_body())
        assert r.status_code == 401


class TestLoop:
    async def test_raise_acknowledge_deliver_close_with_the_clock_moving(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        raised_at = api.now
        insurer, enterprise = api.as_("insurer", A), api.as_("enterprise", X)

        api.advance(timedelta(hours=23, minutes=59))
        r = await post(api, w["id"], "acknowledgement", ack_body(note="2小时内到场"), insurer)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "acknowledged"
        assert at(body["acknowledged_at"]) == raised_at + timedelta(hours=23, minutes=59)
        assert (body["responder_name"], body["responder_phone"]) == ("李工程师", "0532-80001234")
        assert body["ack_breached_at"] is None

        api.advance(timedelta(hours=48))  # 71h59m after raising
        r = await post(api, w["id"], "delivery", delivery_body(), insurer)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "delivered"
        assert body["delivery_summary"].startswith("到场检修")
        assert [e["sha256"] for e in body["evidence"]] == [SHA, "cd" * 32]
        assert body["evidence"][1] == {
            "name": "检修记录.pdf",
            "sha256": "cd" * 32,
            "media_type": "application/pdf",
        }

        api.advance(timedelta(days=3))
        r = await post(api, w["id"], "closure", {"feedback": "satisfied"}, enterprise)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "closed"
        assert body["feedback"] == "satisfied"
        assert (body["ack_breached_at"], body["delivery_breached_at"]) == (None, None)
        assert body["breached"] is False

        # The bureau sees every state with who did it and when.
        r = await api.client.get(f"/whistles/{w['id']}", headers=api.as_("officer", "o-1"))
        history = r.json()["history"]
        assert [(h["action"], h["actor"]) for h in history] == [
            ("raised", f"enterprise:{X}"),
            ("acknowledged", f"insurer:{A}"),
            ("delivered", f"insurer:{A}"),
            ("closed", f"enterprise:{X}"),
        ]
        assert history[1]["note"] == "2小时内到场"
        assert [at(h["at"]) for h in history] == [
            raised_at,
            raised_at + timedelta(hours=23, minutes=59),
            raised_at + timedelta(hours=71, minutes=59),
            raised_at + timedelta(hours=143, minutes=59),
        ]
        # Nothing for the sweep to find afterwards.
        assert await sweep(api) == 0
        assert await listing(api, api.as_("leader", "l-1"), breached="true") == []

    async def test_an_unsatisfied_closure_needs_a_note(self, api: InsuranceApi) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        insurer, enterprise = api.as_("insurer", A), api.as_("enterprise", X)
        await post(api, w["id"], "acknowledgement", ack_body(), insurer)
        await post(api, w["id"], "delivery", delivery_body(), insurer)
        r = await post(api, w["id"], "closure", {"feedback": "unsatisfied"}, enterprise)
        assert r.status_code == 422
        assert (r.json()["code"], r.json()["field"]) == ("feedback_note_required", "note")
        assert await events(api, w["id"]) == [
            ("raised", f"enterprise:{X}"),
            ("acknowledged", f"insurer:{A}"),
            ("delivered", f"insurer:{A}"),
        ]
        r = await post(
            api,
            w["id"],
            "closure",
            {"feedback": "unsatisfied", "note": "专家只电话指导，未到现场"},
            enterprise,
        )
        assert r.status_code == 200
        assert (r.json()["feedback"], r.json()["feedback_note"]) == (
            "unsatisfied",
            "专家只电话指导，未到现场",
        )

    @pytest.mark.parametrize(
        ("done", "step", "body_of", "who", "code"),
        [
            ([], "delivery", delivery_body, "insurer", "whistle_not_acknowledged"),
            (
                [],
                "closure",
                lambda: {"feedback": "satisfied"},
                "enterprise",
                "whistle_not_delivered",
            ),
            (["acknowledgement"], "acknowledgement", ack_body, "insurer", "whistle_not_raised"),
            (
                ["acknowledgement"],
                "closure",
                lambda: {"feedback": "satisfied"},
                "enterprise",
                "whistle_not_delivered",
            ),
            (
                ["acknowledgement", "delivery"],
                "delivery",
                delivery_body,
                "insurer",
                "whistle_not_acknowledged",
            ),
            (
                ["acknowledgement", "delivery", "closure"],
                "acknowledgement",
                ack_body,
                "insurer",
                "whistle_not_raised",
            ),
            (
                ["acknowledgement", "delivery", "closure"],
                "closure",
                lambda: {"feedback": "satisfied"},
                "enterprise",
                "whistle_not_delivered",
            ),
        ],
    )
    async def test_a_step_out_of_order_is_409_and_changes_nothing(
        self,
        api: InsuranceApi,
        done: list[str],
        step: str,
        body_of: Any,
        who: str,
        code: str,
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        headers = {"insurer": api.as_("insurer", A), "enterprise": api.as_("enterprise", X)}
        bodies = {
            "acknowledgement": (ack_body(), "insurer"),
            "delivery": (delivery_body(), "insurer"),
            "closure": ({"feedback": "satisfied"}, "enterprise"),
        }
        for previous in done:
            body, role = bodies[previous]
            assert (await post(api, w["id"], previous, body, headers[role])).status_code == 200
        before = (
            await api.client.get(f"/whistles/{w['id']}", headers=headers["enterprise"])
        ).json()
        r = await post(api, w["id"], step, body_of(), headers[who])
        assert r.status_code == 409
        assert r.json()["code"] == code
        after = (await api.client.get(f"/whistles/{w['id']}", headers=headers["enterprise"])).json()
        assert after == before

    @pytest.mark.parametrize(
        ("evidence", "field", "rule"),
        [
            (
                {"name": "a.jpg", "sha256": "AB" * 32, "media_type": "image/jpeg"},
                "sha256",
                "string_pattern_mismatch",
            ),
            (
                {"name": "a.jpg", "sha256": "ab" * 31, "media_type": "image/jpeg"},
                "sha256",
                "string_pattern_mismatch",
            ),
            (
                {"name": "a.exe", "sha256": SHA, "media_type": "application/x-msdownload"},
                "media_type",
                "enum",
            ),
            (
                {
                    "name": "a.jpg",
                    "sha256": SHA,
                    "media_type": "image/jpeg",
                    "url": "http://x.cn/a",
                },
                "url",
                "url_not_https",
            ),
            ({"name": "", "sha256": SHA, "media_type": "image/jpeg"}, "name", "string_too_short"),
            (
                {"name": "a.jpg", "sha256": SHA, "media_type": "image/jpeg", "size": 1},
                "size",
                "extra_forbidden",
            ),
        ],
    )
    async def test_delivery_evidence_is_validated_strictly(
        self, api: InsuranceApi, evidence: dict[str, Any], field: str, rule: str
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        insurer = api.as_("insurer", A)
        await post(api, w["id"], "acknowledgement", ack_body(), insurer)
        r = await post(api, w["id"], "delivery", delivery_body(evidence=[evidence]), insurer)
        assert r.status_code == 422
        assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [
            (f"evidence.0.{field}", rule)
        ]
        assert (await events(api, w["id"]))[-1][0] == "acknowledged"

    @pytest.mark.parametrize(
        ("evidence", "rule"),
        [
            ([], "too_short"),
            (
                [{"name": f"{i}.jpg", "sha256": SHA, "media_type": "image/jpeg"} for i in (1, 2)],
                "evidence_not_distinct",
            ),
            (
                [
                    {"name": f"{i}.jpg", "sha256": f"{i:064x}", "media_type": "image/jpeg"}
                    for i in range(21)
                ],
                "too_long",
            ),
        ],
    )
    async def test_delivery_needs_one_to_twenty_distinct_files(
        self, api: InsuranceApi, evidence: list[dict[str, Any]], rule: str
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        insurer = api.as_("insurer", A)
        await post(api, w["id"], "acknowledgement", ack_body(), insurer)
        r = await post(api, w["id"], "delivery", delivery_body(evidence=evidence), insurer)
        assert r.status_code == 422
        assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("evidence", rule)]
        assert (await events(api, w["id"]))[-1][0] == "acknowledged"

    async def test_acknowledgement_fields_are_named(self, api: InsuranceApi) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        r = await post(
            api,
            w["id"],
            "acknowledgement",
            {"responder_name": "李", "responder_phone": "110"},
            api.as_("insurer", A),
        )
        assert r.status_code == 422
        assert sorted(e["field"] for e in r.json()["errors"]) == [
            "responder_name",
            "responder_phone",
        ]
        assert await events(api, w["id"]) == [("raised", f"enterprise:{X}")]


class TestBreaches:
    async def test_a_late_acknowledgement_is_accepted_and_its_breach_recorded(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        bureau = api.as_("officer", "o-1")
        api.advance(timedelta(hours=24))
        r = await api.client.get(f"/whistles/{w['id']}", headers=bureau)
        assert (r.json()["ack_overdue"], r.json()["breached"]) == (False, False)  # due: in time

        api.advance(timedelta(hours=1))
        r = await api.client.get(f"/whistles/{w['id']}", headers=bureau)
        live = r.json()
        assert (live["ack_overdue"], live["breached"]) == (True, True)
        assert live["ack_breached_at"] is None  # nothing on record until seen by a write
        assert await listing(api, bureau, breached="true") == [w["id"]]
        assert await listing(api, bureau, breached="false") == []

        r = await post(api, w["id"], "acknowledgement", ack_body(), api.as_("insurer", A))
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "acknowledged"
        assert at(body["ack_breached_at"]) == api.now
        assert body["ack_overdue"] is False
        assert body["breached"] is True
        assert [h["action"] for h in body["history"]] == ["raised", "acknowledged", "ack_breached"]
        # Recorded once: the sweep finds nothing more to say about the acknowledgement.
        assert await sweep(api) == 0
        # The enterprise sees it too.
        mine = await api.client.get(f"/whistles/{w['id']}", headers=api.as_("enterprise", X))
        assert mine.json()["ack_breached_at"] == body["ack_breached_at"]

    async def test_a_late_delivery_is_accepted_and_its_breach_recorded(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        insurer = api.as_("insurer", A)
        api.advance(timedelta(hours=1))
        await post(api, w["id"], "acknowledgement", ack_body(), insurer)
        api.advance(timedelta(hours=80))
        r = await post(api, w["id"], "delivery", delivery_body(), insurer)
        assert r.status_code == 200
        body = r.json()
        assert body["ack_breached_at"] is None
        assert at(body["delivery_breached_at"]) == api.now
        assert [h["action"] for h in body["history"]][-2:] == ["delivered", "delivery_breached"]

    async def test_the_sweep_records_each_missed_deadline_once(self, api: InsuranceApi) -> None:
        await insure(api, NX, A)
        await insure(api, NY, B)
        wx = await raise_(api, X)
        wy = await raise_(api, Y)
        await post(api, wy["id"], "acknowledgement", ack_body(), api.as_("insurer", B))

        api.advance(timedelta(hours=24))
        assert await sweep(api) == 0  # the due instant is in time

        api.advance(timedelta(seconds=1))
        first_seen = api.now
        assert await sweep(api) == 1  # X's acknowledgement
        assert await sweep(api) == 0

        api.advance(timedelta(hours=48))
        assert await sweep(api) == 2  # both deliveries
        assert await sweep(api) == 0
        api.advance(timedelta(days=10))
        assert await sweep(api) == 0

        assert await events(api, wx["id"]) == [
            ("raised", f"enterprise:{X}"),
            ("ack_breached", SWEEP_ACTOR),
            ("delivery_breached", SWEEP_ACTOR),
        ]
        assert [a for a, _ in await events(api, wy["id"])] == [
            "raised",
            "acknowledged",
            "delivery_breached",
        ]
        # The late answer afterwards neither moves the recorded instant nor records it again.
        r = await post(api, wx["id"], "acknowledgement", ack_body(), api.as_("insurer", A))
        assert r.status_code == 200
        assert at(r.json()["ack_breached_at"]) == first_seen
        assert [h["action"] for h in r.json()["history"]].count("ack_breached") == 1

    async def test_a_closed_whistle_is_left_alone_by_the_sweep(self, api: InsuranceApi) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        insurer = api.as_("insurer", A)
        await post(api, w["id"], "acknowledgement", ack_body(), insurer)
        await post(api, w["id"], "delivery", delivery_body(), insurer)
        await post(api, w["id"], "closure", {"feedback": "satisfied"}, api.as_("enterprise", X))
        api.advance(timedelta(days=30))
        assert await sweep(api) == 0
        assert [a for a, _ in await events(api, w["id"])][-1] == "closed"

    async def test_breaches_are_visible_to_the_bureau_through_the_filters(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A)
        await insure(api, NY, B)
        late = await raise_(api, X)
        api.advance(timedelta(hours=1))
        kept = await raise_(api, Y)
        await post(api, kept["id"], "acknowledgement", ack_body(), api.as_("insurer", B))
        api.advance(timedelta(hours=30))
        assert await sweep(api) == 1

        bureau = api.as_("admin", "root")
        assert await listing(api, bureau) == [kept["id"], late["id"]]
        assert await listing(api, bureau, breached="true") == [late["id"]]
        assert await listing(api, bureau, breached="false") == [kept["id"]]
        assert await listing(api, bureau, insurer_id=A) == [late["id"]]
        assert await listing(api, bureau, uscc=Y) == [kept["id"]]
        assert await listing(api, bureau, status="raised") == [late["id"]]
        assert await listing(api, bureau, status="acknowledged", breached="true") == []
        assert await listing(api, bureau, insurer_id=B, breached="true") == []
        r = await api.client.get("/whistles", params={"breached": "true"}, headers=bureau)
        item = r.json()["items"][0]
        assert (item["ack_overdue"], item["delivery_overdue"]) == (True, False)
        assert item["ack_breached_at"] is not None
        # The insurer at fault sees its own breach in its queue.
        assert await listing(api, api.as_("insurer", A), breached="true") == [late["id"]]

    async def test_the_background_loop_records_breaches_against_the_real_clock(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A)
        api.now = utcnow() - timedelta(hours=100)  # raised 100 hours ago
        w = await raise_(api)
        task = asyncio.create_task(whistle_loop(api.runtime))
        try:
            async with asyncio.timeout(10):
                while len(await events(api, w["id"])) < 3:
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert [a for a, _ in await events(api, w["id"])] == [
            "raised",
            "ack_breached",
            "delivery_breached",
        ]
        async with api.runtime.session_factory() as session:
            row = await session.get(Whistle, w["id"])
            assert row is not None
            assert row.ack_breached_at is not None
            assert row.ack_breached_at > api.now


class TestAuthorisation:
    async def test_another_insurer_can_neither_see_nor_answer(self, api: InsuranceApi) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        other = api.as_("insurer", B)
        r = await api.client.get(f"/whistles/{w['id']}", headers=other)
        assert r.status_code == 403
        assert r.json()["code"] == "whistle_not_yours"
        assert await listing(api, other) == []
        r = await api.client.get("/whistles", params={"insurer_id": A}, headers=other)
        assert (r.status_code, r.json()["code"]) == (403, "whistle_not_yours")
        for step, body in (("acknowledgement", ack_body()), ("delivery", delivery_body())):
            r = await post(api, w["id"], step, body, other)
            assert (r.status_code, r.json()["code"]) == (403, "whistle_not_yours")
        assert await events(api, w["id"]) == [("raised", f"enterprise:{X}")]
        # A with its own whistle, after B's attempts, still acknowledges it.
        r = await post(api, w["id"], "acknowledgement", ack_body(), api.as_("insurer", A))
        assert r.status_code == 200
        r = await post(api, w["id"], "delivery", delivery_body(), other)
        assert r.status_code == 403
        assert (await api.client.get(f"/whistles/{w['id']}", headers=api.as_("insurer", A))).json()[
            "status"
        ] == "acknowledged"

    async def test_another_enterprise_can_neither_see_nor_close(self, api: InsuranceApi) -> None:
        await insure(api, NX, A)
        await insure(api, NY, A)
        wx = await raise_(api, X)
        api.advance(timedelta(minutes=1))
        wy = await raise_(api, Y)
        insurer = api.as_("insurer", A)
        await post(api, wx["id"], "acknowledgement", ack_body(), insurer)
        await post(api, wx["id"], "delivery", delivery_body(), insurer)
        y = api.as_("enterprise", Y)
        r = await api.client.get(f"/whistles/{wx['id']}", headers=y)
        assert (r.status_code, r.json()["code"]) == (403, "whistle_not_yours")
        assert await listing(api, y) == [wy["id"]]
        r = await api.client.get("/whistles", params={"uscc": X}, headers=y)
        assert (r.status_code, r.json()["code"]) == (403, "whistle_not_yours")
        r = await post(api, wx["id"], "closure", {"feedback": "satisfied"}, y)
        assert (r.status_code, r.json()["code"]) == (403, "whistle_not_yours")
        assert [a for a, _ in await events(api, wx["id"])][-1] == "delivered"
        # The insurer sees both of its enterprises' whistles.
        assert await listing(api, insurer) == [wy["id"], wx["id"]]

    @pytest.mark.parametrize(
        ("step", "body", "role", "sub"),
        [
            ("acknowledgement", ack_body(), "enterprise", X),
            ("acknowledgement", ack_body(), "officer", "o-1"),
            ("delivery", delivery_body(), "enterprise", X),
            ("delivery", delivery_body(), "admin", "root"),
            ("closure", {"feedback": "satisfied"}, "insurer", A),
            ("closure", {"feedback": "satisfied"}, "leader", "l-1"),
            ("acknowledgement", ack_body(), "public", "anonymous"),
        ],
    )
    async def test_role_matrix_for_the_steps(
        self, api: InsuranceApi, step: str, body: dict[str, Any], role: str, sub: str
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        r = await post(api, w["id"], step, body, api.as_(role, sub))
        assert r.status_code == 403
        assert await events(api, w["id"]) == [("raised", f"enterprise:{X}")]

    async def test_an_unregistered_or_suspended_insurer_may_not_answer(
        self, api: InsuranceApi
    ) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        r = await post(api, w["id"], "acknowledgement", ack_body(), api.as_("insurer", "NOBODY"))
        assert (r.status_code, r.json()["code"]) == (403, "insurer_not_registered")
        async with api.runtime.session_factory() as session, session.begin():
            await session.execute(
                sa.text("UPDATE insurers SET status = 'suspended', status_reason = '整顿'")
            )
        r = await post(api, w["id"], "acknowledgement", ack_body(), api.as_("insurer", A))
        assert (r.status_code, r.json()["code"]) == (403, "insurer_suspended")
        assert await events(api, w["id"]) == [("raised", f"enterprise:{X}")]

    @pytest.mark.parametrize("role", ["public", "department"])
    async def test_other_roles_cannot_list_or_read(self, api: InsuranceApi, role: str) -> None:
        await insure(api, NX, A)
        w = await raise_(api)
        assert (await api.client.get("/whistles", headers=api.as_(role))).status_code == 403
        r = await api.client.get(f"/whistles/{w['id']}", headers=api.as_(role))
        assert r.status_code == 403

    @pytest.mark.parametrize("role", ["officer", "leader", "admin"])
    async def test_the_bureau_reads_every_whistle(self, api: InsuranceApi, role: str) -> None:
        await insure(api, NX, A)
        await insure(api, NY, B)
        wx = await raise_(api, X)
        wy = await raise_(api, Y)
        assert set(await listing(api, api.as_(role, "staff"))) == {wx["id"], wy["id"]}
        r = await api.client.get(f"/whistles/{wy['id']}", headers=api.as_(role, "staff"))
        assert r.status_code == 200

    async def test_an_unknown_whistle_is_404_for_every_action(self, api: InsuranceApi) -> None:
        missing = "00000000-0000-0000-0000-000000000000"
        r = await api.client.get(f"/whistles/{missing}", headers=api.as_("officer"))
        assert (r.status_code, r.json()["code"]) == (404, "whistle_not_found")
        for step, body, who in (
            ("acknowledgement", ack_body(), api.as_("insurer", A)),
            ("delivery", delivery_body(), api.as_("insurer", A)),
            ("closure", {"feedback": "satisfied"}, api.as_("enterprise", X)),
        ):
            r = await post(api, missing, step, body, who)
            assert (r.status_code, r.json()["code"]) == (404, "whistle_not_found")


class TestListing:
    async def test_newest_first_in_pages(self, api: InsuranceApi) -> None:
        ids = []
        for n in (311, 312, 313, 314, 315):
            await insure(api, n, A)
        for n in (311, 312, 313, 314, 315):
            ids.append((await raise_(api, make_uscc(n)))["id"])
            api.advance(timedelta(minutes=10))
        bureau = api.as_("officer")
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = await api.client.get("/whistles", params=params, headers=bureau)
            assert r.status_code == 200
            page = r.json()
            assert len(page["items"]) <= 2
            seen += [w["id"] for w in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(ids))

    async def test_a_malformed_cursor_or_filter_is_422(self, api: InsuranceApi) -> None:
        bureau = api.as_("officer")
        r = await api.client.get("/whistles", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=bureau)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor")
        r = await api.client.get("/whistles", params={"status": "lost"}, headers=bureau)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "status"
        r = await api.client.get("/whistles", params={"uscc": "91370200X"}, headers=bureau)
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "uscc"

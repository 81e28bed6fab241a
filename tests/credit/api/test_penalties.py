"""Credit API: recording penalty decisions and reading the publicity list, on SQLite and PostgreSQL.

The business date is pinned through the `business_today` dependency, so windows are exact and
a test can step past the end of a publicity period.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.db import unit_of_work
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit import ledger, service
from services.credit.config import CreditSettings
from services.credit.dependencies import business_today
from services.credit.main import create_app
from services.credit.models import CreditRecord
from tests.support import bearer, running

USCC_A = make_uscc(301)
USCC_B = make_uscc(302)
DECIDED = date(2026, 3, 10)  # a Tuesday; no holiday until 4 April
TODAY = date(2026, 3, 12)


def penalty_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uscc": USCC_A,
        "enterprise_name": "青岛海湾化工有限公司",
        "decision_number": "青应急罚〔2026〕12号",
        "decided_on": DECIDED.isoformat(),
        "legal_basis": "《中华人民共和国安全生产法》第一百零一条第（二）项",
        "violation_summary": "未对重大危险源进行定期检测、评估、监控",
        "fine_amount": "50000.00",
        "other_measures": "责令限期改正",
        "severity": "general",
        "source": "inspection",
    }
    body.update(overrides)
    return body


@dataclass
class Api:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    app: FastAPI
    issuer: DevIssuer

    def travel_to(self, day: date) -> None:
        """Make `day` the business date of every following request."""
        self.app.dependency_overrides[business_today] = lambda: day

    def as_(self, role: str, sub: str = "tester") -> dict[str, str]:
        return bearer(self.issuer, role, sub)

    @property
    def officer(self) -> dict[str, str]:
        return bearer(self.issuer, "officer", "officer-001")

    async def record(self, on: date = TODAY, **overrides: Any) -> dict[str, Any]:
        """Record a penalty as an officer on business date `on`; the created record."""
        self.travel_to(on)
        r = await self.client.post(
            "/penalties", json=penalty_body(**overrides), headers=self.officer
        )
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Api]:
    settings = CreditSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        background_enabled=False,
        consumers_enabled=False,
    )
    app = create_app(settings)
    async with running(app) as (client, runtime):
        api = Api(client, runtime, app, issuer)
        api.travel_to(TODAY)
        yield api


async def count(runtime: ServiceRuntime, table: sa.Table | type[CreditRecord]) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def outbox_rows(runtime: ServiceRuntime) -> list[Any]:
    async with runtime.session_factory() as session:
        table = runtime.tables.outbox
        return list((await session.execute(sa.select(table).order_by(table.c.id))).all())


async def nothing_written(api: Api) -> None:
    assert await count(api.runtime, CreditRecord) == 0
    assert await count(api.runtime, api.runtime.tables.outbox) == 0


class TestRecordPenalty:
    async def test_window_is_computed_stored_and_published_in_one_event(self, api: Api) -> None:
        r = await api.client.post("/penalties", json=penalty_body(), headers=api.officer)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["publicity_starts_on"] == "2026-03-12"
        assert body["publicity_ends_on"] == "2027-03-10"
        assert body["repair_eligible_on"] == "2026-06-11"
        assert body["publish_by"] == "2026-03-19"
        assert body["is_published_late"] is False
        assert body["is_in_publicity"] is True
        assert body["rule_pack_id"] == "ndrc-2023-58"
        assert body["rule_pack_version"] == "1"
        assert body["fine_amount"] == "50000.00"
        assert "自2026年6月11日起" in body["repair_notice"]
        assert (body["state"], body["ended_on"], body["end_reason"]) == ("published", None, None)

        async with api.runtime.session_factory() as session:
            row = await session.get(CreditRecord, body["id"])
        assert row is not None
        assert row.recorded_by == "officer:officer-001"
        assert (row.publicity_starts_on, row.publicity_ends_on, row.repair_eligible_on) == (
            date(2026, 3, 12),
            date(2027, 3, 10),
            date(2026, 6, 11),
        )
        assert (row.rule_pack_id, row.rule_pack_version) == ("ndrc-2023-58", "1")
        assert row.repair_notice == body["repair_notice"]
        assert row.repair_guide is not None
        assert row.repair_guide.startswith("信用修复明白纸")
        assert "罚款人民币50,000.00元的缴纳凭证" in row.repair_guide
        assert row.source_reference is None

        events = await outbox_rows(api.runtime)
        assert [e.type for e in events] == ["credit.penalty.published.v1"]
        assert events[0].subject == USCC_A
        assert events[0].data == {
            "record_id": body["id"],
            "uscc": USCC_A,
            "decision_number": "青应急罚〔2026〕12号",
            "severity": "general",
            "publicity_starts_on": "2026-03-12",
            "publicity_ends_on": "2027-03-10",
            "repair_eligible_on": "2026-06-11",
        }

    async def test_serious_penalty_has_the_longer_periods(self, api: Api) -> None:
        body = await api.record(severity="serious")
        assert body["publicity_ends_on"] == "2029-03-10"
        assert body["repair_eligible_on"] == "2027-03-11"
        assert "严重失信行为" in body["repair_notice"]

    async def test_late_entry_keeps_the_period_anchored_on_the_decision(self, api: Api) -> None:
        body = await api.record(on=date(2026, 3, 25))
        assert body["publicity_starts_on"] == "2026-03-25"
        assert body["publicity_ends_on"] == "2027-03-10"
        assert body["publish_by"] == "2026-03-19"
        assert body["is_published_late"] is True

    async def test_decision_number_is_stored_in_canonical_form(self, api: Api) -> None:
        body = await api.record(decision_number=" 青应急罚[2026]12号")
        assert body["decision_number"] == "青应急罚〔2026〕12号"

    @pytest.mark.parametrize("role", ["officer", "leader", "admin"])
    async def test_bureau_roles_record(self, api: Api, role: str) -> None:
        r = await api.client.post("/penalties", json=penalty_body(), headers=api.as_(role))
        assert r.status_code == 201, r.text

    @pytest.mark.parametrize("role", ["enterprise", "insurer", "department", "public"])
    async def test_others_are_forbidden(self, api: Api, role: str) -> None:
        r = await api.client.post("/penalties", json=penalty_body(), headers=api.as_(role, USCC_A))
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "forbidden"
        await nothing_written(api)

    async def test_a_token_is_required(self, api: Api) -> None:
        r = await api.client.post("/penalties", json=penalty_body())
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        r = await api.client.post(
            "/penalties", json=penalty_body(), headers={"Authorization": "Bearer not-a-jwt"}
        )
        assert r.status_code == 401
        assert r.json()["code"] == "invalid_token"
        await nothing_written(api)

    async def test_malformed_uscc_is_422_naming_the_field(self, api: Api) -> None:
        bad = USCC_A[:-1] + ("0" if USCC_A[-1] != "0" else "1")
        r = await api.client.post("/penalties", json=penalty_body(uscc=bad), headers=api.officer)
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "validation_failed"
        assert [e["field"] for e in problem["errors"]] == ["uscc"]
        assert problem["errors"][0]["rule"] == "uscc_invalid"
        await nothing_written(api)

    @pytest.mark.parametrize(
        ("overrides", "field", "rule"),
        [
            ({"decision_number": "青应急罚第12号"}, "decision_number", "decision_number_invalid"),
            ({"severity": "minor"}, "severity", "enum"),
            ({"source": "rumour"}, "source", "enum"),
            ({"fine_amount": "-1"}, "fine_amount", "greater_than_equal"),
            ({"fine_amount": "1.005"}, "fine_amount", "decimal_max_places"),
            ({"decided_on": "2026-02-30"}, "decided_on", "date_from_datetime_parsing"),
            ({"enterprise_name": ""}, "enterprise_name", "string_too_short"),
            ({"unexpected": 1}, "unexpected", "extra_forbidden"),
        ],
    )
    async def test_malformed_fields_are_422_naming_the_field(
        self, api: Api, overrides: dict[str, Any], field: str, rule: str
    ) -> None:
        r = await api.client.post("/penalties", json=penalty_body(**overrides), headers=api.officer)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["code"] == "validation_failed"
        assert [(e["field"], e["rule"]) for e in problem["errors"]] == [(field, rule)]
        await nothing_written(api)

    async def test_missing_field_is_named(self, api: Api) -> None:
        body = penalty_body()
        del body["legal_basis"]
        r = await api.client.post("/penalties", json=body, headers=api.officer)
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["legal_basis"]
        await nothing_written(api)

    @pytest.mark.parametrize(
        ("overrides", "field", "code"),
        [
            ({"decided_on": "2026-03-13"}, "decided_on", "decision_in_future"),
            ({"decided_on": "2025-03-11"}, "decided_on", "publicity_period_elapsed"),
            (
                {"fine_amount": None, "other_measures": None},
                "other_measures",
                "penalty_content_missing",
            ),
            (
                {"fine_amount": "0", "other_measures": "  "},
                "other_measures",
                "penalty_content_missing",
            ),
        ],
    )
    async def test_business_rules_are_named(
        self, api: Api, overrides: dict[str, Any], field: str, code: str
    ) -> None:
        r = await api.client.post("/penalties", json=penalty_body(**overrides), headers=api.officer)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert (r.json()["code"], r.json()["field"]) == (code, field)
        await nothing_written(api)

    async def test_last_day_of_the_maximum_period_may_still_be_published(self, api: Api) -> None:
        body = await api.record(decided_on="2025-03-12")
        assert body["publicity_starts_on"] == body["publicity_ends_on"] == "2026-03-12"

    async def test_duplicate_decision_number_is_409_in_any_bracket_form(self, api: Api) -> None:
        await api.record()
        r = await api.client.post(
            "/penalties",
            json=penalty_body(decision_number="青应急罚（2026）12号", uscc=USCC_B),
            headers=api.officer,
        )
        assert r.status_code == 409
        assert r.json()["code"] == "penalty_exists"
        assert r.json()["field"] == "decision_number"
        assert await count(api.runtime, CreditRecord) == 1
        assert await count(api.runtime, api.runtime.tables.outbox) == 1

    async def test_idempotency_key_replays_the_first_answer_once(self, api: Api) -> None:
        headers = {**api.officer, "Idempotency-Key": "penalty-retry-0001"}
        first = await api.client.post("/penalties", json=penalty_body(), headers=headers)
        second = await api.client.post("/penalties", json=penalty_body(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert await count(api.runtime, CreditRecord) == 1
        assert await count(api.runtime, api.runtime.tables.outbox) == 1
        reused = await api.client.post(
            "/penalties",
            json=penalty_body(decision_number="青应急罚〔2026〕13号"),
            headers=headers,
        )
        assert reused.status_code == 422
        assert reused.json()["code"] == "idempotency_key_reused"
        assert await count(api.runtime, CreditRecord) == 1

    async def test_failed_attempt_leaves_the_key_free(self, api: Api) -> None:
        headers = {**api.officer, "Idempotency-Key": "penalty-retry-0002"}
        bad = await api.client.post(
            "/penalties", json=penalty_body(decided_on="2026-03-13"), headers=headers
        )
        assert bad.status_code == 422
        assert await count(api.runtime, api.runtime.tables.idempotency) == 0
        good = await api.client.post("/penalties", json=penalty_body(), headers=headers)
        assert good.status_code == 201


class TestReadPenalties:
    async def test_public_sees_a_record_only_while_it_is_in_publicity(self, api: Api) -> None:
        # General penalty decided 1 June 2025: shown until 1 June 2026 inclusive.
        old = await api.record(
            on=date(2025, 6, 3),
            decided_on="2025-06-01",
            decision_number="青应急罚〔2025〕40号",
            uscc=USCC_B,
            enterprise_name="青岛北港物流有限公司",
        )
        new = await api.record(on=TODAY)

        api.travel_to(date(2026, 6, 1))
        listed = (await api.client.get("/penalties")).json()
        assert [p["id"] for p in listed["items"]] == [new["id"], old["id"]]
        assert (await api.client.get(f"/penalties/{old['id']}")).status_code == 200

        api.travel_to(date(2026, 6, 2))
        listed = (await api.client.get("/penalties")).json()
        assert [p["id"] for p in listed["items"]] == [new["id"]]
        gone = await api.client.get(f"/penalties/{old['id']}")
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"
        assert gone.json()["code"] == "penalty_not_found"
        # Another enterprise and other machine callers read as the public does.
        for headers in (api.as_("enterprise", USCC_A), api.as_("insurer", "PICC-QD")):
            assert (
                await api.client.get(f"/penalties/{old['id']}", headers=headers)
            ).status_code == 404

    async def test_bureau_and_the_enterprise_itself_see_ended_records(self, api: Api) -> None:
        old = await api.record(
            on=date(2025, 6, 3),
            decided_on="2025-06-01",
            decision_number="青应急罚〔2025〕40号",
            uscc=USCC_B,
        )
        new = await api.record(on=TODAY)
        api.travel_to(date(2026, 6, 2))
        for headers in (api.officer, api.as_("leader"), api.as_("admin")):
            listed = (await api.client.get("/penalties", headers=headers)).json()
            assert [p["id"] for p in listed["items"]] == [new["id"], old["id"]]
        own = await api.client.get(f"/penalties/{old['id']}", headers=api.as_("enterprise", USCC_B))
        assert own.status_code == 200
        assert own.json()["is_in_publicity"] is False
        mine = (
            await api.client.get(
                "/penalties", params={"uscc": USCC_B}, headers=api.as_("enterprise", USCC_B)
            )
        ).json()
        assert [p["id"] for p in mine["items"]] == [old["id"]]
        # Without a filter an enterprise sees the public list plus its own ended records.
        everything = (
            await api.client.get("/penalties", headers=api.as_("enterprise", USCC_B))
        ).json()
        assert [p["id"] for p in everything["items"]] == [new["id"], old["id"]]
        theirs = (
            await api.client.get(
                "/penalties", params={"uscc": USCC_B}, headers=api.as_("enterprise", USCC_A)
            )
        ).json()
        assert theirs["items"] == []

    async def test_in_publicity_filter(self, api: Api) -> None:
        old = await api.record(
            on=date(2025, 6, 3), decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号"
        )
        new = await api.record(on=TODAY)
        api.travel_to(date(2026, 6, 2))
        ended = (
            await api.client.get(
                "/penalties", params={"in_publicity": "false"}, headers=api.officer
            )
        ).json()
        assert [p["id"] for p in ended["items"]] == [old["id"]]
        current = (
            await api.client.get("/penalties", params={"in_publicity": "true"}, headers=api.officer)
        ).json()
        assert [p["id"] for p in current["items"]] == [new["id"]]
        public_ended = (await api.client.get("/penalties", params={"in_publicity": "false"})).json()
        assert public_ended["items"] == []

    async def test_search_by_uscc_and_name(self, api: Api) -> None:
        a = await api.record()
        b = await api.record(
            uscc=USCC_B,
            enterprise_name="青岛北港物流有限公司",
            decision_number="青应急罚〔2026〕13号",
        )
        by_uscc = (await api.client.get("/penalties", params={"uscc": USCC_B.lower()})).json()
        assert [p["id"] for p in by_uscc["items"]] == [b["id"]]
        by_name = (await api.client.get("/penalties", params={"name": "海湾"})).json()
        assert [p["id"] for p in by_name["items"]] == [a["id"]]
        both = (await api.client.get("/penalties", params={"name": "有限公司"})).json()
        assert {p["id"] for p in both["items"]} == {a["id"], b["id"]}
        # LIKE wildcards in the search text are literal characters.
        wildcard = (await api.client.get("/penalties", params={"name": "%"})).json()
        assert wildcard["items"] == []
        bad = await api.client.get("/penalties", params={"uscc": "91370200XXXX"})
        assert bad.status_code == 422
        assert [e["field"] for e in bad.json()["errors"]] == ["uscc"]

    async def test_record_is_readable_with_its_notice(self, api: Api) -> None:
        created = await api.record()
        r = await api.client.get(f"/penalties/{created['id']}")
        assert r.status_code == 200
        assert r.json() == created
        assert r.json()["repair_notice"].startswith("行政处罚信息信用修复告知书")
        assert (await api.client.get("/penalties/nope")).status_code == 404

    async def test_a_bad_token_on_a_public_read_is_401(self, api: Api) -> None:
        r = await api.client.get("/penalties", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401

    async def test_cursor_pagination_walks_every_record_once_newest_first(self, api: Api) -> None:
        decided = [date(2026, 3, d) for d in (2, 5, 5, 5, 9, 10)]
        for n, day in enumerate(decided):
            await api.record(
                decided_on=day.isoformat(),
                uscc=make_uscc(400 + n),
                decision_number=f"青应急罚〔2026〕{100 + n}号",
            )
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await api.client.get("/penalties", params=params)).json()
            seen += [p["decided_on"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted((d.isoformat() for d in decided), reverse=True)
        for bad in ("!!", "WyJ4Il0", "WyJub3QtYS1kYXRlIiwieCJd"):
            r = await api.client.get("/penalties", params={"cursor": bad})
            assert r.status_code == 422, bad
            assert r.json()["code"] == "invalid_cursor"

    async def test_items_show_whether_and_how_publicity_ended(self, api: Api) -> None:
        expired = await api.record(
            on=date(2025, 6, 3), decided_on="2025-06-01", decision_number="青应急罚〔2025〕40号"
        )
        repaired = await api.record(on=TODAY)
        current = await api.record(on=TODAY, decision_number="青应急罚〔2026〕13号")
        assert (current["state"], current["ended_on"], current["end_reason"]) == (
            "published",
            None,
            None,
        )
        assert current["is_repaired"] is False
        async with unit_of_work(api.runtime.session_factory) as session:
            assert await service.expire_records(session, api.runtime.outbox, TODAY) == 0
            row = await session.get(CreditRecord, repaired["id"])
            assert row is not None
            await ledger.end_publicity(
                session,
                api.runtime.outbox,
                row,
                reason="repaired",
                on=date(2026, 6, 15),
                actor="officer:officer-001",
                note="信用修复通过",
            )
            assert await service.expire_records(session, api.runtime.outbox, date(2026, 6, 2)) == 1
        api.travel_to(date(2026, 6, 20))
        listed = (await api.client.get("/penalties", headers=api.officer)).json()
        shown = {
            p["id"]: (p["state"], p["ended_on"], p["end_reason"], p["is_repaired"])
            for p in listed["items"]
        }
        assert shown == {
            current["id"]: ("published", None, None, False),
            repaired["id"]: ("ended", "2026-06-15", "repaired", True),
            expired["id"]: ("ended", "2026-06-02", "expired", False),
        }
        public = (await api.client.get("/penalties")).json()
        assert [p["id"] for p in public["items"]] == [current["id"]]

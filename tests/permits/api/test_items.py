"""Permits API: the versioned item catalogue, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.workdays import shanghai_today
from services.permits.config import PermitsSettings
from services.permits.main import create_app
from services.permits.models import ItemVersion
from services.permits.seed import SEED_ITEMS, SEEDED_BY
from tests.support import bearer, running

API = tuple[httpx.AsyncClient, ServiceRuntime]
CODE = "QD-TEST-001"
PUBLISHED = "permits.item.published.v1"


def item_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": CODE,
        "name": "危险化学品经营许可证变更（测试事项）",
        "legal_basis": "《危险化学品经营许可证管理办法》第十八条",
        "statutory_limit_days": 10,
        "promised_limit_days": 0,
        "requires_onsite_check": False,
        "requires_publicity": False,
        "pledge_allowed": False,
        "materials": [
            {"name": "变更申请表", "source": "applicant", "mandatory": True},
            {"name": "营业执照", "source": "shared", "mandatory": True},
        ],
        "service_guide": "简单变更事项“秒批”。",
        "department": "行政审批处",
        "contact_phone": "0532-85912102",
        "effective_on": (shanghai_today() - timedelta(days=30)).isoformat(),
    }
    body.update(overrides)
    return body


def version_body(effective_on: date, **overrides: Any) -> dict[str, Any]:
    body = item_body(effective_on=effective_on.isoformat(), **overrides)
    del body["code"]
    return body


def admin(issuer: DevIssuer) -> dict[str, str]:
    return bearer(issuer, "admin", "admin-001")


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings
) -> AsyncIterator[API]:
    settings = PermitsSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        consumers_enabled=False,
    )
    async with running(create_app(settings)) as pair:
        yield pair


async def versions_of(runtime: ServiceRuntime, code: str) -> list[ItemVersion]:
    async with runtime.session_factory() as session:
        rows = await session.scalars(
            sa.select(ItemVersion).where(ItemVersion.code == code).order_by(ItemVersion.version)
        )
        return list(rows.all())


async def events_about(runtime: ServiceRuntime, code: str) -> list[Any]:
    outbox = runtime.tables.outbox
    async with runtime.session_factory() as session:
        rows = await session.execute(
            sa.select(outbox).where(outbox.c.subject == code).order_by(outbox.c.id)
        )
        return list(rows.all())


async def count(runtime: ServiceRuntime, table: sa.Table | type[ItemVersion]) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


class TestSeededCatalogue:
    async def test_migration_publishes_the_seed_with_its_events(self, api: API) -> None:
        _, runtime = api
        async with runtime.session_factory() as session:
            rows = (await session.scalars(sa.select(ItemVersion))).all()
        assert sorted(r.code for r in rows) == sorted(i["code"] for i in SEED_ITEMS)
        assert {r.version for r in rows} == {1}
        assert {r.published_by for r in rows} == {SEEDED_BY}
        outbox = runtime.tables.outbox
        async with runtime.session_factory() as session:
            published = (await session.execute(sa.select(outbox))).all()
        assert {e.type for e in published} == {PUBLISHED}
        by_code = {e.subject: e.data for e in published}
        assert by_code.keys() == {r.code for r in rows}
        assert by_code["QD-AJ-005"]["approval_mode"] == "pledge"
        assert by_code["QD-AJ-005"]["version"] == 1


class TestPublishItem:
    async def test_admin_publishes_version_1_with_derived_mode_and_one_event(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        r = await client.post("/items", json=item_body(), headers=admin(issuer))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["code"] == CODE
        assert body["version"] == 1
        assert body["approval_mode"] == "instant"
        assert body["status"] == "published"
        assert body["is_zero_materials"] is False
        assert body["contact_phone"] == "0532-85912102"
        [row] = await versions_of(runtime, CODE)
        assert row.approval_mode == "instant"
        assert row.published_by == "admin:admin-001"
        assert row.materials[1] == {"name": "营业执照", "source": "shared", "mandatory": True}
        [event] = await events_about(runtime, CODE)
        assert event.type == PUBLISHED
        assert event.data == {
            "code": CODE,
            "version": 1,
            "name": "危险化学品经营许可证变更（测试事项）",
            "approval_mode": "instant",
            "effective_on": item_body()["effective_on"],
        }

    @pytest.mark.parametrize(
        ("flags", "mode"),
        [
            ({"requires_onsite_check": True, "pledge_allowed": True}, "pledge"),
            ({"requires_publicity": True}, "standard"),
            ({"requires_onsite_check": True, "requires_publicity": True}, "standard"),
        ],
    )
    async def test_mode_follows_the_flags(
        self, api: API, issuer: DevIssuer, flags: dict[str, bool], mode: str
    ) -> None:
        client, runtime = api
        r = await client.post("/items", json=item_body(**flags), headers=admin(issuer))
        assert r.status_code == 201, r.text
        assert r.json()["approval_mode"] == mode
        [event] = await events_about(runtime, CODE)
        assert event.data["approval_mode"] == mode

    async def test_approval_mode_cannot_be_typed_in(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        r = await client.post(
            "/items", json=item_body(approval_mode="instant"), headers=admin(issuer)
        )
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "validation_failed"
        assert [(e["field"], e["rule"]) for e in problem["errors"]] == [
            ("approval_mode", "extra_forbidden")
        ]
        assert await versions_of(runtime, CODE) == []
        assert await events_about(runtime, CODE) == []

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"code": "AJ-1"}, "code"),
            ({"contact_phone": "85912102"}, "contact_phone"),
            ({"statutory_limit_days": 0}, "statutory_limit_days"),
            ({"effective_on": "2026-02-30"}, "effective_on"),
            ({"materials": [{"name": "申请表", "source": "fax"}]}, "materials.0.source"),
            (
                {
                    "materials": [
                        {"name": "申请表", "source": "applicant"},
                        {"name": "申请表", "source": "shared"},
                    ]
                },
                "materials",
            ),
        ],
    )
    async def test_bad_input_is_422_naming_the_field_and_writes_nothing(
        self, api: API, issuer: DevIssuer, overrides: dict[str, Any], field: str
    ) -> None:
        client, runtime = api
        before = await count(runtime, runtime.tables.outbox)
        r = await client.post("/items", json=item_body(**overrides), headers=admin(issuer))
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == [field]
        assert await count(runtime, ItemVersion) == len(SEED_ITEMS)
        assert await count(runtime, runtime.tables.outbox) == before

    async def test_promise_beyond_the_statutory_limit_is_a_named_rule(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        r = await client.post(
            "/items",
            json=item_body(statutory_limit_days=10, promised_limit_days=11),
            headers={**admin(issuer), "Accept-Language": "zh-CN"},
        )
        assert r.status_code == 422
        problem = r.json()
        assert problem["code"] == "promised_limit_exceeds_statutory"
        assert problem["field"] == "promised_limit_days"
        assert problem["title"] == "不符合业务规则"
        assert await versions_of(runtime, CODE) == []

    async def test_duplicate_code_is_409(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        assert (await client.post("/items", json=item_body(), headers=admin(issuer))).is_success
        again = await client.post("/items", json=item_body(), headers=admin(issuer))
        assert again.status_code == 409
        assert again.json()["code"] == "item_exists"
        assert again.json()["field"] == "code"
        seeded = await client.post(
            "/items", json=item_body(code="QD-AJ-001"), headers=admin(issuer)
        )
        assert seeded.status_code == 409
        assert len(await versions_of(runtime, CODE)) == 1
        assert len(await versions_of(runtime, "QD-AJ-001")) == 1
        assert len(await events_about(runtime, CODE)) == 1

    @pytest.mark.parametrize("role", ["officer", "leader", "enterprise", "insurer"])
    async def test_only_admins_publish(self, api: API, issuer: DevIssuer, role: str) -> None:
        client, runtime = api
        r = await client.post("/items", json=item_body(), headers=bearer(issuer, role))
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"
        r = await client.post("/items", json=item_body())
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert await versions_of(runtime, CODE) == []

    async def test_idempotency_key_replays_first_answer_once(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        headers = {**admin(issuer), "Idempotency-Key": "item-create-0001"}
        first = await client.post("/items", json=item_body(), headers=headers)
        second = await client.post("/items", json=item_body(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert len(await versions_of(runtime, CODE)) == 1
        assert len(await events_about(runtime, CODE)) == 1
        reused = await client.post("/items", json=item_body(code="QD-TEST-002"), headers=headers)
        assert reused.status_code == 422
        assert reused.json()["code"] == "idempotency_key_reused"
        assert await versions_of(runtime, "QD-TEST-002") == []


class TestPublishVersion:
    async def test_scheduled_version_takes_over_on_its_effective_date(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        today = shanghai_today()
        assert (await client.post("/items", json=item_body(), headers=admin(issuer))).is_success
        r = await client.post(
            f"/items/{CODE}/versions",
            json=version_body(
                today + timedelta(days=10),
                promised_limit_days=1,
                requires_onsite_check=True,
                pledge_allowed=True,
            ),
            headers=admin(issuer),
        )
        assert r.status_code == 201, r.text
        assert r.json()["version"] == 2
        assert r.json()["approval_mode"] == "pledge"
        assert r.json()["status"] == "published"
        assert [e.data["version"] for e in await events_about(runtime, CODE)] == [1, 2]
        assert [v.version for v in await versions_of(runtime, CODE)] == [1, 2]

        now = await client.get(f"/items/{CODE}")
        assert now.status_code == 200
        assert (now.json()["version"], now.json()["approval_mode"]) == (1, "instant")
        eve = await client.get(f"/items/{CODE}", params={"on": str(today + timedelta(days=9))})
        assert eve.json()["version"] == 1
        day = await client.get(f"/items/{CODE}", params={"on": str(today + timedelta(days=10))})
        assert (day.json()["version"], day.json()["approval_mode"]) == (2, "pledge")

        history = (await client.get(f"/items/{CODE}/versions")).json()
        assert history["in_force_version"] == 1
        assert [(v["version"], v["status"]) for v in history["versions"]] == [
            (1, "published"),
            (2, "published"),
        ]
        later = await client.get(
            f"/items/{CODE}/versions", params={"on": str(today + timedelta(days=10))}
        )
        assert later.json()["in_force_version"] == 2
        assert [v["status"] for v in later.json()["versions"]] == ["retired", "published"]
        listed = await client.get(
            "/items", params={"q": "测试事项", "on": str(today + timedelta(days=10))}
        )
        assert [(i["code"], i["version"]) for i in listed.json()["items"]] == [(CODE, 2)]
        one = await client.get(
            f"/items/{CODE}/versions/1", params={"on": str(today + timedelta(days=10))}
        )
        assert (one.json()["version"], one.json()["status"]) == (1, "retired")

    async def test_effective_on_must_follow_the_latest_version(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        today = shanghai_today()
        await client.post("/items", json=item_body(), headers=admin(issuer))
        scheduled = today + timedelta(days=10)
        r = await client.post(
            f"/items/{CODE}/versions", json=version_body(scheduled), headers=admin(issuer)
        )
        assert r.status_code == 201
        for effective_on in (scheduled, today + timedelta(days=5)):
            r = await client.post(
                f"/items/{CODE}/versions", json=version_body(effective_on), headers=admin(issuer)
            )
            assert r.status_code == 422
            assert r.json()["code"] == "effective_on_not_after_latest"
            assert r.json()["field"] == "effective_on"
        r = await client.post(
            f"/items/{CODE}/versions",
            json=version_body(scheduled + timedelta(days=1)),
            headers=admin(issuer),
        )
        assert r.json()["version"] == 3
        assert len(await events_about(runtime, CODE)) == 3

    async def test_a_version_cannot_take_effect_in_the_past(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        await client.post("/items", json=item_body(), headers=admin(issuer))
        r = await client.post(
            f"/items/{CODE}/versions",
            json=version_body(shanghai_today() - timedelta(days=1)),
            headers=admin(issuer),
        )
        assert r.status_code == 422
        assert r.json()["code"] == "effective_on_in_past"
        assert len(await versions_of(runtime, CODE)) == 1
        assert len(await events_about(runtime, CODE)) == 1

    async def test_rules_and_validation_apply_to_versions(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        tomorrow = shanghai_today() + timedelta(days=1)
        too_slow = await client.post(
            "/items/QD-AJ-001/versions",
            json=version_body(tomorrow, statutory_limit_days=30, promised_limit_days=31),
            headers=admin(issuer),
        )
        assert too_slow.json()["code"] == "promised_limit_exceeds_statutory"
        typed = await client.post(
            "/items/QD-AJ-001/versions",
            json=version_body(tomorrow, approval_mode="instant"),
            headers=admin(issuer),
        )
        assert typed.status_code == 422
        assert [e["field"] for e in typed.json()["errors"]] == ["approval_mode"]
        assert len(await versions_of(runtime, "QD-AJ-001")) == 1

    async def test_unknown_code_is_404_problem(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        r = await client.post(
            "/items/QD-NONE-999/versions",
            json=version_body(shanghai_today() + timedelta(days=1)),
            headers={**admin(issuer), "Idempotency-Key": "version-unknown-1"},
        )
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "item_not_found"
        assert r.json()["instance"] == "/items/QD-NONE-999/versions"
        assert await versions_of(runtime, "QD-NONE-999") == []
        assert await count(runtime, runtime.tables.idempotency) == 0

    async def test_only_admins_publish_versions(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        body = version_body(shanghai_today() + timedelta(days=1))
        officer = await client.post(
            "/items/QD-AJ-001/versions", json=body, headers=bearer(issuer, "officer")
        )
        assert officer.status_code == 403
        anonymous = await client.post("/items/QD-AJ-001/versions", json=body)
        assert anonymous.status_code == 401

    async def test_idempotent_version_publication(self, api: API, issuer: DevIssuer) -> None:
        client, runtime = api
        body = version_body(shanghai_today() + timedelta(days=1))
        headers = {**admin(issuer), "Idempotency-Key": "version-0001"}
        first = await client.post("/items/QD-AJ-001/versions", json=body, headers=headers)
        second = await client.post("/items/QD-AJ-001/versions", json=body, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert [v.version for v in await versions_of(runtime, "QD-AJ-001")] == [1, 2]
        assert len(await events_about(runtime, "QD-AJ-001")) == 2
        elsewhere = await client.post("/items/QD-AJ-002/versions", json=body, headers=headers)
        assert elsewhere.json()["code"] == "idempotency_key_reused"

    async def test_concurrent_publications_make_exactly_one_version(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        body = version_body(shanghai_today() + timedelta(days=1))
        responses = await asyncio.gather(
            *(
                client.post("/items/QD-AJ-001/versions", json=body, headers=admin(issuer))
                for _ in range(6)
            )
        )
        outcomes = sorted((r.status_code, r.json()["code"]) for r in responses)
        assert outcomes[0] == (201, "QD-AJ-001")
        # The losers either raced (409) or arrived after the winner committed (422).
        assert set(outcomes[1:]) <= {
            (409, "item_version_conflict"),
            (422, "effective_on_not_after_latest"),
        }
        assert [v.version for v in await versions_of(runtime, "QD-AJ-001")] == [1, 2]
        assert [e.data["version"] for e in await events_about(runtime, "QD-AJ-001")] == [1, 2]

    async def test_concurrent_creations_of_one_code_make_one_item(
        self, api: API, issuer: DevIssuer
    ) -> None:
        client, runtime = api
        responses = await asyncio.gather(
            *(client.post("/items", json=item_body(), headers=admin(issuer)) for _ in range(4))
        )
        codes = sorted((r.status_code, r.json()["code"]) for r in responses)
        assert codes == [(201, CODE)] + [(409, "item_exists")] * 3
        assert len(await versions_of(runtime, CODE)) == 1
        assert len(await events_about(runtime, CODE)) == 1

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    async def test_published_versions_cannot_be_changed(
        self, api: API, issuer: DevIssuer, method: str
    ) -> None:
        client, runtime = api
        r = await client.request(
            method, "/items/QD-AJ-001", json=item_body(code="QD-AJ-001"), headers=admin(issuer)
        )
        assert r.status_code == 405
        assert r.headers["content-type"] == "application/problem+json"
        [row] = await versions_of(runtime, "QD-AJ-001")
        assert row.name == "危险化学品经营许可证核发（新办）"


class TestReadCatalogue:
    async def test_public_catalogue_shows_every_approval_mode(self, api: API) -> None:
        client, _ = api
        r = await client.get("/items", params={"limit": 200})
        assert r.status_code == 200
        items = {i["code"]: i for i in r.json()["items"]}
        assert items.keys() == {i["code"] for i in SEED_ITEMS}
        assert {i["approval_mode"] for i in items.values()} == {"instant", "pledge", "standard"}
        assert items["QD-AJ-001"]["approval_mode"] == "standard"
        assert items["QD-AJ-003"]["approval_mode"] == "instant"
        assert items["QD-AJ-005"]["approval_mode"] == "pledge"
        assert items["QD-AJ-005"]["contact_phone"].startswith("0532-")
        assert r.json()["next_cursor"] is None

    async def test_a_token_is_optional_for_reading(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        r = await client.get("/items/QD-AJ-005", headers=bearer(issuer, "enterprise", "x"))
        assert r.status_code == 200
        assert r.json()["name"] == "加油站危险化学品经营许可证延期（承诺制）"

    @pytest.mark.parametrize("mode", ["instant", "pledge", "standard"])
    async def test_filter_by_approval_mode(self, api: API, mode: str) -> None:
        client, _ = api
        r = await client.get("/items", params={"approval_mode": mode, "limit": 200})
        items = r.json()["items"]
        assert items
        assert {i["approval_mode"] for i in items} == {mode}

    async def test_unknown_mode_is_422_naming_the_parameter(self, api: API) -> None:
        client, _ = api
        r = await client.get("/items", params={"approval_mode": "fast"})
        assert r.status_code == 422
        assert [e["field"] for e in r.json()["errors"]] == ["approval_mode"]
        assert r.json()["errors"][0]["in"] == "query"

    async def test_search_by_name_substring(self, api: API) -> None:
        client, _ = api
        r = await client.get("/items", params={"q": "易制毒"})
        assert [i["code"] for i in r.json()["items"]] == ["QD-AJ-007", "QD-AJ-008"]
        # LIKE wildcards in the query are literal characters, not patterns.
        wildcard = await client.get("/items", params={"q": "%"})
        assert wildcard.json()["items"] == []

    async def test_cursor_pagination_walks_every_item_once(self, api: API) -> None:
        client, _ = api
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 5}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/items", params=params)).json()
            seen += [i["code"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(i["code"] for i in SEED_ITEMS)
        bad = await client.get("/items", params={"cursor": "!!"})
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_cursor"

    async def test_unknown_code_is_404_problem(self, api: API) -> None:
        client, _ = api
        for path in ("/items/QD-XX-999", "/items/QD-XX-999/versions", "/items/nope/versions/1"):
            r = await client.get(path, headers={"Accept-Language": "zh-CN"})
            assert r.status_code == 404, path
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "item_not_found"
            assert r.json()["title"] == "未找到"
        missing = await client.get("/items/QD-AJ-001/versions/2")
        assert missing.status_code == 404
        assert missing.json()["code"] == "item_version_not_found"

    async def test_an_item_not_yet_in_force(self, api: API, issuer: DevIssuer) -> None:
        client, _ = api
        start = shanghai_today() + timedelta(days=5)
        r = await client.post(
            "/items", json=item_body(effective_on=start.isoformat()), headers=admin(issuer)
        )
        assert r.status_code == 201
        assert r.json()["status"] == "published"
        early = await client.get(f"/items/{CODE}")
        assert early.status_code == 404
        assert early.json()["code"] == "item_not_in_force"
        assert start.isoformat() in early.json()["detail"]
        listed = await client.get("/items", params={"q": "测试事项"})
        assert listed.json()["items"] == []
        listed = await client.get("/items", params={"q": "测试事项", "on": start.isoformat()})
        assert [i["code"] for i in listed.json()["items"]] == [CODE]
        history = (await client.get(f"/items/{CODE}/versions")).json()
        assert history["in_force_version"] is None
        assert [v["status"] for v in history["versions"]] == ["published"]

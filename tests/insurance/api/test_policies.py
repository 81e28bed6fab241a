"""Insurance API: registering and reading policies, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app
from services.insurance.models import Policy
from tests.support import bearer, running
from tests.support.builders import policy_body as build_policy

USCC_A = make_uscc(101)
USCC_B = make_uscc(102)


def policy_body(**overrides: Any) -> dict[str, Any]:
    return build_policy(101, enterprise_name="青岛海湾化工有限公司", **overrides)


@pytest.fixture
async def api(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    settings = InsuranceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
    )
    async with running(create_app(settings)) as pair:
        yield pair


async def count(runtime: ServiceRuntime, table: sa.Table | type[Policy]) -> int:
    async with runtime.session_factory() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


class TestRegisterPolicy:
    async def test_policy_in_force_is_active_and_emits_one_event(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, runtime = api
        r = await client.post(
            "/policies", json=policy_body(), headers=bearer(issuer, "insurer", "PICC-QD")
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "active"
        assert body["insurer_id"] == "PICC-QD"
        assert body["activated_at"] is not None
        async with runtime.session_factory() as session:
            events = (await session.execute(sa.select(runtime.tables.outbox))).all()
        assert [e.type for e in events] == ["insurance.policy.activated.v1"]
        assert events[0].subject == USCC_A
        assert events[0].data["policy_id"] == body["id"]
        assert events[0].data["enterprise_name"] == "青岛海湾化工有限公司"

    async def test_future_policy_is_pending_without_event(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, runtime = api
        today = shanghai_today()
        r = await client.post(
            "/policies",
            json=policy_body(
                starts_on=(today + timedelta(days=5)).isoformat(),
                ends_on=(today + timedelta(days=300)).isoformat(),
            ),
            headers=bearer(issuer, "insurer", "PICC-QD"),
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "pending"
        assert await count(runtime, runtime.tables.outbox) == 0

    async def test_malformed_uscc_is_422_naming_the_field_and_writes_nothing(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, runtime = api
        bad = USCC_A[:-1] + ("0" if USCC_A[-1] != "0" else "1")
        r = await client.post(
            "/policies", json=policy_body(uscc=bad), headers=bearer(issuer, "insurer", "PICC-QD")
        )
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "validation_failed"
        assert [e["field"] for e in problem["errors"]] == ["uscc"]
        assert problem["errors"][0]["rule"] == "uscc_invalid"
        assert "check character" in problem["errors"][0]["message"]
        assert await count(runtime, Policy) == 0
        assert await count(runtime, runtime.tables.outbox) == 0

    @pytest.mark.parametrize(
        ("overrides", "field", "code"),
        [
            (
                {"ends_on": "2020-01-01", "starts_on": "2020-06-01"},
                "ends_on",
                "policy_period_invalid",
            ),
            ({"premium": "6000000.00"}, "premium", "premium_not_below_coverage"),
        ],
    )
    async def test_business_rules_are_named(
        self,
        api: tuple[httpx.AsyncClient, ServiceRuntime],
        issuer: DevIssuer,
        overrides: dict[str, str],
        field: str,
        code: str,
    ) -> None:
        client, runtime = api
        r = await client.post(
            "/policies", json=policy_body(**overrides), headers=bearer(issuer, "insurer", "PICC-QD")
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == code
        assert r.json()["field"] == field
        assert await count(runtime, Policy) == 0

    async def test_only_insurers_register(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, _ = api
        r = await client.post("/policies", json=policy_body(), headers=bearer(issuer, "officer"))
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"
        r = await client.post("/policies", json=policy_body())
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"

    async def test_duplicate_number_is_409(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, runtime = api
        headers = bearer(issuer, "insurer", "PICC-QD")
        assert (
            await client.post("/policies", json=policy_body(), headers=headers)
        ).status_code == 201
        r = await client.post("/policies", json=policy_body(), headers=headers)
        assert r.status_code == 409
        assert r.json()["code"] == "policy_exists"
        assert await count(runtime, Policy) == 1

    async def test_idempotency_key_replays_first_answer_once(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, runtime = api
        headers = {**bearer(issuer, "insurer", "PICC-QD"), "Idempotency-Key": "retry-0001-abc"}
        first = await client.post("/policies", json=policy_body(), headers=headers)
        second = await client.post("/policies", json=policy_body(), headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert await count(runtime, Policy) == 1
        assert await count(runtime, runtime.tables.outbox) == 1
        reused = await client.post(
            "/policies", json=policy_body(policy_number="AQ-OTHER"), headers=headers
        )
        assert reused.status_code == 422
        assert reused.json()["code"] == "idempotency_key_reused"
        assert await count(runtime, Policy) == 1


class TestReadPolicies:
    async def test_insurer_sees_own_policies_only(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, _ = api
        mine = await client.post(
            "/policies", json=policy_body(), headers=bearer(issuer, "insurer", "PICC-QD")
        )
        theirs = await client.post(
            "/policies",
            json=policy_body(uscc=USCC_B, policy_number="CP-9"),
            headers=bearer(issuer, "insurer", "CPIC-QD"),
        )
        picc = bearer(issuer, "insurer", "PICC-QD")
        assert (await client.get(f"/policies/{mine.json()['id']}", headers=picc)).status_code == 200
        other = await client.get(f"/policies/{theirs.json()['id']}", headers=picc)
        assert other.status_code == 403
        assert (await client.get("/policies/nope", headers=picc)).status_code == 404
        listing = await client.get("/policies", headers=picc)
        assert [p["policy_number"] for p in listing.json()["items"]] == ["AQ-2026-0101"]

    async def test_enterprise_reads_its_own(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, _ = api
        created = await client.post(
            "/policies", json=policy_body(), headers=bearer(issuer, "insurer", "PICC-QD")
        )
        own = await client.get(
            f"/policies/{created.json()['id']}", headers=bearer(issuer, "enterprise", USCC_A)
        )
        assert own.status_code == 200
        other = await client.get(
            f"/policies/{created.json()['id']}", headers=bearer(issuer, "enterprise", USCC_B)
        )
        assert other.status_code == 403
        listed = await client.get(
            "/policies", params={"uscc": USCC_B}, headers=bearer(issuer, "enterprise", USCC_A)
        )
        assert listed.status_code == 403

    async def test_cursor_pagination_walks_every_policy_once(
        self, api: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, _ = api
        headers = bearer(issuer, "insurer", "PICC-QD")
        for n in range(5):
            r = await client.post(
                "/policies",
                json=policy_body(policy_number=f"AQ-{n}", uscc=make_uscc(200 + n)),
                headers=headers,
            )
            assert r.status_code == 201
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (
                await client.get("/policies", params=params, headers=bearer(issuer, "officer"))
            ).json()
            seen += [p["policy_number"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"AQ-{n}" for n in range(5)]
        bad = await client.get(
            "/policies", params={"cursor": "!!"}, headers=bearer(issuer, "officer")
        )
        assert bad.status_code == 422
        assert bad.json()["code"] == "invalid_cursor"

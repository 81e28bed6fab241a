"""Replay: the source's `GET /events` and the consumer's ReplayClient, through the insurance app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.auth.service_token import REPLAY_SCOPE, ServiceTokenProvider
from kernel.devbroker import DevBroker
from kernel.events import parse_payload, registered_contracts
from kernel.replay import ReplayClient, ReplayPage, ReplayUnavailable
from kernel.settings import AuthSettings
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app
from tests.support import bearer, eventually, free_port, running, serving
from tests.support.builders import policy_body
from tests.support.seed import seed_insurer

# Every database here is the insurance service's, whose relay and replay endpoint are tested.
pytestmark = pytest.mark.database("insurance")

N_POLICIES = 5


def replay_headers(issuer: DevIssuer) -> dict[str, str]:
    token = issuer.mint("service", "svc:inspection", scopes=(REPLAY_SCOPE,))
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, issuer: DevIssuer, n: int) -> str:
    r = await client.post(
        "/policies", json=policy_body(500 + n), headers=bearer(issuer, "insurer", "PICC-QD")
    )
    assert r.status_code == 201, r.text
    policy_id: str = r.json()["id"]
    return policy_id


async def outbox_rows(runtime: ServiceRuntime) -> list[Any]:
    outbox = runtime.tables.outbox
    async with runtime.session_factory() as session:
        return list((await session.execute(sa.select(outbox).order_by(outbox.c.id))).all())


async def all_sequenced(runtime: ServiceRuntime, n: int, *, published: bool) -> list[Any] | None:
    rows = await outbox_rows(runtime)
    done = len(rows) == n and all(r.sequence is not None for r in rows)
    if published:
        done = done and all(r.published_at is not None for r in rows)
    return rows if done else None


def relay_settings(database_url: str, bootstrap: str, auth: AuthSettings) -> InsuranceSettings:
    return InsuranceSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        auth=auth,
        relay_enabled=True,
        relay_poll_seconds=0.05,
        kafka_timeout_seconds=3,
    )


@pytest.fixture
async def source(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime, list[str]]]:
    """The insurance service with its relay on, after five policies were published."""
    app = create_app(relay_settings(database_url, broker.bootstrap, auth_settings))
    async with running(app) as (client, runtime):
        await seed_insurer(runtime, "PICC-QD")
        ids = [await register(client, issuer, n) for n in range(1, N_POLICIES + 1)]
        await eventually(lambda: all_sequenced(runtime, N_POLICIES, published=True))
        yield client, runtime, ids


Source = tuple[httpx.AsyncClient, ServiceRuntime, list[str]]


async def delete_sequences(runtime: ServiceRuntime, *where: Any) -> None:
    outbox = runtime.tables.outbox
    async with runtime.session_factory() as session, session.begin():
        await session.execute(sa.delete(outbox).where(*where))


class TestAccess:
    async def test_no_token_is_401(self, source: Source) -> None:
        client, _, _ = source
        r = await client.get("/events")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize("role", ["officer", "admin", "insurer"])
    async def test_people_without_the_scope_are_403(
        self, source: Source, issuer: DevIssuer, role: str
    ) -> None:
        client, _, _ = source
        r = await client.get("/events", headers=bearer(issuer, role))
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "scope_required"

    async def test_service_with_other_scope_is_403(self, source: Source, issuer: DevIssuer) -> None:
        client, _, _ = source
        token = issuer.mint("service", "svc:inspection", scopes=("events:write",))
        r = await client.get("/events", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403

    @pytest.mark.parametrize("role", ["admin", "insurer", "department"])
    async def test_the_replay_scope_on_another_roles_token_is_403(
        self, source: Source, issuer: DevIssuer, role: str
    ) -> None:
        # Only a service reads another service's events, whatever scopes a token was given.
        client, _, _ = source
        token = issuer.mint(role, "someone", scopes=(REPLAY_SCOPE,))
        r = await client.get("/events", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403
        assert r.json()["code"] == "scope_required"

    async def test_service_token_with_replay_scope_is_200(
        self, source: Source, issuer: DevIssuer
    ) -> None:
        client, _, _ = source
        r = await client.get("/events", headers=replay_headers(issuer))
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"


class TestPages:
    async def test_after_zero_returns_every_event_in_order_with_head(
        self, source: Source, issuer: DevIssuer
    ) -> None:
        client, runtime, ids = source
        page = ReplayPage.model_validate(
            (
                await client.get("/events", params={"after": 0}, headers=replay_headers(issuer))
            ).json()
        )
        assert page.source == "/insurance"
        assert page.head == N_POLICIES
        assert [e.sequence for e in page.events] == list(range(1, N_POLICIES + 1))
        assert [e.data["policy_id"] for e in page.events] == ids
        rows = {r.event_id: r for r in await outbox_rows(runtime)}
        contract = registered_contracts()["insurance.policy.activated.v1"]
        for event in page.events:
            assert event.source == "/insurance"
            assert event.type == contract.TYPE
            assert event.subject == rows[event.id].subject
            assert event.time == rows[event.id].occurred_at
            parse_payload(event, contract)

    async def test_after_n_returns_the_rest(self, source: Source, issuer: DevIssuer) -> None:
        client, _, _ = source
        body = (
            await client.get("/events", params={"after": 3}, headers=replay_headers(issuer))
        ).json()
        assert [e["sequence"] for e in body["events"]] == [4, 5]
        assert body["head"] == N_POLICIES

    async def test_after_head_is_an_empty_page(self, source: Source, issuer: DevIssuer) -> None:
        client, _, _ = source
        for after in (N_POLICIES, N_POLICIES + 10):
            body = (
                await client.get("/events", params={"after": after}, headers=replay_headers(issuer))
            ).json()
            assert body["events"] == []
            assert body["head"] == N_POLICIES

    async def test_limit_bounds_the_page_and_paging_walks_everything(
        self, source: Source, issuer: DevIssuer
    ) -> None:
        client, _, _ = source
        seen: list[int] = []
        after = 0
        while True:
            body = (
                await client.get(
                    "/events", params={"after": after, "limit": 2}, headers=replay_headers(issuer)
                )
            ).json()
            assert len(body["events"]) <= 2
            if not body["events"]:
                break
            seen += [e["sequence"] for e in body["events"]]
            after = seen[-1]
        assert seen == list(range(1, N_POLICIES + 1))

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"after": -1}, "after"),
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"after": "x"}, "after"),
        ],
    )
    async def test_bad_parameters_are_422_problems(
        self, source: Source, issuer: DevIssuer, params: dict[str, Any], field: str
    ) -> None:
        client, _, _ = source
        r = await client.get("/events", params=params, headers=replay_headers(issuer))
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["code"] == "validation_failed"
        assert [(e["field"], e["in"]) for e in problem["errors"]] == [(field, "query")]


class TestRetention:
    async def test_purged_range_is_410(self, source: Source, issuer: DevIssuer) -> None:
        client, runtime, _ = source
        await delete_sequences(runtime, runtime.tables.outbox.c.sequence <= 2)
        for after in (0, 1):
            r = await client.get("/events", params={"after": after}, headers=replay_headers(issuer))
            assert r.status_code == 410
            assert r.headers["content-type"] == "application/problem+json"
            problem = r.json()
            assert problem["code"] == "replay_retention_exceeded"
            assert problem["oldest_available"] == 3
        rest = await client.get("/events", params={"after": 2}, headers=replay_headers(issuer))
        assert rest.status_code == 200
        assert [e["sequence"] for e in rest.json()["events"]] == [3, 4, 5]

    async def test_fully_purged_outbox_still_reports_the_lost_range(
        self, source: Source, issuer: DevIssuer
    ) -> None:
        client, runtime, _ = source
        await delete_sequences(runtime)
        r = await client.get("/events", params={"after": 2}, headers=replay_headers(issuer))
        assert r.status_code == 410, r.text
        assert r.json()["code"] == "replay_retention_exceeded"


async def test_sequenced_but_unpublished_events_are_served(
    database_url: str, auth_settings: AuthSettings, issuer: DevIssuer
) -> None:
    # No broker listens here: the relay numbers the rows, but can never publish them.
    dead = f"127.0.0.1:{free_port()}"
    app = create_app(relay_settings(database_url, dead, auth_settings))
    async with running(app) as (client, runtime):
        await seed_insurer(runtime, "PICC-QD")
        for n in (1, 2, 3):
            await register(client, issuer, n)
        rows = await eventually(lambda: all_sequenced(runtime, 3, published=False))
        assert all(r.published_at is None for r in rows)
        body = (await client.get("/events", headers=replay_headers(issuer))).json()
        assert [e["sequence"] for e in body["events"]] == [1, 2, 3]
        assert body["head"] == 3


async def test_unsequenced_events_are_not_served_yet(
    database_url: str, broker: DevBroker, auth_settings: AuthSettings, issuer: DevIssuer
) -> None:
    settings = relay_settings(database_url, broker.bootstrap, auth_settings)
    settings.relay_enabled = False
    async with running(create_app(settings)) as (client, runtime):
        await seed_insurer(runtime, "PICC-QD")
        await register(client, issuer, 1)
        assert len(await outbox_rows(runtime)) == 1
        body = (await client.get("/events", headers=replay_headers(issuer))).json()
        assert body == {"source": "/insurance", "events": [], "head": 0}


class TestReplayClient:
    async def test_fetches_pages_over_http(
        self,
        database_url: str,
        broker: DevBroker,
        auth_settings: AuthSettings,
        issuer: DevIssuer,
    ) -> None:
        app = create_app(relay_settings(database_url, broker.bootstrap, auth_settings))
        async with serving(app) as base:
            runtime: ServiceRuntime = app.state.runtime
            await seed_insurer(runtime, "PICC-QD")
            async with httpx.AsyncClient(base_url=base) as http:
                ids = [await register(http, issuer, n) for n in range(1, 4)]
            await eventually(lambda: all_sequenced(runtime, 3, published=True))
            replay = ReplayClient(
                {"insurance": base + "/"}, ServiceTokenProvider(auth_settings, "inspection")
            )
            try:
                assert replay.knows("insurance")
                assert not replay.knows("credit")
                page = await replay.fetch("insurance", after=0)
                assert page.head == 3
                assert [e.data["policy_id"] for e in page.events] == ids
                page = await replay.fetch("insurance", after=1, limit=1)
                assert [e.sequence for e in page.events] == [2]
                assert page.head == 3
                await delete_sequences(runtime, runtime.tables.outbox.c.sequence == 1)
                with pytest.raises(ReplayUnavailable, match="410"):
                    await replay.fetch("insurance", after=0)
            finally:
                await replay.aclose()

    async def test_unreachable_source_raises_replay_unavailable(
        self, auth_settings: AuthSettings
    ) -> None:
        replay = ReplayClient(
            {"insurance": f"http://127.0.0.1:{free_port()}"},
            ServiceTokenProvider(auth_settings, "inspection"),
        )
        try:
            with pytest.raises(ReplayUnavailable, match="unreachable"):
                await replay.fetch("insurance", after=0)
        finally:
            await replay.aclose()

    async def test_unknown_source_raises_replay_unavailable(
        self, auth_settings: AuthSettings
    ) -> None:
        replay = ReplayClient({}, ServiceTokenProvider(auth_settings, "inspection"))
        try:
            with pytest.raises(ReplayUnavailable, match="no replay URL"):
                await replay.fetch("insurance", after=0)
        finally:
            await replay.aclose()

    async def test_service_token_is_minted_with_the_replay_scope_and_cached(
        self, auth_settings: AuthSettings, issuer: DevIssuer
    ) -> None:
        from kernel.auth.verifier import TokenVerifier

        tokens = ServiceTokenProvider(auth_settings, "inspection")
        verifier = TokenVerifier(auth_settings)
        async with httpx.AsyncClient() as http:
            first = await tokens.token(http)
            assert await tokens.token(http) == first
        try:
            principal = await verifier.verify(first)
        finally:
            await verifier.aclose()
        assert principal.role.value == "service"
        assert principal.subject == "svc:inspection"
        assert principal.has_scope(REPLAY_SCOPE)

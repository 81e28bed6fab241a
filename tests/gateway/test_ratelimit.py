"""Rate limits: the bucket on a fake clock, the layer's classes and keys, then the gateway with
in-process buckets and with buckets shared through a real Redis."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import Bucket
from gateway.context import PRINCIPAL_STATE
from gateway.main import create_app
from gateway.paths import OPEN_PATHS as EXEMPT_PATHS
from gateway.ratelimit import (
    LocalBuckets,
    RateLimitLayer,
    RedisBuckets,
    classify,
)
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import ANONYMOUS, Principal, Role
from kernel.settings import AuthSettings
from tests.gateway.conftest import GatewayFactory
from tests.gateway.support import assert_problem, gateway_settings
from tests.support import bearer, eventually, free_port, serving

IN_CI = os.environ.get("CI", "").lower() == "true"
# One token in a thousand seconds: nothing refills while a test runs.
NO_REFILL = 0.001


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def limits(**buckets: tuple[float, int]) -> dict[str, Bucket]:
    base = {name: (NO_REFILL, 1000) for name in ("public", "read", "write", "token", "data")}
    return {
        name: Bucket(rate=rate, burst=burst) for name, (rate, burst) in {**base, **buckets}.items()
    }


def limits_setting(**buckets: tuple[float, int]) -> dict[str, dict[str, float]]:
    return {name: {"rate": rate, "burst": burst} for name, (rate, burst) in buckets.items()}


class TestLocalBucket:
    def test_a_burst_then_refusal_with_the_wait(self) -> None:
        clock = FakeClock()
        buckets = LocalBuckets(limits(read=(2.0, 3)), clock=clock)
        assert [buckets.take("read", "k") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert buckets.take("read", "k") == pytest.approx(0.5)
        clock.now += 0.2
        assert buckets.take("read", "k") == pytest.approx(0.3)  # 0.4 of a token back

    def test_it_refills_at_the_rate_and_never_past_the_burst(self) -> None:
        clock = FakeClock()
        buckets = LocalBuckets(limits(read=(2.0, 3)), clock=clock)
        for _ in range(3):
            buckets.take("read", "k")
        clock.now += 0.5
        assert buckets.take("read", "k") == 0.0
        assert buckets.take("read", "k") > 0
        clock.now += 3600
        assert [buckets.take("read", "k") for _ in range(3)] == [0.0, 0.0, 0.0]
        assert buckets.take("read", "k") > 0

    def test_keys_and_classes_have_their_own_buckets(self) -> None:
        clock = FakeClock()
        buckets = LocalBuckets(limits(read=(1.0, 1), write=(1.0, 1)), clock=clock)
        assert buckets.take("read", "a") == 0.0
        assert buckets.take("read", "a") > 0
        assert buckets.take("read", "b") == 0.0
        assert buckets.take("write", "a") == 0.0

    def test_idle_full_buckets_are_forgotten(self) -> None:
        clock = FakeClock()
        buckets = LocalBuckets(limits(read=(10.0, 5)), clock=clock, max_buckets=4)
        for key in "abcd":
            buckets.take("read", key)
        assert len(buckets) == 4
        clock.now += 1  # every bucket has refilled
        buckets.take("read", "e")
        assert len(buckets) == 1

    def test_memory_stays_bounded_when_every_bucket_is_busy(self) -> None:
        clock = FakeClock()
        buckets = LocalBuckets(limits(read=(NO_REFILL, 5)), clock=clock, max_buckets=8)
        for n in range(100):
            buckets.take("read", f"address-{n}")
            assert len(buckets) <= 8
        # The newest clients keep their state.
        for _ in range(4):
            buckets.take("read", "address-99")
        assert buckets.take("read", "address-99") > 0


def http_scope(
    path: str,
    method: str = "GET",
    principal: Principal | None = None,
    client: tuple[str, int] | None = ("203.0.113.5", 5000),
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Scope:
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers or [],
        "client": client,
    }
    if principal is not None:
        scope["state"] = {PRINCIPAL_STATE: principal}
    return scope


ENTERPRISE = Principal(Role.enterprise, "91370200MA3C0Y4K2X")
DEPARTMENT = Principal(Role.department, "qd-ema")


class TestClassify:
    @pytest.mark.parametrize(
        ("scope", "expected"),
        [
            (http_scope("/api/permits/x"), ("public", "203.0.113.5")),
            (http_scope("/api/permits/x", "POST", ANONYMOUS), ("public", "203.0.113.5")),
            (
                http_scope("/api/permits/x", principal=Principal(Role.public, "anonymous")),
                ("public", "203.0.113.5"),
            ),
            (http_scope("/api/permits/x", "GET", ENTERPRISE), ("read", ENTERPRISE.key)),
            (http_scope("/api/permits/x", "HEAD", ENTERPRISE), ("read", ENTERPRISE.key)),
            (http_scope("/api/permits/x", "OPTIONS", ENTERPRISE), ("read", ENTERPRISE.key)),
            (http_scope("/api/permits/x", "POST", ENTERPRISE), ("write", ENTERPRISE.key)),
            (http_scope("/api/permits/x", "DELETE", ENTERPRISE), ("write", ENTERPRISE.key)),
            (http_scope("/api/data/licences", "GET", DEPARTMENT), ("data", DEPARTMENT.key)),
            (http_scope("/api/data/licences"), ("public", "203.0.113.5")),
            (http_scope("/oauth/token", "POST"), ("token", "203.0.113.5")),
            (http_scope("/oauth/token", "POST", DEPARTMENT), ("token", "203.0.113.5")),
            (http_scope("/api/permits/x", client=None), ("public", "unknown")),
        ],
    )
    def test_route_class_and_key(self, scope: Scope, expected: tuple[str, str]) -> None:
        assert classify(scope) == expected

    def test_forwarded_for_is_not_trusted(self) -> None:
        scope = http_scope("/api/permits/x", headers=[(b"x-forwarded-for", b"192.0.2.1")])
        assert classify(scope) == ("public", "203.0.113.5")


@dataclass
class Inner:
    """The app behind the layer: counts what reaches it."""

    calls: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def as_caller(app: ASGIApp) -> ASGIApp:
    """Stands in for the identity layer: `X-Caller: role:subject` becomes the principal."""

    async def layer(scope: Scope, receive: Receive, send: Send) -> None:
        for key, value in scope["headers"]:
            if key == b"x-caller":
                role, _, sub = value.decode().partition(":")
                scope.setdefault("state", {})[PRINCIPAL_STATE] = Principal(Role(role), sub)
        await app(scope, receive, send)

    return layer


def layered(
    inner: Inner, bucket_limits: dict[str, Bucket], client: str = "203.0.113.5"
) -> httpx.AsyncClient:
    layer = RateLimitLayer(
        inner, limits=bucket_limits, local=LocalBuckets(bucket_limits), shared=None
    )
    transport = httpx.ASGITransport(app=as_caller(layer), client=(client, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


def caller(principal: Principal) -> dict[str, str]:
    return {"X-Caller": f"{principal.role.value}:{principal.subject}"}


class TestLayer:
    async def test_a_refusal_is_a_429_problem_that_never_reaches_the_app(self) -> None:
        inner = Inner()
        async with layered(inner, limits(read=(NO_REFILL, 2))) as c:
            for _ in range(2):
                assert (
                    await c.get("/api/permits/x", headers=caller(ENTERPRISE))
                ).status_code == 200
            response = await c.get(
                "/api/permits/x", headers={**caller(ENTERPRISE), "Accept-Language": "zh-CN"}
            )
        body = assert_problem(response, 429, "rate_limited")
        assert body["route_class"] == "read"
        assert body["title"] == "请求过于频繁"
        assert "read" in body["detail"]
        assert inner.calls == 2
        retry_after = int(response.headers["retry-after"])
        assert retry_after >= 1
        assert response.headers["ratelimit-limit"] == "2"
        assert response.headers["ratelimit-remaining"] == "0"
        assert response.headers["ratelimit-reset"] == str(retry_after)

    async def test_retry_after_is_whole_seconds_rounded_up(self) -> None:
        async with layered(Inner(), limits(public=(0.4, 1))) as c:
            await c.get("/x")
            response = await c.get("/x")
        assert response.headers["retry-after"] == "3"  # 2.5 s to the next token

    async def test_reads_exhausted_writes_still_pass(self) -> None:
        async with layered(Inner(), limits(read=(NO_REFILL, 2), write=(NO_REFILL, 2))) as c:
            for _ in range(2):
                await c.get("/api/permits/x", headers=caller(ENTERPRISE))
            assert (await c.get("/api/permits/x", headers=caller(ENTERPRISE))).status_code == 429
            assert (await c.post("/api/permits/x", headers=caller(ENTERPRISE))).status_code == 200
            assert (await c.put("/api/permits/x", headers=caller(ENTERPRISE))).status_code == 200
            writes = await c.post("/api/permits/x", headers=caller(ENTERPRISE))
            assert assert_problem(writes, 429, "rate_limited")["route_class"] == "write"

    async def test_principals_have_their_own_buckets(self) -> None:
        other = Principal(Role.enterprise, "91370200MA3C0Y4K3Y")
        async with layered(Inner(), limits(read=(NO_REFILL, 1))) as c:
            assert (await c.get("/x", headers=caller(ENTERPRISE))).status_code == 200
            assert (await c.get("/x", headers=caller(ENTERPRISE))).status_code == 429
            assert (await c.get("/x", headers=caller(other))).status_code == 200
            # The anonymous public at the same address is another bucket again.
            assert (await c.get("/x")).status_code == 200

    async def test_addresses_have_their_own_buckets(self) -> None:
        bucket_limits = limits(public=(NO_REFILL, 1))
        local = LocalBuckets(bucket_limits)
        inner = Inner()
        layer = RateLimitLayer(inner, limits=bucket_limits, local=local, shared=None)
        answers = []
        for address in ("203.0.113.5", "203.0.113.5", "203.0.113.6"):
            transport = httpx.ASGITransport(app=layer, client=(address, 1234))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as c:
                answers.append(
                    (await c.get("/x", headers={"X-Forwarded-For": "1.2.3.4"})).status_code
                )
        assert answers == [200, 429, 200]

    async def test_data_reads_and_the_token_endpoint_have_their_own_classes(self) -> None:
        async with layered(Inner(), limits(data=(NO_REFILL, 1), token=(NO_REFILL, 1))) as c:
            assert (
                await c.get("/api/data/licences", headers=caller(DEPARTMENT))
            ).status_code == 200
            refused = await c.get("/api/data/licences", headers=caller(DEPARTMENT))
            assert assert_problem(refused, 429, "rate_limited")["route_class"] == "data"
            assert (await c.get("/api/permits/x", headers=caller(DEPARTMENT))).status_code == 200
            assert (await c.post("/oauth/token")).status_code == 200
            refused = await c.post("/oauth/token", headers=caller(DEPARTMENT))
            assert assert_problem(refused, 429, "rate_limited")["route_class"] == "token"

    async def test_exempt_paths_are_never_limited(self) -> None:
        inner = Inner()
        async with layered(inner, limits(public=(NO_REFILL, 1))) as c:
            await c.get("/x")
            assert (await c.get("/x")).status_code == 429
            for path in sorted(EXEMPT_PATHS):
                for _ in range(3):
                    assert (await c.get(path)).status_code == 200, path
        assert inner.calls == 1 + 3 * len(EXEMPT_PATHS)


def counting_upstream() -> tuple[FastAPI, list[str]]:
    seen: list[str] = []
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(request: Request, path: str) -> Response:
        seen.append(request.method)
        return Response(b"{}", media_type="application/json")

    return app, seen


class TestGatewayInProcess:
    async def test_burst_then_429_and_the_upstream_is_spared(
        self, make_gateway: GatewayFactory
    ) -> None:
        upstream, seen = counting_upstream()
        async with AsyncExitStack() as stack:
            url = await stack.enter_async_context(serving(upstream))
            c = await stack.enter_async_context(
                make_gateway(
                    urls={"credit": url}, rate_limits=limits_setting(public=(NO_REFILL, 3))
                )
            )
            answers = [(await c.get("/api/credit/ratings")).status_code for _ in range(3)]
            refused = await c.get("/api/credit/ratings")
            refused_post = await c.post("/api/credit/ratings")
        assert answers == [200, 200, 200]
        body = assert_problem(refused, 429, "rate_limited")
        assert body["route_class"] == "public"
        assert body["instance"] == "/api/credit/ratings"
        assert refused.headers["x-request-id"] == body["request_id"]
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused_post.status_code == 429
        assert seen == ["GET"] * 3

    async def test_verified_callers_are_limited_per_principal_and_class(
        self, make_gateway: GatewayFactory, issuer: DevIssuer
    ) -> None:
        overrides = limits_setting(read=(NO_REFILL, 2), write=(NO_REFILL, 1))
        first = bearer(issuer, Role.enterprise, "91370200MA3C0Y4K2X")
        second = bearer(issuer, Role.enterprise, "91370200MA3C0Y4K3Y")
        async with make_gateway(rate_limits=overrides) as c:
            reads = [(await c.get("/api/permits/x", headers=first)).status_code for _ in range(3)]
            write = await c.post("/api/permits/x", headers=first)
            other = await c.get("/api/permits/x", headers=second)
            anonymous = await c.get("/api/permits/x")
        assert reads == [200, 200, 429]
        assert write.status_code == 200
        assert other.status_code == 200
        assert anonymous.status_code == 200

    async def test_refused_credentials_cost_the_address_a_public_token(
        self, make_gateway: GatewayFactory, issuer: DevIssuer
    ) -> None:
        # Guessing tokens or API keys is throttled like anonymous traffic from that address,
        # even though the identity layer answers before the rate-limit layer sees the request.
        async with make_gateway(rate_limits=limits_setting(public=(NO_REFILL, 2))) as c:
            bad_token = await c.get("/api/permits/x", headers={"Authorization": "Bearer nope"})
            bad_key = await c.get("/api/permits/x", headers={"X-API-Key": "qdk_" + "0" * 24 + "_x"})
            throttled = await c.get("/api/permits/x", headers={"Authorization": "Bearer nope"})
            anonymous = await c.get("/api/permits/x")
            verified = await c.get("/api/permits/x", headers=bearer(issuer, Role.officer))
        assert_problem(bad_token, 401, "invalid_token")
        assert_problem(bad_key, 401, "invalid_api_key")
        assert assert_problem(throttled, 429, "rate_limited")["route_class"] == "public"
        assert anonymous.status_code == 429
        assert verified.status_code == 200

    async def test_made_up_api_key_ids_stop_reaching_the_database(
        self, make_gateway: GatewayFactory
    ) -> None:
        # Every lookup of a key id the gateway has not cached costs the address a public token
        # before the database is read; a refusal costs another.
        async with make_gateway(rate_limits=limits_setting(public=(NO_REFILL, 3))) as c:
            identity = c._transport.app.state.identity  # type: ignore[attr-defined]
            lookups: list[str] = []
            load = identity._load

            async def counting_load(key_id: str, started: float) -> Any:
                lookups.append(key_id)
                return await load(key_id, started)

            identity._load = counting_load
            statuses = []
            for n in range(6):
                key = f"qdk_{n:024x}_" + "s" * 43
                statuses.append(
                    (await c.get("/api/permits/x", headers={"X-API-Key": key})).status_code
                )
        assert statuses == [401, 429, 429, 429, 429, 429]
        assert len(lookups) == 2

    async def test_exempt_paths_pass_when_the_bucket_is_empty(
        self, make_gateway: GatewayFactory
    ) -> None:
        async with make_gateway(rate_limits=limits_setting(public=(NO_REFILL, 1))) as c:
            await c.get("/api/permits/x")
            assert (await c.get("/api/permits/x")).status_code == 429
            for path in ("/health", "/ready", "/openapi.json", "/docs", "/redoc"):
                assert (await c.get(path)).status_code == 200, path
            for path in ("/docs/oauth2-redirect", "/.well-known/jwks.json"):
                assert (await c.get(path)).status_code != 429, path

    async def test_the_token_endpoint_has_its_own_budget(
        self, make_gateway: GatewayFactory
    ) -> None:
        overrides = limits_setting(public=(NO_REFILL, 1), token=(NO_REFILL, 2))
        async with make_gateway(rate_limits=overrides) as c:
            await c.get("/api/permits/x")
            assert (await c.get("/api/permits/x")).status_code == 429
            for _ in range(2):
                assert (await c.post("/oauth/token", data={})).status_code != 429
            refused = await c.post("/oauth/token", data={})
        assert assert_problem(refused, 429, "rate_limited")["route_class"] == "token"

    async def test_disabled_installs_no_layer(
        self,
        make_gateway: GatewayFactory,
        upstream_urls: dict[str, str],
        auth_settings: AuthSettings,
        gateway_database: str,
    ) -> None:
        overrides: dict[str, Any] = {
            "rate_limits_enabled": False,
            "rate_limits": limits_setting(public=(NO_REFILL, 1)),
        }
        async with make_gateway(**overrides) as c:
            answers = {(await c.get("/api/permits/x")).status_code for _ in range(5)}
        assert answers == {200}
        settings = gateway_settings(
            upstream_urls, auth=auth_settings, database_url=gateway_database, **overrides
        )
        edge = create_app(settings).state.edge
        assert not any(getattr(layer, "func", None) is RateLimitLayer for layer in edge)
        enabled = create_app(settings.model_copy(update={"rate_limits_enabled": True}))
        assert any(getattr(layer, "func", None) is RateLimitLayer for layer in enabled.state.edge)


@dataclass
class SharedRedis:
    url: str
    prefix: str
    client: Redis


async def _redis_answers(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture
async def redis() -> AsyncIterator[SharedRedis]:
    """The Redis at 127.0.0.1:6379 with a key prefix of this test's own (skipped when Redis is
    not running here; under CI=true a missing Redis fails the test instead)."""
    url = "redis://127.0.0.1:6379/0"
    if not await _redis_answers(url):
        if IN_CI:
            pytest.fail("Redis is not answering on 127.0.0.1:6379 (CI starts it in .ci/run)")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"test:ratelimit:{uuid.uuid4().hex}:"
    client = Redis.from_url(url)
    try:
        yield SharedRedis(url, prefix, client)
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def fallbacks() -> float:
    return REGISTRY.get_sample_value("gateway_rate_limit_redis_fallbacks_total") or 0.0


class TestGatewayWithRedis:
    async def test_two_gateways_sharing_redis_share_the_budget(
        self, make_gateway: GatewayFactory, redis: SharedRedis
    ) -> None:
        shared = {
            "redis_url": redis.url,
            "redis_key_prefix": redis.prefix,
            # Generous here so that a loaded machine never sends a request to the fallback.
            "redis_timeout": 2.0,
            "rate_limits": limits_setting(public=(NO_REFILL, 3)),
        }
        before = fallbacks()
        async with make_gateway(**shared) as a, make_gateway(**shared) as b:
            answers = [
                (await a.get("/api/permits/x")).status_code,
                (await b.get("/api/permits/x")).status_code,
                (await a.get("/api/permits/x")).status_code,
                (await b.get("/api/permits/x")).status_code,
                (await a.get("/api/permits/x")).status_code,
            ]
        assert answers == [200, 200, 200, 429, 429]
        assert fallbacks() == before
        (key,) = [k async for k in redis.client.scan_iter(match=f"{redis.prefix}*")]
        assert key == f"{redis.prefix}public:198.51.100.7".encode()
        ttl_ms = await redis.client.pttl(key)
        assert 0 < ttl_ms <= 3 / NO_REFILL * 1000 + 1000

    async def test_two_gateways_without_redis_each_have_their_own(
        self, make_gateway: GatewayFactory
    ) -> None:
        overrides = {"rate_limits": limits_setting(public=(NO_REFILL, 3))}
        async with make_gateway(**overrides) as a, make_gateway(**overrides) as b:
            answers_a = [(await a.get("/api/permits/x")).status_code for _ in range(4)]
            answers_b = [(await b.get("/api/permits/x")).status_code for _ in range(4)]
        assert answers_a == answers_b == [200, 200, 200, 429]

    async def test_the_shared_bucket_refills_on_the_servers_clock(self, redis: SharedRedis) -> None:
        bucket_limits = limits(read=(1.0, 2))
        shared = RedisBuckets(
            redis.url,
            limits=bucket_limits,
            prefix=redis.prefix,
            timeout=2.0,
            fallback=LocalBuckets(bucket_limits),
        )
        await shared.start()
        try:
            before = fallbacks()
            assert [await shared.take("read", "p") for _ in range(2)] == [0.0, 0.0]
            assert 0 < await shared.take("read", "p") <= 1.0
            key = f"{redis.prefix}read:p"
            saved = await redis.client.hgetall(key)
            assert float(saved[b"tokens"]) < 1
            # As if 1.5 s had passed on the Redis server since the last take.
            await redis.client.hset(key, "at", f"{float(saved[b'at']) - 1.5:.6f}")
            assert await shared.take("read", "p") == 0.0
            assert fallbacks() == before
        finally:
            await shared.stop()

    async def test_a_flushed_script_is_loaded_again(
        self, make_gateway: GatewayFactory, redis: SharedRedis
    ) -> None:
        before = fallbacks()
        async with make_gateway(
            redis_url=redis.url,
            redis_key_prefix=redis.prefix,
            redis_timeout=2.0,
            rate_limits=limits_setting(public=(NO_REFILL, 2)),
        ) as c:
            assert (await c.get("/api/permits/x")).status_code == 200
            await redis.client.script_flush()
            assert (await c.get("/api/permits/x")).status_code == 200
            assert (await c.get("/api/permits/x")).status_code == 429
        assert fallbacks() == before

    async def test_an_unreachable_redis_falls_back_to_in_process_buckets(
        self, make_gateway: GatewayFactory
    ) -> None:
        before = fallbacks()
        async with (
            make_gateway(
                redis_url=f"redis://127.0.0.1:{free_port()}/0",
                rate_limits=limits_setting(public=(NO_REFILL, 3)),
            ) as c,
            asyncio.timeout(10),
        ):
            answers = [(await c.get("/api/permits/x")).status_code for _ in range(4)]
        # Traffic flows, and the limit still holds (per gateway, for the outage).
        assert answers == [200, 200, 200, 429]
        assert fallbacks() - before == 4

    @pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
    async def test_a_redis_that_stops_and_comes_back(
        self, make_gateway: GatewayFactory, tmp_path: Any
    ) -> None:
        port = free_port()
        url = f"redis://127.0.0.1:{port}/0"

        async def start_redis() -> asyncio.subprocess.Process:
            process = await asyncio.create_subprocess_exec(
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
                stdout=asyncio.subprocess.DEVNULL,
            )
            await eventually(lambda: _redis_answers(url), timeout=10)
            return process

        async def stop_redis(process: asyncio.subprocess.Process) -> None:
            process.terminate()
            await process.wait()

        process = await start_redis()
        try:
            async with make_gateway(
                redis_url=url,
                redis_timeout=2.0,
                rate_limits=limits_setting(public=(NO_REFILL, 1000)),
            ) as c:
                before = fallbacks()
                assert (await c.get("/api/permits/x")).status_code == 200
                assert fallbacks() == before
                await stop_redis(process)
                async with asyncio.timeout(10):
                    for _ in range(5):
                        assert (await c.get("/api/permits/x")).status_code == 200
                assert fallbacks() - before == 5
                process = await start_redis()
                counter = Redis.from_url(url)
                try:

                    async def decided_in_redis() -> bool:
                        await c.get("/api/permits/x")
                        return bool(await counter.exists("gateway:ratelimit:public:198.51.100.7"))

                    # Tried again after the pause that follows a failure.
                    await eventually(decided_in_redis, timeout=10, interval=0.2)
                    settled = fallbacks()
                    assert (await c.get("/api/permits/x")).status_code == 200
                    assert fallbacks() == settled
                finally:
                    await counter.aclose()
        finally:
            if process.returncode is None:
                await stop_redis(process)

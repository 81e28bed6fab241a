"""The gateway's reverse proxy and health, against small real upstream apps served over HTTP."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, ClassVar

import httpx
import pytest

from gateway.config import UPSTREAM_NAMES, GatewaySettings
from gateway.main import create_app
from gateway.proxy import BUFFERED_RESPONSE_BYTES, InvalidPath, check_path
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role
from kernel.errors import PROBLEM_JSON, NotFound
from kernel.settings import AuthSettings
from tests.gateway.support import (
    assert_problem,
    gateway_settings,
    running_gateway,
    seen,
    upstream_app,
)
from tests.support import bearer, free_port, serving

TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@asynccontextmanager
async def gateway(urls: dict[str, str], **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app (lifespan running) pointed at `urls`, driven in-process."""
    async with running_gateway(settings_for(urls, **overrides)) as c:
        yield c


# The module's gateway database and trusted key, set once by the fixture below.
_ENV: dict[str, Any] = {}


def settings_for(urls: dict[str, str], **overrides: Any) -> GatewaySettings:
    return gateway_settings(urls, auth=_ENV["auth"], database_url=_ENV["database_url"], **overrides)


@pytest.fixture(scope="module", autouse=True)
def _gateway_environment(gateway_database: str, auth_settings: AuthSettings) -> None:
    _ENV.update(auth=auth_settings, database_url=gateway_database)


@pytest.fixture
async def client(upstream_urls: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(upstream_urls) as c:
        yield c


@pytest.fixture(scope="module")
def token_issuer(issuer: DevIssuer) -> DevIssuer:
    return issuer


class TestForwarding:
    @pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    async def test_method_path_query_and_body_reach_the_service(
        self, client: httpx.AsyncClient, method: str
    ) -> None:
        content = b"" if method == "GET" else b'{"decision": "approve"}'
        response = await client.request(
            method,
            "/api/permits/licences/42/decision?x=1&y=a%20b&y=c",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200
        echoed = response.json()
        assert echoed["service"] == "permits"
        assert echoed["method"] == method
        assert echoed["path"] == "/licences/42/decision"
        assert echoed["query"] == "x=1&y=a%20b&y=c"
        assert echoed["body"] == content.decode()
        assert seen(echoed, "content-type") == ["application/json"]

    async def test_head_answers_headers_without_a_body(self, client: httpx.AsyncClient) -> None:
        head = await client.head("/api/credit/big/1234")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == "1234"

    @pytest.mark.parametrize("service", UPSTREAM_NAMES)
    async def test_each_service_is_routed_to_its_own_upstream(
        self, client: httpx.AsyncClient, service: str
    ) -> None:
        response = await client.get(f"/api/{service}/anything")
        assert response.json()["service"] == service

    async def test_the_service_root_and_encoded_segments_are_forwarded_as_sent(
        self, client: httpx.AsyncClient
    ) -> None:
        root = await client.get("/api/inspection/")
        assert root.json()["raw_path"] == "/"
        encoded = await client.get("/api/inspection/enterprises/a%2Fb%20c")
        assert encoded.json()["raw_path"] == "/enterprises/a%2Fb%20c"

    async def test_a_large_body_within_the_limit_is_forwarded_whole(
        self, client: httpx.AsyncClient
    ) -> None:
        content = bytes(range(256)) * 4096  # 1 MiB, every byte value
        response = await client.post("/api/insurance/policies", content=content)
        assert response.json()["body"].encode("latin-1") == content

    async def test_authorization_is_forwarded_untouched(
        self, client: httpx.AsyncClient, token_issuer: DevIssuer
    ) -> None:
        headers = bearer(token_issuer, Role.officer, "officer-007")
        response = await client.get("/api/permits/licences", headers=headers)
        assert seen(response.json(), "authorization") == [headers["Authorization"]]

    async def test_hop_by_hop_request_headers_are_stripped(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/api/permits/licences",
            headers=[
                ("Connection", "keep-alive, X-Hop-Secret"),
                ("X-Hop-Secret", "must-not-pass"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Trailer", "X-Checksum"),
                ("Upgrade", "h2c"),
                ("Proxy-Authorization", "Basic c2VjcmV0"),
                ("Proxy-Connection", "keep-alive"),
                ("X-Custom", "one"),
                ("X-Custom", "two"),
                ("X-Applicant", "张三".encode()),
            ],
        )
        echoed = response.json()
        received = {k for k, _ in echoed["headers"]}
        for name in (
            "x-hop-secret",
            "keep-alive",
            "te",
            "trailer",
            "upgrade",
            "proxy-authorization",
            "proxy-connection",
        ):
            assert name not in received, name
        assert seen(echoed, "connection") in ([], ["keep-alive"])  # aiohttp's own, if any
        assert seen(echoed, "x-custom") == ["one", "two"]
        assert seen(echoed, "x-applicant") == ["张三".encode().decode("latin-1")]

    async def test_host_is_the_upstreams_and_forwarded_headers_describe_the_caller(
        self, client: httpx.AsyncClient, upstream_urls: dict[str, str]
    ) -> None:
        response = await client.get(
            "/api/permits/x",
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "evil.example"},
        )
        echoed = response.json()
        assert seen(echoed, "host") == [upstream_urls["permits"].removeprefix("http://")]
        assert seen(echoed, "x-forwarded-for") == ["203.0.113.7, 198.51.100.7"]
        assert seen(echoed, "x-forwarded-host") == ["gateway.test"]
        assert seen(echoed, "x-forwarded-proto") == ["http"]

    async def test_the_proxy_adds_no_client_headers_of_its_own(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/api/permits/x", content=b"raw", headers={"User-Agent": "inspector-app/2.1"}
        )
        echoed = response.json()
        assert seen(echoed, "user-agent") == ["inspector-app/2.1"]
        assert seen(echoed, "content-type") == []

    async def test_many_concurrent_requests_share_the_pool(
        self, upstream_urls: dict[str, str]
    ) -> None:
        async with gateway(upstream_urls, pool_size=4) as c:
            responses = await asyncio.gather(*(c.get(f"/api/credit/n/{i}") for i in range(40)))
        assert [r.json()["path"] for r in responses] == [f"/n/{i}" for i in range(40)]


class TestRequestContext:
    async def test_a_request_id_is_generated_echoed_and_propagated(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/permits/x")
        request_id = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
        assert seen(response.json(), "x-request-id") == [request_id]

    async def test_the_callers_request_id_is_kept(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/permits/x", headers={"X-Request-ID": "mobile-7f3a"})
        assert response.headers.get_list("x-request-id") == ["mobile-7f3a"]
        assert seen(response.json(), "x-request-id") == ["mobile-7f3a"]

    async def test_a_malformed_request_id_is_replaced(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/permits/x", headers={"X-Request-ID": "a b <script>"})
        request_id = response.headers["x-request-id"]
        assert request_id != "a b <script>"
        assert seen(response.json(), "x-request-id") == [request_id]

    async def test_error_bodies_quote_the_request_id(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/nosuch/x")
        assert response.json()["request_id"] == response.headers["x-request-id"]

    async def test_a_valid_traceparent_and_its_tracestate_pass_through(
        self, client: httpx.AsyncClient
    ) -> None:
        parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        response = await client.get(
            "/api/permits/x", headers={"traceparent": parent, "tracestate": "vendor=1"}
        )
        echoed = response.json()
        (forwarded,) = seen(echoed, "traceparent")
        # Same trace, continued by the gateway's client span (a child of the caller's span).
        assert forwarded.split("-")[1] == parent.split("-")[1]
        assert forwarded.split("-")[2] != parent.split("-")[2]
        assert seen(echoed, "tracestate") == ["vendor=1"]

    async def test_a_trace_is_started_when_none_is_sent(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/permits/x")
        (parent,) = seen(response.json(), "traceparent")
        assert TRACEPARENT.fullmatch(parent)

    async def test_an_invalid_traceparent_restarts_the_trace(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/api/permits/x",
            headers={
                "traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "tracestate": "vendor=1",
            },
        )
        echoed = response.json()
        (parent,) = seen(echoed, "traceparent")
        assert TRACEPARENT.fullmatch(parent)
        assert not parent.startswith("00-0000")
        assert seen(echoed, "tracestate") == []


class TestUpstreamAnswers:
    @pytest.mark.parametrize("status", [400, 404, 409, 412, 422])
    async def test_client_errors_pass_through_unchanged(
        self, client: httpx.AsyncClient, upstream_urls: dict[str, str], status: int
    ) -> None:
        async with httpx.AsyncClient() as plain:
            direct = await plain.get(f"{upstream_urls['permits']}/problem/{status}")
        response = await client.get(f"/api/permits/problem/{status}")
        assert response.status_code == status
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["etag"] == '"v7"'
        assert response.content == direct.content

    async def test_an_upstream_5xx_is_relayed_not_replaced(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/credit/x?_status=503")
        assert response.status_code == 503
        assert response.json()["service"] == "credit"

    async def test_hop_by_hop_response_headers_are_stripped_and_repeats_kept(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/permits/hop")
        assert response.status_code == 200
        assert response.content == b"part-1;part-2"
        for name in ("x-hop-secret", "keep-alive", "proxy-authenticate", "transfer-encoding"):
            assert name not in response.headers, name
        assert response.headers["x-upstream"] == "permits"
        assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]

    async def test_upstream_cookies_are_never_replayed_to_other_callers(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.get("/api/permits/hop")
        client.cookies.clear()
        response = await client.get("/api/permits/x")
        assert seen(response.json(), "cookie") == []

    @pytest.mark.parametrize("size", [10, BUFFERED_RESPONSE_BYTES + 1, 3 * 1024 * 1024])
    async def test_small_and_large_answers_arrive_whole(
        self, client: httpx.AsyncClient, size: int
    ) -> None:
        response = await client.get(f"/api/inspection/big/{size}")
        assert response.status_code == 200
        assert response.headers["content-length"] == str(size)
        assert response.content == b"x" * size

    async def test_compressed_answers_are_relayed_compressed(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/insurance/gzip")
        assert response.headers["content-encoding"] == "gzip"
        assert response.text == "compressed answer"


class TestFailures:
    async def test_an_unknown_service_is_404_naming_it(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/payroll/x")
        body = assert_problem(response, 404, "unknown_service")
        assert body["service"] == "payroll"
        assert "payroll" in body["detail"]

    @pytest.mark.parametrize(
        "path",
        [
            "/api/permits/events",
            "/api/permits/events?after=0",
            "/api/credit/events/",
            "/api/inspection//events",
            "/api/insurance/%65vents",
            "/api/permits/Events",
            "/api/inspection/metrics",
        ],
    )
    async def test_internal_endpoints_are_never_forwarded(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        assert_problem(await client.get(path), 404, "not_found")

    async def test_dot_segments_are_refused(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/api/permits/x/%2e%2e/events"), 400, "invalid_path")
        with pytest.raises(InvalidPath):
            check_path("licences/../events")
        with pytest.raises(NotFound):
            check_path("events/latest")

    async def test_a_body_over_the_limit_is_413(self, upstream_urls: dict[str, str]) -> None:
        async with gateway(upstream_urls, max_body_bytes=1024) as c:
            declared = await c.post("/api/permits/x", content=b"a" * 1025)
            assert_problem(declared, 413, "payload_too_large")

            async def chunked() -> AsyncIterator[bytes]:
                for _ in range(4):
                    yield b"b" * 400

            streamed = await c.post("/api/permits/x", content=chunked())
            assert_problem(streamed, 413, "payload_too_large")
            at_limit = await c.post("/api/permits/x", content=b"c" * 1024)
            assert at_limit.status_code == 200

    async def test_a_content_length_int_cannot_parse_is_never_a_500(
        self, upstream_urls: dict[str, str]
    ) -> None:
        # "²" is a digit to str.isdigit, and int() refuses over 4300 digits; a front server
        # should refuse both, but the gateway must not rely on it.
        async with gateway(upstream_urls, max_body_bytes=1024) as c:
            superscript = await c.post(
                "/api/permits/x", content=b"ab", headers={b"content-length": b"\xb2"}
            )
            huge = await c.post(
                "/api/permits/x", content=b"ab", headers={"content-length": "9" * 5000}
            )
        assert superscript.status_code == 200
        assert_problem(huge, 413, "payload_too_large")

    async def test_an_upstream_that_is_down_is_503_naming_it(
        self, upstream_urls: dict[str, str]
    ) -> None:
        urls = {**upstream_urls, "credit": f"http://127.0.0.1:{free_port()}"}
        async with gateway(urls, connect_timeout=1.0) as c, asyncio.timeout(5):
            response = await c.get("/api/credit/ratings")
        body = assert_problem(response, 503, "upstream_unavailable")
        assert body["upstream"] == "credit"
        assert "credit" in body["detail"]
        assert response.headers["retry-after"] == "5"

    async def test_an_upstream_that_does_not_resolve_is_503(
        self, upstream_urls: dict[str, str]
    ) -> None:
        urls = {**upstream_urls, "insurance": "http://insurance.invalid:8004"}
        async with gateway(urls, connect_timeout=1.0) as c, asyncio.timeout(5):
            response = await c.get("/api/insurance/policies")
        assert assert_problem(response, 503, "upstream_unavailable")["upstream"] == "insurance"

    async def test_a_slow_upstream_is_504(self, upstream_urls: dict[str, str]) -> None:
        async with gateway(upstream_urls, read_timeout=0.3) as c, asyncio.timeout(5):
            response = await c.get("/api/inspection/x?_sleep=1.5")
            body = assert_problem(response, 504, "upstream_timeout")
            assert body["upstream"] == "inspection"
            # The pool recovers: the next request is served normally.
            assert (await c.get("/api/inspection/x")).status_code == 200

    async def test_an_unknown_gateway_path_is_a_problem_404(
        self, client: httpx.AsyncClient
    ) -> None:
        assert_problem(await client.get("/nope"), 404, "not_found")

    async def test_trace_is_not_a_proxied_method(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.request("TRACE", "/api/permits/x"), 405, "method_not_allowed")


class TestHealth:
    async def test_all_upstreams_ready_is_200(
        self, client: httpx.AsyncClient, upstream_urls: dict[str, str]
    ) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert list(body["upstreams"]) == list(UPSTREAM_NAMES)
        for name, entry in body["upstreams"].items():
            assert entry["status"] == "ok"
            assert entry["url"] == upstream_urls[name]
            assert entry["latency_ms"] >= 0

    async def test_one_upstream_down_is_503_degraded(self, upstream_urls: dict[str, str]) -> None:
        urls = {**upstream_urls, "credit": f"http://127.0.0.1:{free_port()}"}
        async with gateway(urls, health_timeout=1.0) as c, asyncio.timeout(5):
            response = await c.get("/health")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["status"] == "degraded"
        assert body["upstreams"]["credit"]["status"] == "unavailable"
        assert body["upstreams"]["credit"]["error"]
        assert {n: e["status"] for n, e in body["upstreams"].items() if n != "credit"} == {
            "permits": "ok",
            "inspection": "ok",
            "insurance": "ok",
        }

    async def test_an_upstream_that_is_not_ready_is_reported(
        self, upstream_urls: dict[str, str]
    ) -> None:
        async with AsyncExitStack() as stack:
            not_ready = await stack.enter_async_context(
                serving(upstream_app("insurance", ready=False))
            )
            c = await stack.enter_async_context(gateway({**upstream_urls, "insurance": not_ready}))
            response = await c.get("/health")
        assert response.status_code == 503
        entry = response.json()["upstreams"]["insurance"]
        assert entry["status"] == "not_ready"
        assert entry["http_status"] == 503

    async def test_the_gateway_is_ready_once_its_sessions_are_open(
        self, client: httpx.AsyncClient, upstream_urls: dict[str, str]
    ) -> None:
        assert (await client.get("/ready")).json()["status"] == "ready"
        # Without its lifespan the gateway has no sessions: not ready, and it says so.
        app = create_app(settings_for({}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
            assert_problem(await c.get("/ready"), 503, "not_ready")
            assert_problem(await c.get("/api/permits/x"), 503, "not_ready")


class TestSecurityHeaders:
    EXPECTED: ClassVar[dict[str, str]] = {
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
    }

    @pytest.mark.parametrize(
        "path", ["/health", "/ready", "/api/permits/x", "/api/permits/problem/412", "/nope"]
    )
    async def test_every_answer_carries_them(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        for name, value in self.EXPECTED.items():
            assert response.headers.get_list(name) == [value], name
        (csp,) = response.headers.get_list("content-security-policy")
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp

    async def test_docs_work_for_the_gateways_own_routes(self, client: httpx.AsyncClient) -> None:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
        assert docs.headers["x-frame-options"] == "DENY"
        schema = (await client.get("/openapi.json")).json()
        assert {"/health", "/ready"} <= set(schema["paths"])
        # The proxy's catch-all is not an operation of its own (the services document theirs).
        assert "/api/{service}/{path}" not in schema["paths"]


class TestOverRealHttp:
    async def test_the_served_gateway_sends_one_date_and_server_header(
        self, upstream_urls: dict[str, str]
    ) -> None:
        app = create_app(settings_for(upstream_urls))
        async with serving(app) as base_url, httpx.AsyncClient() as c:
            response = await c.get(f"{base_url}/api/permits/hop")
        assert response.content == b"part-1;part-2"
        assert len(response.headers.get_list("date")) == 1
        assert len(response.headers.get_list("server")) == 1
        assert "keep-alive" not in response.headers

    async def test_an_upstream_breaking_off_mid_answer_aborts_the_callers_answer(
        self, upstream_urls: dict[str, str]
    ) -> None:
        async def half_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()
            writer.close()

        broken = await asyncio.start_server(half_answer, "127.0.0.1", 0)
        port = broken.sockets[0].getsockname()[1]
        app = create_app(settings_for({**upstream_urls, "credit": f"http://127.0.0.1:{port}"}))
        try:
            async with serving(app) as base_url, httpx.AsyncClient() as c:
                # A truncated body must not look complete to the caller.
                with pytest.raises(httpx.RemoteProtocolError):
                    await c.get(f"{base_url}/api/credit/x")
        finally:
            broken.close()
            await broken.wait_closed()

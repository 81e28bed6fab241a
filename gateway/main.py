"""The gateway app: upstream sessions in the lifespan, edge headers, health, the proxy."""

from __future__ import annotations

import asyncio
import gc
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Literal

import aiohttp
import orjson
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from opentelemetry.sdk.trace import SpanProcessor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.aggregate import install_aggregation
from gateway.config import UPSTREAM_NAMES, GatewaySettings, get_settings
from gateway.context import GatewayRuntime, require, runtime_of
from gateway.identity import install_identity
from gateway.models import AUDIT
from gateway.openapi import install_openapi
from gateway.paths import OPEN_PATHS
from gateway.portal import install_portal, is_portal_path
from gateway.portal.rendering import PORTAL_CSP
from gateway.proxy import (
    Upstream,
    UpstreamFastPath,
    Upstreams,
    install_proxy,
    proxy_route,
    upstreams_of,
)
from gateway.ratelimit import install_rate_limits
from gateway.sharing_router import install_sharing
from kernel.audit_api import audit_router
from kernel.auth.principal import Role
from kernel.errors import document_problems, install_problem_handlers, problem_response
from kernel.http_metrics import HttpMetricsMiddleware, RouteRecorder
from kernel.logs import RequestLogMiddleware, name_service
from kernel.tracing import FASTAPI_TELEMETRY_OFF, ServerSpanMiddleware, Tracing, make_tracing

Header = tuple[bytes, bytes]
# Wraps the app in one pure-ASGI layer; see GatewayApp.build_middleware_stack.
EdgeLayer = Callable[[ASGIApp], ASGIApp]

# Ids we accept from callers: enough for UUIDs and common tracer ids, nothing that could forge
# a log line or a header.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
# W3C Trace Context level 1, version 00; all-zero trace or parent ids are invalid.
_TRACEPARENT = re.compile(rb"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")

# API answers are data, never documents: nothing may load, frame or submit from them.
API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc (FastAPI's defaults) load from jsdelivr and run an inline bootstrap.
DOCS_CSP = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    b"font-src https://fonts.gstatic.com; "
    b"img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    b"connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; "
    b"form-action 'self'"
)
_SECURITY_HEADERS: tuple[Header, ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_SECURITY_NAMES = frozenset(k for k, _ in _SECURITY_HEADERS) | {b"content-security-policy"}


def new_traceparent() -> bytes:
    """A fresh W3C traceparent starting a trace at the gateway (sampled, so it can be seen)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01".encode()


class RequestContextMiddleware:
    """Every request carries an X-Request-ID and a valid traceparent; the id is echoed back.

    Both are written into the request's headers, so the proxy forwards them and error bodies
    quote the same id the caller receives. With `start_traces` false an invalid or missing
    traceparent is only removed: the tracing layer inside starts the trace with a real root
    span (an invented parent would be a span no backend ever receives).
    """

    def __init__(self, app: ASGIApp, *, start_traces: bool = True) -> None:
        self.app = app
        self._start_traces = start_traces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[Header] = scope["headers"]
        request_id: bytes | None = None
        ids = traces = 0
        trace_ok = False
        for key, value in headers:
            if key == b"x-request-id":
                ids += 1
                if ids == 1 and _REQUEST_ID.fullmatch(value):
                    request_id = value
            elif key == b"traceparent":
                traces += 1
                trace_ok = traces == 1 and _TRACEPARENT.fullmatch(value) is not None
        if request_id is None or ids > 1 or not trace_ok:
            kept = [
                (k, v)
                for k, v in headers
                if k != b"x-request-id" and (trace_ok or k not in (b"traceparent", b"tracestate"))
            ]
            if request_id is None:
                request_id = uuid.uuid4().hex.encode()
            kept.append((b"x-request-id", request_id))
            if not trace_ok and self._start_traces:
                # An unparseable parent restarts the trace; its tracestate goes with it.
                kept.append((b"traceparent", new_traceparent()))
            scope = dict(scope, headers=kept)
        echo: Header = (b"x-request-id", request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"),
                    echo,
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


class SecurityHeadersMiddleware:
    """Browser hardening headers on every answer, the gateway's values over any upstream's."""

    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self._docs_paths = frozenset(docs_paths)
        self._api = (*_SECURITY_HEADERS, (b"content-security-policy", API_CSP))
        self._docs = (*_SECURITY_HEADERS, (b"content-security-policy", DOCS_CSP))
        # The portal's pages load their own stylesheet and script and submit GET forms.
        self._page = (*_SECURITY_HEADERS, (b"content-security-policy", PORTAL_CSP.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self._docs_paths:
            added = self._docs
        elif is_portal_path(path):
            added = self._page
        else:
            added = self._api

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() not in _SECURITY_NAMES),
                    *added,
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class GatewayApp(FastAPI):
    """FastAPI with the edge middleware outside Starlette's error handler, so that even a 500
    answer carries the security headers and the request id."""

    def build_middleware_stack(self) -> ASGIApp:
        docs_paths = [
            p for p in (self.docs_url, self.redoc_url, self.swagger_ui_oauth2_redirect_url) if p
        ]
        inner = super().build_middleware_stack()
        # Innermost, in front of the router: proxied paths skip the route scan.
        node = inner
        while getattr(node, "app", None) is not self.router:
            node = node.app  # type: ignore[attr-defined]
        # The edge layers copy the scope, so the route matched in here is handed out through
        # the metrics slot (kernel/http_metrics.py).
        node.app = RouteRecorder(  # type: ignore[attr-defined]
            UpstreamFastPath(self.router, proxy_route(self), UPSTREAM_NAMES)
        )
        # The edge layers (CORS, identity, rate limits) in the order they were installed, the
        # first outermost. They answer their own refusals as problem+json.
        edge: list[EdgeLayer] = getattr(self.state, "edge", [])
        for layer in reversed(edge):
            inner = layer(inner)
        # Outside the edge layers, so their refusals (401, 429) are counted too; inside the
        # request-id layer, which adds nothing to measure. Proxied routes are labelled per
        # upstream (/api/permits/{path}), still a bounded set.
        expand = {"service": frozenset(UPSTREAM_NAMES)}
        inner = HttpMetricsMiddleware(inner, service="gateway", expand=expand)
        # Inside the server span (its ids on every line), outside the metrics layer (its route).
        inner = RequestLogMiddleware(inner, service="gateway", expand=expand)
        # Inside the request-id layer, which has made the caller's traceparent valid or new:
        # the server span continues that trace, and its route is the metrics layer's.
        tracing: Tracing | None = getattr(self.state, "tracing", None)
        if tracing is not None:
            inner = ServerSpanMiddleware(
                inner, tracer=tracing.tracer, expand=expand, expose_root=True
            )
        inner = RequestContextMiddleware(inner, start_traces=tracing is None)
        return SecurityHeadersMiddleware(inner, docs_paths=docs_paths)


UpstreamStatus = Literal["ok", "not_ready", "unavailable", "timeout"]


class UpstreamHealth(BaseModel):
    """One upstream's answer to `GET /ready`."""

    status: UpstreamStatus
    url: str
    latency_ms: float
    # The proxy's circuit breaker for this upstream; the probe itself bypasses it, so a
    # recovered service shows "ok" here while the circuit waits for its trial request.
    circuit: Literal["closed", "open", "half_open"] = "closed"
    http_status: int | None = None
    error: str | None = None


class GatewayHealth(BaseModel):
    """Every upstream's readiness; `degraded` when any of them is not ready."""

    status: Literal["ok", "degraded"]
    upstreams: dict[str, UpstreamHealth]


async def probe(upstream: Upstream, timeout: float) -> UpstreamHealth:
    """Ask one upstream whether it is ready, within `timeout` seconds."""
    started = time.perf_counter()
    status: UpstreamStatus
    http_status: int | None = None
    error: str | None = None
    try:
        async with upstream.session.get(
            upstream.base_url + "/ready",
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            await response.read()
            http_status = response.status
        status = "ok" if 200 <= http_status < 300 else "not_ready"
    except TimeoutError as exc:
        status, error = "timeout", f"no answer within {timeout:g} s ({type(exc).__name__})"
    except aiohttp.ClientError as exc:
        status, error = "unavailable", f"{type(exc).__name__}: {exc}"
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return UpstreamHealth(
        status=status,
        url=upstream.base_url,
        latency_ms=latency_ms,
        http_status=http_status,
        error=error,
    )


def _json(body: BaseModel, status: int = 200) -> Response:
    return Response(
        orjson.dumps(body.model_dump(mode="json", exclude_none=True)),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _audit_log(request: Request) -> tuple[AsyncEngine, sa.Table]:
    return runtime_of(request).engine, AUDIT


def ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/health",
        summary="Readiness of every upstream service",
        response_model=GatewayHealth,
        responses={503: {"model": GatewayHealth, "description": "Some upstream is not ready"}},
    )
    async def health(request: Request) -> Response:
        upstreams = upstreams_of(request)
        timeout = upstreams.settings.health_timeout
        listed = list(upstreams)
        results = await asyncio.gather(*(probe(u, timeout) for u in listed))
        for upstream, result in zip(listed, results, strict=True):
            result.circuit = upstreams.breaker(upstream.name).state.value
        report = GatewayHealth(
            status="ok" if all(r.status == "ok" for r in results) else "degraded",
            upstreams={u.name: r for u, r in zip(listed, results, strict=True)},
        )
        return _json(report, 200 if report.status == "ok" else 503)

    @router.get("/ready", summary="Readiness of the gateway itself (upstream sessions open)")
    async def ready(request: Request) -> Response:
        upstreams: Upstreams | None = getattr(request.app.state, "upstreams", None)
        if upstreams is None or not upstreams.is_open:
            return problem_response(
                request,
                503,
                "not_ready",
                "Not ready",
                "the gateway's upstream sessions are not open",
                title_zh="服务未就绪",
            )
        return Response(
            orjson.dumps({"status": "ready", "service": "gateway"}),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        # For the cluster's Prometheus; the public ingress should not route this path.
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


# What a browser frontend may send and read across origins.
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept-Language",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "X-API-Key",
    "X-Request-ID",
    "traceparent",
    "tracestate",
]
CORS_EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "ETag",
    "Location",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]


def cors_layer(inner: ASGIApp, *, origins: list[str]) -> ASGIApp:
    """CORS for the configured frontends only; bearer tokens, not cookies, so no credentials."""
    return CORSMiddleware(
        inner,
        allow_origins=origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )


# The problem statuses of the gateway's own route dependencies (gateway/context.py), for its
# OpenAPI document (kernel.errors.document_problems).
GATEWAY_DEPENDENCY_PROBLEMS = {
    "gateway.context:require.<locals>.guard": (401, 403),
    "gateway.context:runtime_of": (503,),
    "gateway.context:session_of": (503,),
}


def edge_problems(path: str) -> tuple[int, ...]:
    """What the edge layers answer on a path before its route runs: two credentials at once
    (400), bad credentials (401), a spent rate limit (429), an API-key lookup without its
    database (503). Open paths skip them all."""
    return () if path in OPEN_PATHS else (400, 401, 429, 503)


def create_app(
    settings: GatewaySettings | None = None, *, span_processors: Sequence[SpanProcessor] = ()
) -> FastAPI:
    """The gateway: the single public entry in front of the four services.

    `span_processors` receive the gateway's spans beside its configured exporter (tests pass
    an in-memory one).
    """
    settings = settings or get_settings()
    name_service("gateway")
    tracing = make_tracing(
        "gateway",
        exporter=settings.trace_exporter,
        sample_ratio=settings.trace_sample_ratio,
        span_processors=span_processors,
    )
    runtime = GatewayRuntime(settings, Upstreams(settings, tracing.tracer))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        app.state.runtime = runtime
        app.state.upstreams = runtime.upstreams
        # Long-lived start-up objects out of the cyclic collector's reach (see kernel/app.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.upstreams = None
            app.state.runtime = None
            await runtime.stop()
            # Flushed, not shut down: a test may run the same app's lifespan again.
            await asyncio.to_thread(tracing.flush)

    app = GatewayApp(
        title="Gateway",
        description=(
            "The single public entry: routes `/api/{service}/...` to the permits, credit, "
            "inspection and insurance services."
        ),
        version="0.1.0",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY_OFF,
    )
    app.state.settings = settings
    app.state.tracing = tracing
    app.state.edge = []
    install_problem_handlers(app)
    if settings.cors_origins:
        app.state.edge.append(partial(cors_layer, origins=settings.cors_origins))
    app.include_router(ops_router())
    # The gateway's own routes come before the proxy's catch-all `/api/{service}/{path}`.
    install_identity(app, runtime)
    install_rate_limits(app, runtime)
    install_aggregation(app, runtime)
    install_sharing(app, runtime)
    app.include_router(
        audit_router(require(Role.leader, Role.admin), _audit_log, prefix="/api/gateway")
    )
    install_portal(app)
    install_openapi(app, runtime)
    install_proxy(app)
    document_problems(app, GATEWAY_DEPENDENCY_PROBLEMS, edge_problems)
    return app


app = create_app()

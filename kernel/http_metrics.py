"""Per-route HTTP metrics for every app, as pure ASGI middleware.

Labels are bounded: the route's path TEMPLATE (never the raw path), "unmatched" when no route
matched, the method and the status code. The label children are cached per combination, so the
hot path is two dict lookups, one counter increment and one histogram observation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template and status code",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by route template",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

UNMATCHED = "unmatched"
# Where inner layers may record the matched route when they copy the scope (the gateway's
# edge layers rebuild it): the slot survives `dict(scope, ...)`, the router's writes do not.
ROUTE_SLOT = "kernel.http_metrics.route"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(
    route: Any, path_params: Mapping[str, Any], expand: Mapping[str, frozenset[str]]
) -> str:
    """The route's path template; a parameter named in `expand` is replaced by its value when
    that value is one of the allowed few (the gateway's upstream names), so the label stays
    bounded but still tells `/api/permits/...` from `/api/credit/...`."""
    if route is None:
        return UNMATCHED
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    for name, allowed in expand.items():
        value = path_params.get(name)
        if isinstance(value, str) and value in allowed:
            template = template.replace("{" + name + "}", value)
    return template


class RouteRecorder:
    """Copies the matched route into the metrics slot; wrap the router with it where outer
    layers hand down a copied scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            slot = scope.get(ROUTE_SLOT)
            if slot is not None:
                slot[0] = scope.get("route")
                slot[1] = scope.get("path_params")


class HttpMetricsMiddleware:
    """Counts and times every HTTP request; an exception escaping the app counts as a 500."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        expand: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.app = app
        self.service = service
        self._expand = dict(expand or {})
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        slot: list[Any] = [None, None]
        scope[ROUTE_SLOT] = slot
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = slot[0] if slot[0] is not None else scope.get("route")
            params = slot[1] if slot[0] is not None else scope.get("path_params")
            self._record(scope["method"], route, params or {}, status, started)

    def _record(
        self, method: str, route: Any, params: Mapping[str, Any], status: int, started: float
    ) -> None:
        # An arbitrary method would be a label per attacker's whim.
        method = method if method in _METHODS else "OTHER"
        template = route_template(route, params, self._expand)
        key = (method, template, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = HTTP_REQUESTS.labels(self.service, method, template, str(status))
            self._counters[key] = counter
        counter.inc()
        timer_key = (method, template)
        timer = self._timers.get(timer_key)
        if timer is None:
            timer = HTTP_DURATION.labels(self.service, method, template)
            self._timers[timer_key] = timer
        timer.observe(time.perf_counter() - started)

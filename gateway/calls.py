"""The gateway's own calls to the services (aggregation, data sets): JSON in, JSON out,
bounded in time, and never raising for an upstream's failure: the caller decides what a
missing part means."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
import orjson

from gateway.proxy import Upstreams, client_span
from gateway.resilience import FAILURE_STATUSES, SAFE_METHODS, send_with_retries
from kernel.tracing import end_span, replace_trace_headers


@dataclass(frozen=True)
class CallResult:
    """What one upstream call gave: a status and its JSON body, or why there is none."""

    upstream: str
    status: int | None  # None: no HTTP answer at all
    body: Any = None
    error: str | None = None  # unavailable | timeout | bad_response | circuit_open

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None


async def call_json(
    upstreams: Upstreams,
    upstream: str,
    path: str,
    *,
    method: str = "GET",
    token: str | None = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> CallResult:
    """`method path` on `upstream` with an optional bearer token, within `timeout` seconds
    (retries included), through the upstream's circuit breaker."""
    target = upstreams.get(upstream)
    if target is None:
        return CallResult(upstream, None, error="unavailable")
    sent = dict(headers or {})
    sent.setdefault("Accept", "application/json")
    if token:
        sent["Authorization"] = f"Bearer {token}"
    retry = method in SAFE_METHODS or any(k.lower() == "idempotency-key" for k in sent)
    settings = upstreams.settings
    breaker = target.breaker
    permit = breaker.admit()
    if permit is None:
        return CallResult(upstream, None, error="circuit_open")
    url = target.base_url + path
    span = client_span(upstreams, target, method, url)
    # The caller's traceparent (forwarded by the routes for correlation) gives way to this
    # call's span: the service's spans are children of the gateway's, not its siblings.
    traced = dict(replace_trace_headers(sent.items(), span))
    try:
        async with asyncio.timeout(timeout):
            response = await send_with_retries(
                partial(
                    target.session.request,
                    method,
                    url,
                    params=dict(params or {}),
                    headers=traced,
                    allow_redirects=False,
                ),
                retries=settings.retries if retry else 0,
                backoff_seconds=settings.retry_backoff_seconds,
            )
            async with response:
                raw = await response.read()
                status = response.status
    except TimeoutError as exc:
        breaker.record(permit, ok=False)
        end_span(span, exc)
        return CallResult(upstream, None, error="timeout")
    except aiohttp.ClientError as exc:
        breaker.record(permit, ok=False)
        end_span(span, exc)
        return CallResult(upstream, None, error=f"unavailable: {type(exc).__name__}")
    except BaseException as exc:
        breaker.release(permit)
        end_span(span, exc)
        raise
    span.set_attribute("http.response.status_code", status)
    end_span(span, f"HTTP {status}" if status >= 500 else None)
    breaker.record(permit, ok=status not in FAILURE_STATUSES)
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return CallResult(upstream, status, error="bad_response")
    return CallResult(upstream, status, body)

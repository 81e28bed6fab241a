"""The gateway's own calls to the services (aggregation, data sets): JSON in, JSON out,
bounded in time, and never raising for an upstream's failure: the caller decides what a
missing part means."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from gateway.proxy import Upstreams


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
    """`method path` on `upstream` with an optional bearer token, within `timeout` seconds."""
    target = upstreams.get(upstream)
    if target is None:
        return CallResult(upstream, None, error="unavailable")
    sent = dict(headers or {})
    sent.setdefault("Accept", "application/json")
    if token:
        sent["Authorization"] = f"Bearer {token}"
    try:
        async with asyncio.timeout(timeout):
            async with target.session.request(
                method,
                target.base_url + path,
                params=dict(params or {}),
                headers=sent,
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
    except TimeoutError:
        return CallResult(upstream, None, error="timeout")
    except aiohttp.ClientError as exc:
        return CallResult(upstream, None, error=f"unavailable: {type(exc).__name__}")
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return CallResult(upstream, status, error="bad_response")
    return CallResult(upstream, status, body)

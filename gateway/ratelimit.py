"""Rate limits at the edge: a token bucket per client and route class, in this process or
shared by every replica through Redis; a refused request never reaches a service."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from functools import partial
from itertools import islice

from fastapi import FastAPI
from prometheus_client import Counter
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import Bucket
from gateway.context import PRINCIPAL_STATE, GatewayRuntime
from gateway.paths import DATA_PREFIX, OPEN_PATHS, TOKEN_PATH
from kernel.auth.principal import ANONYMOUS, Principal, Role
from kernel.errors import problem_response

log = logging.getLogger("gateway.ratelimit")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# In-process buckets kept at most (a few hundred bytes each). Full buckets are forgotten first:
# a client without one starts with a full bucket anyway.
MAX_LOCAL_BUCKETS = 50_000
SWEEP_SECONDS = 60.0
# Connections to Redis per gateway process; a request that finds none free within the Redis
# timeout is decided in-process.
REDIS_CONNECTIONS = 64
# After a Redis failure the in-process buckets decide alone for this long before Redis is tried
# again, so an unreachable Redis costs one timeout per interval rather than one per request.
REDIS_RETRY_SECONDS = 1.0
MAX_TTL_MS = 30 * 86_400_000

RATE_LIMITED = Counter(
    "gateway_rate_limited_total", "Requests refused by a rate limit", ["route_class"]
)
REDIS_FALLBACKS = Counter(
    "gateway_rate_limit_redis_fallbacks_total",
    "Rate-limit decisions made in-process because Redis failed or was unreachable",
)

# Refill and take in one step on the Redis server, on its clock (TIME), so replicas whose
# clocks disagree still share one bucket correctly. KEYS[1] the bucket; ARGV rate per second,
# burst, time to live in ms (a bucket left alone that long is full: dropping it changes nothing).
# Returns the seconds to wait for a token, "0" when one was taken.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tokens = burst
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if saved[1] then
  tokens = tonumber(saved[1])
  local at = tonumber(saved[2])
  if now > at then
    tokens = math.min(burst, tokens + (now - at) * rate)
  else
    now = at
  end
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return string.format('%.6f', wait)
"""
TAKE_SHA = hashlib.sha1(TAKE_SCRIPT.encode(), usedforsecurity=False).hexdigest()


def _address(scope: Scope) -> str:
    # The socket's peer, never X-Forwarded-For: that header is whatever the caller wrote.
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _is_anonymous(principal: Principal) -> bool:
    return principal is ANONYMOUS or (
        principal.role is Role.public and principal.subject == ANONYMOUS.subject
    )


def _ttl_ms(bucket: Bucket) -> str:
    # Long enough to refill completely; capped so an absurdly slow rate stays a valid PEXPIRE.
    return str(min(math.ceil(bucket.burst / bucket.rate * 1000) + 1000, MAX_TTL_MS))


def classify(scope: Scope) -> tuple[str, str]:
    """The route class of an HTTP request and whose bucket it draws from."""
    path: str = scope["path"]
    if path == TOKEN_PATH:
        return "token", _address(scope)
    state = scope.get("state")
    principal: Principal | None = state.get(PRINCIPAL_STATE) if state else None
    if principal is None or _is_anonymous(principal):
        return "public", _address(scope)
    if path.startswith(DATA_PREFIX):
        return "data", principal.key
    if scope["method"] in READ_METHODS:
        return "read", principal.key
    return "write", principal.key


class LocalBuckets:
    """Token buckets in this process, refilled on a monotonic clock."""

    def __init__(
        self,
        limits: Mapping[str, Bucket],
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_LOCAL_BUCKETS,
    ) -> None:
        self._limits = {name: (b.rate, float(b.burst)) for name, b in limits.items()}
        self._clock = clock
        self._max = max_buckets
        # (route class, key) -> [tokens, refilled at]; insertion order is first-seen order.
        self._buckets: dict[tuple[str, str], list[float]] = {}
        self._next_sweep = clock() + SWEEP_SECONDS

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, route_class: str, key: str) -> float:
        """Take a token: 0.0 when one was there, else the seconds until there is one."""
        now = self._clock()
        rate, burst = self._limits[route_class]
        name = (route_class, key)
        bucket = self._buckets.get(name)
        if bucket is None:
            if now >= self._next_sweep or len(self._buckets) >= self._max:
                self._make_room(now)
            self._buckets[name] = [burst - 1.0, now]
            return 0.0
        tokens = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / rate

    def _make_room(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        limits = self._limits
        full = [
            name
            for name, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * limits[name[0]][0] >= limits[name[0]][1]
        ]
        for name in full:
            del self._buckets[name]
        if len(self._buckets) >= self._max:
            # Every bucket is in use (far more clients than planned for, or someone cycling
            # addresses): forget the oldest quarter rather than grow without bound.
            excess = len(self._buckets) - self._max * 3 // 4
            for name in list(islice(self._buckets, excess)):
                del self._buckets[name]
            log.warning("rate limits: %d busy buckets forgotten to bound memory", excess)


class RedisBuckets:
    """Token buckets in Redis, shared by every gateway replica; `fallback` decides whenever
    Redis fails or is slow, so an outage loosens limits to per-replica ones but never blocks."""

    def __init__(
        self,
        url: str,
        *,
        limits: Mapping[str, Bucket],
        prefix: str,
        timeout: float,
        fallback: LocalBuckets,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._timeout = timeout
        self._fallback = fallback
        self._args = {name: (repr(b.rate), str(b.burst), _ttl_ms(b)) for name, b in limits.items()}
        self._client: Redis | None = None
        self._retry_at = 0.0
        self._down = False

    async def start(self) -> None:
        pool = BlockingConnectionPool.from_url(
            self._url,
            max_connections=REDIS_CONNECTIONS,
            timeout=self._timeout,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            # One attempt per request: the fallback is the retry.
            retry=Retry(NoBackoff(), 0),
        )
        self._client = Redis(connection_pool=pool)
        try:
            # Start-up may wait longer than a request would; failing here only means the
            # script is loaded at the first request that finds Redis.
            async with asyncio.timeout(max(1.0, self._timeout)):
                await self._client.script_load(TAKE_SCRIPT)
        except Exception as exc:
            self._failed(exc)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose(close_connection_pool=True)

    async def take(self, route_class: str, key: str) -> float:
        """Like LocalBuckets.take, on the shared bucket when Redis answers in time."""
        client = self._client
        if client is None or (self._down and time.monotonic() < self._retry_at):
            REDIS_FALLBACKS.inc()
            return self._fallback.take(route_class, key)
        args = self._args[route_class]
        name = f"{self._prefix}{route_class}:{key}"
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    wait = await client.evalsha(TAKE_SHA, 1, name, *args)
                except NoScriptError:
                    # Redis restarted or was flushed since the script was loaded.
                    await client.script_load(TAKE_SCRIPT)
                    wait = await client.evalsha(TAKE_SHA, 1, name, *args)
            seconds = float(wait)
        except Exception as exc:
            # Whatever went wrong with the shared store, traffic goes on.
            self._failed(exc)
            REDIS_FALLBACKS.inc()
            return self._fallback.take(route_class, key)
        if self._down:
            self._down = False
            log.warning("rate limits: Redis answers again; buckets are shared once more")
        return seconds

    def _failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + REDIS_RETRY_SECONDS
        if not self._down:
            self._down = True
            log.warning(
                "rate limits: Redis at %s failed (%r); deciding in-process until it answers",
                self._url.rpartition("@")[2],
                exc,
            )


class RateLimitLayer:
    """Pure ASGI: refuses a request over its bucket with 429 before anything else runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Mapping[str, Bucket],
        local: LocalBuckets,
        shared: RedisBuckets | None,
    ) -> None:
        self.app = app
        self._bursts = {name: str(b.burst) for name, b in limits.items()}
        self._local = local
        self._shared = shared

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            route_class, key = classify(scope)
            if await self._limited(scope, receive, send, route_class, key):
                return
        await self.app(scope, receive, send)

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, route_class: str, key: str
    ) -> bool:
        """Take a token; answer 429 and say so when there was none."""
        if self._shared is None:
            wait = self._local.take(route_class, key)
        else:
            wait = await self._shared.take(route_class, key)
        if wait > 0.0:
            await self._refuse(scope, receive, send, route_class, wait)
            return True
        return False

    async def charge_refusal(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """A request the identity layer refused (bad token or key) costs its address a token of
        the public class: guessing credentials is throttled like any anonymous traffic, and
        made-up API-key ids cannot hammer the database. True when it answered 429 instead."""
        return await self._limited(scope, receive, send, "public", _address(scope))

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, route_class: str, wait: float
    ) -> None:
        RATE_LIMITED.labels(route_class).inc()
        seconds = str(max(1, math.ceil(wait)))
        response = problem_response(
            Request(scope),
            429,
            "rate_limited",
            "Too many requests",
            f"too many {route_class} requests from this client; retry in {seconds} s",
            title_zh="请求过于频繁",
            headers={
                "Retry-After": seconds,
                "RateLimit-Limit": self._bursts[route_class],
                "RateLimit-Remaining": "0",
                # A token bucket has no fixed window: the quota comes back one token at a time,
                # and the first is back when Retry-After says.
                "RateLimit-Reset": seconds,
            },
            route_class=route_class,
        )
        await response(scope, receive, send)


def install_rate_limits(app: FastAPI, runtime: GatewayRuntime) -> None:
    """Add the rate-limit layer after identity (it needs the verified caller)."""
    settings = runtime.settings
    if not settings.rate_limits_enabled:
        return
    limits = settings.rate_limits
    local = LocalBuckets(limits)
    shared: RedisBuckets | None = None
    if settings.redis_url:
        shared = RedisBuckets(
            settings.redis_url,
            limits=limits,
            prefix=settings.redis_key_prefix,
            timeout=settings.redis_timeout,
            fallback=local,
        )
        started = shared

        async def start(_: GatewayRuntime) -> None:
            await started.start()

        async def stop(_: GatewayRuntime) -> None:
            await started.stop()

        runtime.on_start(start)
        runtime.on_stop(stop)
    # Refusals by the identity layer (outside this one) are charged through a layer instance
    # that shares the buckets but forwards nothing.
    charger = RateLimitLayer(_unreachable, limits=limits, local=local, shared=shared)
    identity = getattr(app.state, "identity", None)
    if identity is not None:
        identity.on_refused = charger.charge_refusal
    layer: Callable[[ASGIApp], ASGIApp] = partial(
        RateLimitLayer, limits=limits, local=local, shared=shared
    )
    app.state.edge.append(layer)


async def _unreachable(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("the refusal charger never forwards a request")

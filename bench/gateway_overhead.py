"""What the gateway costs: one small authenticated GET, sent directly to the service and through
the gateway, in the same run, by wrk (a separate process) on loopback.

One uvicorn worker each for the inspection service (SQLite, relay and consumers off: the
request reads one registry row after verifying the officer's token) and the gateway (identity
layer verifying the same token, rate limits on, circuit breaker, proxy). Closed loop first
(capacity, 32 connections), then each path paced at half of the gateway's capacity to read
the latency the gateway adds (wrk's Lua `delay()` paces every connection; wrk reports only the
time from sending to the answer).

    python -m bench gateway_overhead
    BENCH_GATEWAY_SECONDS=20 BENCH_GATEWAY_ROUNDS=5 python -m bench gateway_overhead
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Result, free_port, start_uvicorn, stop_processes
from kernel.auth.dev import DevIssuer
from kernel.settings import AuthSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
USCC = "91370200MA3C0000XW"  # replaced below with a valid check character
PHASE_S = float(os.environ.get("BENCH_GATEWAY_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_GATEWAY_CONNECTIONS", "32"))
PACED_CONNECTIONS = 16
ROUNDS = int(os.environ.get("BENCH_GATEWAY_ROUNDS", "3"))
TARGET_RATIO = 0.6
TARGET_ADDED_P99_MS = 5.0


def valid_uscc() -> str:
    from kernel.uscc import compute_check_character

    body = USCC[:17]
    return body + compute_check_character(body)


@dataclass
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkRun:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return WrkRun(rps, p50, p99, total, errors)


def median_run(runs: list[WrkRun]) -> WrkRun:
    """Each figure's median over repeated runs (errors summed)."""
    return WrkRun(
        rps=statistics.median(r.rps for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        requests=sum(r.requests for r in runs),
        errors=sum(r.errors for r in runs),
    )


def wrk(url: str, token: str, seconds: float, connections: int, rate: float | None) -> WrkRun:
    """Run wrk against `url`; with `rate`, pace the connections to about `rate` requests/s."""
    args = [
        "wrk",
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    script: str | None = None
    if rate is not None:
        # Each connection waits an exponentially distributed pause of mean connections/rate
        # before each request: Poisson arrivals at `rate` overall. Equal fixed pauses would
        # keep the connections in step and send them in bursts of `connections` at once.
        mean_ms = connections / rate * 1000
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(
                "math.randomseed(os.time())\n"
                "function delay()\n"
                f"  return math.floor(-math.log(1 - math.random()) * {mean_ms:.3f})\n"
                "end\n"
            )
            script = f.name
        args += ["-s", script]
    try:
        out = subprocess.run(
            [*args, url], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    finally:
        if script:
            os.unlink(script)
    return parse_wrk(out)


async def wait_for(url: str, headers: dict[str, str], procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a process exited with {proc.returncode}")
            with suppress(aiohttp.ClientError):
                async with http.get(url, headers=headers) as response:
                    if response.status < 500:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within 60 s")
            await asyncio.sleep(0.2)


async def seed(service_url: str, token: str, uscc: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{service_url}/enterprises",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "uscc": uscc,
                "name": "青岛基准化工有限公司",
                "district": "黄岛区",
                "sector": "hazardous_chemicals",
            },
        ) as response,
    ):
        if response.status not in (201, 409):
            raise RuntimeError(f"seeding failed: {response.status} {await response.text()}")


async def measure(tmp: Path) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    logs = tmp / "logs"
    logs.mkdir()
    keys = tmp / "keys"
    auth = AuthSettings(dev_key_dir=keys, jwks_path=None, jwks_url=None)
    issuer = DevIssuer(auth)
    token = issuer.mint("officer", "officer-bench", ttl_seconds=3600)
    uscc = valid_uscc()
    service_port, gateway_port = free_port(), free_port()
    closed = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "APP_ENV": "local",
        "AUTH_DEV_KEY_DIR": str(keys),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "INSPECTION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'inspection.db'}",
        "INSPECTION_RELAY_ENABLED": "false",
        "INSPECTION_CONSUMERS_ENABLED": "false",
        "INSPECTION_BACKGROUND_ENABLED": "false",
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'gateway.db'}",
        "GATEWAY_INSPECTION_URL": f"http://127.0.0.1:{service_port}",
        "GATEWAY_PERMITS_URL": closed,
        "GATEWAY_CREDIT_URL": closed,
        "GATEWAY_INSURANCE_URL": closed,
        # Rate limits stay on (their cost is part of the overhead) with a budget the load
        # cannot exhaust.
        "GATEWAY_RATE_LIMITS": json.dumps({"read": {"rate": 1_000_000, "burst": 10_000_000}}),
    }
    env.pop("REDIS_URL", None)
    service_url = f"http://127.0.0.1:{service_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    procs = [
        start_uvicorn("inspection", "services.inspection.main:app", service_port, env, logs),
        start_uvicorn("gateway", "gateway.main:app", gateway_port, env, logs),
    ]
    try:
        headers = {"Authorization": f"Bearer {token}"}
        await wait_for(f"{service_url}/health", {}, procs)
        await wait_for(f"{gateway_url}/ready", {}, procs)
        await seed(service_url, token, uscc)
        direct_url = f"{service_url}/enterprises/{uscc}"
        via_url = f"{gateway_url}/api/inspection/enterprises/{uscc}"
        for url in (direct_url, via_url):
            async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"{url}: {r.status} {await r.text()}")
        # Warm both paths (JIT-free Python still has caches: pools, token cache, SQLite pages).
        wrk(direct_url, token, 2, CONNECTIONS, None)
        wrk(via_url, token, 2, CONNECTIONS, None)
        # Rounds alternate the two paths so a slow spell of the machine hits both; each figure
        # is the median over the rounds.
        capacity: dict[str, list[WrkRun]] = {"direct": [], "via": []}
        for _ in range(ROUNDS):
            capacity["direct"].append(wrk(direct_url, token, PHASE_S, CONNECTIONS, None))
            capacity["via"].append(wrk(via_url, token, PHASE_S, CONNECTIONS, None))
        direct = median_run(capacity["direct"])
        via = median_run(capacity["via"])
        half = via.rps / 2
        paced: dict[str, list[WrkRun]] = {"direct": [], "via": []}
        for _ in range(ROUNDS):
            paced["direct"].append(wrk(direct_url, token, PHASE_S, PACED_CONNECTIONS, half))
            paced["via"].append(wrk(via_url, token, PHASE_S, PACED_CONNECTIONS, half))
        direct_half = median_run(paced["direct"])
        via_half = median_run(paced["via"])
        # The floor: the service's cheapest answer (its liveness route, no token check and no
        # database), so nearly all the cost through the gateway is the gateway's own. The
        # gateway still verifies the token and takes a rate-limit token on every request.
        floor_direct = wrk(f"{service_url}/health", token, PHASE_S, CONNECTIONS, None)
        floor_via = wrk(f"{gateway_url}/api/inspection/health", token, PHASE_S, CONNECTIONS, None)
    finally:
        stop_processes(procs)
    for name, run in (
        ("direct", direct),
        ("gateway", via),
        ("direct at half", direct_half),
        ("gateway at half", via_half),
        ("floor direct", floor_direct),
        ("floor through the gateway", floor_via),
    ):
        if run.errors:
            raise RuntimeError(f"{name}: {run.errors} errors of {run.requests} requests")
    return {
        "direct": direct,
        "via": via,
        "direct_half": direct_half,
        "via_half": via_half,
        "half_rate": half,
        "floor_direct": floor_direct,
        "floor_via": floor_via,
    }


async def run() -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        m = await measure(Path(tmp))
    direct: WrkRun = m["direct"]
    via: WrkRun = m["via"]
    direct_half: WrkRun = m["direct_half"]
    via_half: WrkRun = m["via_half"]
    ratio = via.rps / direct.rps
    added_p50 = via_half.p50_ms - direct_half.p50_ms
    added_p99 = via_half.p99_ms - direct_half.p99_ms
    return Result(
        name="gateway_overhead",
        metric="throughput through the gateway / direct",
        value=round(via.rps, 1),
        unit="req/s",
        baseline=round(direct.rps, 1),
        ratio=round(ratio, 3),
        params={
            "request": "GET /enterprises/{uscc} (inspection, officer token verified by both)",
            "load_generator": f"wrk, 1 thread, {CONNECTIONS} connections, {PHASE_S:g} s phases",
            "rounds": f"{ROUNDS} alternating rounds per path, medians",
            "direct_rps": round(direct.rps, 1),
            "gateway_rps": round(via.rps, 1),
            "closed_loop_p50_ms": {"direct": direct.p50_ms, "gateway": via.p50_ms},
            "closed_loop_p99_ms": {"direct": direct.p99_ms, "gateway": via.p99_ms},
            "half_capacity_rate": round(m["half_rate"], 1),
            "half_capacity_rps": {"direct": direct_half.rps, "gateway": via_half.rps},
            "half_capacity_p50_ms": {"direct": direct_half.p50_ms, "gateway": via_half.p50_ms},
            "half_capacity_p99_ms": {"direct": direct_half.p99_ms, "gateway": via_half.p99_ms},
            "added_p50_ms": round(added_p50, 2),
            "added_p99_ms": round(added_p99, 2),
            "target_ratio": TARGET_RATIO,
            "target_added_p99_ms": TARGET_ADDED_P99_MS,
            "floor_request": "GET /health (the service's liveness answer, no database)",
            "floor_rps": {"direct": m["floor_direct"].rps, "gateway": m["floor_via"].rps},
            "floor_ratio": round(m["floor_via"].rps / m["floor_direct"].rps, 3),
            "servers": "uvicorn (httptools, uvloop), 1 worker each; gateway client aiohttp",
            "cpus": os.cpu_count(),
        },
    )

"""Shared benchmark plumbing: the result format (DEVELOPERS.md), percentiles, temp databases."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import asyncpg

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PG_ADMIN_DSN = os.environ.get("BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Result:
    """One benchmark's figure, written as bench/results/<name>.json."""

    name: str
    metric: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    params: dict[str, Any] = field(default_factory=dict)

    def write(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n")
        return path


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) — no interpolation, so p99 is an observed value."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one benchmark, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_uvicorn(
    name: str, app: str, port: int, env: dict[str, str], logs: Path
) -> subprocess.Popen[bytes]:
    """One uvicorn worker for `app` on 127.0.0.1:`port`, its output in `logs`/<name>.log."""
    with (logs / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "5",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_processes(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group, then SIGKILL whatever is still there after 15 s."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class RunningSuite(Protocol):
    """A benchmark's processes behind a gateway: its URL, and a check that none has died."""

    gateway: str

    def check_alive(self) -> None: ...


async def wait_gateway_healthy(
    http: aiohttp.ClientSession, suite: RunningSuite, timeout: float = 90.0
) -> None:
    """Poll the gateway's /health until every upstream is ready; fail naming the last answer."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        suite.check_alive()
        try:
            async with http.get(
                f"{suite.gateway}/health", timeout=aiohttp.ClientTimeout(total=3)
            ) as r:
                last = await r.text()
                if r.status == 200:
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = repr(exc)
        await asyncio.sleep(0.25)
    raise RuntimeError(f"suite not healthy within {timeout:g} s: {last}")

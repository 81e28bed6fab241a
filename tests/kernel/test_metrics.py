"""Prometheus metrics: per-route HTTP metrics, outbox backlog and age, consumer lag, SLA
overdue gauges, and the Grafana dashboard's PromQL against the registry."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import services.credit.repair  # noqa: F401 (registers credit_repairs_overdue)
from kernel import metrics
from kernel.app import ServiceRuntime
from kernel.consumer import EventApplier, Handlers
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.db import unit_of_work, utcnow
from kernel.devbroker import DevBroker
from kernel.events import EventEnvelope
from kernel.http_metrics import HttpMetricsMiddleware
from kernel.kafka import ensure_topics, make_producer
from kernel.outbox import Outbox, OutboxRelay
from kernel.replay import ReplayPage
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from kernel.workdays import shanghai_today
from services.permits.config import PermitsSettings
from services.permits.main import create_app
from services.permits.models import Application
from tests.kernel.conftest import KernelDB
from tests.support import bearer, running
from tests.support.databases import sqlite_url

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboard.json"
API = tuple[httpx.AsyncClient, ServiceRuntime]


def scraped(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from a /metrics answer (None if absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def requests_seen(**labels: str) -> float:
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


@pytest.fixture
async def permits(
    broker: DevBroker, auth_settings: AuthSettings, tmp_path: Path
) -> AsyncIterator[API]:
    settings = PermitsSettings(
        database_url=sqlite_url(tmp_path / "permits.db"),
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
        consumers_enabled=False,
        licence_key_dir=tmp_path / "licence-keys",
    )
    async with running(create_app(settings)) as pair:
        yield pair


async def test_service_requests_are_labelled_by_route_template(permits: API, issuer: Any) -> None:
    client, _runtime = permits
    labels = {"service": "permits", "method": "GET", "route": "/items/{code}", "status": "200"}
    before = requests_seen(**labels)
    timed = {"service": "permits", "method": "GET", "route": "/items/{code}"}
    timed_before = REGISTRY.get_sample_value("http_request_duration_seconds_count", timed) or 0
    assert (await client.get("/items/QD-AJ-001")).status_code == 200
    assert (await client.get("/items/QD-AJ-003")).status_code == 200
    # Two raw paths, one series: the label is the template, never the path.
    assert requests_seen(**labels) == before + 2
    assert REGISTRY.get_sample_value("http_request_duration_seconds_count", timed) == (
        timed_before + 2
    )
    text = (await client.get("/metrics")).text
    assert scraped(text, "http_requests_total", **labels) == before + 2
    assert 'route="/items/QD-AJ-001"' not in text


async def test_an_unknown_path_is_counted_as_unmatched(permits: API) -> None:
    client, _runtime = permits
    labels = {"service": "permits", "method": "GET", "route": "unmatched", "status": "404"}
    before = requests_seen(**labels)
    assert (await client.get(f"/no-such-thing/{uuid.uuid4()}")).status_code == 404
    assert requests_seen(**labels) == before + 1


async def test_an_exception_escaping_a_route_counts_as_a_500() -> None:
    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("handler failed")

    async def fine(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/boom/{n}", boom), Route("/fine", fine)])
    app.add_middleware(HttpMetricsMiddleware, service="mw-test")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/boom/7")).status_code == 500
        assert (await client.get("/fine")).status_code == 200
    assert requests_seen(service="mw-test", method="GET", route="/boom/{n}", status="500") == 1
    assert requests_seen(service="mw-test", method="GET", route="/fine", status="200") == 1


def _event(n: int) -> EnterpriseRegisteredV1:
    return EnterpriseRegisteredV1(
        uscc=make_uscc(n), name=f"企业{n}", district="黄岛区", sector="trade", tier="general"
    )


class _BrokerAway:
    """A producer whose broker never answers."""

    async def start(self) -> None:
        raise ConnectionError("broker unreachable")

    async def stop(self) -> None:
        return None

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("broker unreachable")


def _relay(kdb: KernelDB, service: str, producer_factory: Any) -> OutboxRelay:
    return OutboxRelay(
        service=service,
        factory=kdb.factory,
        tables=kdb.tables,
        topic=f"t-{service}",
        producer_factory=producer_factory,
        send_timeout=5,
    )


async def test_outbox_backlog_and_age_follow_the_relay(kdb: KernelDB, broker: DevBroker) -> None:
    service = f"outbox-{uuid.uuid4().hex[:6]}"
    outbox = Outbox(kdb.tables)
    for n in (1, 2):
        async with unit_of_work(kdb.factory) as session:
            await outbox.emit(session, make_uscc(n), _event(n))
    # The first event has waited two minutes.
    async with unit_of_work(kdb.factory) as session:
        await session.execute(
            sa.update(kdb.tables.outbox)
            .where(kdb.tables.outbox.c.id == 1)
            .values(occurred_at=utcnow() - timedelta(minutes=2))
        )
    broker_up = False

    def producer() -> Any:
        if broker_up:
            return make_producer(broker.bootstrap, idempotence=False, timeout_s=3)
        return _BrokerAway()

    relay = _relay(kdb, service, producer)
    with pytest.raises(ConnectionError):
        await relay.publish_once()
    # Reported even though the pass failed: an unreachable broker is when they matter.
    assert metrics.OUTBOX_PENDING.labels(service)._value.get() == 2
    age = metrics.OUTBOX_OLDEST_AGE.labels(service)._value.get()
    assert 110 <= age <= 600

    await ensure_topics(broker.bootstrap, [f"t-{service}"])
    broker_up = True
    assert await relay.publish_once() == 2
    await relay._drop_producer()  # what run() does on its way out
    assert metrics.OUTBOX_PENDING.labels(service)._value.get() == 0
    assert metrics.OUTBOX_OLDEST_AGE.labels(service)._value.get() == 0


def _envelope(seq: int) -> EventEnvelope:
    return EventEnvelope(
        id=str(uuid.uuid4()),
        source="/inspection",
        type=EnterpriseRegisteredV1.TYPE,
        subject=make_uscc(seq),
        time=datetime.now(UTC),
        sequence=seq,
        data=_event(seq).model_dump(mode="json"),
    )


class _Replay:
    """The source's replay endpoint: three events, served one per page."""

    def __init__(self, events: list[EventEnvelope]) -> None:
        self.events = events

    def knows(self, source: str) -> bool:
        return source == "inspection"

    async def fetch(self, source: str, after: int) -> ReplayPage:
        page = [e for e in self.events if e.sequence > after][:1]
        return ReplayPage(source=source, events=page, head=len(self.events))


async def test_consumer_lag_counts_down_to_zero_as_events_apply(kdb: KernelDB) -> None:
    service = f"lag-{uuid.uuid4().hex[:6]}"
    gauge = metrics.CONSUMER_LAG.labels(service, "inspection")
    seen_while_applying: list[float] = []
    handlers = Handlers()

    @handlers.on(EnterpriseRegisteredV1)
    async def record(session: AsyncSession, event: EnterpriseRegisteredV1, _e: Any) -> None:
        seen_while_applying.append(gauge._value.get())

    events = [_envelope(n) for n in (1, 2, 3)]
    applier = EventApplier(
        service=service,
        factory=kdb.factory,
        tables=kdb.tables,
        handlers=handlers,
        replay=_Replay(events),  # type: ignore[arg-type]
    )
    # A sweep: the head is 3 and nothing is applied yet.
    assert await applier.backfill("inspection", wait=False) == 3
    assert seen_while_applying == [3, 2, 1]
    assert gauge._value.get() == 0
    # Live delivery: a redelivered event keeps the lag at 0.
    assert await applier.deliver(events[2], None) == "duplicate"
    assert gauge._value.get() == 0


async def test_an_overdue_permit_application_shows_in_the_sla_gauge(
    permits: API, issuer: Any
) -> None:
    client, runtime = permits
    body = {"item_code": "QD-AJ-001", "enterprise_name": "青岛海晏化工有限公司"}
    for n in (1, 2):
        created = await client.post(
            "/applications", json=body, headers=bearer(issuer, "enterprise", make_uscc(4100 + n))
        )
        assert created.status_code == 201, created.text
    first = created.json()["id"]
    # Time passes for one of them: its due date is now behind us, still undecided.
    async with unit_of_work(runtime.session_factory) as session:
        await session.execute(
            sa.update(Application)
            .where(Application.id == first)
            .values(due_on=shanghai_today() - timedelta(days=1))
        )
    text = (await client.get("/metrics")).text
    assert scraped(text, "sla_overdue", service="permits", clock="permit_applications") == 1


def _families() -> dict[str, str]:
    """Every sample name the registry can export, with its family's type."""
    names: dict[str, str] = {}
    for family in REGISTRY.collect():
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "gauge": ("",),
        }.get(family.type, ("",))
        for suffix in suffixes:
            names[family.name + suffix] = family.type
    return names


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_dashboard_parses_and_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    exprs = _exprs(dashboard)
    # Metric selectors are written `name{...}`: every such name must be exported.
    used = {m for e in exprs for m in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", e)}
    assert used, "no metric selectors found"
    exported = _families()
    missing = sorted(used - exported.keys())
    assert not missing, f"dashboard queries metrics nobody exports: {missing}"
    # What the issue asks the on-call to see.
    for needed in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "outbox_pending_events",
        "outbox_oldest_pending_age_seconds",
        "consumer_lag_events",
        "consumer_dead_letters_total",
        "sla_overdue",
    ):
        assert needed in used, needed
    assert any('status=~"5.."' in e for e in exprs)
    # Counters are read through rate/increase, never as raw totals.
    for e in exprs:
        for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", e):
            if exported[name] == "counter":
                assert re.search(rf"(rate|increase)\({name}\{{", e), e


@pytest.mark.parametrize(
    ("service", "clock"), [("credit", "credit_repairs"), ("insurance", "insurer_obligations")]
)
async def test_credit_and_insurance_export_their_sla_clocks(
    service: str, clock: str, broker: DevBroker, auth_settings: AuthSettings, tmp_path: Path
) -> None:
    # Their own count queries run against their own migrated schemas (0 on an empty one).
    from services.credit.config import CreditSettings
    from services.credit.main import create_app as credit_app
    from services.insurance.config import InsuranceSettings
    from services.insurance.main import create_app as insurance_app

    common: dict[str, Any] = {
        "database_url": sqlite_url(tmp_path / f"{service}.db"),
        "kafka_bootstrap_servers": broker.bootstrap,
        "auth": auth_settings,
        "relay_enabled": False,
        "consumers_enabled": False,
        "background_enabled": False,
    }
    app = (
        credit_app(CreditSettings(**common))
        if service == "credit"
        else insurance_app(InsuranceSettings(**common))
    )
    async with running(app) as (client, _runtime):
        text = (await client.get("/metrics")).text
    assert scraped(text, "sla_overdue", service=service, clock=clock) == 0
    if service == "credit":
        assert scraped(text, "credit_repairs_overdue", service="credit") == 0

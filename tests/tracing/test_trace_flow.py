"""One pledge-licence flow is one trace: gateway -> permits -> outbox -> Kafka -> consumers.

Everything real in one process: the dev broker, the four services and the gateway served by
uvicorn on free ports, SQLite files, development tokens. Each app exports into the same
in-memory exporter; the spans' resources tell the apps apart.

The flow: an enterprise applies through the gateway for a pledge item; permits approves at
once and emits permits.licence.issued and permits.pledge.verification_requested. Inspection
applies both (schedules the verification visit, enters the enterprise into its registry) and
announces inspection.enterprise.registered, which insurance applies. Credit consumes permits'
topic too (it ignores these types, and its consumer span says so); permits and credit consume
inspection's topic as well.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway.config import GatewaySettings
from gateway.main import create_app as create_gateway
from kernel.auth.dev import DevIssuer
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.credit.config import CreditSettings
from services.credit.main import create_app as create_credit
from services.inspection.config import InspectionSettings
from services.inspection.main import create_app as create_inspection
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app as create_insurance
from services.permits.config import PermitsSettings
from services.permits.main import create_app as create_permits
from tests.support import bearer, eventually, free_port, serving
from tests.support.calendar import rehearsal_calendar_dir

SERVICES = ("permits", "credit", "inspection", "insurance")
PLEDGE_ITEM = "QD-AJ-005"  # 加油站危险化学品经营许可证延期（承诺制）
USCC = make_uscc(90_417)
# Who consumes which of the flow's events (and so must show a consumer span in its trace).
CONSUMED = {
    "permits.licence.issued.v1": {"inspection", "credit"},
    "permits.pledge.verification_requested.v1": {"inspection", "credit"},
    "inspection.enterprise.registered.v1": {"insurance", "credit", "permits"},
}


@dataclass
class Flow:
    gateway: str
    issuer: DevIssuer
    exporter: InMemorySpanExporter


@pytest.fixture
async def flow(
    tmp_path: Path, auth_settings: AuthSettings, issuer: DevIssuer
) -> AsyncIterator[Flow]:
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    calendar = rehearsal_calendar_dir(tmp_path)
    with DevBroker() as broker:
        common: dict[str, Any] = {
            "kafka_bootstrap_servers": broker.bootstrap,
            "auth": auth_settings,
            "calendar_dir": calendar,
            "relay_poll_seconds": 0.2,
            "kafka_timeout_seconds": 3,
            # No idle sweep within the test: an event fetched by replay instead of Kafka has
            # no remote parent, and the assertions are about the Kafka hop.
            "consumer_sweep_seconds": 600,
        }

        def db(name: str) -> str:
            return f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}"

        def sources(*names: str) -> dict[str, str]:
            return {n: urls[n] for n in names}

        apps: dict[str, FastAPI] = {
            "permits": create_permits(
                PermitsSettings(
                    database_url=db("permits"),
                    source_urls=sources("inspection", "credit"),
                    licence_key_dir=tmp_path / "licence-keys",
                    public_base_url=f"{urls['gateway']}/api/permits",
                    **common,
                )
            ),
            "credit": create_credit(
                CreditSettings(
                    database_url=db("credit"),
                    source_urls=sources("inspection", "permits"),
                    **common,
                )
            ),
            "inspection": create_inspection(
                InspectionSettings(
                    database_url=db("inspection"),
                    source_urls=sources("permits", "credit", "insurance"),
                    **common,
                )
            ),
            "insurance": create_insurance(
                InsuranceSettings(
                    database_url=db("insurance"), source_urls=sources("inspection"), **common
                )
            ),
        }
        for app in apps.values():
            app.state.tracing.add_span_processor(processor)
        gateway = create_gateway(
            GatewaySettings.model_validate(
                {
                    **{f"{name}_url": urls[name] for name in SERVICES},
                    "auth": auth_settings,
                    "database_url": db("gateway"),
                }
            ),
            span_processors=[processor],
        )
        async with AsyncExitStack() as stack:
            for name, app in apps.items():
                await stack.enter_async_context(serving(app, ports[name]))
            await stack.enter_async_context(serving(gateway, ports["gateway"]))
            yield Flow(urls["gateway"], issuer, exporter)


def by_service(spans: list[ReadableSpan], service: str) -> list[ReadableSpan]:
    return [s for s in spans if s.resource.attributes.get("service.name") == service]


def attr(span: ReadableSpan, name: str) -> Any:
    return (span.attributes or {}).get(name)


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def ancestors(span: ReadableSpan, index: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain: list[ReadableSpan] = []
    current = span
    while (pid := parent_id(current)) is not None and pid in index:
        current = index[pid]
        chain.append(current)
    return chain


def consumers_missing(spans: list[ReadableSpan]) -> list[tuple[str, str]]:
    """(event type, consumer) pairs of the flow without a finished consumer span yet."""
    done = {
        (attr(s, "cloudevents.event_type"), attr(s, "safety.consumer"))
        for s in spans
        if s.kind is SpanKind.CONSUMER and attr(s, "safety.event.outcome") is not None
    }
    return sorted(
        (t, c) for t, consumers in CONSUMED.items() for c in consumers if (t, c) not in done
    )


async def test_a_pledge_licence_flow_is_one_trace_across_every_service(flow: Flow) -> None:
    async with httpx.AsyncClient(base_url=flow.gateway, timeout=15) as client:
        pledge = (await client.get(f"/api/permits/items/{PLEDGE_ITEM}/pledge")).json()
        assert hashlib.sha256(pledge["text"].encode()).hexdigest() == pledge["sha256"]
        flow.exporter.clear()
        response = await client.post(
            "/api/permits/applications",
            json={
                "item_code": PLEDGE_ITEM,
                "enterprise_name": "青岛追踪示例加油站有限公司",
                "pledge": {"accepted": True, "text_sha256": pledge["sha256"]},
            },
            headers=bearer(flow.issuer, "enterprise", USCC),
        )
    assert response.status_code == 201, response.text
    assert (response.json()["path"], response.json()["status"]) == ("pledge", "approved")

    # The gateway started the trace (the caller sent none): its server span is the root.
    (entry,) = [
        s
        for s in by_service(list(flow.exporter.get_finished_spans()), "gateway")
        if s.kind is SpanKind.SERVER and attr(s, "http.request.method") == "POST"
    ]
    assert entry.parent is None
    assert entry.context is not None
    assert entry.name == "POST /api/permits/{path}"
    trace_id = entry.context.trace_id

    def in_trace() -> list[ReadableSpan]:
        return [
            s
            for s in flow.exporter.get_finished_spans()
            if s.context is not None and s.context.trace_id == trace_id
        ]

    async def whole_trace() -> list[ReadableSpan] | None:
        spans = in_trace()
        return None if consumers_missing(spans) else spans

    try:
        spans = await eventually(whole_trace, timeout=60, interval=0.2)
    except AssertionError:
        pytest.fail(f"no consumer span in the trace for {consumers_missing(in_trace())}")
    index = {span_id(s): s for s in spans}
    services = {s.resource.attributes["service.name"] for s in spans}
    assert services == {"gateway", *SERVICES}
    assert {s.resource.attributes["service.namespace"] for s in spans} == {"safety"}

    # gateway server -> gateway client -> permits server.
    (call,) = [s for s in by_service(spans, "gateway") if s.kind is SpanKind.CLIENT]
    assert parent_id(call) == span_id(entry)
    assert attr(call, "safety.upstream") == "permits"
    (request,) = [
        s
        for s in by_service(spans, "permits")
        if s.kind is SpanKind.SERVER and attr(s, "http.route") == "/applications"
    ]
    assert parent_id(request) == span_id(call)
    assert request.parent is not None
    assert request.parent.is_remote
    assert attr(request, "http.response.status_code") == 201

    # The relay's publishes continue the request that emitted the events.
    producers = {span_id(s): s for s in spans if s.kind is SpanKind.PRODUCER}
    permits_sends = [p for p in producers.values() if attr(p, "safety.event.sequence")]
    sent_types = {
        attr(p, "cloudevents.event_type")
        for p in permits_sends
        if p.resource.attributes["service.name"] == "permits"
    }
    assert sent_types == {"permits.licence.issued.v1", "permits.pledge.verification_requested.v1"}
    for producer in producers.values():
        assert attr(producer, "messaging.system") == "kafka"
        service = str(producer.resource.attributes["service.name"])
        assert attr(producer, "messaging.destination.name") == f"{service}.events"
        if service == "permits":
            assert request in ancestors(producer, index)

    # Each consumer span is the child of the producer span of the very event it applied.
    consumers = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert consumers
    for consumer in consumers:
        sender = producers.get(parent_id(consumer) or 0)
        assert sender is not None, f"{consumer.name} of {attr(consumer, 'safety.consumer')}"
        assert consumer.parent is not None
        assert consumer.parent.is_remote
        assert attr(consumer, "messaging.message.id") == attr(sender, "messaging.message.id")
        assert attr(consumer, "safety.event.delivery") == "kafka"
        assert consumer.resource.attributes["service.name"] == attr(consumer, "safety.consumer")
        assert attr(consumer, "safety.event.outcome") in ("applied", "ignored")

    # The second hop: inspection's announcement, emitted while it applied permits' event,
    # reaches insurance in the same trace.
    (announced,) = [
        p
        for p in producers.values()
        if attr(p, "cloudevents.event_type") == "inspection.enterprise.registered.v1"
    ]
    applied_by_inspection = index[parent_id(announced) or 0]
    assert applied_by_inspection.kind is SpanKind.CONSUMER
    assert attr(applied_by_inspection, "safety.consumer") == "inspection"
    assert attr(applied_by_inspection, "cloudevents.event_type") == "permits.licence.issued.v1"
    assert request in ancestors(announced, index)
    (insured_copy,) = [
        c
        for c in consumers
        if attr(c, "safety.consumer") == "insurance"
        and attr(c, "cloudevents.event_type") == "inspection.enterprise.registered.v1"
    ]
    assert parent_id(insured_copy) == span_id(announced)
    assert attr(insured_copy, "safety.event.outcome") == "applied"

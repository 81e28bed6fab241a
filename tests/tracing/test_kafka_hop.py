"""The Kafka hop on its own: outbox row -> relay's producer span -> record headers -> consumer
span, against a real database (SQLite and PostgreSQL) and a real broker process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.consumer import ConsumerRunner, EventApplier, Handlers
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.db import unit_of_work
from kernel.devbroker import DevBroker
from kernel.events import EventEnvelope, to_kafka
from kernel.kafka import ensure_topics, make_consumer, make_producer
from kernel.outbox import Outbox, OutboxRelay, row_to_envelope
from kernel.tracing import Tracing, current_traceparent, make_tracing
from kernel.uscc import make_uscc
from tests.kernel.conftest import KernelDB
from tests.support import eventually

TOPIC = "inspection.events"


def payload(n: int) -> EnterpriseRegisteredV1:
    return EnterpriseRegisteredV1(
        uscc=make_uscc(n), name=f"企业{n}", district="黄岛区", sector="trade", tier="general"
    )


def traced(service: str) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return make_tracing(service, span_processors=[SimpleSpanProcessor(exporter)]), exporter


@pytest.fixture
def own_broker() -> Iterator[DevBroker]:
    with DevBroker() as broker:
        yield broker


async def records(broker: DevBroker, count: int) -> list[object]:
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        received: list[object] = []
        async with asyncio.timeout(30):
            while len(received) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    received.extend(messages)
        return received
    finally:
        await consumer.stop()


def only(spans: list[ReadableSpan], kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is kind]


async def test_the_trace_crosses_outbox_and_kafka_in_headers_only(
    kdb: KernelDB, own_broker: DevBroker
) -> None:
    source, source_spans = traced("inspection")
    sink, sink_spans = traced("insurance")
    outbox = Outbox(kdb.tables)
    # One event emitted inside a request's span, one outside any (a background job's).
    with source.tracer.start_as_current_span("POST /enterprises", kind=SpanKind.SERVER) as req:
        async with unit_of_work(kdb.factory) as session:
            await outbox.emit(session, make_uscc(1), payload(1))
        emitted_under = current_traceparent()
    async with unit_of_work(kdb.factory) as session:
        await outbox.emit(session, make_uscc(2), payload(2))
    async with kdb.factory() as session:
        rows = (await session.execute(sa.select(kdb.tables.outbox).order_by("id"))).all()
    assert [r.traceparent for r in rows] == [emitted_under, None]

    await ensure_topics(own_broker.bootstrap, [TOPIC])
    relay = OutboxRelay(
        service="inspection",
        factory=kdb.factory,
        tables=kdb.tables,
        topic=TOPIC,
        producer_factory=lambda: make_producer(
            own_broker.bootstrap, idempotence=False, timeout_s=3
        ),
        send_timeout=5,
        tracer=source.tracer,
    )
    try:
        assert await relay.publish_once() == 2
    finally:
        await relay._drop_producer()
    async with kdb.factory() as session:
        rows = (await session.execute(sa.select(kdb.tables.outbox).order_by("id"))).all()

    first, second = only(list(source_spans.get_finished_spans()), SpanKind.PRODUCER)
    assert first.name == "send inspection.events"
    assert first.parent is not None
    assert req.get_span_context().span_id == first.parent.span_id
    assert second.parent is None  # no stored context: the publish starts its own trace
    for span, row in zip((first, second), rows, strict=True):
        attributes = span.attributes or {}
        assert attributes["messaging.system"] == "kafka"
        assert attributes["messaging.destination.name"] == TOPIC
        assert attributes["messaging.message.id"] == row.event_id
        assert attributes["safety.event.sequence"] == row.sequence

    received = await records(own_broker, 2)
    for message, span, row in zip(received, (first, second), rows, strict=True):
        headers = dict(message.headers)  # type: ignore[attr-defined]
        assert span.context is not None
        ids = span.context
        assert headers["traceparent"].decode() == (
            f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{int(ids.trace_flags):02x}"
        )
        # The body is the CloudEvent replay serves, byte for byte: no trace context in it.
        assert message.value == to_kafka(row_to_envelope(row, "/inspection")).value  # type: ignore[attr-defined]

    # A third record whose traceparent is garbage: applied all the same, under a new root.
    bad = to_kafka(
        EventEnvelope(
            id="3a0c6d0e-5b1f-4a53-9a66-0d2b9f6f0003",
            source="/inspection",
            type=EnterpriseRegisteredV1.TYPE,
            subject=make_uscc(3),
            time=rows[0].occurred_at,
            sequence=3,
            data=payload(3).model_dump(mode="json"),
        )
    )
    producer = make_producer(own_broker.bootstrap, idempotence=False, timeout_s=3)
    await producer.start()
    try:
        await producer.send_and_wait(
            TOPIC,
            value=bad.value,
            key=make_uscc(3).encode(),
            headers=[*bad.headers.items(), ("traceparent", b"00-not-a-trace-01")],
        )
    finally:
        await producer.stop()

    handled_under: dict[str, str | None] = {}
    handlers = Handlers()

    @handlers.on(EnterpriseRegisteredV1)
    async def record(
        _session: AsyncSession, event: EnterpriseRegisteredV1, _env: EventEnvelope
    ) -> None:
        handled_under[event.uscc] = current_traceparent()

    applier = EventApplier(
        service="insurance",
        factory=kdb.factory,
        tables=kdb.tables,
        handlers=handlers,
        replay=None,
        tracer=sink.tracer,
    )
    runner = ConsumerRunner(
        applier=applier,
        sources=["inspection"],
        consumer_factory=lambda: make_consumer(own_broker.bootstrap, "insurance", timeout_s=3),
    )
    task = asyncio.create_task(runner.run())
    try:

        async def three_applied() -> list[ReadableSpan] | None:
            spans = only(list(sink_spans.get_finished_spans()), SpanKind.CONSUMER)
            return spans if len(spans) >= 3 else None

        consumed = await eventually(three_applied, timeout=60, interval=0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert len(consumed) == 3
    for span, parent in zip(consumed[:2], (first, second), strict=True):
        assert span.parent is not None
        assert parent.context is not None
        assert span.parent.is_remote
        assert (span.parent.trace_id, span.parent.span_id) == (
            parent.context.trace_id,
            parent.context.span_id,
        )
    assert consumed[2].parent is None
    for n, span in enumerate(consumed, start=1):
        attributes = span.attributes or {}
        assert span.name == "process inspection.events"
        assert attributes["safety.event.outcome"] == "applied"
        assert attributes["safety.event.sequence"] == n
        assert attributes["cloudevents.event_type"] == EnterpriseRegisteredV1.TYPE
        assert attributes["safety.consumer"] == "insurance"
        # The handler ran inside the consumer span: what it emits continues this trace.
        assert span.context is not None
        stored = handled_under[make_uscc(n)]
        assert stored is not None
        assert stored.split("-")[1:3] == [
            f"{span.context.trace_id:032x}",
            f"{span.context.span_id:016x}",
        ]
    assert trace.get_current_span().get_span_context().is_valid is False

"""kernel.tracing on its own: providers from settings, W3C headers in and out, server spans."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode
from pydantic import ValidationError

from kernel.settings import TraceExporter
from kernel.tracing import (
    ServerSpanMiddleware,
    Tracing,
    context_from_headers,
    context_from_traceparent,
    current_traceparent,
    kafka_trace_headers,
    make_tracing,
    replace_trace_headers,
    trace_headers,
)
from services.permits.config import PermitsSettings

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


def traceparent_of(ids: SpanContext) -> str:
    # Root spans carry the W3C level-2 "random" flag (03), continued ones the caller's flags.
    return f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{int(ids.trace_flags):02x}"


def in_memory(service: str = "permits", **kwargs: Any) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing = make_tracing(service, span_processors=[SimpleSpanProcessor(exporter)], **kwargs)
    return tracing, exporter


def processors(tracing: Tracing) -> list[Any]:
    return list(tracing.provider._active_span_processor._span_processors)


class TestProviderFromSettings:
    def test_defaults_create_spans_and_export_nothing(self) -> None:
        settings = PermitsSettings()
        assert settings.trace_exporter is TraceExporter.none
        assert settings.trace_sample_ratio == 1.0
        tracing = make_tracing(
            "permits",
            exporter=settings.trace_exporter,
            sample_ratio=settings.trace_sample_ratio,
        )
        assert processors(tracing) == []
        span = tracing.tracer.start_span("work")
        # Recorded and sampled: its ids propagate and logs can quote them.
        assert span.is_recording()
        assert span.get_span_context().trace_flags.sampled
        span.end()

    def test_resource_names_the_app_in_the_safety_namespace(self) -> None:
        attributes = make_tracing("credit").provider.resource.attributes
        assert attributes["service.name"] == "credit"
        assert attributes["service.namespace"] == "safety"

    def test_the_global_provider_is_left_alone(self) -> None:
        before = trace.get_tracer_provider()
        make_tracing("inspection")
        assert trace.get_tracer_provider() is before

    def test_otlp_batches_to_the_standard_endpoint_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
        monkeypatch.setenv("PERMITS_TRACE_EXPORTER", "otlp")
        settings = PermitsSettings()
        tracing = make_tracing("permits", exporter=settings.trace_exporter)
        try:
            (processor,) = processors(tracing)
            assert isinstance(processor, BatchSpanProcessor)
            exporter: Any = processor._batch_processor._exporter
            assert type(exporter).__name__ == "OTLPSpanExporter"
            assert exporter._endpoint == "http://collector:4318/v1/traces"
        finally:
            tracing.provider.shutdown()

    def test_console_exporter_is_batched(self) -> None:
        tracing = make_tracing("insurance", exporter=TraceExporter.console)
        try:
            (processor,) = processors(tracing)
            assert isinstance(processor, BatchSpanProcessor)
            assert type(processor._batch_processor._exporter).__name__ == "ConsoleSpanExporter"
        finally:
            tracing.provider.shutdown()

    @pytest.mark.parametrize("name", ["PERMITS_TRACE_EXPORTER", "PERMITS_TRACE_SAMPLE_RATIO"])
    def test_bad_settings_are_refused_naming_the_setting(
        self, monkeypatch: pytest.MonkeyPatch, name: str
    ) -> None:
        monkeypatch.setenv(name, "jaeger" if name.endswith("EXPORTER") else "1.5")
        with pytest.raises(ValidationError, match=name.removeprefix("PERMITS_").lower()):
            PermitsSettings()

    def test_a_ratio_of_zero_drops_new_traces_but_follows_a_sampled_caller(self) -> None:
        tracing, exporter = in_memory(sample_ratio=0.0)
        tracing.tracer.start_span("own").end()
        tracing.tracer.start_span("continued", context=context_from_traceparent(PARENT)).end()
        assert [s.name for s in exporter.get_finished_spans()] == ["continued"]


class TestPropagation:
    def test_kafka_headers_round_trip(self) -> None:
        tracing, _ = in_memory()
        span = tracing.tracer.start_span("send", context=context_from_traceparent(PARENT))
        headers = kafka_trace_headers(span)
        assert [k for k, _ in headers] == ["traceparent"]
        assert all(isinstance(v, bytes) for _, v in headers)
        extracted = trace.get_current_span(context_from_headers(headers)).get_span_context()
        assert extracted.is_remote
        assert extracted.trace_id == TRACE_ID
        assert extracted.span_id == span.get_span_context().span_id

    def test_tracestate_travels_with_the_parent(self) -> None:
        ctx = context_from_headers([(b"traceparent", PARENT.encode()), (b"tracestate", b"v=1")])
        tracing, _ = in_memory()
        child = tracing.tracer.start_span("child", context=ctx)
        assert trace_headers(trace.set_span_in_context(child))["tracestate"] == "v=1"

    @pytest.mark.parametrize(
        "headers",
        [
            None,
            [],
            [("traceparent", "garbage")],
            [("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01")],
            [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")],
            [(b"traceparent", b"\xff\xfe not ascii")],
            [(b"traceparent", None)],
            [(None, b"x"), (7, 8)],
            # Two parents: ambiguous, ignored as W3C says.
            [("traceparent", PARENT), ("traceparent", PARENT)],
        ],
    )
    def test_missing_or_malformed_context_starts_a_new_root(self, headers: Any) -> None:
        ctx = context_from_headers(headers)
        assert not trace.get_current_span(ctx).get_span_context().is_valid
        tracing, exporter = in_memory()
        tracing.tracer.start_span("root", context=ctx).end()
        (span,) = exporter.get_finished_spans()
        assert span.parent is None

    def test_header_names_are_case_insensitive(self) -> None:
        ctx = context_from_headers([("TraceParent", PARENT)])
        assert trace.get_current_span(ctx).get_span_context().trace_id == TRACE_ID

    @pytest.mark.parametrize("stored", [None, "", "not-a-traceparent"])
    def test_an_outbox_row_without_a_usable_traceparent_has_no_parent(
        self, stored: str | None
    ) -> None:
        ctx = context_from_traceparent(stored)
        assert not trace.get_current_span(ctx).get_span_context().is_valid

    def test_current_traceparent_names_the_current_span(self) -> None:
        assert current_traceparent() is None
        tracing, _ = in_memory()
        with tracing.tracer.start_as_current_span("emit", context=Context()) as span:
            stored = current_traceparent()
        assert stored == traceparent_of(span.get_span_context())

    def test_replace_swaps_the_callers_context_for_the_client_span(self) -> None:
        tracing, _ = in_memory()
        span = tracing.tracer.start_span("call", context=context_from_traceparent(PARENT))
        sent = replace_trace_headers(
            [("Traceparent", PARENT), ("tracestate", "v=1"), ("x-request-id", "r1")], span
        )
        names = [k.lower() for k, _ in sent]
        assert names.count("traceparent") == 1
        assert "tracestate" not in names
        assert dict(sent)["traceparent"] == traceparent_of(span.get_span_context())
        assert dict(sent)["x-request-id"] == "r1"

    def test_replace_keeps_the_callers_context_when_there_is_no_span(self) -> None:
        sent = replace_trace_headers([("traceparent", PARENT)], trace.INVALID_SPAN)
        assert sent == [("traceparent", PARENT)]


def spans_of(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


class TestServerSpans:
    @pytest.fixture
    def traced(self) -> tuple[FastAPI, InMemorySpanExporter]:
        tracing, exporter = in_memory()
        app = FastAPI()

        @app.get("/items/{item_id}")
        async def item(item_id: str) -> dict[str, str | None]:
            return {"item": item_id, "traceparent": current_traceparent()}

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("broken")

        app.add_middleware(ServerSpanMiddleware, tracer=tracing.tracer)
        return app, exporter

    async def call(self, app: FastAPI, path: str, **headers: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, headers=headers)

    async def test_the_span_continues_the_callers_trace_and_is_current(
        self, traced: tuple[FastAPI, InMemorySpanExporter]
    ) -> None:
        app, exporter = traced
        response = await self.call(app, "/items/7", traceparent=PARENT)
        (span,) = spans_of(exporter)
        assert span.kind is SpanKind.SERVER
        assert span.name == "GET /items/{item_id}"
        assert span.context is not None
        assert span.parent is not None
        assert (span.context.trace_id, span.parent.span_id) == (TRACE_ID, SPAN_ID)
        assert span.parent.is_remote
        assert span.attributes is not None
        assert span.attributes["http.route"] == "/items/{item_id}"
        assert span.attributes["http.response.status_code"] == 200
        # The handler ran inside the span: what it emits is stored under it.
        assert response.json()["traceparent"] == traceparent_of(span.context)

    async def test_a_malformed_traceparent_starts_a_root_and_the_request_succeeds(
        self, traced: tuple[FastAPI, InMemorySpanExporter]
    ) -> None:
        app, exporter = traced
        response = await self.call(app, "/items/7", traceparent="00-zz-yy-01")
        assert response.status_code == 200
        (span,) = spans_of(exporter)
        assert span.parent is None

    async def test_an_unmatched_path_keeps_the_method_name_only(
        self, traced: tuple[FastAPI, InMemorySpanExporter]
    ) -> None:
        app, exporter = traced
        assert (await self.call(app, "/nowhere/at/all")).status_code == 404
        (span,) = spans_of(exporter)
        assert span.name == "GET"
        assert span.attributes is not None
        assert "http.route" not in span.attributes

    async def test_an_exception_marks_the_span_failed(
        self, traced: tuple[FastAPI, InMemorySpanExporter]
    ) -> None:
        app, exporter = traced
        assert (await self.call(app, "/boom")).status_code == 500
        (span,) = spans_of(exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == 500
        assert [e.name for e in span.events] == ["exception"]

    async def test_expose_root_writes_the_new_trace_into_the_headers(self) -> None:
        tracing, exporter = in_memory("gateway")
        seen: list[str] = []

        async def echo(scope: Any, receive: Any, send: Any) -> None:
            headers = dict(scope["headers"])
            seen.append(headers.get(b"traceparent", b"").decode())
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        app = ServerSpanMiddleware(echo, tracer=tracing.tracer, expose_root=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/x")
            await client.get("/x", headers={"traceparent": PARENT})
        root, continued = spans_of(exporter)
        assert root.parent is None
        assert root.context is not None
        assert seen[0] == traceparent_of(root.context)
        # A caller's valid context is left as it came.
        assert continued.parent is not None
        assert seen[1] == PARENT

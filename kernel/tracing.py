"""OpenTelemetry traces for every app: a tracer provider per app, W3C propagation, server spans.

Each app builds its own `TracerProvider` (resource `service.name` = the app, namespace
`safety`) and never touches OpenTelemetry's global one: tests run several apps in one process
and each must keep its identity. Spans are always created, so trace ids propagate and logs can
quote them; whether they leave the process is `trace_exporter` (none | otlp | console).

Context crosses processes as W3C Trace Context only: `traceparent`/`tracestate` HTTP headers,
the same names in Kafka record headers, and the `traceparent` column of an outbox row (the
request's context waits there until the relay publishes the event). The propagator is the W3C
one itself, not the global (OTEL_PROPAGATORS) one, so what crosses is always the same format.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.http_metrics import ROUTE_SLOT, UNMATCHED, route_template
from kernel.settings import TraceExporter

log = logging.getLogger("kernel.tracing")

NAMESPACE = "safety"
INSTRUMENTATION = "safety.kernel"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_W3C = TraceContextTextMapPropagator()
# Stands in for an app without tracing (kernel parts built directly, as tests do).
NO_TRACER: Tracer = trace.NoOpTracer()
# FastAPI's own OpenTelemetry layer, off: the spans are ServerSpanMiddleware's, with the app's
# provider. Left on it would trace each request a second time as soon as anything installs a
# global provider, and even idle it costs ~10 µs a request checking the global providers.
FASTAPI_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class Tracing:
    """One app's tracer provider and tracer."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(INSTRUMENTATION)

    @property
    def service(self) -> str:
        return str(self.provider.resource.attributes.get("service.name", ""))

    def add_span_processor(self, processor: SpanProcessor) -> None:
        self.provider.add_span_processor(processor)

    def flush(self, timeout_seconds: float = 5.0) -> bool:
        """Export what is buffered (at shutdown), waiting at most `timeout_seconds`."""
        return self.provider.force_flush(int(timeout_seconds * 1000))


def make_tracing(
    service: str,
    *,
    exporter: TraceExporter = TraceExporter.none,
    sample_ratio: float = 1.0,
    span_processors: Sequence[SpanProcessor] = (),
) -> Tracing:
    """The tracer provider of app `service`.

    `sample_ratio` decides for traces that start here; a request that arrives with a parent
    follows the caller's decision (ParentBased), so one trace is kept or dropped as a whole.
    The OTLP exporter reads its endpoint from the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    or OTEL_EXPORTER_OTLP_ENDPOINT (and headers, timeout, compression likewise).
    """
    if not 0.0 <= sample_ratio <= 1.0:
        raise ValueError(f"sample_ratio must be between 0 and 1, got {sample_ratio}")
    exporting = exporter is not TraceExporter.none
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        resource=Resource.create({"service.name": service, "service.namespace": NAMESPACE}),
        # Flushes the batch at interpreter exit; nothing to flush when nothing is exported,
        # and an exit hook per app would keep every test's provider alive.
        shutdown_on_exit=exporting,
    )
    if exporter is TraceExporter.otlp:
        # Imported here: the exporter pulls in requests and protobuf, unused otherwise.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter is TraceExporter.console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    for processor in span_processors:
        provider.add_span_processor(processor)
    return Tracing(provider)


# --- propagation --------------------------------------------------------------------------


def _getter_text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def context_from_carrier(carrier: Mapping[str, str]) -> Context:
    """The remote parent in `carrier` (lower-case keys), or an empty context: a missing or
    malformed traceparent starts a new trace, it never fails the request or the message."""
    try:
        return _W3C.extract(carrier, context=Context())
    except Exception:  # a propagator bug must not cost a request or an event
        log.debug("unreadable trace context %r", carrier, exc_info=True)
        return Context()


def context_from_headers(headers: Iterable[tuple[Any, Any]] | None) -> Context:
    """The remote parent in HTTP (ASGI) or Kafka headers: names and values as str or bytes.

    Only the first traceparent and tracestate count; a repeated traceparent is ambiguous and
    W3C says to ignore the context then.
    """
    carrier: dict[str, str] = {}
    for raw_key, raw_value in headers or ():
        key = _getter_text(raw_key)
        if key is None:
            continue
        key = key.lower()
        if key not in (TRACEPARENT, TRACESTATE):
            continue
        value = _getter_text(raw_value)
        if key in carrier or value is None:
            if key == TRACEPARENT:
                return Context()
            continue
        carrier[key] = value
    if TRACEPARENT not in carrier:
        return Context()
    return context_from_carrier(carrier)


def context_from_traceparent(traceparent: str | None) -> Context:
    """The context a stored traceparent names (an outbox row's), or an empty one."""
    if not traceparent:
        return Context()
    return context_from_carrier({TRACEPARENT: traceparent})


def trace_headers(ctx: Context | None = None) -> dict[str, str]:
    """`traceparent` (and `tracestate` if any) for the span current in `ctx` (default: the
    current context); empty when there is no valid span to name."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context=ctx)
    return carrier


def kafka_trace_headers(span: Span) -> list[tuple[str, bytes]]:
    """Kafka record headers naming `span` as the parent of whoever consumes the record."""
    carrier = trace_headers(trace.set_span_in_context(span, Context()))
    return [(k, v.encode("ascii")) for k, v in carrier.items()]


def current_traceparent() -> str | None:
    """The current span's traceparent, to store with an event emitted in this context."""
    return trace_headers().get(TRACEPARENT)


def replace_trace_headers(headers: Iterable[tuple[str, str]], span: Span) -> list[tuple[str, str]]:
    """`headers` with the caller's traceparent/tracestate replaced by `span`'s (the client
    span of the next hop). With no valid span (tracing off) the caller's are kept."""
    carrier = trace_headers(trace.set_span_in_context(span, Context()))
    if not carrier:
        return list(headers)
    kept = [(k, v) for k, v in headers if k.lower() not in (TRACEPARENT, TRACESTATE)]
    kept.extend(carrier.items())
    return kept


# --- spans --------------------------------------------------------------------------------


def mark_failed(span: Span, error: BaseException | str) -> None:
    """Set `span`'s status to error, recording the exception if there is one."""
    if isinstance(error, BaseException):
        span.record_exception(error)
        description = f"{type(error).__name__}: {error}"
    else:
        description = error
    span.set_status(Status(StatusCode.ERROR, description[:500]))


def end_span(span: Span, error: BaseException | str | None = None) -> None:
    """End `span`, marked failed when `error` is given."""
    if error is not None:
        mark_failed(span, error)
    span.end()


class ServerSpanMiddleware:
    """A SERVER span per HTTP request, continuing the caller's trace, current while the app
    handles the request (pure ASGI).

    Chosen over opentelemetry-instrumentation-fastapi, which adds two internal spans per
    response (start and body) and reads every header through its getters; this is one span
    and two header lookups per request. The route template (never the raw path) names it, as
    in the HTTP metrics: where HttpMetricsMiddleware sits inside, its route slot is read.

    With `expose_root`, a request that arrives without a trace gets this span's traceparent
    written into its headers, so whatever reads them further in (logs, routes that forward
    them) names the trace this span started.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer: Tracer,
        expand: Mapping[str, frozenset[str]] | None = None,
        expose_root: bool = False,
    ) -> None:
        self.app = app
        self._tracer = tracer
        self._expand = dict(expand or {})
        self._expose_root = expose_root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        parent = context_from_headers(scope["headers"])
        span = self._tracer.start_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
            },
        )
        if self._expose_root and not trace.get_current_span(parent).get_span_context().is_valid:
            own = trace_headers(trace.set_span_in_context(span, Context()))
            headers = [
                (k, v) for k, v in scope["headers"] if k not in (b"traceparent", b"tracestate")
            ]
            headers.extend((k.encode("ascii"), v.encode("ascii")) for k, v in own.items())
            scope = dict(scope, headers=headers)
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span, parent))
        failure: BaseException | None = None
        try:
            await self.app(scope, receive, send_traced)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            otel_context.detach(token)
            self._finish(span, scope, method, status or 500, failure)

    def _finish(
        self, span: Span, scope: Scope, method: str, status: int, failure: BaseException | None
    ) -> None:
        slot = scope.get(ROUTE_SLOT)
        if slot is not None and slot[0] is not None:
            route, params = slot[0], slot[1]
        else:
            route, params = scope.get("route"), scope.get("path_params")
        template = route_template(route, params or {}, self._expand)
        if template != UNMATCHED:
            span.update_name(f"{method} {template}")
            span.set_attribute("http.route", template)
        span.set_attribute("http.response.status_code", status)
        if failure is not None:
            end_span(span, failure)
        elif status >= 500:
            end_span(span, f"HTTP {status}")
        else:
            span.end()

"""kernel/logs.py: JSON and text lines with the request and trace ids, the access line, and a
real service process writing them under uvicorn with deploy/logging/json.json."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp

from kernel import logs
from kernel.devbroker import DevBroker
from kernel.logs import JsonFormatter, RequestLogMiddleware, TextFormatter
from kernel.settings import REPO_ROOT
from tests.support import free_port

RFC3339_MS_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TEST_LOGGER = "tests.kernel.logs"


def record(msg: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> Any:
    rec = logging.LogRecord(TEST_LOGGER, logging.WARNING, __file__, 7, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def parse(line: str) -> dict[str, Any]:
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture(autouse=True)
def process_service() -> Iterator[None]:
    """Tests name the process; put back whatever name (if any) it had."""
    saved = logs._process_service
    yield
    logs.set_service(saved)


# ---- the JSON formatter ------------------------------------------------------------------------


class TestJsonFormatter:
    def test_every_field_outside_a_request(self) -> None:
        logs.set_service("permits")
        out = parse(JsonFormatter().format(record()))
        assert out == {
            "ts": out["ts"],
            "level": "WARNING",
            "logger": TEST_LOGGER,
            "message": "hello world",
            "service": "permits",
            "request_id": None,
            "trace_id": None,
            "span_id": None,
        }
        assert RFC3339_MS_UTC.fullmatch(out["ts"])

    def test_timestamp_is_the_records_time_in_utc(self) -> None:
        rec = record()
        rec.created = 1_790_000_000.25  # 2026-09-21T14:13:20.250Z
        assert parse(JsonFormatter().format(rec))["ts"] == "2026-09-21T14:13:20.250Z"
        rec.created = 1_790_000_000.9996  # never rounds up into "1000"
        assert parse(JsonFormatter().format(rec))["ts"] == "2026-09-21T14:13:20.999Z"

    def test_service_given_in_the_config_wins(self) -> None:
        logs.set_service("permits")
        assert parse(JsonFormatter(service="gateway").format(record()))["service"] == "gateway"

    def test_extra_fields_are_top_level_keys(self) -> None:
        out = parse(
            JsonFormatter().format(
                record(event_id="e-1", attempts=3, ok=True, tags=["a", "b"], ts="mine")
            )
        )
        assert out["event_id"] == "e-1"
        assert out["attempts"] == 3
        assert out["ok"] is True
        assert out["tags"] == ["a", "b"]
        # A caller's key that the formatter owns is kept under another name.
        assert out["extra_ts"] == "mine"
        assert RFC3339_MS_UTC.fullmatch(out["ts"])

    def test_explicit_ids_win_over_the_context(self) -> None:
        out = parse(JsonFormatter().format(record(request_id="r-9", trace_id="t" * 32)))
        assert (out["request_id"], out["trace_id"]) == ("r-9", "t" * 32)

    def test_exception_is_the_formatted_traceback(self) -> None:
        try:
            raise ValueError("bad input 42")
        except ValueError:
            rec = logging.LogRecord(
                TEST_LOGGER, logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
            )
        out = parse(JsonFormatter().format(rec))
        assert out["message"] == "failed"
        assert out["exception"].startswith("Traceback (most recent call last):")
        assert out["exception"].rstrip().endswith("ValueError: bad input 42")
        assert "\n" not in JsonFormatter().format(rec)  # still one line

    def test_stack_info(self) -> None:
        rec = record()
        rec.stack_info = "Stack (most recent call last):\n  File x"
        assert parse(JsonFormatter().format(rec))["stack"].endswith("File x")

    def test_values_json_cannot_carry_are_stringified_never_raised(self) -> None:
        class Unprintable:
            def __str__(self) -> str:
                raise RuntimeError("no")

        cycle: dict[str, Any] = {"name": "loop"}
        cycle["self"] = cycle
        rec = record(
            amount=Decimal("1000000.00"),
            kinds={"x"},
            odd=Unprintable(),
            cycle=cycle,
            huge=2**70,
            surrogate="\udcff",
            by_tuple={(1, 2): "v"},
            ok="kept",
        )
        out = parse(JsonFormatter().format(rec))
        assert out["amount"] == "1000000.00"
        assert out["kinds"] == "{'x'}"
        assert out["odd"] == "<unprintable Unprintable>"
        assert out["cycle"].startswith("{'name': 'loop', 'self': {...}}")
        assert out["huge"] == str(2**70)
        assert out["surrogate"] == "\\udcff"
        assert out["by_tuple"] == "{(1, 2): 'v'}"
        assert out["ok"] == "kept"
        assert out["message"] == "hello world"

    def test_arguments_that_do_not_fit_the_message_keep_the_line(self) -> None:
        out = parse(JsonFormatter().format(record("%d items", ("many",))))
        assert out["message"] == "%d items ('many',)"


class TestTextFormatter:
    def test_short_ids_and_extras(self) -> None:
        rec = record(request_id="0123456789abcdef", trace_id=TRACE_ID, event_id="e-1")
        line = TextFormatter().format(rec)
        assert re.fullmatch(
            r"\d\d:\d\d:\d\d\.\d{3} WARNING tests\.kernel\.logs: hello world  "
            r"\[req=01234567 trace=4bf92f35 event_id=e-1\]",
            line,
        )

    def test_no_brackets_without_ids_and_traceback_below(self) -> None:
        try:
            raise KeyError("k")
        except KeyError:
            rec = logging.LogRecord(
                TEST_LOGGER, logging.ERROR, __file__, 1, "x", (), sys.exc_info()
            )
        first, *rest = TextFormatter().format(rec).splitlines()
        assert first.endswith("ERROR   tests.kernel.logs: x")
        assert rest[0] == "Traceback (most recent call last):"
        assert rest[-1] == "KeyError: 'k'"


# ---- configuration -------------------------------------------------------------------------------


class TestLevels:
    def test_level_names(self) -> None:
        assert logs.parse_level("debug") == logging.DEBUG
        assert logs.parse_level(" WARNING ") == logging.WARNING
        for bad in ("verbose", "", "NOTSET", "10"):
            with pytest.raises(ValueError, match=r"LOG_LEVEL=.* is not a log level"):
                logs.parse_level(bad)

    def test_name_service_applies_log_level_only_when_set(self) -> None:
        root = logging.getLogger()
        saved = root.level
        try:
            root.setLevel(logging.INFO)
            logs.name_service("credit", {})
            assert (logs._process_service, root.level) == ("credit", logging.INFO)
            logs.name_service("credit", {"LOG_LEVEL": "debug"})
            assert root.level == logging.DEBUG
            with pytest.raises(ValueError, match="LOG_LEVEL"):
                logs.name_service("credit", {"LOG_LEVEL": "loud"})
        finally:
            root.setLevel(saved)

    def test_unknown_format_is_refused(self) -> None:
        with pytest.raises(ValueError, match="log format 'xml'"):
            logs.logging_config("xml")  # type: ignore[arg-type]


# ---- the middleware ------------------------------------------------------------------------------


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """JSON lines of the test's and the access logger, formatted as they are emitted."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(TEST_LOGGER), logging.getLogger(logs.ACCESS_LOGGER)]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def read_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [parse(line) for line in stream.getvalue().splitlines()]


def tiny_app(provider: TracerProvider | None = None) -> FastAPI:
    app = FastAPI()
    log = logging.getLogger(TEST_LOGGER)

    @app.get("/items/{code}")
    async def item(code: str, request: Request) -> dict[str, Any]:
        if provider is None:
            log.info("looking up %s", code)
            return {"ids": logs.current_ids()}
        with provider.get_tracer("test").start_as_current_span("lookup") as span:
            log.info("looking up %s", code, extra={"code": code})
            context = span.get_span_context()
            return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}

    @app.get("/boom")
    async def boom() -> None:
        log.info("about to fail")
        raise RuntimeError("kaput")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(RequestLogMiddleware, service="permits")
    return app


def client(app: ASGIApp, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=app, client=("10.1.2.3", 5555), raise_app_exceptions=raise_app_exceptions
    )
    return httpx.AsyncClient(transport=transport, base_url="http://test")


class TestRequestLogMiddleware:
    async def test_lines_in_a_request_carry_its_ids_and_one_access_line(
        self, lines: io.StringIO
    ) -> None:
        logs.set_service("other")
        headers = {"X-Request-ID": "req-1", "traceparent": TRACEPARENT}
        async with client(tiny_app()) as http:
            response = await http.get("/items/QD-AJ-003?secret=1", headers=headers)
        assert response.status_code == 200
        # Inside the request the ids are those of the request (the header's trace: no span).
        assert response.json()["ids"] == {
            "service": "permits",
            "request_id": "req-1",
            "trace_id": TRACE_ID,
            "span_id": None,
        }
        inside, access = read_lines(lines)
        assert inside["message"] == "looking up QD-AJ-003"
        assert (inside["service"], inside["request_id"], inside["trace_id"]) == (
            "permits",
            "req-1",
            TRACE_ID,
        )
        assert access["logger"] == "kernel.access"
        assert access["level"] == "INFO"
        assert {k: access[k] for k in ("method", "route", "path", "status", "client")} == {
            "method": "GET",
            "route": "/items/{code}",
            "path": "/items/QD-AJ-003",  # never the query string
            "status": 200,
            "client": "10.1.2.3",
        }
        assert isinstance(access["duration_ms"], float)
        assert access["duration_ms"] >= 0
        assert (access["request_id"], access["trace_id"]) == ("req-1", TRACE_ID)
        assert access["message"].startswith("GET /items/QD-AJ-003 200 ")
        # Nothing is left behind: outside the request the process's own name, no ids.
        assert logs.current_ids() == {
            "service": "other",
            "request_id": None,
            "trace_id": None,
            "span_id": None,
        }

    async def test_an_active_span_wins_over_the_header(self, lines: io.StringIO) -> None:
        provider = TracerProvider()  # local: the global provider stays untouched
        headers = {"X-Request-ID": "req-2", "traceparent": TRACEPARENT}
        async with client(tiny_app(provider)) as http:
            span = (await http.get("/items/X", headers=headers)).json()
        inside, access = read_lines(lines)
        assert span["trace_id"] != TRACE_ID  # a new root span, not the header's trace
        assert (inside["trace_id"], inside["span_id"]) == (span["trace_id"], span["span_id"])
        assert inside["request_id"] == "req-2"
        assert inside["code"] == "X"
        # The access line is written after the span ended: the header's trace again.
        assert (access["trace_id"], access["span_id"]) == (TRACE_ID, None)

    async def test_without_headers_no_ids_are_invented(self, lines: io.StringIO) -> None:
        async with client(tiny_app()) as http:
            await http.get("/items/A")
            await http.get("/items/B")
        records = read_lines(lines)
        assert len(records) == 4
        assert {(r["request_id"], r["trace_id"]) for r in records} == {(None, None)}

    @pytest.mark.parametrize(
        "headers",
        [
            [("X-Request-ID", "x" * 129)],
            [("X-Request-ID", "evil line")],
            [("X-Request-ID", "a"), ("X-Request-ID", "b")],
            [("traceparent", "00-" + "0" * 32 + "-00f067aa0ba902b7-01")],
            [("traceparent", TRACEPARENT), ("traceparent", TRACEPARENT)],
        ],
    )
    async def test_malformed_or_repeated_ids_are_ignored(
        self, lines: io.StringIO, headers: list[tuple[str, str]]
    ) -> None:
        async with client(tiny_app()) as http:
            await http.get("/items/A", headers=headers)
        access = read_lines(lines)[-1]
        assert (access["request_id"], access["trace_id"]) == (None, None)

    async def test_an_escaping_exception_is_one_error_line_with_traceback(
        self, lines: io.StringIO
    ) -> None:
        async with client(tiny_app(), raise_app_exceptions=False) as http:
            response = await http.get("/boom", headers={"X-Request-ID": "req-3"})
        assert response.status_code == 500
        inside, access = read_lines(lines)
        assert inside["request_id"] == "req-3"
        assert access["level"] == "ERROR"
        assert (access["status"], access["route"], access["request_id"]) == (500, "/boom", "req-3")
        assert access["exception"].rstrip().endswith("RuntimeError: kaput")
        assert logs.current_ids()["request_id"] is None

    async def test_unmatched_route_and_quiet_probes(self, lines: io.StringIO) -> None:
        async with client(tiny_app()) as http:
            await http.get("/nowhere")
            await http.get("/health")
        missing, probe = read_lines(lines)
        assert (missing["status"], missing["route"], missing["level"]) == (404, None, "INFO")
        assert (probe["status"], probe["route"], probe["level"]) == (200, "/health", "DEBUG")

    async def test_no_access_line_below_the_loggers_level(self, lines: io.StringIO) -> None:
        logging.getLogger(logs.ACCESS_LOGGER).setLevel(logging.INFO)
        async with client(tiny_app()) as http:
            await http.get("/health")
        assert read_lines(lines) == []

    async def test_other_scopes_pass_through(self) -> None:
        seen: list[str] = []

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])
            # No request ids for a lifespan (the service name is the process's, set by factories).
            assert logs.current_ids()["request_id"] is None

        await RequestLogMiddleware(inner, service="permits")({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
        assert seen == ["lifespan"]


# ---- a real service process ----------------------------------------------------------------------


def test_a_service_under_uvicorn_writes_json_lines_with_the_request_id(
    tmp_path: Path, broker: DevBroker
) -> None:
    port = free_port()
    log_file = tmp_path / "permits.log"
    env = {
        **os.environ,
        "APP_ENV": "local",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "PERMITS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'permits.db'}",
        "PERMITS_LICENCE_KEY_DIR": str(tmp_path / "licence-keys"),
        "AUTH_DEV_KEY_DIR": str(tmp_path / "keys"),
    }
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "services.permits.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-config",
        str(REPO_ROOT / "deploy" / "logging" / "json.json"),
    ]
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log_file.read_text(errors="replace")[-4000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_file.read_text(errors="replace")[-4000:]
            time.sleep(0.2)
        headers = {"X-Request-ID": "e2e-req-77", "traceparent": TRACEPARENT}
        response = httpx.get(f"{base}/items/QD-AJ-003", headers=headers, timeout=10)
        # The access line is written once the response has gone: wait for it to appear.
        deadline = time.monotonic() + 30
        while "e2e-req-77" not in log_file.read_text(errors="replace"):
            assert time.monotonic() < deadline, log_file.read_text(errors="replace")[-4000:]
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log_file.read_text(errors="replace")
    records = [parse(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    # uvicorn logs its first line after importing the app, which names the service.
    assert {r["service"] for r in records} == {"permits"}
    assert not any("color_message" in r for r in records)
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "kernel.access"} <= loggers
    assert not any(r["logger"] == "uvicorn.access" for r in records)
    (access,) = [r for r in records if r.get("request_id") == "e2e-req-77"]
    assert access["logger"] == "kernel.access"
    assert (access["method"], access["route"], access["status"]) == (
        "GET",
        "/items/{code}",
        response.status_code,
    )
    assert access["trace_id"] == TRACE_ID  # the caller's trace, from the span or the header
    assert access["client"] == "127.0.0.1"
    assert any("Application shutdown complete" in r["message"] for r in records)

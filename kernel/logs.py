"""Structured logs for every app: one JSON object per line, each carrying the request and trace ids.

Three parts, all on stdlib logging:

- `JsonFormatter` (deployments) and `TextFormatter` (the developer console), which stamp every
  record with the service, the request id and the trace and span ids current where it was logged;
- `RequestLogMiddleware`, pure ASGI, which holds a request's ids in a context variable while the
  request runs and writes one access line per request (uvicorn's own access log is off);
- `logging_config`, the dictConfig behind deploy/logging/{json,text}.json, which uvicorn loads with
  `--log-config` before it imports the app; the app factory then names the service (`name_service`).

Ids: the request id is the caller's X-Request-ID (the gateway puts one on every request and
forwards it); the trace and span ids are the current OpenTelemetry span's, or, where no span is
active, the trace id of the request's W3C traceparent. Background work (relay, consumers) has no
request id; inside a consumer's span its trace id appears all the same.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.http_metrics import ROUTE_SLOT, UNMATCHED, route_template

LogFormat = Literal["json", "text"]
LOG_FORMATS: Final[tuple[LogFormat, ...]] = ("json", "text")
# Read by `name_service` in every app process, outside the settings classes: uvicorn configures
# logging before any settings object exists (deploy/settings_inventory.py lists it).
LEVEL_VARIABLE: Final = "LOG_LEVEL"
ACCESS_LOGGER: Final = "kernel.access"

access_log = logging.getLogger(ACCESS_LOGGER)

# The gateway's rule for ids it accepts from callers: enough for UUIDs and tracer ids, nothing
# that could forge a log line or grow one without bound.
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# W3C Trace Context version 00; all-zero trace or parent ids are invalid.
_TRACEPARENT: Final = re.compile(r"00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
# Probes and scrapes arrive every few seconds per pod: their successes are logged at DEBUG.
QUIET_PATHS: Final = frozenset({"/health", "/ready", "/metrics"})

# Every attribute a bare LogRecord has; anything else on a record came from `extra=`, except
# uvicorn's `color_message` (its message again, with ANSI colour codes).
_RECORD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}
_IDS: Final = ("service", "request_id", "trace_id", "span_id")
# Keys the formatter owns; an `extra=` of the same name is kept under "extra_<name>".
_OWN_KEYS: Final = frozenset({"ts", "level", "logger", "message", "exception", "stack"})


@dataclass(frozen=True, slots=True)
class RequestIds:
    """The ids of the request being served, as the middleware found them."""

    service: str
    request_id: str | None
    # From the traceparent header: used only when no OpenTelemetry span is active.
    header_trace_id: str | None


_request: contextvars.ContextVar[RequestIds | None] = contextvars.ContextVar(
    "kernel.logs.request", default=None
)
# The process's service name for lines logged outside any request (set by `name_service`).
_process_service: str | None = None


def set_service(service: str | None) -> None:
    """Name the service every log line of this process carries outside a request."""
    global _process_service
    _process_service = service


def name_service(service: str, environ: Mapping[str, str] | None = None) -> None:
    """Called by each app factory: name this process's log lines and apply LOG_LEVEL if set.

    Logging itself is configured by uvicorn from deploy/logging/*.json before the app is
    imported; only the app knows its name, and the level comes from the environment so that one
    file serves every deployment. Handlers are left alone (pytest's caplog keeps working).
    """
    set_service(service)
    environ = os.environ if environ is None else environ
    raw = environ.get(LEVEL_VARIABLE, "").strip()
    if raw:
        logging.getLogger().setLevel(parse_level(raw))


def parse_level(raw: str) -> int:
    """A level name (any case) as a number; ValueError naming the variable otherwise."""
    level = logging.getLevelNamesMapping().get(raw.strip().upper())
    if level is None or raw.strip().upper() in ("NOTSET", "WARN", "FATAL"):
        raise ValueError(
            f"{LEVEL_VARIABLE}={raw!r} is not a log level; use DEBUG, INFO, WARNING, ERROR "
            "or CRITICAL"
        )
    return level


def current_ids() -> dict[str, str | None]:
    """service, request_id, trace_id and span_id where this is called (None when unknown)."""
    ids = _request.get()
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        trace_id: str | None = format(context.trace_id, "032x")
        span_id: str | None = format(context.span_id, "016x")
    else:
        trace_id, span_id = (ids.header_trace_id if ids else None), None
    return {
        "service": ids.service if ids else _process_service,
        "request_id": ids.request_id if ids else None,
        "trace_id": trace_id,
        "span_id": span_id,
    }


# ---- formatters -------------------------------------------------------------------------------

_ts_cache: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds; the seconds part is formatted once per second."""
    global _ts_cache
    seconds = int(created)
    cached_second, prefix = _ts_cache
    if seconds != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _ts_cache = (seconds, prefix)
    millis = min(int((created - seconds) * 1000), 999)
    return f"{prefix}.{millis:03d}Z"


def _safe_str(value: Any) -> str:
    """str() of anything, never raising; lone surrogates escaped (JSON cannot carry them)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # Arguments that do not fit the format: keep both rather than lose the line.
        return f"{_safe_str(record.msg)} {_safe_str(record.args)}"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}


def _record_ids(record: logging.LogRecord, extras: dict[str, Any]) -> dict[str, Any]:
    """The context's ids, each overridden by an explicit `extra=` of the same name."""
    ids: dict[str, Any] = current_ids()
    for key in _IDS:
        if key in extras:
            ids[key] = extras.pop(key)
    return ids


def _json_default(value: Any) -> str:
    return _safe_str(value)


def _dumps(payload: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(payload, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        pass
    # Something orjson refuses even through `default` (a cycle, an integer over 64 bits, a lone
    # surrogate, an unhashable key type): keep every key, stringify only the ones that fail.
    safe: dict[str, Any] = {}
    for key, value in payload.items():
        try:
            orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS)
            safe[key] = value
        except (TypeError, orjson.JSONEncodeError):
            safe[key] = _safe_str(value)
    return orjson.dumps(safe, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the ids, exception, extras."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        # Given in a dictConfig file, it wins over the name the app factory sets.
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        ids = _record_ids(record, extras)
        if self._service is not None and "service" not in record.__dict__:
            ids["service"] = self._service
        payload: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
            **ids,
        }
        # Cached on the record as the stdlib does, so a second handler does not redo it.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        for key, value in extras.items():
            name = f"extra_{key}" if key in _OWN_KEYS else key
            payload[name] = value
        return _dumps(payload).decode("utf-8")


class TextFormatter(logging.Formatter):
    """The developer console: time, level, logger, message, short ids, then any extras.

    `make run` prefixes each line with the process name, so the service is not repeated.
    """

    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        ids = _record_ids(record, extras)
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{clock}.{int(record.msecs):03d} {record.levelname:<7} {record.name}: "
        line += _message(record)
        tags = []
        if ids["request_id"]:
            tags.append(f"req={str(ids['request_id'])[:8]}")
        if ids["trace_id"]:
            tags.append(f"trace={str(ids['trace_id'])[:8]}")
        if extras and record.name != ACCESS_LOGGER:  # the access message already says it all
            tags.extend(f"{k}={_safe_str(v)}" for k, v in extras.items())
        if tags:
            line += "  [" + " ".join(tags) + "]"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def logging_config(fmt: LogFormat, level: str = "INFO") -> dict[str, Any]:
    """The dictConfig every app process runs under (deploy/logging/<fmt>.json is this, dumped).

    One handler on the root logger, to stdout; uvicorn's loggers propagate to it, except
    uvicorn.access, which is off: RequestLogMiddleware writes the access lines, with the ids.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(LOG_FORMATS)}")
    level = logging.getLevelName(parse_level(level))
    formatter = "kernel.logs.JsonFormatter" if fmt == "json" else "kernel.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"app": {"()": formatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "app",
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            # uvicorn's default config gives these their own handlers; here they share root's.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # No handler and no propagation: uvicorn then skips building its access lines.
            "uvicorn.access": {"handlers": [], "propagate": False},
            # Noise at INFO: aiokafka narrates every group join and reconnect, Alembic lists
            # its plugins at every start.
            "aiokafka": {"level": "WARNING"},
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
        "root": {"handlers": ["stdout"], "level": level},
    }


def configure_logging(service: str, fmt: LogFormat, level: str = "INFO") -> None:
    """Configure a process that uvicorn does not start (the operator CLI, a one-off job).

    Replaces the root logger's handlers: call it once from a `main`, never from library code or
    an app factory.
    """
    logging.config.dictConfig(logging_config(fmt, level))
    set_service(service)


# ---- the request middleware ---------------------------------------------------------------------


def _header_ids(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """X-Request-ID and the traceparent's trace id, each only if present once and well formed."""
    request_ids: list[bytes] = []
    parents: list[bytes] = []
    for key, value in headers:
        if key == b"x-request-id":
            request_ids.append(value)
        elif key == b"traceparent":
            parents.append(value)
    request_id = trace_id = None
    if len(request_ids) == 1:
        text = request_ids[0].decode("latin-1")
        if _REQUEST_ID.fullmatch(text):
            request_id = text
    if len(parents) == 1:
        match = _TRACEPARENT.fullmatch(parents[0].decode("latin-1"))
        if match:
            trace_id = match.group(1)
    return request_id, trace_id


class RequestLogMiddleware:
    """Holds each HTTP request's ids for the log lines logged while it runs; one access line.

    The access line: method, route template (None when no route matched), path (never the query
    string, which may carry personal data), status, duration_ms, client, plus the ids. An
    exception escaping the app is logged on that line at ERROR, with its traceback, as a 500.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        expand: Mapping[str, frozenset[str]] | None = None,
        quiet_paths: Iterable[str] = QUIET_PATHS,
    ) -> None:
        self.app = app
        self.service = service
        # As in HttpMetricsMiddleware: the gateway names the upstream in its proxy's template.
        self._expand = dict(expand or {})
        self._quiet = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, header_trace = _header_ids(scope.get("headers", ()))
        token = _request.set(RequestIds(self.service, request_id, header_trace))
        started = time.perf_counter()
        status: int | None = None

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:
            self._log(scope, status if status is not None else 500, started, exc)
            raise
        except BaseException:
            # Cancelled (shutdown, or the server gave up on the client): nginx's 499 if no
            # answer had started.
            self._log(scope, status if status is not None else 499, started, None)
            raise
        else:
            self._log(scope, status if status is not None else 500, started, None)
        finally:
            _request.reset(token)

    def _log(self, scope: Scope, status: int, started: float, exc: Exception | None) -> None:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        if exc is not None:
            level = logging.ERROR
        elif path in self._quiet and status < 400:
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not access_log.isEnabledFor(level):
            return
        slot = scope.get(ROUTE_SLOT)
        if slot is not None and slot[0] is not None:
            route, params = slot[0], slot[1]
        else:
            route, params = scope.get("route"), scope.get("path_params")
        template: str | None = route_template(route, params or {}, self._expand)
        if template == UNMATCHED:
            template = None
        client = scope.get("client")
        access_log.log(
            level,
            "%s %s %s %.1fms",
            method,
            path,
            status,
            duration_ms,
            exc_info=exc,
            extra={
                "method": method,
                "route": template,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "client": client[0] if client else None,
            },
        )


__all__ = [
    "ACCESS_LOGGER",
    "LEVEL_VARIABLE",
    "LOG_FORMATS",
    "QUIET_PATHS",
    "JsonFormatter",
    "LogFormat",
    "RequestIds",
    "RequestLogMiddleware",
    "TextFormatter",
    "configure_logging",
    "current_ids",
    "logging_config",
    "name_service",
    "parse_level",
    "set_service",
]

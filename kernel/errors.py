"""RFC 9457 problem details for every 4xx/5xx, rendered by one set of handlers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://errors.safety.qingdao.gov.cn/"

log = logging.getLogger("kernel.errors")


class ProblemError(Exception):
    """A domain or request error that knows its HTTP status and stable machine code."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    title_zh: str = "请求有误"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers = headers
        self.extra = extra


class Unauthorized(ProblemError):
    status, code, title, title_zh = 401, "unauthorized", "Authentication required", "需要身份认证"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(ProblemError):
    status, code, title, title_zh = 403, "forbidden", "Forbidden", "无权访问"


class NotFound(ProblemError):
    status, code, title, title_zh = 404, "not_found", "Not found", "未找到"


class Conflict(ProblemError):
    status, code, title, title_zh = 409, "conflict", "Conflict", "状态冲突"


class Gone(ProblemError):
    status, code, title, title_zh = 410, "gone", "Gone", "已不可用"


class PreconditionFailed(ProblemError):
    status, code, title, title_zh = 412, "precondition_failed", "Precondition failed", "版本不一致"


class RuleViolated(ProblemError):
    """A business rule refused an otherwise well-formed request."""

    status, code, title, title_zh = 422, "rule_violated", "Business rule violated", "不符合业务规则"


class ServiceUnavailable(ProblemError):
    status, code, title = 503, "service_unavailable", "Service unavailable"
    title_zh = "服务暂不可用"


def wants_chinese(request: Request) -> bool:
    """People-facing text is Chinese when the caller asks for zh (Accept-Language)."""
    return request.headers.get("accept-language", "").lower().startswith("zh")


def problem_response(
    request: Request,
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    title_zh: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Render one problem document (RFC 9457) with a stable `code` extension."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title_zh if (title_zh and wants_chinese(request)) else title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    request_id = request.headers.get("x-request-id")
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return Response(
        orjson.dumps(body, default=str),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _field_path(loc: Sequence[int | str], error_type: str) -> str:
    # FastAPI prefixes the location with where it came from: body, query, path, header.
    if error_type == "json_invalid":
        return "body"  # the position that follows is a character offset, not a field
    parts = [str(p) for p in loc]
    return ".".join(parts[1:]) if len(parts) > 1 else ".".join(parts)


def validation_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Each invalid field with the rule it broke and a readable message."""
    out = []
    for err in errors:
        loc = err.get("loc", ())
        out.append(
            {
                "field": _field_path(loc, str(err.get("type", ""))),
                "in": str(loc[0]) if loc else "body",
                "rule": str(err.get("type", "invalid")),
                "message": str(err.get("msg", "invalid value")),
            }
        )
    return out


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        title_zh=exc.title_zh,
        headers=exc.headers,
        **exc.extra,
    )


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc.errors())
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem_response(
        request,
        422,
        "validation_failed",
        "Request validation failed",
        f"invalid field(s): {fields}",
        title_zh="请求参数校验失败",
        errors=errors,
    )


_ZH_PHRASES = {
    400: "请求有误",
    401: "需要身份认证",
    403: "无权访问",
    404: "未找到",
    405: "不支持该请求方法",
    406: "无法提供所需格式",
    409: "状态冲突",
    410: "已不可用",
    412: "版本不一致",
    413: "请求内容过大",
    415: "不支持的内容类型",
    422: "请求参数校验失败",
    429: "请求过于频繁",
    500: "服务内部错误",
    502: "上游服务异常",
    503: "服务暂不可用",
    504: "上游服务超时",
}


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    return problem_response(
        request,
        status,
        code,
        phrase,
        detail,
        title_zh=_ZH_PHRASES.get(status),
        headers=exc.headers,
    )


async def _on_database(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return problem_response(
        request,
        503,
        "database_unavailable",
        "Database unavailable",
        # Not "nothing was written": a commit may have landed before its answer was lost.
        "the service's database did not answer; retry later (a retry with the same "
        "Idempotency-Key is applied at most once)",
        title_zh="数据库暂不可用",
        headers={"Retry-After": "5"},
    )


# SQLSTATE of a lost or refused connection: class 08, the server shutting down or starting up
# (57P01-57P03), no connection slot left (53300).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# The database drivers' packages: an OSError or TimeoutError raised inside them is the database.
_DRIVER_PATHS = ("/sqlalchemy/", "/asyncpg/", "/aiosqlite/")


def _raised_by_database(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if any(part in tb.tb_frame.f_code.co_filename for part in _DRIVER_PATHS):
            return True
        tb = tb.tb_next
    return False


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached or stopped answering: a condition
    to wait out and retry, not a bug in the request or the handler that ran into it."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        sqlstate = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
        return exc.connection_invalidated or sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    # asyncpg raises the builtin TimeoutError (an OSError) when the database stops answering
    # mid-conversation (a stalled network: the pool's pre-ping waits out command_timeout),
    # and SQLAlchemy passes it and refused connections through untranslated.
    return isinstance(exc, OSError) and _raised_by_database(exc)


async def _on_driver_error(request: Request, exc: Exception) -> Response:
    # Found by tests/faults: a connection dropped mid-query ("connection was closed in the
    # middle of operation") is a bare DBAPIError, and a stalled one a TimeoutError from asyncpg;
    # both answered 500. Other driver errors (a value too long, say) are bugs and still do.
    if database_unavailable(exc):
        return await _on_database(request, exc)
    return await _on_unexpected(request, exc)


async def _on_integrity(request: Request, exc: Exception) -> Response:
    # Reaching here means a uniqueness race the use case did not pre-check; nothing was kept.
    log.info("integrity conflict: %s", exc)
    return problem_response(
        request,
        409,
        "conflict",
        "Conflict",
        "the write conflicts with existing data",
        title_zh="数据冲突",
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        request,
        500,
        "internal_error",
        "Internal error",
        "an unexpected error occurred",
        title_zh="服务内部错误",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of this app a problem+json document."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(OperationalError, _on_database)
    app.add_exception_handler(PoolTimeout, _on_database)
    app.add_exception_handler(ConnectionError, _on_database)
    app.add_exception_handler(InterfaceError, _on_database)
    app.add_exception_handler(DBAPIError, _on_driver_error)
    app.add_exception_handler(OSError, _on_driver_error)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(Exception, _on_unexpected)


# --- what the OpenAPI document says about errors ----------------------------------------------

# The problem statuses a dependency can answer, keyed by "module:qualname" (kernel/errors.py
# cannot import the modules that import it). A route documents the union over its dependencies.
DEPENDENCY_PROBLEMS: dict[str, tuple[int, ...]] = {
    "kernel.inputs:reject_nul_characters": (422,),
    # No token or a bad one; 503 when the identity provider's keys cannot be fetched.
    "kernel.auth.dependencies:current_principal": (401, 403, 503),
    "kernel.auth.dependencies:optional_principal": (401, 503),
    "kernel.auth.dependencies:require_roles.<locals>.guard": (403,),
    "kernel.auth.dependencies:require_scope.<locals>.guard": (403,),
    # The database did not answer (OperationalError and friends, rendered 503 above).
    "kernel.app:_session": (503,),
    "kernel.app:runtime_of": (503,),
    "kernel.versioning:_expected_version": (412,),
}
# Dependencies that admit anonymous callers and refine what a token adds: their routes' security
# requirement is optional (OpenAPI: an empty requirement object among the alternatives).
OPTIONAL_AUTH_DEPENDENCIES = frozenset({"kernel.auth.dependencies:optional_principal"})
REQUIRED_AUTH_DEPENDENCIES = frozenset({"kernel.auth.dependencies:current_principal"})
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PROBLEM_DESCRIPTIONS = {
    400: "The request body could not be parsed (`bad_request`)",
    401: "No valid credentials (`unauthorized`, `invalid_token`)",
    403: "The caller's role or ownership does not allow this (`forbidden`)",
    404: "No such record (`not_found` or a more specific code)",
    409: "The record's state or existing data conflicts with the request",
    412: "If-Match does not name the record's current version (`version_mismatch`)",
    422: "Invalid input (`validation_failed`: `errors` names each field) or a business rule "
    "refused it (`rule_violated` or a more specific code)",
    429: "Too many requests: the caller's rate limit is spent (`rate_limited`, Retry-After)",
    503: "A dependency (database, identity provider) is unavailable; retry later",
}
PROBLEM_SCHEMA_NAME = "Problem"
PROBLEM_SCHEMAS: dict[str, dict[str, Any]] = {
    PROBLEM_SCHEMA_NAME: {
        "title": "Problem",
        "description": "RFC 9457 problem details, with a stable machine `code`",
        "type": "object",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "code": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "422 validation_failed: each invalid field and the rule it broke",
                "items": {
                    "type": "object",
                    "required": ["field", "rule", "message"],
                    "properties": {
                        "field": {"type": "string"},
                        "in": {"type": "string"},
                        "rule": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "additionalProperties": True,
    }
}


def _dependants(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _dependency_keys(route: Any) -> set[str]:
    return {
        f"{getattr(d.call, '__module__', '')}:{getattr(d.call, '__qualname__', '')}"
        for d in _dependants(route.dependant)
        if d.call is not None
    }


def route_problems(route: Any, table: Mapping[str, Iterable[int]]) -> set[int]:
    """The problem statuses a route can answer: from its dependencies, parameters and method.

    `route` is an APIRoute or what `fastapi.routing.iter_route_contexts` yields for it (whose
    dependant includes the dependencies of the routers it was included through).
    """
    statuses: set[int] = set()
    has_path = has_input = False
    for key in _dependency_keys(route):
        statuses.update(table.get(key, ()))
    for dependant in _dependants(route.dependant):
        has_path = has_path or bool(dependant.path_params)
        if dependant.body_params:
            statuses.add(400)  # a body that cannot be read at all (not UTF-8, say)
        has_input = has_input or any(
            (
                dependant.path_params,
                dependant.query_params,
                dependant.header_params,
                dependant.cookie_params,
                dependant.body_params,
            )
        )
    if has_path:
        statuses.add(404)
    if has_input:
        statuses.add(422)
    if 503 in statuses and set(route.methods or ()) & _WRITE_METHODS:
        # A write racing another on a unique key (the IntegrityError handler above).
        statuses.add(409)
    return statuses


_PROBLEM_REF = f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"
# FastAPI's own 422 (a JSON body of its shape): this app answers 422 as a problem instead.
_FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _is_fastapi_422(spec: Mapping[str, Any]) -> bool:
    schema = (spec.get("content") or {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


PathProblems = Callable[[str], Iterable[int]]


def add_problem_responses(
    document: dict[str, Any],
    app: FastAPI,
    table: Mapping[str, Iterable[int]],
    path_problems: PathProblems | None = None,
) -> None:
    """Write into `app`'s OpenAPI `document` the problem+json answers of each operation."""
    content = {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM_REF}}}
    paths = document.get("paths") or {}
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path = route.path_format or ""
        statuses = route_problems(route, table)
        if path_problems is not None:
            statuses.update(path_problems(path))
        keys = _dependency_keys(route)
        optional_auth = bool(keys & OPTIONAL_AUTH_DEPENDENCIES) and not (
            keys & REQUIRED_AUTH_DEPENDENCIES
        )
        item = paths.get(path) or {}
        for method in route.methods or ():
            operation = item.get(method.lower())
            if not isinstance(operation, dict):
                continue
            security = operation.get("security")
            if optional_auth and security and {} not in security:
                operation["security"] = [{}, *security]
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in sorted(statuses):
                responses.setdefault(str(status), {})
            for key, spec in list(responses.items()):
                if not key.isdigit() or int(key) < 400:
                    continue
                if spec.get("content") and not _is_fastapi_422(spec):
                    continue  # the route documents its own body for this status
                description = spec.get("description")
                if not description or description == "Validation Error":
                    description = _PROBLEM_DESCRIPTIONS.get(int(key)) or HTTPStatus(int(key)).phrase
                responses[key] = {**spec, "description": description, "content": content}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(PROBLEM_SCHEMAS)
    if b"/HTTPValidationError" not in orjson.dumps(paths):
        for name in _FASTAPI_422_SCHEMAS:
            schemas.pop(name, None)


def document_problems(
    app: FastAPI,
    dependency_problems: Mapping[str, Iterable[int]] | None = None,
    path_problems: PathProblems | None = None,
) -> None:
    """Make `app`'s OpenAPI document list the problem+json answers each operation can give.

    Statuses come from `DEPENDENCY_PROBLEMS` (and `dependency_problems`, for an app's own
    dependencies), from the route's parameters (404 for a path parameter, 422 for any input)
    and its method, and from `path_problems` (what layers in front of the routes answer, by
    path); a route's own `responses=` add the rest (a use case's 409, say). A status a route
    documents with a body of its own keeps it.
    """
    table = {**DEPENDENCY_PROBLEMS, **(dependency_problems or {})}
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document: dict[str, Any] = plain_openapi()
        # FastAPI caches the document (and rebuilds it when routes change): edit each once.
        if PROBLEM_SCHEMA_NAME not in document.get("components", {}).get("schemas", {}):
            add_problem_responses(document, app, table, path_problems)
        return document

    app.openapi = openapi  # type: ignore[method-assign]

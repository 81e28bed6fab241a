"""RFC 9457 problem details for every 4xx/5xx, rendered by one set of handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
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
    log.warning("database unavailable: %s", exc)
    return problem_response(
        request,
        503,
        "database_unavailable",
        "Database unavailable",
        "the service's database did not answer; nothing was written, retry later",
        title_zh="数据库暂不可用",
        headers={"Retry-After": "5"},
    )


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
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(Exception, _on_unexpected)

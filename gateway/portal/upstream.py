"""How portal pages read the services: their public APIs only, with no caller's token, so a
page can show nothing the public could not read itself. Failures become page errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from gateway.calls import CallResult, call_json
from gateway.context import runtime_of
from kernel.errors import ProblemError

__all__ = [
    "CallResult",
    "PortalBadInput",
    "PortalError",
    "PortalNotFound",
    "PortalUnavailable",
    "fetch",
]

# A page waits at most this long per upstream call; a slow phone is already waiting on us.
PAGE_CALL_TIMEOUT = 4.0


class PortalError(Exception):
    """A page that cannot be shown as asked; rendered as a friendly zh-CN error page."""

    status = 500
    title = "页面出错了"

    def __init__(self, message: str, *, context: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Extra values for the error template (e.g. the form input to show again).
        self.context: dict[str, Any] = dict(context or {})


class PortalUnavailable(PortalError):
    """A service the page needs did not answer (down, timed out, circuit open, 5xx)."""

    status = 503
    title = "暂时无法获取数据，请稍后再试"
    retry_after = 30

    def __init__(self, service: str, reason: str) -> None:
        # Which service and why go to the log only: the page is for the public.
        super().__init__("本页所需的业务数据暂时无法读取。")
        self.service = service
        self.reason = reason


class PortalNotFound(PortalError):
    status = 404
    title = "未找到"


class PortalBadInput(PortalError):
    status = 400
    title = "输入有误"


async def fetch(
    request: Request,
    service: str,
    path: str,
    params: Mapping[str, str] | None = None,
    *,
    expect: tuple[int, ...] = (),
) -> CallResult:
    """GET `path` on `service`'s public API. A 2xx answer, or one whose status is in `expect`,
    comes back; a 404 otherwise raises PortalNotFound, a refused input PortalBadInput, and no
    usable answer PortalUnavailable."""
    try:
        runtime = runtime_of(request)
    except ProblemError as exc:
        raise PortalUnavailable("gateway", "starting or stopping") from exc
    result = await call_json(
        runtime.upstreams,
        service,
        path,
        params={k: v for k, v in (params or {}).items() if v is not None},
        # Upstream problem titles then come in Chinese, fit to show on a page.
        headers={"Accept-Language": "zh-CN"},
        timeout=PAGE_CALL_TIMEOUT,
    )
    if result.ok or (result.status in expect and result.error is None):
        return result
    if result.status is None or result.status >= 500 or result.error is not None:
        raise PortalUnavailable(service, result.error or f"HTTP {result.status}")
    if result.status == 404:
        raise PortalNotFound("没有找到您要查询的信息。")
    if result.status == 429:
        raise PortalUnavailable(service, "rate limited")
    raise PortalBadInput(_problem_text(result.body))


def _problem_text(body: Any) -> str:
    # The title only: it is the one part of a problem the services word in Chinese.
    if isinstance(body, dict) and isinstance(body.get("title"), str):
        return f"{body['title']}，请检查查询条件后重试。"
    return "查询条件有误，请检查后重试。"

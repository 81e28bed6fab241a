"""The public portal (公众门户): server-rendered zh-CN pages under /portal, built on the
services' public APIs. Every `gateway/portal/pages_*.py` module with a `router` is a section;
adding a section is adding such a module."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from jinja2 import UndefinedError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from gateway.portal.rendering import PORTAL_PREFIX, STATIC_DIR, render
from gateway.portal.upstream import PortalError, PortalNotFound, PortalUnavailable
from kernel.errors import ProblemError

__all__ = ["install_portal", "is_portal_path"]

log = logging.getLogger(__name__)

Handler = Callable[[Request, Exception], Awaitable[Response]]

# Static files are referenced with a content hash in their URL (rendering.static_url), so a
# changed file is a new URL and a browser may keep any version it has for good.
STATIC_CACHE = "public, max-age=31536000, immutable"


class PortalStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = STATIC_CACHE
        return response


def is_portal_path(path: str) -> bool:
    return path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/")


def page_routers() -> list[APIRouter]:
    """The `router` of every pages_* module, by module name (a stable order)."""
    package = importlib.import_module(__name__)
    routers = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("pages_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            router = getattr(module, "router", None)
            if not isinstance(router, APIRouter):
                raise TypeError(f"{module.__name__} has no `router: APIRouter`")
            routers.append(router)
    return routers


def error_page(request: Request, error: PortalError) -> Response:
    headers = {}
    if isinstance(error, PortalUnavailable):
        headers["Retry-After"] = str(error.retry_after)
        log.warning("portal page %s: %s %s", request.url.path, error.service, error.reason)
    return render(
        request,
        "errors/error.html",
        {"status": error.status, "title": error.title, "message": error.message, **error.context},
        status=error.status,
        max_age=0,
        headers=headers,
    )


async def _on_portal_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PortalError)
    return error_page(request, exc)


def _for_pages(previous: Handler | None, page: Callable[[Request, Exception], Response]) -> Handler:
    """A handler answering a page under /portal as HTML and anything else as before."""

    async def handle(request: Request, exc: Exception) -> Response:
        if is_portal_path(request.url.path) or previous is None:
            return page(request, exc)
        return await previous(request, exc)

    return handle


def _http_page(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    if status == 404:
        return error_page(request, PortalNotFound("您访问的页面不存在，请从首页重新进入。"))
    if status == 405:
        error = PortalError("门户页面只能浏览，不能提交数据。")
        error.status, error.title = 405, "不支持该操作"
        return error_page(request, error)
    return _unexpected_page(request, exc)


def _validation_page(request: Request, exc: Exception) -> Response:
    # Page routes validate their own input and explain it; this catches what slips through.
    error = PortalError("查询条件格式不正确，请检查后重试。")
    error.status, error.title = 400, "输入有误"
    return error_page(request, error)


def _problem_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ProblemError) and exc.status == 503:
        return error_page(request, PortalUnavailable("gateway", exc.detail))
    return _unexpected_page(request, exc)


# What reading an upstream answer of another shape than the page expects raises (a field
# missing or of another type, in the page's code or its template).
_SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, UndefinedError)


def _shape_page(request: Request, exc: Exception) -> Response:
    # Most likely a service answering outside its contract (a version skew during a rollout):
    # for the reader the data is unavailable; for the operator it is an error with its
    # traceback, as a bug of ours would be.
    log.error("portal page %s: upstream data not as expected", request.url.path, exc_info=exc)
    return error_page(request, PortalUnavailable("upstream", "unexpected answer"))


def _on_pages_only(previous: Handler | None) -> Handler:
    """Shape errors are answered by the page's handler under /portal only; elsewhere they go
    on as before (to the API's own handler, or up to the generic 500)."""

    async def handle(request: Request, exc: Exception) -> Response:
        if is_portal_path(request.url.path):
            return _shape_page(request, exc)
        if previous is not None:
            return await previous(request, exc)
        raise exc

    return handle


def _unexpected_page(request: Request, exc: Exception) -> Response:
    log.error("portal page %s failed", request.url.path, exc_info=exc)
    error = PortalError("页面暂时无法显示，请稍后再试。")
    return error_page(request, error)


def install_portal(app: FastAPI) -> None:
    """Mount the portal on the gateway: static files, every section's pages, / to the home
    page, and HTML error pages (never problem+json or a trace) for every /portal path.

    Call after `install_problem_handlers`: the API's handlers stay in charge elsewhere.
    Installing twice is a no-op."""
    if getattr(app.state, "portal_installed", False):
        return
    app.state.portal_installed = True
    app.mount(f"{PORTAL_PREFIX}/static", PortalStatic(directory=STATIC_DIR), name="portal-static")
    for router in page_routers():
        app.include_router(router, prefix=PORTAL_PREFIX, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    @app.get(PORTAL_PREFIX, include_in_schema=False)
    async def to_portal() -> RedirectResponse:
        return RedirectResponse(f"{PORTAL_PREFIX}/", status_code=307)

    # Last under /portal, so a path no section serves is a page, not the API's JSON 404.
    @app.get(PORTAL_PREFIX + "/{rest:path}", include_in_schema=False)
    async def unknown_page(rest: str) -> Response:
        raise PortalNotFound("您访问的页面不存在，请从首页重新进入。")

    handlers: dict[Any, Handler] = app.exception_handlers  # type: ignore[assignment]
    app.add_exception_handler(PortalError, _on_portal_error)
    for kind, page in (
        (StarletteHTTPException, _http_page),
        (RequestValidationError, _validation_page),
        (ProblemError, _problem_page),
        (Exception, _unexpected_page),
    ):
        app.add_exception_handler(kind, _for_pages(handlers.get(kind), page))
    # Handled in the exception layer, not the server-error one (which answers and re-raises).
    for shape_error in _SHAPE_ERRORS:
        app.add_exception_handler(shape_error, _on_pages_only(handlers.get(shape_error)))

"""Shared by the gateway's tests: stand-in upstream services, gateway settings, assertions."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from gateway.config import GatewaySettings
from gateway.main import create_app
from kernel.errors import PROBLEM_JSON
from kernel.settings import AuthSettings

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def upstream_app(name: str, *, ready: bool = True) -> FastAPI:
    """A stand-in service that echoes what reached it; `_sleep`/`_status` steer its answer."""
    app = FastAPI()

    @app.get("/ready")
    async def is_ready() -> Response:
        body = orjson.dumps({"status": "ready" if ready else "not ready", "service": name})
        return Response(body, status_code=200 if ready else 503, media_type="application/json")

    @app.get("/problem/{status}")
    async def problem(status: int) -> Response:
        body = {
            "type": "https://errors.example/version_mismatch",
            "title": "Precondition failed",
            "status": status,
            "detail": "the licence changed since you read it",
            "code": "version_mismatch",
        }
        return Response(
            orjson.dumps(body),
            status_code=status,
            media_type="application/problem+json",
            headers={"ETag": '"v7"', "X-Frame-Options": "SAMEORIGIN"},
        )

    @app.get("/hop")
    async def hop() -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"part-1;"
            yield b"part-2"

        response = StreamingResponse(
            chunks(),
            media_type="text/plain",
            headers={
                "Connection": "x-hop-secret",
                "X-Hop-Secret": "1",
                "Keep-Alive": "timeout=99",
                "Proxy-Authenticate": "Basic",
                "X-Upstream": name,
            },
        )
        response.raw_headers.append((b"set-cookie", b"a=1; Path=/"))
        response.raw_headers.append((b"set-cookie", b"b=2; Path=/"))
        return response

    @app.api_route("/big/{size}", methods=["GET", "HEAD"], include_in_schema=False)
    async def big(size: int) -> Response:
        return Response(b"x" * size, media_type="application/octet-stream")

    @app.get("/gzip")
    async def gzipped() -> Response:
        return Response(
            gzip.compress(b"compressed answer"),
            media_type="text/plain",
            headers={"Content-Encoding": "gzip"},
        )

    @app.api_route("/{path:path}", methods=ALL_METHODS, include_in_schema=False)
    async def echo(request: Request, path: str) -> Response:
        body = await request.body()
        if "_sleep" in request.query_params:
            await asyncio.sleep(float(request.query_params["_sleep"]))
        payload = {
            "service": name,
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body": body.decode("latin-1"),
        }
        status = int(request.query_params.get("_status", "200"))
        return Response(orjson.dumps(payload), status_code=status, media_type="application/json")

    return app


def seen(echoed: dict[str, Any], name: str) -> list[str]:
    """Every value of header `name` the upstream received."""
    return [v for k, v in echoed["headers"] if k == name.lower()]


def gateway_settings(
    urls: dict[str, str], *, auth: AuthSettings, database_url: str, **overrides: Any
) -> GatewaySettings:
    """Settings for a gateway in front of `urls`, trusting `auth`'s development key."""
    return GatewaySettings.model_validate(
        {
            **{f"{name}_url": url for name, url in urls.items()},
            "auth": auth,
            "database_url": database_url,
            **overrides,
        }
    )


@asynccontextmanager
async def running_gateway(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway app with its lifespan running, driven in-process over ASGI."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
            yield c


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    return body

"""Small helpers shared by tests: running apps for real, tokens, waiting for effects."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from kernel.app import ServiceRuntime
from kernel.auth.dev import DevIssuer
from kernel.auth.principal import Role

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(issuer: DevIssuer, role: Role | str, sub: str = "tester") -> dict[str, str]:
    """Authorization header for a caller with `role` and subject `sub`."""
    return {"Authorization": f"Bearer {issuer.mint(role, sub)}"}


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    """Run the app's lifespan (migrations, relay, consumers) and give an in-process client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, app.state.runtime


@asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Serve the app over real HTTP on 127.0.0.1 inside this event loop; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("server stopped during start-up")
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Poll `probe` until it returns something truthy; fail with the last value after timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        value = await probe()
        last = value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)

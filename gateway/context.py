"""What every gateway route can ask for: the runtime, the caller, a transaction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import AUDIT
from kernel import audit
from kernel.audit import AuditSealer
from kernel.auth.principal import ANONYMOUS, Principal, Role
from kernel.db import SessionFactory, make_engine, make_session_factory, unit_of_work
from kernel.errors import Forbidden, ServiceUnavailable, Unauthorized
from kernel.migrate import upgrade

if TYPE_CHECKING:
    from gateway.config import GatewaySettings
    from gateway.issuer import GatewayIssuer
    from gateway.proxy import Upstreams

# Where the edge identity middleware leaves the verified caller (scope["state"][...]).
PRINCIPAL_STATE = "principal"

Hook = Callable[["GatewayRuntime"], Coroutine[Any, Any, None]]


class GatewayRuntime:
    """What the gateway process holds for its lifetime: database, upstream sessions, and the
    start/stop hooks of its parts (identity, rate limits, ...)."""

    def __init__(self, settings: GatewaySettings, upstreams: Upstreams) -> None:
        self.settings = settings
        self.upstreams = upstreams
        self.engine = make_engine(settings.database_url)
        self.session_factory: SessionFactory = make_session_factory(self.engine)
        # Signs the tokens the gateway issues (set by gateway.identity; None when no key).
        self.issuer: GatewayIssuer | None = None
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._sealer: asyncio.Task[None] | None = None

    def on_start(self, hook: Hook) -> None:
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        self._on_stop.append(hook)

    async def start(self) -> None:
        if self.settings.auto_migrate:
            await asyncio.to_thread(upgrade, "gateway", self.settings.database_url)
        await self.upstreams.open()
        for hook in self._on_start:
            await hook(self)
        sealer = AuditSealer("gateway", self.session_factory, AUDIT)
        with audit.acting("system", "job audit-sealer"):
            self._sealer = asyncio.create_task(sealer.run(), name="gateway-audit-sealer")

    async def stop(self) -> None:
        if self._sealer is not None:
            self._sealer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sealer
        for hook in reversed(self._on_stop):
            await hook(self)
        await self.upstreams.close()
        await self.engine.dispose()


def runtime_of(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise ServiceUnavailable("the gateway is starting or stopping", code="not_ready")
    return runtime


def principal_of(request: Request) -> Principal:
    """The caller as the edge middleware verified it; the public when no credentials came."""
    state: dict[str, Any] = request.scope.get("state") or {}
    principal: Principal = state.get(PRINCIPAL_STATE, ANONYMOUS)
    return principal


async def session_of(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request (kernel.db.unit_of_work: commit on success)."""
    audit.via_var.set(f"{request.method} {request.url.path}")  # for the audit log
    async with unit_of_work(runtime_of(request).session_factory) as session:
        yield session


Runtime = Annotated[GatewayRuntime, Depends(runtime_of)]
Caller = Annotated[Principal, Depends(principal_of)]
# Committed before the response is sent (scope="function"): a 201 never announces a write
# that then fails to commit.
Session = Annotated[AsyncSession, Depends(session_of, scope="function")]


def require(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency admitting only `roles`: 401 without credentials, 403 for other roles."""
    allowed = frozenset(roles)

    async def guard(request: Request) -> Principal:
        principal = principal_of(request)
        if principal.role in allowed:
            return principal
        if principal is ANONYMOUS or principal.role is Role.public:
            raise Unauthorized("this needs a bearer token or an API key")
        names = ", ".join(sorted(r.value for r in allowed))
        raise Forbidden(f"role {principal.role.value!r} may not do this (allowed: {names})")

    return guard

"""FastAPI dependencies: the verified Principal and role/scope guards."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Protocol, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kernel.auth.principal import ANONYMOUS, Principal, Role
from kernel.auth.verifier import InvalidToken, KeysUnavailable, TokenVerifier
from kernel.errors import Forbidden, ServiceUnavailable, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="JWT from the identity provider")


async def _verify(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal:
    if creds is None:
        raise Unauthorized("a bearer token is required")
    verifier: TokenVerifier = request.app.state.verifier
    try:
        return await verifier.verify(creds.credentials)
    except InvalidToken as exc:
        raise Unauthorized(f"invalid token: {exc}", code="invalid_token") from exc
    except KeysUnavailable as exc:
        raise ServiceUnavailable(
            "tokens cannot be verified now: the identity provider's keys are unavailable",
            code="identity_provider_unavailable",
            headers={"Retry-After": "5"},
        ) from exc


async def current_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller; 401 without a valid token."""
    return await _verify(request, creds)


async def optional_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller if a token was sent, else the anonymous public principal."""
    if creds is None:
        return ANONYMOUS
    return await _verify(request, creds)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal, Depends(optional_principal)]


class RoleGuard(Protocol):
    """A `require_roles` dependency; it says whom it admits, so tests can hold every route's
    declared rule against the access table (tests/security/test_route_rules.py)."""

    roles: frozenset[Role]
    shared_scope: str | None

    def __call__(self, principal: Principal) -> Awaitable[Principal]: ...


class ScopeGuard(Protocol):
    """A `require_scope` dependency, with the scope it requires."""

    scope: str

    def __call__(self, principal: Principal) -> Awaitable[Principal]: ...


def require_roles(*roles: Role, shared_scope: str | None = None) -> RoleGuard:
    """A dependency that admits only the given roles (403 otherwise).

    With `shared_scope`, a service token carrying that scope is admitted too: the gateway
    reading a data set for a department under a grant it checked and logged.
    """
    allowed = frozenset(roles)

    async def guard(principal: CurrentPrincipal) -> Principal:
        if principal.role in allowed:
            return principal
        if shared_scope is not None and principal.role is Role.service:
            if principal.has_scope(shared_scope):
                return principal
            raise Forbidden(f"scope {shared_scope!r} required", code="scope_required")
        names = ", ".join(sorted(r.value for r in allowed))
        if shared_scope is not None:
            names += f"; a service with scope {shared_scope!r}"
        raise Forbidden(f"role {principal.role.value!r} may not do this (allowed: {names})")

    declared = cast(RoleGuard, guard)
    declared.roles = allowed
    declared.shared_scope = shared_scope
    return declared


def require_scope(scope: str) -> ScopeGuard:
    """A dependency that admits only service tokens carrying `scope` (service-to-service calls).

    The role is checked too: a person's or a machine client's token that somehow carries the
    scope (a misconfigured identity provider client) still reads no service's internals.
    """

    async def guard(principal: CurrentPrincipal) -> Principal:
        if principal.role is not Role.service or not principal.has_scope(scope):
            raise Forbidden(
                f"a service token with scope {scope!r} is required", code="scope_required"
            )
        return principal

    declared = cast(ScopeGuard, guard)
    declared.scope = scope
    return declared

"""require_roles(..., shared_scope=): the roles as before, plus a service token holding the
scope (the gateway reading shared data for a department); and the service token's scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from kernel.auth import Principal, Role, TokenVerifier, require_roles
from kernel.auth.dev import DevIssuer
from kernel.auth.service_token import DATA_SHARE_SCOPE, REPLAY_SCOPE, ServiceTokenProvider
from kernel.errors import install_problem_handlers
from kernel.settings import AuthSettings
from tests.support import bearer

# Module level: the endpoints' string annotations are resolved in this module's namespace.
Shared = Annotated[Principal, Depends(require_roles(Role.officer, shared_scope=DATA_SHARE_SCOPE))]
Plain = Annotated[Principal, Depends(require_roles(Role.officer))]


def guarded_app(auth_settings: AuthSettings) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.verifier = TokenVerifier(auth_settings)

    @app.get("/shared")
    async def shared(principal: Shared) -> dict[str, str]:
        return {"caller": principal.key}

    @app.get("/plain")
    async def plain(principal: Plain) -> dict[str, str]:
        return {"caller": principal.key}

    return app


@pytest.fixture
async def client(auth_settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_app(auth_settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def service(issuer: DevIssuer, *scopes: str) -> dict[str, str]:
    token = issuer.mint(Role.service, "svc:gateway", scopes=scopes, ttl_seconds=300)
    return {"Authorization": f"Bearer {token}"}


class TestSharedScope:
    async def test_the_roles_pass_as_before(
        self, client: httpx.AsyncClient, issuer: DevIssuer
    ) -> None:
        for path in ("/shared", "/plain"):
            r = await client.get(path, headers=bearer(issuer, Role.officer, "officer-001"))
            assert r.json() == {"caller": "officer:officer-001"}

    async def test_a_service_with_the_scope_passes_where_it_is_shared(
        self, client: httpx.AsyncClient, issuer: DevIssuer
    ) -> None:
        r = await client.get("/shared", headers=service(issuer, REPLAY_SCOPE, DATA_SHARE_SCOPE))
        assert r.status_code == 200
        assert r.json() == {"caller": "service:svc:gateway"}
        r = await client.get("/plain", headers=service(issuer, DATA_SHARE_SCOPE))
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"

    async def test_a_service_without_the_scope_is_refused(
        self, client: httpx.AsyncClient, issuer: DevIssuer
    ) -> None:
        for scopes in ((), (REPLAY_SCOPE,)):
            r = await client.get("/shared", headers=service(issuer, *scopes))
            assert r.status_code == 403
            assert r.json()["code"] == "scope_required"

    async def test_other_roles_are_refused_even_holding_the_scope(
        self, client: httpx.AsyncClient, issuer: DevIssuer
    ) -> None:
        for role in (Role.department, Role.enterprise, Role.public):
            token = issuer.mint(role, "QD-CBIRC", scopes=(DATA_SHARE_SCOPE,))
            r = await client.get("/shared", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 403
            assert r.json()["code"] == "forbidden"
        r = await client.get("/shared")
        assert r.status_code == 401


class TestServiceTokenScopes:
    async def test_the_replay_scope_by_default_and_the_scopes_asked_for(
        self, auth_settings: AuthSettings
    ) -> None:
        async with httpx.AsyncClient() as http:
            default = await ServiceTokenProvider(auth_settings, "credit").token(http)
            shared = await ServiceTokenProvider(
                auth_settings, "gateway", scopes=(DATA_SHARE_SCOPE,)
            ).token(http)
        claims = jwt.decode(default, options={"verify_signature": False})
        assert (claims["role"], claims["sub"], claims["scope"]) == (
            "service",
            "svc:credit",
            REPLAY_SCOPE,
        )
        assert jwt.decode(shared, options={"verify_signature": False})["scope"] == DATA_SHARE_SCOPE

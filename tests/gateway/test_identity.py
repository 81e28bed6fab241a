"""Identity at the gateway's edge: bearer tokens (EdDSA and RS256, JWKS files and URLs, the
verified-token cache), insurer API keys exchanged for gateway tokens, OAuth2 client credentials,
the gateway's own issuer, and the management of clients and keys."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from gateway.credentials import issue_api_key, new_api_key, new_secret
from gateway.issuer import jwk_thumbprint
from gateway.models import ApiKey, Client
from kernel.auth.dev import JWKS_FILE, DevIssuer
from kernel.auth.principal import Role
from kernel.auth.verifier import TokenVerifier
from kernel.db import SessionFactory, make_engine, make_session_factory, unit_of_work, utcnow
from kernel.settings import AuthSettings
from tests.gateway.conftest import GatewayFactory
from tests.gateway.support import assert_problem, gateway_settings, running_gateway, seen
from tests.support import bearer, free_port, serving
from tests.support.tokens import (
    DevKey,
    RSAKey,
    b64url,
    claims_for,
    load_dev_key,
    new_rsa_key,
    write_jwks,
)

INSURER = "PICC-QD"
ADMIN = "admin-001"
Gateway = AbstractAsyncContextManager[httpx.AsyncClient]


# --- keys and tokens -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_key(auth_settings: AuthSettings, issuer: DevIssuer) -> DevKey:
    return load_dev_key(auth_settings)


@dataclass
class Provider:
    """An external identity provider signing RS256, its keys in a JWKS file."""

    jwks: Path
    key: RSAKey
    auth: AuthSettings

    def token(self, **claims: Any) -> str:
        return self.key.sign(claims_for(self.auth, **claims))


@pytest.fixture
def provider(tmp_path: Path, auth_settings: AuthSettings) -> Provider:
    key = new_rsa_key()
    path = tmp_path / "idp-jwks.json"
    write_jwks(path, key)
    auth = AuthSettings(
        issuer="https://idp.example/realms/platform",
        audience=auth_settings.audience,
        jwks_path=path,
        jwks_url=None,
        dev_issuer_enabled=False,
        dev_key_dir=tmp_path / "unused",
    )
    return Provider(path, key, auth)


@dataclass
class JWKSServer:
    """An identity provider's key endpoint over real HTTP, counting the requests it serves."""

    keys: list[RSAKey]
    url: str = ""
    hits: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/certs")
        async def certs() -> dict[str, Any]:
            self.hits += 1
            return {"keys": [k.jwk() for k in self.keys]}

        return app


def url_auth(url: str, audience: str, ttl: int = 300) -> AuthSettings:
    return AuthSettings(
        issuer="https://idp.example/realms/platform",
        audience=audience,
        jwks_path=None,
        jwks_url=url,
        jwks_cache_seconds=ttl,
        dev_issuer_enabled=False,
    )


# --- gateways --------------------------------------------------------------------------------

GatewayWith = Callable[..., Gateway]


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> GatewayFactory:
    """A gateway trusting the session's development key; rate limits are another test's."""

    def make(**overrides: Any) -> Gateway:
        overrides.setdefault("rate_limits_enabled", False)
        return make_gateway(**overrides)

    return make


@pytest.fixture
def gateway_with(upstream_urls: dict[str, str], gateway_database: str) -> GatewayWith:
    """A gateway with its own token settings (`auth=`)."""

    def make(*, auth: AuthSettings, database_url: str | None = None, **overrides: Any) -> Gateway:
        overrides.setdefault("rate_limits_enabled", False)
        settings = gateway_settings(
            upstream_urls, auth=auth, database_url=database_url or gateway_database, **overrides
        )
        return running_gateway(settings)

    return make


def as_role(issuer: DevIssuer, role: Role, sub: str) -> dict[str, str]:
    return bearer(issuer, role, sub)


def admin(issuer: DevIssuer) -> dict[str, str]:
    return bearer(issuer, Role.admin, ADMIN)


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def forwarded_token(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    (authorization,) = seen(response.json(), "authorization")
    scheme, _, token = authorization.partition(" ")
    assert scheme == "Bearer"
    return token


def assert_invalid_token(response: httpx.Response, detail: str) -> None:
    body = assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert detail in body["detail"], body["detail"]


async def create_key(
    client: httpx.AsyncClient, issuer: DevIssuer, subject: str = INSURER, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/gateway/api-keys",
        json={"subject": subject, "name": "claims system", **body},
        headers=admin(issuer),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_client(
    client: httpx.AsyncClient,
    issuer: DevIssuer,
    *,
    role: str = "insurer",
    subject: str = INSURER,
    scopes: list[str] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/api/gateway/clients",
        json={
            "role": role,
            "subject": subject,
            "name": f"{subject} system",
            "scopes": scopes if scopes is not None else ["policies:push", "reports:read"],
        },
        headers=admin(issuer),
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def token_request(
    client: httpx.AsyncClient, data: dict[str, str], **kwargs: Any
) -> httpx.Response:
    return await client.post("/oauth/token", data=data, **kwargs)


def form_credentials(created: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": created["client_id"],
        "client_secret": created["client_secret"],
        **extra,
    }


@asynccontextmanager
async def direct_database(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on the gateway's database beside the gateway (another replica, an operator)."""
    engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


# --- bearer tokens ---------------------------------------------------------------------------


class TestBearerTokens:
    async def test_a_valid_eddsa_token_is_forwarded_unchanged(
        self, gateway: GatewayFactory, issuer: DevIssuer
    ) -> None:
        headers = as_role(issuer, Role.officer, "officer-007")
        async with gateway() as client:
            response = await client.get("/api/permits/licences", headers=headers)
        assert response.status_code == 200
        assert seen(response.json(), "authorization") == [headers["Authorization"]]

    async def test_without_credentials_the_caller_is_the_public(
        self, gateway: GatewayFactory
    ) -> None:
        async with gateway() as client:
            assert (await client.get("/api/credit/public/lists")).status_code == 200
            refused = await client.get("/api/gateway/clients")
        assert_problem(refused, 401, "unauthorized")

    async def test_the_verified_caller_reaches_the_gateways_routes(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            as_admin = await client.get("/api/gateway/clients", headers=admin(issuer))
            as_officer = await client.get(
                "/api/gateway/clients", headers=as_role(issuer, Role.officer, "o-1")
            )
        assert as_admin.status_code == 200
        assert_problem(as_officer, 403, "forbidden")

    async def test_expired(
        self, gateway: GatewayFactory, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        now = int(time.time())
        token = dev_key.sign(
            claims_for(auth_settings, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
        )
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
        assert_invalid_token(response, "expired")

    async def test_refusals_speak_chinese_when_asked(self, gateway: GatewayFactory) -> None:
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x",
                headers={"Authorization": "Bearer x.y.z", "Accept-Language": "zh-CN"},
            )
        assert assert_problem(response, 401, "invalid_token")["title"] == "身份令牌无效"

    async def test_not_yet_valid(
        self, gateway: GatewayFactory, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        now = int(time.time())
        token = dev_key.sign(claims_for(auth_settings, nbf=now + 600, exp=now + 1200))
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
        assert_invalid_token(response, "not yet valid")

    @pytest.mark.parametrize(
        ("claim", "value", "detail"),
        [
            ("aud", "another-platform", "Audience"),
            ("iss", "https://evil.example/auth", "issuer"),
            ("role", "superuser", "unknown role"),
        ],
    )
    async def test_wrong_audience_issuer_or_role(
        self,
        gateway: GatewayFactory,
        auth_settings: AuthSettings,
        dev_key: DevKey,
        claim: str,
        value: str,
        detail: str,
    ) -> None:
        token = dev_key.sign(claims_for(auth_settings, **{claim: value}))
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
        assert_invalid_token(response, detail)

    async def test_another_key_under_the_same_kid(
        self, gateway: GatewayFactory, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        impostor = Ed25519PrivateKey.generate()
        token = jwt.encode(
            claims_for(auth_settings, role="admin"),
            impostor,
            algorithm="EdDSA",
            headers={"kid": dev_key.kid},
        )
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
        assert_invalid_token(response, "Signature verification failed")

    async def test_unknown_kid(
        self, gateway: GatewayFactory, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        token = dev_key.sign(claims_for(auth_settings), kid="nobody-knows-me")
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
        assert_invalid_token(response, "unknown signing key")

    @pytest.mark.parametrize("value", ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer ", "bearer x.y"])
    async def test_malformed(self, gateway: GatewayFactory, value: str) -> None:
        async with gateway() as client:
            response = await client.get("/api/permits/x", headers={"Authorization": value})
        assert_invalid_token(response, "")

    async def test_non_ascii_token_bytes(self, gateway: GatewayFactory) -> None:
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x", headers=[(b"authorization", "Bearer 令牌".encode())]
            )
        assert_invalid_token(response, "not ASCII")

    async def test_alg_none_is_refused(
        self, gateway: GatewayFactory, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        header = {"alg": "none", "typ": "JWT", "kid": dev_key.kid}
        claims = claims_for(auth_settings, role="admin")
        token = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
        assert_invalid_token(response, "'none' not accepted")

    async def test_hs256_with_the_public_key_as_secret_is_refused(
        self, gateway: GatewayFactory, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        header = {"alg": "HS256", "typ": "JWT", "kid": dev_key.kid}
        claims = claims_for(auth_settings, role="admin")
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        mac = hmac.new(dev_key.public_pem, signing_input.encode(), hashlib.sha256).digest()
        async with gateway() as client:
            response = await client.get(
                "/api/permits/x",
                headers={"Authorization": f"Bearer {signing_input}.{b64url(mac)}"},
            )
        assert_invalid_token(response, "'HS256' not accepted")

    @pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Digest username=x", "Token abc"])
    async def test_other_schemes_are_unsupported(self, gateway: GatewayFactory, value: str) -> None:
        async with gateway() as client:
            response = await client.get("/api/permits/x", headers={"Authorization": value})
        assert_problem(response, 401, "unsupported_credentials")
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize(
        "path", ["/health", "/ready", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"]
    )
    async def test_open_paths_ignore_credentials(self, gateway: GatewayFactory, path: str) -> None:
        async with gateway() as client:
            response = await client.get(path, headers={"Authorization": "Bearer garbage"})
        assert response.status_code == 200, response.text

    async def test_a_token_and_an_api_key_at_once_are_ambiguous(
        self, gateway: GatewayFactory, issuer: DevIssuer
    ) -> None:
        _, key = new_api_key()
        async with gateway() as client:
            both = await client.get("/api/permits/x", headers={**admin(issuer), "X-API-Key": key})
            two_tokens = await client.get(
                "/api/permits/x",
                headers=[
                    ("Authorization", admin(issuer)["Authorization"]),
                    ("Authorization", admin(issuer)["Authorization"]),
                ],
            )
            two_keys = await client.get(
                "/api/permits/x", headers=[("X-API-Key", key), ("X-API-Key", key)]
            )
        for response in (both, two_tokens, two_keys):
            assert_problem(response, 400, "ambiguous_credentials")


class TestRS256AndKeySources:
    async def test_an_rs256_token_from_a_jwks_file(
        self, gateway_with: GatewayWith, provider: Provider
    ) -> None:
        token = provider.token(role="leader", sub="leader-1")
        async with gateway_with(auth=provider.auth) as client:
            response = await client.get(
                "/api/inspection/plans", headers={"Authorization": f"Bearer {token}"}
            )
        assert forwarded_token(response) == token

    async def test_a_key_added_to_the_file_is_picked_up_without_restart(
        self, gateway_with: GatewayWith, provider: Provider
    ) -> None:
        rotated = new_rsa_key()
        token = rotated.sign(claims_for(provider.auth))
        async with gateway_with(auth=provider.auth) as client:
            before = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
            write_jwks(provider.jwks, provider.key, rotated)
            # The verifier refreshes an unknown kid at most once a second.
            await asyncio.sleep(1.1)
            after = await client.get("/api/permits/x", headers={"Authorization": f"Bearer {token}"})
            old = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {provider.token()}"}
            )
        assert_invalid_token(before, "unknown signing key")
        assert forwarded_token(after) == token
        assert old.status_code == 200

    async def test_keys_from_a_url_are_fetched_once_for_many_requests(
        self, gateway_with: GatewayWith, auth_settings: AuthSettings
    ) -> None:
        server = JWKSServer(keys=[new_rsa_key()])
        async with serving(server.app()) as base:
            auth = url_auth(f"{base}/certs", auth_settings.audience)
            async with gateway_with(auth=auth) as client:
                for n in range(5):
                    token = server.keys[0].sign(claims_for(auth, sub=f"officer-{n}"))
                    response = await client.get(
                        "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
                    )
                    assert response.status_code == 200, response.text
        assert server.hits == 1

    async def test_the_provider_down_with_keys_cached_still_verifies(
        self, gateway_with: GatewayWith, auth_settings: AuthSettings
    ) -> None:
        server = JWKSServer(keys=[new_rsa_key()])
        port = free_port()
        auth = url_auth(f"http://127.0.0.1:{port}/certs", auth_settings.audience, ttl=1)
        async with gateway_with(auth=auth) as client:
            async with serving(server.app(), port=port):
                first = server.keys[0].sign(claims_for(auth, sub="officer-1"))
                response = await client.get(
                    "/api/permits/x", headers={"Authorization": f"Bearer {first}"}
                )
                assert response.status_code == 200
            await asyncio.sleep(1.2)  # past the keys' cache time, the provider gone
            later = server.keys[0].sign(claims_for(auth, sub="officer-2"))
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {later}"}
            )
        assert forwarded_token(response) == later
        assert server.hits == 1

    async def test_the_provider_down_with_nothing_cached_is_503(
        self, gateway_with: GatewayWith, auth_settings: AuthSettings
    ) -> None:
        auth = url_auth(f"http://127.0.0.1:{free_port()}/certs", auth_settings.audience)
        token = new_rsa_key().sign(claims_for(auth))
        async with gateway_with(auth=auth) as client:
            response = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
        assert_problem(response, 503, "identity_provider_unavailable")
        assert response.headers["retry-after"] == "5"


class TestVerifiedTokenCache:
    async def test_a_verified_token_is_remembered(
        self, gateway_with: GatewayWith, provider: Provider
    ) -> None:
        token = provider.token()
        headers = {"Authorization": f"Bearer {token}"}
        async with gateway_with(auth=provider.auth) as client:
            assert (await client.get("/api/permits/x", headers=headers)).status_code == 200
            write_jwks(provider.jwks, new_rsa_key())  # the provider withdraws its key
            cached = await client.get("/api/permits/x", headers=headers)
            fresh = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {provider.token()}"}
            )
        assert forwarded_token(cached) == token
        assert_invalid_token(fresh, "unknown signing key")

    async def test_a_cache_of_size_zero_remembers_nothing(
        self, gateway_with: GatewayWith, provider: Provider
    ) -> None:
        headers = {"Authorization": f"Bearer {provider.token()}"}
        async with gateway_with(auth=provider.auth, token_cache_size=0) as client:
            assert (await client.get("/api/permits/x", headers=headers)).status_code == 200
            write_jwks(provider.jwks, new_rsa_key())
            again = await client.get("/api/permits/x", headers=headers)
        assert_invalid_token(again, "unknown signing key")

    async def test_the_cache_holds_at_most_its_size(
        self, gateway_with: GatewayWith, provider: Provider
    ) -> None:
        first = {"Authorization": f"Bearer {provider.token(sub='officer-1')}"}
        second = {"Authorization": f"Bearer {provider.token(sub='officer-2')}"}
        async with gateway_with(auth=provider.auth, token_cache_size=1) as client:
            assert (await client.get("/api/permits/x", headers=first)).status_code == 200
            assert (await client.get("/api/permits/x", headers=second)).status_code == 200
            write_jwks(provider.jwks, new_rsa_key())
            evicted = await client.get("/api/permits/x", headers=first)
            kept = await client.get("/api/permits/x", headers=second)
        assert_invalid_token(evicted, "unknown signing key")
        assert kept.status_code == 200

    async def test_a_remembered_token_is_refused_once_it_expires(
        self, gateway_with: GatewayWith, provider: Provider
    ) -> None:
        auth = provider.auth.model_copy(update={"leeway_seconds": 0})
        exp = int(time.time()) + 2
        headers = {"Authorization": f"Bearer {provider.key.sign(claims_for(auth, exp=exp))}"}
        async with gateway_with(auth=auth) as client:
            assert (await client.get("/api/permits/x", headers=headers)).status_code == 200
            await asyncio.sleep(max(0.0, exp - time.time()) + 0.1)
            expired = await client.get("/api/permits/x", headers=headers)
        assert_invalid_token(expired, "expired")


# --- API keys --------------------------------------------------------------------------------


async def insert_key(database_url: str, **fields: Any) -> tuple[str, str]:
    """An API key written straight into the gateway's tables; (key id, key)."""
    async with direct_database(database_url) as factory, unit_of_work(factory) as session:
        row, key = await issue_api_key(
            session,
            subject=fields.get("subject", INSURER),
            name="direct",
            expires_at=fields.get("expires_at"),
            by="admin:ops",
            now=utcnow(),
        )
    return row.id, key


async def revoke_in_database(database_url: str, key_id: str) -> None:
    """A revocation made by another gateway replica."""
    async with direct_database(database_url) as factory, unit_of_work(factory) as session:
        await session.execute(
            sa.update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(revoked_at=utcnow(), revoked_by="admin:other", revoked_reason="leaked")
        )


class TestApiKeys:
    async def test_a_key_reaches_the_service_as_a_gateway_token_for_its_insurer(
        self,
        gateway: GatewayFactory,
        issuer: DevIssuer,
        auth_settings: AuthSettings,
        database_url: str,
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_key(client, issuer)
            headers = {"X-API-Key": created["key"]}
            first = await client.get("/api/insurance/policies", headers=headers)
            second = await client.get("/api/insurance/policies", headers=headers)
            own = await client.get("/api/gateway/api-keys", headers=headers)
        token = forwarded_token(first)
        assert seen(first.json(), "x-api-key") == []
        assert forwarded_token(second) == token  # minted once, reused until near its expiry
        verifier = TokenVerifier(auth_settings)
        try:
            principal = await verifier.verify(token)
        finally:
            await verifier.aclose()
        assert (principal.role, principal.subject) == (Role.insurer, INSURER)
        assert own.status_code == 200
        assert [k["key_id"] for k in own.json()["items"]] == [created["key_id"]]

    async def test_wrong_secret_unknown_id_and_malformed_keys(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_key(client, issuer)
            key: str = created["key"]
            wrong_secret = f"qdk_{created['key_id']}_{new_secret()}"
            for candidate, detail in [
                (wrong_secret, "not valid"),
                (new_api_key()[1], "not valid"),
                ("qdk_123", "malformed"),
                ("Bearer " + key, "malformed"),
            ]:
                response = await client.get("/api/permits/x", headers={"X-API-Key": candidate})
                body = assert_problem(response, 401, "invalid_api_key")
                assert detail in body["detail"]
                assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'

    async def test_a_revocation_here_takes_effect_at_once(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url, api_key_cache_seconds=300) as client:
            created = await create_key(client, issuer)
            headers = {"X-API-Key": created["key"]}
            assert (await client.get("/api/permits/x", headers=headers)).status_code == 200
            revoked = await client.post(
                f"/api/gateway/api-keys/{created['key_id']}/revoke",
                json={"reason": "the laptop holding it was stolen"},
                headers=admin(issuer),
            )
            after = await client.get("/api/permits/x", headers=headers)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_by"] == f"admin:{ADMIN}"
        body = assert_problem(after, 401, "invalid_api_key")
        assert "revoked" in body["detail"]

    async def test_another_replicas_revocation_holds_after_the_cache_time(
        self, gateway: GatewayFactory, database_url: str
    ) -> None:
        key_id, key = await insert_key(database_url)
        headers = {"X-API-Key": key}
        async with gateway(database_url=database_url, api_key_cache_seconds=300) as client:
            assert (await client.get("/api/permits/x", headers=headers)).status_code == 200
            await revoke_in_database(database_url, key_id)
            # Trusted from memory within the cache time: no database read per request.
            assert (await client.get("/api/permits/x", headers=headers)).status_code == 200
        async with gateway(database_url=database_url, api_key_cache_seconds=0) as client:
            refused = await client.get("/api/permits/x", headers=headers)
        assert "revoked" in assert_problem(refused, 401, "invalid_api_key")["detail"]

    async def test_an_expired_key_is_refused(
        self, gateway: GatewayFactory, database_url: str
    ) -> None:
        _, key = await insert_key(database_url, expires_at=utcnow() - timedelta(minutes=1))
        async with gateway(database_url=database_url) as client:
            response = await client.get("/api/permits/x", headers={"X-API-Key": key})
        assert "expired" in assert_problem(response, 401, "invalid_api_key")["detail"]

    async def test_the_database_down_is_503_not_500(
        self, gateway: GatewayFactory, tmp_path: Path
    ) -> None:
        # A directory is no SQLite database: every connection attempt fails.
        unusable = f"sqlite+aiosqlite:///{tmp_path}"
        async with gateway(database_url=unusable, auto_migrate=False) as client:
            response = await client.get("/api/permits/x", headers={"X-API-Key": new_api_key()[1]})
        assert_problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == "5"

    async def test_without_a_signing_key_an_api_key_cannot_be_exchanged(
        self, gateway_with: GatewayWith, auth_settings: AuthSettings, database_url: str
    ) -> None:
        _, key = await insert_key(database_url)
        verify_only = auth_settings.model_copy(
            update={
                "dev_issuer_enabled": False,
                "jwks_path": auth_settings.dev_key_dir / JWKS_FILE,
            }
        )
        async with gateway_with(auth=verify_only, database_url=database_url) as client:
            response = await client.get("/api/permits/x", headers={"X-API-Key": key})
        assert_problem(response, 503, "issuer_unavailable")


# --- OAuth2 client credentials ---------------------------------------------------------------


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    body = assert_problem(response, status, error)
    assert body["error"] == error
    assert body["error_description"] == body["detail"]
    assert response.headers["cache-control"] == "no-store"
    if error == "invalid_client":
        assert response.headers["www-authenticate"] == 'Basic realm="gateway"'
    return body


class TestClientCredentials:
    async def test_a_token_for_a_client_works_through_the_gateway(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url, issued_token_seconds=600) as client:
            created = await create_client(client, issuer)
            response = await token_request(client, form_credentials(created))
            assert response.status_code == 200, response.text
            body = response.json()
            headers = {"Authorization": f"Bearer {body['access_token']}"}
            upstream = await client.get("/api/insurance/policies", headers=headers)
            own_keys = await client.get("/api/gateway/api-keys", headers=headers)
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 600
        assert body["scope"] == "policies:push reports:read"
        assert response.headers["cache-control"] == "no-store"
        claims = unverified(body["access_token"])
        assert (claims["role"], claims["sub"]) == ("insurer", INSURER)
        assert claims["exp"] - claims["iat"] == 600
        assert claims["scope"] == "policies:push reports:read"
        assert forwarded_token(upstream) == body["access_token"]
        assert own_keys.status_code == 200

    async def test_http_basic_client_authentication(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer, role="department", subject="QD-CBIRC")
            response = await token_request(
                client,
                {"grant_type": "client_credentials"},
                auth=(created["client_id"], created["client_secret"]),
            )
        assert response.status_code == 200, response.text
        claims = unverified(response.json()["access_token"])
        assert (claims["role"], claims["sub"]) == ("department", "QD-CBIRC")

    async def test_wrong_or_missing_client_credentials(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            wrong_secret = form_credentials(created, client_secret="x" * 43)
            unknown = form_credentials(created, client_id="qdc_" + "0" * 24)
            malformed_id = form_credentials(created, client_id="no\x00such")
            no_secret = {"grant_type": "client_credentials", "client_id": created["client_id"]}
            for data in (wrong_secret, unknown, malformed_id, no_secret):
                assert_oauth_error(await token_request(client, data), 401, "invalid_client")
            basic_wrong = await token_request(
                client, {"grant_type": "client_credentials"}, auth=(created["client_id"], "nope")
            )
            basic_garbage = await token_request(
                client,
                {"grant_type": "client_credentials"},
                headers={"Authorization": "Basic !!!not-base64"},
            )
        assert_oauth_error(basic_wrong, 401, "invalid_client")
        assert_oauth_error(basic_garbage, 401, "invalid_client")

    async def test_a_revoked_client_gets_no_token(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            revoked = await client.post(
                f"/api/gateway/clients/{created['client_id']}/revoke",
                json={"reason": "contract ended"},
                headers=admin(issuer),
            )
            response = await token_request(client, form_credentials(created))
        assert revoked.status_code == 200
        assert revoked.json()["revoked_reason"] == "contract ended"
        assert "revoked" in assert_oauth_error(response, 401, "invalid_client")["detail"]

    async def test_a_rotated_secret_replaces_the_old_one(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            rotated = await client.post(
                f"/api/gateway/clients/{created['client_id']}/secret", headers=admin(issuer)
            )
            assert rotated.status_code == 200, rotated.text
            new_secret = rotated.json()["client_secret"]
            old = await token_request(client, form_credentials(created))
            new = await token_request(client, form_credentials(created, client_secret=new_secret))
        assert new_secret != created["client_secret"]
        assert rotated.headers["cache-control"] == "no-store"
        assert_oauth_error(old, 401, "invalid_client")
        assert new.status_code == 200

    async def test_grant_type_and_form_errors(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            good = form_credentials(created)
            password = await token_request(client, {**good, "grant_type": "password"})
            missing = await token_request(
                client, {k: v for k, v in good.items() if k != "grant_type"}
            )
            as_json = await client.post("/oauth/token", json=good)
            repeated = await client.post(
                "/oauth/token",
                content=f"grant_type=client_credentials&grant_type=client_credentials"
                f"&client_id={created['client_id']}&client_secret={created['client_secret']}",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            two_methods = await token_request(
                client, good, auth=(created["client_id"], created["client_secret"])
            )
            bad_utf8 = await client.post(
                "/oauth/token",
                content=b"grant_type=client_credentials&scope=%FF",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            too_big = await token_request(client, {**good, "padding": "x" * 9000})
        assert_oauth_error(password, 400, "unsupported_grant_type")
        for response in (missing, as_json, repeated, two_methods, bad_utf8, too_big):
            assert_oauth_error(response, 400, "invalid_request")

    async def test_scopes_are_a_subset_of_the_clients(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            subset = await token_request(client, form_credentials(created, scope="reports:read"))
            beyond = await token_request(
                client, form_credentials(created, scope="reports:read admin:all")
            )
            garbage = await token_request(client, form_credentials(created, scope='a"b'))
            bare = await create_client(client, issuer, subject="CPIC-QD", scopes=[])
            unscoped = await token_request(client, form_credentials(bare))
        assert subset.json()["scope"] == "reports:read"
        assert unverified(subset.json()["access_token"])["scope"] == "reports:read"
        assert "admin:all" in assert_oauth_error(beyond, 400, "invalid_scope")["detail"]
        assert_oauth_error(garbage, 400, "invalid_scope")
        assert "scope" not in unscoped.json()
        assert "scope" not in unverified(unscoped.json()["access_token"])

    async def test_a_row_is_never_issued_a_service_scope_or_another_role(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        # Rows written before registration refused these, or by hand: the endpoint itself
        # never mints a service scope or a role other than insurer and department.
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            async with direct_database(database_url) as sessions, unit_of_work(sessions) as s:
                row = await s.get(Client, created["client_id"])
                assert row is not None
                row.scopes = "reports:read events:replay data:share"
            plain = await token_request(client, form_credentials(created))
            asked = await token_request(client, form_credentials(created, scope="events:replay"))
            async with direct_database(database_url) as sessions, unit_of_work(sessions) as s:
                row = await s.get(Client, created["client_id"])
                assert row is not None
                row.role = "admin"
            as_admin = await token_request(client, form_credentials(created))
        assert plain.status_code == 200, plain.text
        assert plain.json()["scope"] == "reports:read"
        assert unverified(plain.json()["access_token"])["scope"] == "reports:read"
        assert "events:replay" in assert_oauth_error(asked, 400, "invalid_scope")["detail"]
        assert_oauth_error(as_admin, 401, "invalid_client")


# --- management of clients and keys ----------------------------------------------------------

MANAGEMENT_ROUTES = [
    ("POST", "/api/gateway/clients", {"role": "insurer", "subject": INSURER, "name": "n"}),
    ("GET", "/api/gateway/clients", None),
    ("POST", "/api/gateway/clients/qdc_000000000000000000000000/revoke", {"reason": "r"}),
    ("POST", "/api/gateway/clients/qdc_000000000000000000000000/secret", None),
    ("POST", "/api/gateway/api-keys", {"subject": INSURER, "name": "n"}),
]


class TestManagementAuthorisation:
    @pytest.mark.parametrize(("method", "path", "body"), MANAGEMENT_ROUTES)
    async def test_anonymous_is_401_and_other_roles_403(
        self,
        gateway: GatewayFactory,
        issuer: DevIssuer,
        database_url: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        async with gateway(database_url=database_url) as client:
            anonymous = await client.request(method, path, json=body)
            assert_problem(anonymous, 401, "unauthorized")
            for role in (Role.officer, Role.enterprise, Role.leader, Role.department):
                response = await client.request(
                    method, path, json=body, headers=as_role(issuer, role, "someone")
                )
                assert_problem(response, 403, "forbidden")
            insurer = await client.request(
                method, path, json=body, headers=as_role(issuer, Role.insurer, INSURER)
            )
            assert_problem(insurer, 403, "forbidden")

    @pytest.mark.parametrize(
        "path",
        [
            "/api/gateway/api-keys",
            "/api/gateway/api-keys/000000000000000000000000",
            "/api/gateway/clients/qdc_000000000000000000000000",
        ],
    )
    async def test_reads_need_an_admin_or_the_owner(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str, path: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            assert_problem(await client.get(path), 401, "unauthorized")
            refused = [Role.officer, Role.leader, Role.enterprise, Role.public]
            if "api-keys" in path:
                refused.append(Role.department)
            for role in refused:
                response = await client.get(path, headers=as_role(issuer, role, "someone"))
                expected = ("unauthorized", 401) if role is Role.public else ("forbidden", 403)
                assert_problem(response, expected[1], expected[0])

    async def test_secrets_are_shown_once_and_never_listed(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            key = await create_key(client, issuer)
            listed = await client.get("/api/gateway/clients", headers=admin(issuer))
            one = await client.get(
                f"/api/gateway/clients/{created['client_id']}", headers=admin(issuer)
            )
            keys = await client.get("/api/gateway/api-keys", headers=admin(issuer))
            one_key = await client.get(
                f"/api/gateway/api-keys/{key['key_id']}", headers=admin(issuer)
            )
        assert created["client_id"].startswith("qdc_")
        assert key["key"].startswith(f"qdk_{key['key_id']}_")
        secret_hash = hashlib.sha256(created["client_secret"].encode()).hexdigest()
        key_hash = hashlib.sha256(key["key"].encode()).hexdigest()
        for response in (listed, one, keys, one_key):
            assert response.status_code == 200, response.text
            text = response.text
            for leaked in (created["client_secret"], key["key"], secret_hash, key_hash):
                assert leaked not in text
            assert "sha256" not in text
        assert one.json()["scopes"] == ["policies:push", "reports:read"]
        assert one.json()["created_by"] == f"admin:{ADMIN}"

    async def test_creation_answers_201_with_location_and_no_store(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            response = await client.post(
                "/api/gateway/clients",
                json={"role": "insurer", "subject": INSURER, "name": "PICC claims"},
                headers=admin(issuer),
            )
            located = await client.get(response.headers["location"], headers=admin(issuer))
            key = await client.post(
                "/api/gateway/api-keys",
                json={"subject": INSURER, "name": "batch uploads"},
                headers=admin(issuer),
            )
            key_located = await client.get(key.headers["location"], headers=admin(issuer))
        assert response.status_code == 201
        assert response.headers["cache-control"] == "no-store"
        assert located.json()["client_id"] == response.json()["client_id"]
        assert key.status_code == 201
        assert key.headers["cache-control"] == "no-store"
        assert key_located.json()["key_id"] == key.json()["key_id"]

    async def test_insurers_see_and_revoke_only_their_own_keys(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            mine = await create_key(client, issuer)
            theirs = await create_key(client, issuer, subject="CPIC-QD")
            me = as_role(issuer, Role.insurer, INSURER)
            listed = await client.get("/api/gateway/api-keys", headers=me)
            others = await client.get("/api/gateway/api-keys?subject=CPIC-QD", headers=me)
            peek = await client.get(f"/api/gateway/api-keys/{theirs['key_id']}", headers=me)
            steal = await client.post(
                f"/api/gateway/api-keys/{theirs['key_id']}/revoke",
                json={"reason": "mischief"},
                headers=me,
            )
            own = await client.post(
                f"/api/gateway/api-keys/{mine['key_id']}/revoke",
                json={"reason": "rotating"},
                headers=me,
            )
            again = await client.post(
                f"/api/gateway/api-keys/{mine['key_id']}/revoke",
                json={"reason": "rotating"},
                headers=me,
            )
            filtered = await client.get(
                "/api/gateway/api-keys?subject=CPIC-QD", headers=admin(issuer)
            )
            their_key_works = await client.get(
                "/api/permits/x", headers={"X-API-Key": theirs["key"]}
            )
        assert [k["key_id"] for k in listed.json()["items"]] == [mine["key_id"]]
        assert_problem(others, 403, "forbidden")
        assert_problem(peek, 404, "api_key_not_found")
        assert_problem(steal, 404, "api_key_not_found")
        assert own.status_code == 200
        assert own.json()["revoked_by"] == f"insurer:{INSURER}"
        assert_problem(again, 409, "already_revoked")
        assert [k["key_id"] for k in filtered.json()["items"]] == [theirs["key_id"]]
        assert their_key_works.status_code == 200

    async def test_a_client_is_visible_to_itself_and_admins_only(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            path = f"/api/gateway/clients/{created['client_id']}"
            itself = await client.get(path, headers=as_role(issuer, Role.insurer, INSURER))
            other = await client.get(path, headers=as_role(issuer, Role.insurer, "CPIC-QD"))
            department = await client.get(path, headers=as_role(issuer, Role.department, INSURER))
            unknown = await client.get(
                "/api/gateway/clients/qdc_000000000000000000000000", headers=admin(issuer)
            )
            nul = await client.get("/api/gateway/clients/qdc_%00", headers=admin(issuer))
        assert itself.status_code == 200
        for response in (other, department, unknown, nul):
            assert_problem(response, 404, "client_not_found")

    async def test_revoked_clients_cannot_be_revoked_or_rotated_again(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_client(client, issuer)
            path = f"/api/gateway/clients/{created['client_id']}"
            first = await client.post(
                f"{path}/revoke", json={"reason": "done"}, headers=admin(issuer)
            )
            second = await client.post(
                f"{path}/revoke", json={"reason": "done"}, headers=admin(issuer)
            )
            rotate = await client.post(f"{path}/secret", headers=admin(issuer))
        assert first.status_code == 200
        assert_problem(second, 409, "already_revoked")
        assert_problem(rotate, 409, "already_revoked")

    async def test_lists_are_paged_by_cursor(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        async with gateway(database_url=database_url) as client:
            made = [
                (await create_client(client, issuer, subject=f"INS-{n}"))["client_id"]
                for n in range(3)
            ]
            first = await client.get("/api/gateway/clients?limit=2", headers=admin(issuer))
            cursor = first.json()["next_cursor"]
            second = await client.get(
                "/api/gateway/clients", params={"limit": 2, "cursor": cursor}, headers=admin(issuer)
            )
            bad = await client.get("/api/gateway/clients?cursor=%00%00", headers=admin(issuer))
            by_subject = await client.get(
                "/api/gateway/clients?subject=INS-1&role=insurer", headers=admin(issuer)
            )
        ids = [c["client_id"] for c in first.json()["items"] + second.json()["items"]]
        assert ids == sorted(made)
        assert second.json()["next_cursor"] is None
        assert_problem(bad, 422, "invalid_cursor")
        assert [c["subject"] for c in by_subject.json()["items"]] == ["INS-1"]


def fields_of(response: httpx.Response) -> set[str]:
    body = assert_problem(response, 422, "validation_failed")
    return {e["field"] for e in body["errors"]}


class TestManagementInput:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"role": "admin"}, "role"),
            ({"subject": "PICC\u0000QD"}, "subject"),
            ({"subject": "x" * 65}, "subject"),
            ({"name": "   "}, "name"),
            ({"name": "line\nbreak"}, "name"),
            ({"name": "n" * 201}, "name"),
            ({"scopes": ["a", "a"]}, "scopes"),
            ({"scopes": ["has space"]}, "scopes.0"),
            ({"scopes": [f"s{n:02}" + "x" * 60 for n in range(9)]}, "scopes"),
            # The services' own scopes: /events checks the scope alone.
            ({"scopes": ["reports:read", "events:replay"]}, "scopes"),
            ({"scopes": ["data:share"]}, "scopes"),
            ({"client_secret": "chosen-by-me"}, "client_secret"),
        ],
    )
    async def test_client_fields(
        self,
        gateway: GatewayFactory,
        issuer: DevIssuer,
        database_url: str,
        change: dict[str, Any],
        field: str,
    ) -> None:
        body = {"role": "insurer", "subject": INSURER, "name": "PICC", "scopes": [], **change}
        async with gateway(database_url=database_url) as client:
            response = await client.post("/api/gateway/clients", json=body, headers=admin(issuer))
            listed = await client.get("/api/gateway/clients", headers=admin(issuer))
        assert fields_of(response) == {field}
        assert listed.json()["items"] == []

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"subject": ""}, "subject"),
            ({"name": "a\u0000b"}, "name"),
            ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
            ({"expires_at": "2099-01-01T00:00:00"}, "expires_at"),  # no zone
            # Past year 9999 once in UTC (stored in UTC): a 422, never a 500.
            ({"expires_at": "9999-12-31T23:59:59-12:00"}, "expires_at"),
            ({"key": "qdk_mine"}, "key"),
        ],
    )
    async def test_api_key_fields(
        self,
        gateway: GatewayFactory,
        issuer: DevIssuer,
        database_url: str,
        change: dict[str, Any],
        field: str,
    ) -> None:
        body = {"subject": INSURER, "name": "uploads", **change}
        async with gateway(database_url=database_url) as client:
            response = await client.post("/api/gateway/api-keys", json=body, headers=admin(issuer))
        assert fields_of(response) == {field}

    async def test_an_api_key_may_expire_in_the_future(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str
    ) -> None:
        until = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
        async with gateway(database_url=database_url) as client:
            created = await create_key(client, issuer, expires_at=until.isoformat())
            works = await client.get("/api/permits/x", headers={"X-API-Key": created["key"]})
        assert datetime.fromisoformat(created["expires_at"]) == until
        assert works.status_code == 200

    @pytest.mark.parametrize(
        "body",
        [{}, {"reason": ""}, {"reason": " \n "}, {"reason": "a\u0000"}, {"reason": "x" * 1001}],
    )
    async def test_a_revocation_needs_a_reason(
        self, gateway: GatewayFactory, issuer: DevIssuer, database_url: str, body: dict[str, Any]
    ) -> None:
        async with gateway(database_url=database_url) as client:
            created = await create_key(client, issuer)
            response = await client.post(
                f"/api/gateway/api-keys/{created['key_id']}/revoke",
                json=body,
                headers=admin(issuer),
            )
            still = await client.get("/api/permits/x", headers={"X-API-Key": created["key"]})
        assert fields_of(response) == {"reason"}
        assert still.status_code == 200


# --- the gateway's own issuer ----------------------------------------------------------------


def test_the_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037 appendix A.3: the thumbprint of the example Ed25519 public key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.fixture
def signing_key(tmp_path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "gateway-signing.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


GATEWAY_ISSUER = "https://gateway.safety.example"


class TestGatewayIssuer:
    async def test_its_own_key_signs_tokens_the_services_can_trust(
        self,
        gateway: GatewayFactory,
        issuer: DevIssuer,
        auth_settings: AuthSettings,
        signing_key: Path,
        database_url: str,
        tmp_path: Path,
    ) -> None:
        async with gateway(
            database_url=database_url, signing_key_path=signing_key, issuer=GATEWAY_ISSUER
        ) as client:
            jwks = await client.get("/.well-known/jwks.json")
            created = await create_client(client, issuer)
            token = (await token_request(client, form_credentials(created))).json()["access_token"]
            through = await client.get(
                "/api/permits/x", headers={"Authorization": f"Bearer {token}"}
            )
            key = await create_key(client, issuer)
            by_key = await client.get("/api/permits/x", headers={"X-API-Key": key["key"]})
        assert jwks.status_code == 200
        assert jwks.headers["content-type"] == "application/jwk-set+json"
        assert "public" in jwks.headers["cache-control"]
        (jwk,) = jwks.json()["keys"]
        assert "d" not in jwk
        assert jwk["kid"] == jwk_thumbprint(jwk)
        assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
        assert unverified(token)["iss"] == GATEWAY_ISSUER
        assert forwarded_token(through) == token
        assert unverified(forwarded_token(by_key))["iss"] == GATEWAY_ISSUER
        # A service configured as production would be: the identity provider as AUTH_ISSUER,
        # the gateway in AUTH_EXTRA_ISSUERS with (a copy of) its published keys.
        published = tmp_path / "gateway-jwks.json"
        published.write_text(jwks.text)
        service = TokenVerifier(
            auth_settings.model_copy(update={"extra_issuers": {GATEWAY_ISSUER: str(published)}})
        )
        try:
            principal = await service.verify(token)
        finally:
            await service.aclose()
        assert (principal.role, principal.subject) == (Role.insurer, INSURER)

    async def test_without_any_key_nothing_is_issued(
        self,
        gateway_with: GatewayWith,
        issuer: DevIssuer,
        auth_settings: AuthSettings,
        database_url: str,
    ) -> None:
        verify_only = auth_settings.model_copy(
            update={
                "dev_issuer_enabled": False,
                "jwks_path": auth_settings.dev_key_dir / JWKS_FILE,
            }
        )
        async with gateway_with(auth=verify_only, database_url=database_url) as client:
            created = await create_client(client, issuer)
            token = await token_request(client, form_credentials(created))
            jwks = await client.get("/.well-known/jwks.json")
            # Tokens from elsewhere are still verified.
            verified = await client.get("/api/gateway/clients", headers=admin(issuer))
        assert_problem(token, 503, "issuer_unavailable")
        assert_problem(jwks, 503, "issuer_unavailable")
        assert verified.status_code == 200

    async def test_the_embedded_issuer_publishes_the_development_key(
        self, gateway: GatewayFactory, dev_key: DevKey
    ) -> None:
        async with gateway() as client:
            jwks = await client.get("/.well-known/jwks.json")
        assert [k["kid"] for k in jwks.json()["keys"]] == [dev_key.kid]

    def test_a_signing_key_needs_an_issuer_name(
        self, upstream_urls: dict[str, str], auth_settings: AuthSettings, signing_key: Path
    ) -> None:
        from gateway.main import create_app

        settings = gateway_settings(
            upstream_urls,
            auth=auth_settings,
            database_url="sqlite+aiosqlite:///unused.db",
            signing_key_path=signing_key,
        )
        with pytest.raises(ValueError, match="GATEWAY_ISSUER"):
            create_app(settings)

    def test_a_key_that_is_not_ed25519_is_refused_at_start(
        self, upstream_urls: dict[str, str], auth_settings: AuthSettings, tmp_path: Path
    ) -> None:
        from gateway.main import create_app

        rsa_pem = tmp_path / "rsa.pem"
        rsa_pem.write_bytes(
            new_rsa_key().private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        settings = gateway_settings(
            upstream_urls,
            auth=auth_settings,
            database_url="sqlite+aiosqlite:///unused.db",
            signing_key_path=rsa_pem,
            issuer=GATEWAY_ISSUER,
        )
        with pytest.raises(ValueError, match="not an Ed25519 private key"):
            create_app(settings)

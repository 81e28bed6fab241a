"""Token verification, key rotation, the development issuer and CLI, and the API guards."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from kernel.app import ServiceRuntime
from kernel.auth import devtoken
from kernel.auth.dev import KEY_FILE, DevIssuer
from kernel.auth.principal import Principal, Role
from kernel.auth.verifier import InvalidToken, TokenVerifier
from kernel.devbroker import DevBroker
from kernel.settings import AuthSettings
from kernel.uscc import make_uscc
from services.insurance.config import InsuranceSettings
from services.insurance.main import create_app
from tests.support import bearer, running, serving
from tests.support.tokens import (
    DevKey,
    RSAKey,
    b64url,
    claims_for,
    load_dev_key,
    new_rsa_key,
    write_jwks,
)

USCC = make_uscc(7)


# --- signing helpers -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dev_key(auth_settings: AuthSettings, issuer: DevIssuer) -> DevKey:
    return load_dev_key(auth_settings)


@pytest.fixture
async def verifier(auth_settings: AuthSettings) -> AsyncIterator[TokenVerifier]:
    v = TokenVerifier(auth_settings)
    yield v
    await v.aclose()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes) -> str:
    h = b64url(json.dumps(header).encode())
    p = b64url(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url(signature)}"


# --- verification ----------------------------------------------------------------------------


class TestValidTokens:
    async def test_dev_token_becomes_principal_with_role_subject_and_scopes(
        self, verifier: TokenVerifier, issuer: DevIssuer
    ) -> None:
        token = issuer.mint("service", "svc:inspection", scopes=("events:replay", "read"))
        principal = await verifier.verify(token)
        assert principal == Principal(
            role=Role.service,
            subject="svc:inspection",
            scopes=frozenset({"events:replay", "read"}),
            token=token,
        )
        assert principal.has_scope("events:replay")
        assert principal.key == "service:svc:inspection"

    async def test_token_without_scope_claim_has_no_scopes(
        self, verifier: TokenVerifier, issuer: DevIssuer
    ) -> None:
        principal = await verifier.verify(issuer.mint("enterprise", USCC))
        assert principal.role is Role.enterprise
        assert principal.subject == USCC
        assert principal.scopes == frozenset()

    async def test_expiry_within_leeway_is_accepted(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        now = int(time.time())
        assert auth_settings.leeway_seconds >= 20
        token = dev_key.sign(claims_for(auth_settings, exp=now - 10, iat=now - 600))
        assert (await verifier.verify(token)).subject == "officer-007"


class TestRejectedTokens:
    async def test_expired_beyond_leeway(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        now = int(time.time())
        token = dev_key.sign(
            claims_for(auth_settings, iat=now - 3600, nbf=now - 3600, exp=now - 60 - 30)
        )
        with pytest.raises(InvalidToken, match="expired"):
            await verifier.verify(token)

    async def test_not_yet_valid(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        now = int(time.time())
        token = dev_key.sign(claims_for(auth_settings, nbf=now + 600, exp=now + 1200))
        with pytest.raises(InvalidToken, match="not yet valid"):
            await verifier.verify(token)

    async def test_wrong_audience(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        token = dev_key.sign(claims_for(auth_settings, aud="some-other-platform"))
        with pytest.raises(InvalidToken, match=r"[Aa]udience"):
            await verifier.verify(token)

    async def test_wrong_issuer(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        token = dev_key.sign(claims_for(auth_settings, iss="https://evil.example/auth"))
        with pytest.raises(InvalidToken, match=r"[Ii]ssuer"):
            await verifier.verify(token)

    @pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud", "role"])
    async def test_missing_claim(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey, claim: str
    ) -> None:
        token = dev_key.sign(claims_for(auth_settings, **{claim: None}))
        with pytest.raises(InvalidToken):
            await verifier.verify(token)

    async def test_unknown_role(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        token = dev_key.sign(claims_for(auth_settings, role="superuser"))
        with pytest.raises(InvalidToken, match="unknown role 'superuser'"):
            await verifier.verify(token)

    async def test_tampered_payload_keeps_old_signature(
        self, verifier: TokenVerifier, issuer: DevIssuer
    ) -> None:
        header, payload, signature = issuer.mint("enterprise", USCC).split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["role"] = "admin"
        forged = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
        with pytest.raises(InvalidToken, match=r"[Ss]ignature"):
            await verifier.verify(forged)

    async def test_signature_from_another_key_with_same_kid(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        impostor = Ed25519PrivateKey.generate()
        token = jwt.encode(
            claims_for(auth_settings, role="admin"),
            impostor,
            algorithm="EdDSA",
            headers={"kid": dev_key.kid},
        )
        with pytest.raises(InvalidToken):
            await verifier.verify(token)

    async def test_alg_none(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        token = unsigned_token(
            {"alg": "none", "typ": "JWT", "kid": dev_key.kid},
            claims_for(auth_settings, role="admin"),
            b"",
        )
        with pytest.raises(InvalidToken, match="not accepted"):
            await verifier.verify(token)

    @pytest.mark.parametrize("secret", ["public_pem", "public_raw"])
    async def test_hs256_signed_with_public_key_as_secret(
        self,
        verifier: TokenVerifier,
        auth_settings: AuthSettings,
        dev_key: DevKey,
        secret: str,
    ) -> None:
        # The classic key-confusion attack: the public key is no secret, so an HMAC made with
        # it must never pass for the issuer's signature.
        header = {"alg": "HS256", "typ": "JWT", "kid": dev_key.kid}
        claims = claims_for(auth_settings, role="admin")
        h = b64url(json.dumps(header).encode())
        p = b64url(json.dumps(claims).encode())
        key: bytes = getattr(dev_key, secret)
        mac = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
        with pytest.raises(InvalidToken, match="not accepted"):
            await verifier.verify(f"{h}.{p}.{b64url(mac)}")

    async def test_rs256_header_on_an_eddsa_key_is_refused(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        rsa = new_rsa_key()
        token = jwt.encode(
            claims_for(auth_settings), rsa.private, algorithm="RS256", headers={"kid": dev_key.kid}
        )
        with pytest.raises(InvalidToken):
            await verifier.verify(token)

    async def test_unknown_kid(
        self, verifier: TokenVerifier, auth_settings: AuthSettings, dev_key: DevKey
    ) -> None:
        token = dev_key.sign(claims_for(auth_settings), kid="nobody-knows-me")
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier.verify(token)

    @pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "Bearer x.y.z"])
    async def test_garbage(self, verifier: TokenVerifier, garbage: str) -> None:
        with pytest.raises(InvalidToken):
            await verifier.verify(garbage)


# --- JWKS file: RS256 and rotation -----------------------------------------------------------


@pytest.fixture
def rsa_settings(tmp_path: Path, auth_settings: AuthSettings) -> tuple[AuthSettings, Path]:
    path = tmp_path / "jwks.json"
    settings = AuthSettings(
        issuer=auth_settings.issuer,
        audience=auth_settings.audience,
        jwks_path=path,
        jwks_url=None,
        dev_issuer_enabled=False,
        dev_key_dir=tmp_path / "unused",
    )
    return settings, path


class TestJWKSFile:
    async def test_rs256_token_from_rsa_jwks_is_accepted(
        self, rsa_settings: tuple[AuthSettings, Path]
    ) -> None:
        settings, path = rsa_settings
        key = new_rsa_key()
        write_jwks(path, key)
        verifier = TokenVerifier(settings)
        try:
            principal = await verifier.verify(key.sign(claims_for(settings, role="leader")))
        finally:
            await verifier.aclose()
        assert principal.role is Role.leader

    async def test_rotated_key_is_picked_up_without_restart_and_removed_key_is_refused(
        self, rsa_settings: tuple[AuthSettings, Path]
    ) -> None:
        settings, path = rsa_settings
        old, new = new_rsa_key(), new_rsa_key()
        write_jwks(path, old)
        verifier = TokenVerifier(settings)
        try:
            assert (await verifier.verify(old.sign(claims_for(settings)))).role is Role.officer
            new_token = new.sign(claims_for(settings, role="admin"))
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(new_token)

            write_jwks(path, old, new)
            assert (await verifier.verify(new_token)).role is Role.admin

            write_jwks(path, new)
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(old.sign(claims_for(settings)))
            assert (await verifier.verify(new_token)).role is Role.admin
        finally:
            await verifier.aclose()

    async def test_token_without_kid_only_with_a_single_key(
        self, rsa_settings: tuple[AuthSettings, Path]
    ) -> None:
        settings, path = rsa_settings
        one, two = new_rsa_key(), new_rsa_key()
        write_jwks(path, one)
        verifier = TokenVerifier(settings)
        try:
            kidless = jwt.encode(claims_for(settings), one.private, algorithm="RS256")
            assert (await verifier.verify(kidless)).subject == "officer-007"
            write_jwks(path, one, two)
            with pytest.raises(InvalidToken, match="unknown signing key None"):
                await verifier.verify(kidless)
        finally:
            await verifier.aclose()

    async def test_missing_jwks_file_rejects_tokens(
        self, rsa_settings: tuple[AuthSettings, Path]
    ) -> None:
        settings, _ = rsa_settings
        verifier = TokenVerifier(settings)
        try:
            with pytest.raises(InvalidToken, match="not found"):
                await verifier.verify(new_rsa_key().sign(claims_for(settings)))
        finally:
            await verifier.aclose()

    def test_no_jwks_source_is_a_configuration_error(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="no JWKS configured"):
            TokenVerifier(AuthSettings(jwks_path=None, jwks_url=None, dev_issuer_enabled=False))


# --- JWKS URL: caching and refresh ------------------------------------------------------------


@dataclass
class JWKSServer:
    """A tiny identity provider's key endpoint over real HTTP, counting requests."""

    keys: list[RSAKey]
    url: str = ""
    hits: int = 0
    delay: float = 0.0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/certs")
        async def certs() -> dict[str, Any]:
            self.hits += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            return {"keys": [k.jwk() for k in self.keys]}

        return app


@pytest.fixture
async def idp() -> AsyncIterator[JWKSServer]:
    server = JWKSServer(keys=[new_rsa_key()])
    async with serving(server.app()) as base:
        server.url = f"{base}/certs"
        yield server


def url_settings(idp: JWKSServer, auth_settings: AuthSettings, ttl: int = 300) -> AuthSettings:
    return AuthSettings(
        issuer=auth_settings.issuer,
        audience=auth_settings.audience,
        jwks_path=None,
        jwks_url=idp.url,
        jwks_cache_seconds=ttl,
        dev_issuer_enabled=False,
    )


class TestJWKSURL:
    async def test_keys_are_fetched_once_and_cached(
        self, idp: JWKSServer, auth_settings: AuthSettings
    ) -> None:
        settings = url_settings(idp, auth_settings)
        verifier = TokenVerifier(settings)
        try:
            for _ in range(5):
                await verifier.verify(idp.keys[0].sign(claims_for(settings)))
        finally:
            await verifier.aclose()
        assert idp.hits == 1

    async def test_cache_expires_after_ttl(
        self, idp: JWKSServer, auth_settings: AuthSettings
    ) -> None:
        settings = url_settings(idp, auth_settings, ttl=1)
        verifier = TokenVerifier(settings)
        token = idp.keys[0].sign(claims_for(settings))
        try:
            await verifier.verify(token)
            await verifier.verify(token)
            assert idp.hits == 1
            await asyncio.sleep(1.2)
            await verifier.verify(token)
            assert idp.hits == 2
        finally:
            await verifier.aclose()

    async def test_unknown_kid_forces_one_rate_limited_refresh(
        self, idp: JWKSServer, auth_settings: AuthSettings
    ) -> None:
        settings = url_settings(idp, auth_settings)
        verifier = TokenVerifier(settings)
        rotated = new_rsa_key()
        try:
            await verifier.verify(idp.keys[0].sign(claims_for(settings)))
            assert idp.hits == 1
            idp.keys.append(rotated)
            token = rotated.sign(claims_for(settings, role="admin"))
            # Right after a load, an unknown kid does not hammer the identity provider.
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(token)
            assert idp.hits == 1
            await asyncio.sleep(1.1)
            assert (await verifier.verify(token)).role is Role.admin
            assert idp.hits == 2
            await verifier.verify(token)
            assert idp.hits == 2
            # A kid nobody has refreshes at most once, then is refused.
            stranger = new_rsa_key()
            await asyncio.sleep(1.1)
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(stranger.sign(claims_for(settings)))
            assert idp.hits == 3
        finally:
            await verifier.aclose()

    async def test_concurrent_cold_verifications_fetch_the_keys_once(
        self, idp: JWKSServer, auth_settings: AuthSettings
    ) -> None:
        idp.delay = 0.05
        settings = url_settings(idp, auth_settings)
        verifier = TokenVerifier(settings)
        token = idp.keys[0].sign(claims_for(settings))
        try:
            results = await asyncio.gather(*(verifier.verify(token) for _ in range(20)))
        finally:
            await verifier.aclose()
        assert {p.subject for p in results} == {"officer-007"}
        assert idp.hits == 1


async def test_identity_provider_outage_after_ttl_is_not_a_500(
    auth_settings: AuthSettings, broker: DevBroker, tmp_path: Path
) -> None:
    server = JWKSServer(keys=[new_rsa_key()])
    async with contextlib.AsyncExitStack() as idp_up:
        server.url = f"{await idp_up.enter_async_context(serving(server.app()))}/certs"
        settings = InsuranceSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'insurance.db'}",
            kafka_bootstrap_servers=broker.bootstrap,
            auth=url_settings(server, auth_settings, ttl=1),
            relay_enabled=False,
        )
        headers = {"Authorization": f"Bearer {server.keys[0].sign(claims_for(settings.auth))}"}
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            assert (await client.get("/policies", headers=headers)).status_code == 200
            await idp_up.aclose()  # the identity provider goes away
            await asyncio.sleep(1.2)
            r = await client.get("/policies", headers=headers)
            assert r.status_code in (200, 503), r.text


# --- development issuer and CLI -------------------------------------------------------------


class TestDevIssuer:
    def test_refuses_when_disabled(self, tmp_path: Path) -> None:
        with pytest.raises(RuntimeError, match="disabled"):
            DevIssuer(AuthSettings(dev_issuer_enabled=False, dev_key_dir=tmp_path))
        assert not (tmp_path / KEY_FILE).exists()

    def test_key_is_created_once_and_reused(self, tmp_path: Path) -> None:
        settings = AuthSettings(dev_key_dir=tmp_path / "keys", jwks_path=None, jwks_url=None)
        first = DevIssuer(settings)
        pem = (tmp_path / "keys" / KEY_FILE).read_bytes()
        second = DevIssuer(settings)
        assert (tmp_path / "keys" / KEY_FILE).read_bytes() == pem
        assert (
            jwt.get_unverified_header(first.mint("officer", "o"))["kid"]
            == (jwt.get_unverified_header(second.mint("officer", "o"))["kid"])
        )
        assert oct((tmp_path / "keys" / KEY_FILE).stat().st_mode & 0o777) == oct(0o600)


@pytest.fixture
def cli_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuthSettings:
    """`make token` writes its key where AUTH_DEV_KEY_DIR says, never into the repo's var/."""
    monkeypatch.setenv("AUTH_DEV_KEY_DIR", str(tmp_path / "cli-keys"))
    return AuthSettings(dev_key_dir=tmp_path / "cli-keys", jwks_path=None, jwks_url=None)


class TestMakeToken:
    async def test_prints_a_token_that_verifies(
        self, cli_keys: AuthSettings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert devtoken.main(["--role", "enterprise", "--sub", USCC]) == 0
        token = capsys.readouterr().out.strip()
        verifier = TokenVerifier(cli_keys)
        try:
            principal = await verifier.verify(token)
        finally:
            await verifier.aclose()
        assert principal.role is Role.enterprise
        assert principal.subject == USCC

    async def test_default_enterprise_subject_is_a_valid_uscc(
        self, cli_keys: AuthSettings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from kernel.uscc import validate_uscc

        assert devtoken.main(["--role", "enterprise"]) == 0
        token = capsys.readouterr().out.strip()
        verifier = TokenVerifier(cli_keys)
        try:
            principal = await verifier.verify(token)
        finally:
            await verifier.aclose()
        assert validate_uscc(principal.subject) == principal.subject

    def test_malformed_uscc_for_enterprise_exits_2_with_a_message(
        self, cli_keys: AuthSettings, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = USCC[:-1] + ("0" if USCC[-1] != "0" else "1")
        assert devtoken.main(["--role", "enterprise", "--sub", bad]) == 2
        out = capsys.readouterr()
        assert out.out == ""
        assert "USCC" in out.err

    @pytest.mark.parametrize("role", ["superuser", "service"])
    def test_unknown_or_internal_role_is_rejected_by_argparse(
        self, cli_keys: AuthSettings, capsys: pytest.CaptureFixture[str], role: str
    ) -> None:
        with pytest.raises(SystemExit) as exc:
            devtoken.main(["--role", role])
        assert exc.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


# --- guards on a real service app ----------------------------------------------------------


@pytest.fixture
async def insurance(
    tmp_path: Path, auth_settings: AuthSettings, broker: DevBroker
) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRuntime]]:
    settings = InsuranceSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'insurance.db'}",
        kafka_bootstrap_servers=broker.bootstrap,
        auth=auth_settings,
        relay_enabled=False,
    )
    async with running(create_app(settings)) as pair:
        yield pair


def assert_401(r: httpx.Response, code: str) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == code
    assert r.json()["status"] == 401


class TestGuards:
    async def test_no_token_is_401_bearer_challenge(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime]
    ) -> None:
        client, _ = insurance
        assert_401(await client.get("/policies"), "unauthorized")

    async def test_non_bearer_scheme_is_401(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime]
    ) -> None:
        client, _ = insurance
        r = await client.get("/policies", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert_401(r, "unauthorized")

    async def test_garbage_token_is_401_invalid_token(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime]
    ) -> None:
        client, _ = insurance
        r = await client.get("/policies", headers={"Authorization": "Bearer not.a.token"})
        assert_401(r, "invalid_token")

    async def test_expired_token_is_401_invalid_token(
        self,
        insurance: tuple[httpx.AsyncClient, ServiceRuntime],
        auth_settings: AuthSettings,
        dev_key: DevKey,
    ) -> None:
        client, _ = insurance
        now = int(time.time())
        token = dev_key.sign(claims_for(auth_settings, iat=now - 7200, exp=now - 3600))
        r = await client.get("/policies", headers={"Authorization": f"Bearer {token}"})
        assert_401(r, "invalid_token")
        assert "expired" in r.json()["detail"]

    async def test_token_from_a_foreign_issuer_key_is_401(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime], tmp_path: Path
    ) -> None:
        client, _ = insurance
        foreign = DevIssuer(AuthSettings(dev_key_dir=tmp_path / "foreign"))
        r = await client.get("/policies", headers=bearer(foreign, "admin"))
        assert_401(r, "invalid_token")

    async def test_wrong_role_is_403(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, _ = insurance
        r = await client.get("/policies", headers=bearer(issuer, "public", "anyone"))
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "forbidden"
        r = await client.post("/policies", json={}, headers=bearer(issuer, "officer"))
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"

    async def test_right_role_passes(
        self, insurance: tuple[httpx.AsyncClient, ServiceRuntime], issuer: DevIssuer
    ) -> None:
        client, _ = insurance
        r = await client.get("/policies", headers=bearer(issuer, "officer"))
        assert r.status_code == 200
        assert r.json() == {"items": [], "next_cursor": None}

"""Several trusted issuers (AUTH_EXTRA_ISSUERS): each token is checked against its own issuer's
keys, chosen by its `iss`, and nobody else's."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from pydantic import ValidationError

from kernel.auth.principal import Role
from kernel.auth.verifier import InvalidToken, KeysUnavailable, TokenVerifier
from kernel.settings import AuthSettings
from tests.support import serving
from tests.support.tokens import b64url, write_jwks

IDP = "https://idp.example/realms/platform"
GATEWAY = "https://gateway.example"
AUDIENCE = "safety-platform"


@dataclass
class Key:
    """A signing key of either kind the platform accepts, with its public JWK."""

    alg: str
    private: Any
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg == "RS256":
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = json.loads(OKPAlgorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return jwk

    def sign(self, iss: str, *, role: str = "insurer", sub: str = "PICC-QD", **headers: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": iss,
            "aud": AUDIENCE,
            "sub": sub,
            "role": role,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        }
        return jwt.encode(
            claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **headers}
        )


def rsa_key() -> Key:
    return Key("RS256", generate_private_key(public_exponent=65537, key_size=2048))


def ed_key() -> Key:
    return Key("EdDSA", Ed25519PrivateKey.generate())


@dataclass
class Issuers:
    """The identity provider (RS256) and the gateway (EdDSA), each with its own JWKS file."""

    idp_key: Key
    idp_jwks: Path
    gateway_key: Key
    gateway_jwks: Path
    settings: AuthSettings


@pytest.fixture
def issuers(tmp_path: Path) -> Issuers:
    idp_key, gateway_key = rsa_key(), ed_key()
    idp_jwks, gateway_jwks = tmp_path / "idp.json", tmp_path / "gateway.json"
    write_jwks(idp_jwks, idp_key)
    write_jwks(gateway_jwks, gateway_key)
    settings = AuthSettings(
        issuer=IDP,
        audience=AUDIENCE,
        jwks_path=idp_jwks,
        jwks_url=None,
        dev_issuer_enabled=False,
        extra_issuers={GATEWAY: str(gateway_jwks)},
    )
    return Issuers(idp_key, idp_jwks, gateway_key, gateway_jwks, settings)


@pytest.fixture
async def verifier(issuers: Issuers) -> AsyncIterator[TokenVerifier]:
    v = TokenVerifier(issuers.settings)
    yield v
    await v.aclose()


class TestTwoIssuers:
    async def test_each_issuers_tokens_verify_with_its_own_keys(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        person = await verifier.verify(issuers.idp_key.sign(IDP, role="officer", sub="o-1"))
        machine = await verifier.verify(issuers.gateway_key.sign(GATEWAY))
        assert (person.role, person.subject) == (Role.officer, "o-1")
        assert (machine.role, machine.subject) == (Role.insurer, "PICC-QD")

    async def test_verify_until_gives_the_tokens_expiry(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        token = issuers.gateway_key.sign(GATEWAY)
        principal, exp = await verifier.verify_until(token)
        assert exp == jwt.decode(token, options={"verify_signature": False})["exp"]
        assert principal.token == token

    async def test_an_unknown_issuer_is_refused(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        with pytest.raises(InvalidToken, match=re.escape("unknown issuer 'https://evil.example'")):
            await verifier.verify(issuers.gateway_key.sign("https://evil.example"))

    @pytest.mark.parametrize("iss", [None, 42])
    async def test_a_missing_or_non_text_issuer_is_refused(
        self, issuers: Issuers, verifier: TokenVerifier, iss: object
    ) -> None:
        claims = {"aud": AUDIENCE, "sub": "x", "role": "admin", "exp": int(time.time()) + 60}
        if iss is not None:
            claims["iss"] = iss
        # PyJWT will not encode a non-text `iss`: sign the segments by hand.
        key = issuers.gateway_key
        header = {"alg": "EdDSA", "typ": "JWT", "kid": key.kid}
        signing_input = f"{b64url(json.dumps(header))}.{b64url(json.dumps(claims))}"
        signature = key.private.sign(signing_input.encode())
        token = f"{signing_input}.{b64url(signature)}"
        with pytest.raises(InvalidToken, match="unknown issuer"):
            await verifier.verify(token)

    async def test_a_token_of_one_issuer_signed_with_the_others_key_is_refused(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        # The gateway's key claiming to speak for the identity provider, and the reverse.
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier.verify(issuers.gateway_key.sign(IDP, role="admin"))
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier.verify(issuers.idp_key.sign(GATEWAY, role="admin"))

    async def test_borrowing_the_other_issuers_kid_does_not_help(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        gateway_key = issuers.gateway_key
        forged = Key("EdDSA", gateway_key.private, kid=issuers.idp_key.kid)
        with pytest.raises(InvalidToken):
            await verifier.verify(forged.sign(IDP, role="admin"))

    async def test_audience_and_expiry_are_still_checked_for_an_extra_issuer(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        key = issuers.gateway_key
        now = int(time.time())
        base = {"iss": GATEWAY, "sub": "x", "role": "insurer", "iat": now}
        other_audience = jwt.encode(
            {**base, "aud": "another-platform", "exp": now + 60},
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid},
        )
        with pytest.raises(InvalidToken, match=r"[Aa]udience"):
            await verifier.verify(other_audience)
        expired = jwt.encode(
            {**base, "aud": AUDIENCE, "exp": now - 3600},
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid},
        )
        with pytest.raises(InvalidToken, match="expired"):
            await verifier.verify(expired)


class TestRolesPerIssuer:
    async def test_an_extra_issuer_limited_to_machine_roles_cannot_mint_people(
        self, issuers: Issuers
    ) -> None:
        settings = issuers.settings.model_copy(
            update={"extra_issuer_roles": {GATEWAY: ["insurer", "department", "service"]}}
        )
        verifier = TokenVerifier(settings)
        try:
            machine = await verifier.verify(issuers.gateway_key.sign(GATEWAY, role="department"))
            assert machine.role is Role.department
            for role in ("admin", "officer", "leader", "enterprise"):
                with pytest.raises(InvalidToken, match="may not issue"):
                    await verifier.verify(issuers.gateway_key.sign(GATEWAY, role=role))
            # The main issuer is not limited by the extra issuer's list.
            person = await verifier.verify(issuers.idp_key.sign(IDP, role="admin", sub="a-1"))
            assert person.role is Role.admin
        finally:
            await verifier.aclose()

    def test_roles_must_name_a_configured_extra_issuer_and_known_roles(self) -> None:
        with pytest.raises(ValidationError, match="not an extra issuer"):
            AuthSettings(extra_issuer_roles={GATEWAY: ["insurer"]})
        with pytest.raises(ValidationError, match="unknown roles"):
            AuthSettings(
                extra_issuers={GATEWAY: "/etc/gw.json"}, extra_issuer_roles={GATEWAY: ["root"]}
            )
        with pytest.raises(ValidationError, match="unknown roles"):
            AuthSettings(extra_issuers={GATEWAY: "/etc/gw.json"}, extra_issuer_roles={GATEWAY: []})


class TestRotation:
    async def test_rotating_one_issuers_keys_leaves_the_other_alone(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        old = issuers.gateway_key
        old_token = old.sign(GATEWAY)
        person = issuers.idp_key.sign(IDP)
        assert (await verifier.verify(old_token)).subject == "PICC-QD"

        new = ed_key()
        write_jwks(issuers.gateway_jwks, old, new)  # the new key announced beside the old
        assert (await verifier.verify(new.sign(GATEWAY, sub="CPIC-QD"))).subject == "CPIC-QD"
        assert (await verifier.verify(old_token)).subject == "PICC-QD"

        write_jwks(issuers.gateway_jwks, new)  # the old key withdrawn
        with pytest.raises(InvalidToken, match="unknown signing key"):
            await verifier.verify(old.sign(GATEWAY))
        assert (await verifier.verify(person)).role is Role.insurer


class TestKeySources:
    async def test_an_extra_issuer_served_over_http_is_fetched_once(self, issuers: Issuers) -> None:
        hits = 0
        app = FastAPI()

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            nonlocal hits
            hits += 1
            return {"keys": [issuers.gateway_key.jwk()]}

        async with serving(app) as base:
            settings = issuers.settings.model_copy(
                update={"extra_issuers": {GATEWAY: f"{base}/jwks"}}
            )
            verifier = TokenVerifier(settings)
            try:
                for _ in range(3):
                    await verifier.verify(issuers.gateway_key.sign(GATEWAY))
                await verifier.verify(issuers.idp_key.sign(IDP))
            finally:
                await verifier.aclose()
        assert hits == 1

    async def test_keys_held_in_memory_are_trusted_for_their_issuer(self, issuers: Issuers) -> None:
        own = ed_key()
        settings = issuers.settings.model_copy(update={"extra_issuers": {}})
        verifier = TokenVerifier(settings, keys={"https://own.example": {"keys": [own.jwk()]}})
        try:
            principal = await verifier.verify(own.sign("https://own.example", role="department"))
            assert principal.role is Role.department
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(ed_key().sign("https://own.example"))
        finally:
            await verifier.aclose()

    async def test_a_configured_issuer_keeps_its_configured_keys(self, issuers: Issuers) -> None:
        stray = ed_key()
        verifier = TokenVerifier(issuers.settings, keys={GATEWAY: {"keys": [stray.jwk()]}})
        try:
            with pytest.raises(InvalidToken, match="unknown signing key"):
                await verifier.verify(stray.sign(GATEWAY))
            assert (await verifier.verify(issuers.gateway_key.sign(GATEWAY))).subject
        finally:
            await verifier.aclose()

    async def test_a_jwks_with_no_usable_key_is_unavailable_not_a_crash(
        self, issuers: Issuers, verifier: TokenVerifier
    ) -> None:
        issuers.gateway_jwks.write_text(json.dumps({"keys": [{"kty": "nonsense"}]}))
        with pytest.raises(KeysUnavailable):
            await verifier.verify(issuers.gateway_key.sign(GATEWAY))
        assert (await verifier.verify(issuers.idp_key.sign(IDP))).subject == "PICC-QD"


class TestSettings:
    def test_extra_issuers_come_from_json_in_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("AUTH_EXTRA_ISSUERS", json.dumps({GATEWAY: "/etc/gateway/jwks.json"}))
        assert AuthSettings().extra_issuers == {GATEWAY: "/etc/gateway/jwks.json"}

    def test_the_main_issuer_is_not_an_extra_one(self) -> None:
        with pytest.raises(ValidationError, match="AUTH_ISSUER already"):
            AuthSettings(issuer=IDP, extra_issuers={IDP: "https://idp.example/certs"})

    @pytest.mark.parametrize("entry", [{"": "/x.json"}, {GATEWAY: " "}])
    def test_blank_names_or_sources_are_refused(self, entry: dict[str, str]) -> None:
        with pytest.raises(ValidationError, match="AUTH_EXTRA_ISSUERS"):
            AuthSettings(extra_issuers=entry)

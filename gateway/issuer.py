"""The tokens the gateway issues itself: to machine clients (OAuth2 client credentials), for
API-key callers, and for its own calls to the services (data sharing).

In the embedded default the development issuer signs them (issuer AUTH_ISSUER, so every service
already trusts them through the development JWKS file). In production the gateway signs with
its own Ed25519 key (GATEWAY_SIGNING_KEY_PATH) as GATEWAY_ISSUER, and the services list that
issuer in AUTH_EXTRA_ISSUERS with the gateway's `/.well-known/jwks.json` (or a copy of it).
"""

from __future__ import annotations

import base64
import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from kernel.auth.dev import JWKS_FILE, DevIssuer, token_claims
from kernel.auth.principal import Role
from kernel.settings import AuthSettings

if TYPE_CHECKING:
    from gateway.config import GatewaySettings
    from gateway.context import GatewayRuntime


class GatewayIssuer(ABC):
    """Signs the gateway's tokens and publishes the public keys that verify them."""

    issuer: str
    audience: str

    @abstractmethod
    def mint(
        self,
        role: Role | str,
        subject: str,
        *,
        scopes: tuple[str, ...] = (),
        ttl_seconds: int,
    ) -> str:
        """A signed token for `role` and `subject`, valid for `ttl_seconds`."""

    @abstractmethod
    def jwks(self) -> dict[str, Any]:
        """The public keys (a JWKS document)."""


class DevelopmentIssuer(GatewayIssuer):
    """The embedded default: the development issuer's key, as AUTH_ISSUER.

    The key is made or read on first use, so that building the app writes no files.
    """

    def __init__(self, auth: AuthSettings) -> None:
        if not auth.dev_issuer_enabled:
            raise RuntimeError("the development token issuer is disabled (AUTH_DEV_ISSUER_ENABLED)")
        self._auth = auth
        self.issuer = auth.issuer
        self.audience = auth.audience
        self._dev: DevIssuer | None = None
        self._jwks: dict[str, Any] = {"keys": []}

    def _loaded(self) -> DevIssuer:
        if self._dev is None:
            dev = DevIssuer(self._auth)  # creates the key and its JWKS file if missing
            doc = json.loads((self._auth.dev_key_dir / JWKS_FILE).read_text())
            self._jwks = {"keys": [_public_only(k) for k in doc["keys"]]}
            self._dev = dev
        return self._dev

    def mint(
        self,
        role: Role | str,
        subject: str,
        *,
        scopes: tuple[str, ...] = (),
        ttl_seconds: int,
    ) -> str:
        return self._loaded().mint(role, subject, scopes=scopes, ttl_seconds=ttl_seconds)

    def jwks(self) -> dict[str, Any]:
        self._loaded()
        return {"keys": [dict(k) for k in self._jwks["keys"]]}


class SigningKeyIssuer(GatewayIssuer):
    """The gateway's own Ed25519 key (a PEM file), its `kid` the key's RFC 7638 thumbprint."""

    def __init__(self, key: Ed25519PrivateKey, *, issuer: str, audience: str) -> None:
        self._key = key
        self.issuer = issuer
        self.audience = audience
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
        self.kid = jwk_thumbprint(jwk)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "EdDSA"})
        self._jwk = jwk

    @classmethod
    def from_pem(cls, path: Path, *, issuer: str, audience: str) -> SigningKeyIssuer:
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"GATEWAY_SIGNING_KEY_PATH {path}: unreadable key: {exc}") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"GATEWAY_SIGNING_KEY_PATH {path} is not an Ed25519 private key")
        return cls(loaded, issuer=issuer, audience=audience)

    def mint(
        self,
        role: Role | str,
        subject: str,
        *,
        scopes: tuple[str, ...] = (),
        ttl_seconds: int,
    ) -> str:
        claims = token_claims(
            self.issuer, self.audience, role, subject, scopes=scopes, ttl_seconds=ttl_seconds
        )
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}


# Members of a JWK that are public for each key type (RFC 7517/7518/8037); anything else in a
# key file (a private "d", primes) never leaves the gateway.
_PUBLIC_MEMBERS = frozenset({"kty", "crv", "x", "y", "n", "e", "kid", "use", "alg", "key_ops"})
# RFC 7638 §3.2: the required members that make up a key's thumbprint, by key type.
_THUMBPRINT_MEMBERS = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}


def _public_only(jwk: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in jwk.items() if k in _PUBLIC_MEMBERS}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps(
        {m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_issuer(settings: GatewaySettings) -> GatewayIssuer | None:
    """The gateway's issuer as configured; None when it has no key to sign with."""
    if settings.signing_key_path is not None:
        if not settings.issuer:
            raise ValueError("GATEWAY_SIGNING_KEY_PATH needs GATEWAY_ISSUER (the tokens' `iss`)")
        return SigningKeyIssuer.from_pem(
            settings.signing_key_path, issuer=settings.issuer, audience=settings.auth.audience
        )
    if settings.auth.dev_issuer_enabled:
        return DevelopmentIssuer(settings.auth)
    return None


def issuer_of(runtime: GatewayRuntime) -> GatewayIssuer | None:
    """The issuer `install_identity` left on the runtime (None: the gateway cannot issue)."""
    issuer: GatewayIssuer | None = runtime.issuer
    return issuer

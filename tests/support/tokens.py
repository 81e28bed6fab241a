"""Signing helpers for identity tests: claim sets, the session's development key, RSA keys and
JWKS files rotated the way an operator's job would."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, generate_private_key
from jwt.algorithms import RSAAlgorithm

from kernel.auth.dev import JWKS_FILE, KEY_FILE
from kernel.settings import AuthSettings


def b64url(raw: str | bytes) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(settings: AuthSettings, **overrides: Any) -> dict[str, Any]:
    """A complete, valid claim set for `settings`' issuer and audience; NAME=None drops one."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": "officer-007",
        "role": "officer",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


@dataclass
class DevKey:
    """The session's development signing key, read back from the issuer's files."""

    private: Ed25519PrivateKey
    kid: str
    public_pem: bytes
    public_raw: bytes

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm="EdDSA", headers={"kid": self.kid, **headers}
        )


def load_dev_key(settings: AuthSettings) -> DevKey:
    """The development issuer's key (it must have been created: DevIssuer(settings))."""
    private = serialization.load_pem_private_key(
        (settings.dev_key_dir / KEY_FILE).read_bytes(), password=None
    )
    assert isinstance(private, Ed25519PrivateKey)
    (jwk,) = json.loads((settings.dev_key_dir / JWKS_FILE).read_text())["keys"]
    public = private.public_key()
    return DevKey(
        private=private,
        kid=jwk["kid"],
        public_pem=public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public_raw=public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    )


@dataclass
class RSAKey:
    private: RSAPrivateKey
    kid: str = field(default_factory=lambda: f"rsa-{uuid.uuid4().hex[:8]}")

    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return jwk

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


def new_rsa_key() -> RSAKey:
    return RSAKey(generate_private_key(public_exponent=65537, key_size=2048))


class PublicJWK(Protocol):
    def jwk(self) -> dict[str, Any]: ...


def write_jwks(path: Path, *keys: PublicJWK) -> None:
    """Replace the JWKS file atomically, as an operator's rotation job would."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": [k.jwk() for k in keys]}))
    os.replace(tmp, path)
    # Coarse-mtime filesystems could keep the old stamp; rotation is detected by mtime.
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))

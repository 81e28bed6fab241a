"""The development token issuer: a local Ed25519 key, only where settings allow it."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from kernel.auth.principal import Role
from kernel.settings import AuthSettings

KEY_FILE = "ed25519.pem"
JWKS_FILE = "jwks.json"


class DevIssuer:
    """Mints signed tokens for local development and tests; refuses when disabled."""

    def __init__(self, settings: AuthSettings) -> None:
        if not settings.dev_issuer_enabled:
            raise RuntimeError("the development token issuer is disabled (AUTH_DEV_ISSUER_ENABLED)")
        self._settings = settings
        self._dir = settings.dev_key_dir
        self._key, self._kid = self._load_or_create()

    def _load_or_create(self) -> tuple[Ed25519PrivateKey, str]:
        key_path = self._dir / KEY_FILE
        if not key_path.exists():
            self._dir.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _write_atomic(key_path, pem, exclusive=True)
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise RuntimeError(f"{key_path} is not an Ed25519 key")
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(loaded.public_key()))
        kid = "dev-" + jwk["x"][:16]
        jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
        jwks_path = self._dir / JWKS_FILE
        doc = json.dumps({"keys": [jwk]}, indent=2).encode()
        if not jwks_path.exists() or jwks_path.read_bytes() != doc:
            _write_atomic(jwks_path, doc)
        return loaded, kid

    def mint(
        self,
        role: Role | str,
        subject: str,
        *,
        scopes: tuple[str, ...] = (),
        ttl_seconds: int = 8 * 3600,
        name: str | None = None,
    ) -> str:
        """A signed token for `role` and `subject` (USCC, insurer id, department code, ...)."""
        claims = token_claims(
            self._settings.issuer,
            self._settings.audience,
            role,
            subject,
            scopes=scopes,
            ttl_seconds=ttl_seconds,
            name=name,
        )
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self._kid})


def token_claims(
    issuer: str,
    audience: str,
    role: Role | str,
    subject: str,
    *,
    scopes: tuple[str, ...] = (),
    ttl_seconds: int,
    name: str | None = None,
) -> dict[str, Any]:
    """The claims of a token this platform issues (development issuer, the gateway's)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": Role(role).value,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
    }
    if scopes:
        claims["scope"] = " ".join(scopes)
    if name:
        claims["name"] = name
    return claims


def _write_atomic(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    # Several processes start at once under `make run`: write-then-rename so nobody reads a
    # half-written key, and never replace a key another process already created.
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    if exclusive:
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    else:
        os.replace(tmp, path)

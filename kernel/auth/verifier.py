"""JWT verification (EdDSA, RS256) against a JWKS file or URL, with caching and rotation."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from kernel.auth.principal import Principal, Role
from kernel.settings import AuthSettings

ALGORITHMS = ["EdDSA", "RS256"]

log = logging.getLogger("kernel.auth")


class InvalidToken(Exception):
    """The bearer token failed verification; the message says why."""


class KeysUnavailable(Exception):
    """No signing keys could be loaded (identity provider unreachable and nothing cached)."""


class JWKSSource:
    """Public keys by `kid`, re-read when the file changes or the URL's cache expires.

    An unknown `kid` forces one refresh (rate-limited), which is how a rotated key is picked
    up without a restart.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self._path = settings.effective_jwks_path()
        self._url = settings.jwks_url
        self._ttl = settings.jwks_cache_seconds
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at = 0.0
        self._mtime = 0.0
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        if self._path is None and self._url is None:
            raise ValueError("no JWKS configured: set AUTH_JWKS_PATH or AUTH_JWKS_URL")

    async def get(self, kid: str | None) -> PyJWK:
        if self._stale():
            await self._refresh(lambda: self._stale())
        key = self._lookup(kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            await self._refresh(lambda: self._lookup(kid) is None and self._may_refetch())
            key = self._lookup(kid)
        if key is None:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return key

    def _may_refetch(self) -> bool:
        return time.monotonic() - self._loaded_at > 1.0

    def _lookup(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _stale(self) -> bool:
        if not self._keys:
            return True
        if self._path is not None:
            try:
                return self._path.stat().st_mtime != self._mtime
            except FileNotFoundError:
                return True
        return time.monotonic() - self._loaded_at > self._ttl

    async def _refresh(self, still_needed: Callable[[], bool]) -> None:
        # Single flight: callers queue on the lock and re-check, so a burst of requests on a
        # cold or expired cache makes one request to the identity provider.
        async with self._lock:
            if not still_needed():
                return
            try:
                doc = await self._fetch()
            except InvalidToken:
                raise
            except (httpx.HTTPError, OSError, ValueError) as exc:
                if self._keys:
                    # The identity provider is down: keep verifying with the last good keys
                    # and try again after another cache period.
                    log.warning("JWKS refresh failed, keeping cached keys: %s", exc)
                    self._loaded_at = time.monotonic()
                    return
                raise KeysUnavailable(f"signing keys unavailable: {exc}") from exc
            keyset = PyJWKSet.from_dict(doc)
            self._keys = {k.key_id or str(i): k for i, k in enumerate(keyset.keys)}
            self._loaded_at = time.monotonic()

    async def _fetch(self) -> dict[str, Any]:
        if self._path is not None:
            return self._read_file(self._path)
        assert self._url is not None
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0)
        response = await self._client.get(self._url)
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
        return doc

    def _read_file(self, path: Path) -> dict[str, Any]:
        try:
            self._mtime = path.stat().st_mtime
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        except FileNotFoundError as exc:
            raise InvalidToken(f"JWKS file {path} not found") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class TokenVerifier:
    """Verifies signature, issuer, audience, expiry; maps claims to a Principal."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._keys = JWKSSource(settings)

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} not accepted")
        key = await self._keys.get(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        try:
            role = Role(claims.get("role", ""))
        except ValueError as exc:
            raise InvalidToken(f"unknown role {claims.get('role')!r}") from exc
        scopes = frozenset(str(claims.get("scope", "")).split())
        return Principal(role=role, subject=str(claims["sub"]), scopes=scopes, token=token)

    async def aclose(self) -> None:
        await self._keys.aclose()

"""JWT verification (EdDSA, RS256) against a JWKS file or URL, with caching and rotation."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
from jwt import PyJWK, PyJWKSet

from kernel import audit
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

    def __init__(self, *, path: Path | None, url: str | None, cache_seconds: int) -> None:
        self._path = path
        self._url = url
        self._ttl = cache_seconds
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at = 0.0
        self._mtime = 0.0
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        if self._path is None and self._url is None:
            raise ValueError("no JWKS configured: set AUTH_JWKS_PATH or AUTH_JWKS_URL")

    @classmethod
    def of(cls, settings: AuthSettings) -> JWKSSource:
        """The keys of `settings.issuer`."""
        return cls(
            path=settings.effective_jwks_path(),
            url=settings.jwks_url,
            cache_seconds=settings.jwks_cache_seconds,
        )

    @classmethod
    def at(cls, location: str, cache_seconds: int) -> JWKSSource:
        """The keys at an http(s) URL or in a file (an AUTH_EXTRA_ISSUERS entry)."""
        if location.startswith(("https://", "http://")):
            return cls(path=None, url=location, cache_seconds=cache_seconds)
        return cls(path=Path(location), url=None, cache_seconds=cache_seconds)

    async def get(self, kid: str | None) -> PyJWK:
        if self._stale():
            await self._refresh(lambda: self._stale())
        key = _lookup(self._keys, kid)
        if key is None and time.monotonic() - self._loaded_at > 1.0:
            await self._refresh(lambda: _lookup(self._keys, kid) is None and self._may_refetch())
            key = _lookup(self._keys, kid)
        if key is None:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return key

    def _may_refetch(self) -> bool:
        return time.monotonic() - self._loaded_at > 1.0

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
                keys = _keyset(await self._fetch())
            except InvalidToken:
                raise
            except (httpx.HTTPError, OSError, ValueError, jwt.PyJWTError) as exc:
                if self._keys:
                    # The identity provider is down (or served garbage): keep verifying with
                    # the last good keys and try again after another cache period.
                    log.warning("JWKS refresh failed, keeping cached keys: %s", exc)
                    self._loaded_at = time.monotonic()
                    return
                raise KeysUnavailable(f"signing keys unavailable: {exc}") from exc
            self._keys = keys
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


class StaticKeys:
    """Keys held in memory for the process's life (the gateway trusting its own signing key)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = _keyset(dict(jwks))

    async def get(self, kid: str | None) -> PyJWK:
        key = _lookup(self._keys, kid)
        if key is None:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return key

    async def aclose(self) -> None:
        return None


KeySource = JWKSSource | StaticKeys


def _keyset(doc: dict[str, Any]) -> dict[str, PyJWK]:
    if not isinstance(doc, dict):
        raise ValueError("a JWKS document is a JSON object")
    keyset = PyJWKSet.from_dict(doc)
    return {k.key_id or str(i): k for i, k in enumerate(keyset.keys)}


def _lookup(keys: dict[str, PyJWK], kid: str | None) -> PyJWK | None:
    if kid is None:
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)


class TokenVerifier:
    """Verifies signature, issuer, audience, expiry; maps claims to a Principal.

    Tokens of `settings.issuer` and of each of `settings.extra_issuers` are accepted, each
    checked against its own issuer's keys: the token's (unverified) `iss` only chooses which
    keys to try, and is then verified like every other claim. `keys` adds issuers whose JWKS
    the caller holds in memory (an issuer configured in settings keeps its configured keys).
    """

    def __init__(
        self, settings: AuthSettings, *, keys: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        self._settings = settings
        self._sources: dict[str, KeySource] = {settings.issuer: JWKSSource.of(settings)}
        for name, location in settings.extra_issuers.items():
            self._sources[name] = JWKSSource.at(location, settings.jwks_cache_seconds)
        for name, jwks in (keys or {}).items():
            if name not in self._sources:
                self._sources[name] = StaticKeys(jwks)
        # With one issuer the `iss` check in decode suffices: no extra parse of the payload.
        self._only = settings.issuer if len(self._sources) == 1 else None

    async def verify(self, token: str) -> Principal:
        principal, _ = await self.verify_until(token)
        return principal

    async def verify_until(self, token: str) -> tuple[Principal, int]:
        """The caller and the token's expiry (`exp`, seconds since the epoch)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} not accepted")
        issuer = self._only or self._claimed_issuer(token)
        key = await self._sources[issuer].get(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self._settings.audience,
                issuer=issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        try:
            role = Role(claims.get("role", ""))
        except ValueError as exc:
            raise InvalidToken(f"unknown role {claims.get('role')!r}") from exc
        allowed = self._settings.extra_issuer_roles.get(issuer)
        if allowed is not None and role.value not in allowed:
            raise InvalidToken(f"issuer {issuer!r} may not issue {role.value!r} tokens")
        scopes = frozenset(str(claims.get("scope", "")).split())
        principal = Principal(role=role, subject=str(claims["sub"]), scopes=scopes, token=token)
        # Verified in the request's own task: what it changes is audited under this caller.
        audit.set_actor(principal.key)
        return principal, int(claims["exp"])

    def _claimed_issuer(self, token: str) -> str:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer not in self._sources:
            raise InvalidToken(f"Invalid issuer: unknown issuer {issuer!r}")
        return issuer

    async def aclose(self) -> None:
        for source in self._sources.values():
            await source.aclose()

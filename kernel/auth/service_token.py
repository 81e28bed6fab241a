"""Tokens this service presents when it calls another (replay reads): OAuth2 client credentials
against the identity provider, or the development issuer where that is enabled."""

from __future__ import annotations

import asyncio
import time

import httpx

from kernel.auth.principal import Role
from kernel.settings import AuthSettings

REPLAY_SCOPE = "events:replay"
# The gateway reading a data set for a department under a grant (gateway/sharing.py).
DATA_SHARE_SCOPE = "data:share"
# Scopes for the services' own tokens only: the replay endpoints check the scope alone, so a
# machine client (an insurer's or a department's system) must never be given one.
SERVICE_SCOPES = frozenset({REPLAY_SCOPE, DATA_SHARE_SCOPE})


class ServiceTokenProvider:
    """Caches one token and renews it a minute before it expires."""

    def __init__(
        self,
        settings: AuthSettings,
        service_name: str,
        scopes: tuple[str, ...] = (REPLAY_SCOPE,),
    ) -> None:
        self._settings = settings
        self._service = service_name
        self._scopes = scopes
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self, client: httpx.AsyncClient) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() > self._expires - 60:
                self._token, lifetime = await self._fetch(client)
                self._expires = time.monotonic() + lifetime
            return self._token

    async def _fetch(self, client: httpx.AsyncClient) -> tuple[str, float]:
        s = self._settings
        if s.client_token_url:
            response = await client.post(
                s.client_token_url,
                data={"grant_type": "client_credentials", "scope": " ".join(self._scopes)},
                auth=(s.client_id or self._service, s.client_secret or ""),
            )
            response.raise_for_status()
            body = response.json()
            return str(body["access_token"]), float(body.get("expires_in", 300))
        if s.dev_issuer_enabled:
            from kernel.auth.dev import DevIssuer

            ttl = 3600
            token = DevIssuer(s).mint(
                Role.service, f"svc:{self._service}", scopes=self._scopes, ttl_seconds=ttl
            )
            return token, float(ttl)
        raise RuntimeError("no way to obtain a service token: set AUTH_CLIENT_TOKEN_URL")

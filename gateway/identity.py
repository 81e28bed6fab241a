"""Who is calling, settled at the edge: bearer tokens verified (and remembered until they
expire), insurer API keys exchanged for short-lived gateway tokens, and the verified caller
left at scope["state"]["principal"] for the gateway's routes and the layers after this one.

The services verify the forwarded token again: for an API-key caller that is the token the
gateway minted, which replaces the key in the Authorization header, so no service ever sees
an API key or needs the gateway's database.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.context import PRINCIPAL_STATE, GatewayRuntime
from gateway.credentials import api_key_id
from gateway.identity_router import identity_router
from gateway.issuer import GatewayIssuer, load_issuer
from gateway.models import ApiKey
from gateway.paths import OPEN_PATHS, TOKEN_PATH
from kernel import audit
from kernel.auth.principal import ANONYMOUS, Principal, Role
from kernel.auth.verifier import InvalidToken, KeysUnavailable, TokenVerifier
from kernel.db import SessionFactory
from kernel.errors import problem_response

log = logging.getLogger("gateway.identity")

# An API-key lookup that takes longer than this is a database failure (503), not a wait.
DATABASE_TIMEOUT_SECONDS = 5.0
# A minted token is renewed this long before it expires (or at half its life, if shorter),
# so a service never receives one about to lapse.
RENEW_MARGIN_SECONDS = 60

_BEARER = b"bearer "
_BASIC = b"basic "
Header = tuple[bytes, bytes]


class Refusal(Exception):
    """Why the edge refuses a request, rendered as problem+json by the layer."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        title_zh: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.title_zh, self.headers = title_zh, headers

    async def respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Request(scope),
            self.status,
            self.code,
            self.title,
            self.detail,
            title_zh=self.title_zh,
            headers=self.headers,
        )
        await response(scope, receive, send)


def invalid_token(detail: str) -> Refusal:
    return Refusal(
        401,
        "invalid_token",
        "Invalid token",
        detail,
        title_zh="身份令牌无效",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def invalid_api_key(detail: str) -> Refusal:
    return Refusal(
        401,
        "invalid_api_key",
        "Invalid API key",
        detail,
        title_zh="API 密钥无效",
        headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
    )


def issuer_unavailable() -> Refusal:
    return Refusal(
        503,
        "issuer_unavailable",
        "Token issuer unavailable",
        "this gateway has no signing key (GATEWAY_SIGNING_KEY_PATH), so it cannot issue tokens",
        title_zh="令牌签发不可用",
    )


def _database_unavailable(exc: BaseException) -> Refusal:
    log.warning("API key lookup failed: %r", exc)
    return Refusal(
        503,
        "database_unavailable",
        "Database unavailable",
        "the gateway's database did not answer, so the API key cannot be checked; retry later",
        title_zh="数据库暂不可用",
        headers={"Retry-After": "5"},
    )


@dataclass(slots=True)
class _Minted:
    principal: Principal
    authorization: bytes  # b"Bearer <token>", the header the services receive
    renew_at: float  # epoch seconds


@dataclass(slots=True)
class _KeyEntry:
    """What the database said about one API key, and when (monotonic) it said so."""

    digest: bytes
    subject: str
    expires_at: float | None  # epoch seconds
    revoked: bool
    checked_at: float
    minted: _Minted | None = None


class Identity:
    """The verifier, the issuer and the caches behind the edge layer."""

    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        issuer: GatewayIssuer | None,
        session_factory: SessionFactory,
        token_cache_size: int,
        leeway_seconds: int,
        api_key_cache_seconds: float,
        issued_token_seconds: int,
    ) -> None:
        self.verifier = verifier
        self.issuer = issuer
        self._session_factory = session_factory
        self._cache_size = token_cache_size
        self._leeway = leeway_seconds
        self._key_ttl = api_key_cache_seconds
        self._issued_ttl = issued_token_seconds
        self._renew_margin = min(RENEW_MARGIN_SECONDS, issued_token_seconds // 2)
        # Authorization header value -> (caller, last instant the token is acceptable).
        self._tokens: dict[bytes, tuple[Principal, float]] = {}
        self._keys: dict[str, _KeyEntry] = {}
        self._lookups: dict[str, asyncio.Task[_KeyEntry | None]] = {}
        # Set by the rate limits: takes a public token from the request's address, answering
        # 429 (and returning True) when there is none. Charged for refused credentials and
        # before every API-key database lookup.
        self.on_refused: Callable[[Scope, Receive, Send], Awaitable[bool]] | None = None

    # --- bearer tokens ------------------------------------------------------------------------

    async def bearer(self, authorization: bytes) -> Principal:
        """The caller behind an `Authorization: Bearer` value; Refusal if it does not verify."""
        cached = self._tokens.get(authorization)
        if cached is not None:
            if time.time() < cached[1]:
                return cached[0]
            self._tokens.pop(authorization, None)
        token = authorization[len(_BEARER) :].strip()
        try:
            principal, exp = await self.verifier.verify_until(token.decode("ascii"))
        except UnicodeDecodeError:
            raise invalid_token("malformed token: not ASCII") from None
        except InvalidToken as exc:
            raise invalid_token(f"invalid token: {exc}") from None
        except KeysUnavailable as exc:
            log.warning("cannot verify tokens: %s", exc)
            raise Refusal(
                503,
                "identity_provider_unavailable",
                "Identity provider unavailable",
                "tokens cannot be verified now: the identity provider's keys are unavailable",
                title_zh="身份认证服务暂不可用",
                headers={"Retry-After": "5"},
            ) from None
        if self._cache_size:
            if len(self._tokens) >= self._cache_size:
                # Oldest first out: cheap, and a busy caller's entry is soon made again.
                self._tokens.pop(next(iter(self._tokens)), None)
            # The verifier accepts a token until exp + leeway: so does the cache, never later.
            self._tokens[authorization] = (principal, exp + self._leeway)
        return principal

    # --- API keys -----------------------------------------------------------------------------

    def needs_lookup(self, presented: bytes) -> bool:
        """Whether checking this API key would read the database (no fresh cached entry)."""
        key_id = api_key_id(presented.strip())
        if key_id is None:
            return False
        entry = self._keys.get(key_id)
        return entry is None or time.monotonic() - entry.checked_at > self._key_ttl

    async def api_key(self, presented: bytes) -> _Minted:
        """The insurer behind an API key and the gateway token that stands for it."""
        presented = presented.strip()
        key_id = api_key_id(presented)
        if key_id is None:
            raise invalid_api_key("the API key is malformed")
        entry = self._keys.get(key_id)
        if entry is None or time.monotonic() - entry.checked_at > self._key_ttl:
            entry = await self._resolve(key_id)
        digest = hashlib.sha256(presented).digest()
        if entry is None or not hmac.compare_digest(digest, entry.digest):
            raise invalid_api_key("the API key is not valid")
        if entry.revoked:
            raise invalid_api_key("the API key has been revoked")
        if entry.expires_at is not None and time.time() >= entry.expires_at:
            raise invalid_api_key("the API key has expired")
        return self._minted(entry)

    def _minted(self, entry: _KeyEntry) -> _Minted:
        minted = entry.minted
        now = time.time()
        if minted is None or now >= minted.renew_at:
            if self.issuer is None:
                raise issuer_unavailable()
            token = self.issuer.mint(Role.insurer, entry.subject, ttl_seconds=self._issued_ttl)
            minted = _Minted(
                principal=Principal(role=Role.insurer, subject=entry.subject, token=token),
                authorization=b"Bearer " + token.encode(),
                renew_at=now + self._issued_ttl - self._renew_margin,
            )
            entry.minted = minted
        return minted

    async def _resolve(self, key_id: str) -> _KeyEntry | None:
        # Single flight: a burst of requests with one key makes one database read.
        task = self._lookups.get(key_id)
        if task is None:
            task = asyncio.create_task(self._load(key_id, time.monotonic()))
            self._lookups[key_id] = task
            task.add_done_callback(partial(self._lookup_done, key_id))
        try:
            return await asyncio.shield(task)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise _database_unavailable(exc) from None

    def _lookup_done(self, key_id: str, task: asyncio.Task[_KeyEntry | None]) -> None:
        self._lookups.pop(key_id, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so a lookup nobody awaited any more is not logged

    async def _load(self, key_id: str, started: float) -> _KeyEntry | None:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
            async with self._session_factory() as session:
                row = await session.get(ApiKey, key_id)
        if row is None:
            return None
        current = self._keys.get(key_id)
        if current is not None and current.checked_at > started:
            # Something newer was learnt meanwhile (a revocation made here): it wins.
            return current
        entry = _KeyEntry(
            digest=bytes.fromhex(row.key_sha256),
            subject=row.subject,
            expires_at=row.expires_at.timestamp() if row.expires_at else None,
            revoked=row.revoked_at is not None,
            checked_at=started,
        )
        if current is not None and current.subject == entry.subject and not entry.revoked:
            entry.minted = current.minted
        self._keys[key_id] = entry
        return entry

    def key_revoked(self, row: ApiKey) -> None:
        """A revocation made through this gateway: the key is refused from this moment, even
        by a lookup that read the row before the revocation was committed."""
        self._keys[row.id] = _KeyEntry(
            digest=bytes.fromhex(row.key_sha256),
            subject=row.subject,
            expires_at=row.expires_at.timestamp() if row.expires_at else None,
            revoked=True,
            checked_at=time.monotonic(),
        )

    async def aclose(self) -> None:
        for task in list(self._lookups.values()):
            task.cancel()
        await self.verifier.aclose()


class IdentityLayer:
    """The edge identity layer (pure ASGI): sets the caller, or refuses the request."""

    def __init__(self, app: ASGIApp, *, identity: Identity) -> None:
        self.app = app
        self.identity = identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] | None = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        authorization: bytes | None = None
        api_key: bytes | None = None
        repeated = False
        headers: list[Header] = scope["headers"]
        for key, value in headers:
            if key == b"authorization":
                repeated = repeated or authorization is not None
                authorization = value
            elif key == b"x-api-key":
                repeated = repeated or api_key is not None
                api_key = value
        if (authorization is None and api_key is None) or scope["path"] in OPEN_PATHS:
            state[PRINCIPAL_STATE] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        try:
            if repeated or (authorization is not None and api_key is not None):
                raise Refusal(
                    400,
                    "ambiguous_credentials",
                    "Ambiguous credentials",
                    "send one credential: a single Authorization header or a single X-API-Key",
                    title_zh="认证信息冲突",
                )
            if api_key is not None:
                charge = self.identity.on_refused
                if (
                    charge is not None
                    and self.identity.needs_lookup(api_key)
                    and await charge(scope, receive, send)
                ):
                    # Each database lookup costs the address a public token first, so made-up
                    # key ids cannot turn into unbounded database reads.
                    return
                minted = await self.identity.api_key(api_key)
                state[PRINCIPAL_STATE] = minted.principal
                # The services verify the gateway's token like any other; the key stays here.
                scope = dict(
                    scope,
                    headers=[
                        *(h for h in headers if h[0] != b"x-api-key"),
                        (b"authorization", minted.authorization),
                    ],
                )
            elif authorization is not None:
                state[PRINCIPAL_STATE] = await self._bearer(authorization, scope["path"])
            # Cached credentials skip the verifier: name the caller for the audit log here.
            audit.set_actor(state[PRINCIPAL_STATE].key)
        except Refusal as refusal:
            charge = self.identity.on_refused
            if refusal.status == 401 and charge is not None and await charge(scope, receive, send):
                return
            await refusal.respond(scope, receive, send)
            return
        except Exception:
            # This layer sits outside the app's error handlers: answer, never raise.
            log.exception("identity check failed on %s", scope["path"])
            await Refusal(
                500,
                "internal_error",
                "Internal error",
                "an unexpected error occurred",
                title_zh="服务内部错误",
            ).respond(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _bearer(self, authorization: bytes, path: str) -> Principal:
        if authorization[: len(_BEARER)].lower() == _BEARER:
            return await self.identity.bearer(authorization)
        if path == TOKEN_PATH and authorization[: len(_BASIC)].lower() == _BASIC:
            # Client authentication at the token endpoint (RFC 6749 §2.3.1): its route checks it.
            return ANONYMOUS
        raise Refusal(
            401,
            "unsupported_credentials",
            "Unsupported credentials",
            "the gateway accepts `Authorization: Bearer <token>` or an `X-API-Key` header",
            title_zh="不支持的认证方式",
            headers={"WWW-Authenticate": "Bearer"},
        )


def identity_layer(inner: ASGIApp, *, identity: Identity) -> ASGIApp:
    return IdentityLayer(inner, identity=identity)


def install_identity(app: FastAPI, runtime: GatewayRuntime) -> None:
    """Verify callers at the edge, issue tokens to machine clients, manage their credentials."""
    settings = runtime.settings
    issuer = load_issuer(settings)
    configured = {settings.auth.issuer, *settings.auth.extra_issuers}
    # The gateway trusts what it signs itself, unless the operators configured that issuer's
    # keys (a shared JWKS that also lists other replicas' keys, during a rotation).
    own_keys = (
        {issuer.issuer: issuer.jwks()}
        if issuer is not None and issuer.issuer not in configured
        else None
    )
    identity = Identity(
        verifier=TokenVerifier(settings.auth, keys=own_keys),
        issuer=issuer,
        session_factory=runtime.session_factory,
        token_cache_size=settings.token_cache_size,
        leeway_seconds=settings.auth.leeway_seconds,
        api_key_cache_seconds=settings.api_key_cache_seconds,
        issued_token_seconds=settings.issued_token_seconds,
    )
    # Other parts mint the gateway's own service tokens through it (data sharing).
    runtime.issuer = issuer
    app.state.identity = identity

    async def prepare(_: GatewayRuntime) -> None:
        if issuer is not None:
            issuer.jwks()  # the development issuer makes or reads its key now, not on a request

    async def close(_: GatewayRuntime) -> None:
        await identity.aclose()

    runtime.on_start(prepare)
    runtime.on_stop(close)
    app.state.edge.append(partial(identity_layer, identity=identity))
    app.include_router(identity_router())

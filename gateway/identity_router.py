"""The gateway's identity routes: the OAuth2 token endpoint (client credentials), its public
keys, and the admins' management of machine clients and insurer API keys."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote_plus

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import event

from gateway.context import Runtime, Session, require
from gateway.credentials import (
    SUBJECT_PATTERN,
    ApiKeyNotFound,
    ClientNotFound,
    get_api_key,
    get_client,
    issue_api_key,
    list_api_keys,
    list_clients,
    register_client,
    revoke_api_key,
    revoke_client,
    rotate_client_secret,
    secret_matches,
    sha256_hex,
    split_scopes,
)
from gateway.issuer import issuer_of
from gateway.models import ApiKey, Client
from gateway.paths import TOKEN_PATH
from kernel.auth.principal import Principal, Role
from kernel.auth.service_token import SERVICE_SCOPES
from kernel.db import utcnow
from kernel.errors import Forbidden, ProblemError, ServiceUnavailable
from kernel.pagination import InvalidCursor, Page, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from gateway.identity import Identity

JWKS_PATH = "/.well-known/jwks.json"
MANAGEMENT_PREFIX = "/api/gateway"

# A client-credentials request is a few short parameters; anything larger is not one.
MAX_TOKEN_REQUEST_BYTES = 8 * 1024
MAX_TOKEN_REQUEST_FIELDS = 16
# RFC 6749 §5.1: token answers (and their errors) are never cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
SCOPE_PATTERN = r"^[\x21\x23-\x5b\x5d-\x7e]{1,64}$"
# One line of text, not blank: no control characters (PostgreSQL refuses NUL outright).
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
# Free text that may span lines, not blank, without NUL.
REASON_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
# Clients' scopes are stored space-separated in a column of this width.
MAX_SCOPES_LENGTH = 500
_SCOPE_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}
# The roles a machine client is registered with (ClientCreate.role), the only ones it is issued.
MACHINE_ROLES = frozenset({Role.insurer.value, Role.department.value})


# --- OAuth2 errors (RFC 6749 §5.2), as problem documents -------------------------------------

_OAUTH_TITLES = {
    "invalid_request": ("Invalid token request", "令牌请求无效"),
    "invalid_client": ("Client authentication failed", "客户端认证失败"),
    "unsupported_grant_type": ("Unsupported grant type", "不支持的授权类型"),
    "invalid_scope": ("Invalid scope", "请求的权限范围无效"),
}


class OAuthError(ProblemError):
    """A token-endpoint error: a problem document that also carries `error` and
    `error_description`, so OAuth2 client libraries understand it."""

    def __init__(self, error: str, description: str) -> None:
        headers = dict(NO_STORE)
        if error == "invalid_client":
            headers["WWW-Authenticate"] = 'Basic realm="gateway"'
        super().__init__(
            description,
            code=error,
            headers=headers,
            error=error,
            error_description=description,
        )
        self.status = 401 if error == "invalid_client" else 400
        self.title, self.title_zh = _OAUTH_TITLES[error]


def _issuer_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "this gateway has no signing key (GATEWAY_SIGNING_KEY_PATH), so it cannot issue tokens",
        code="issuer_unavailable",
    )


# --- schemas ---------------------------------------------------------------------------------


class TokenResponse(BaseModel):
    """An access token (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the scheme, not a password)
    expires_in: int
    scope: str | None = Field(default=None, description="Granted scopes, space-separated")


class ClientCreate(BaseModel):
    """A machine client to register: an insurer's or a department's system."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["insurer", "department"]
    subject: str = Field(pattern=SUBJECT_PATTERN, description="Insurer id or department code")
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN)]] = Field(
        default_factory=list, max_length=20, description="Scopes the client may ask for"
    )

    @field_validator("scopes")
    @classmethod
    def _distinct_and_storable(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each scope may be listed once")
        reserved = sorted(SERVICE_SCOPES.intersection(value))
        if reserved:
            raise ValueError(f"{', '.join(reserved)}: only the services' own tokens carry these")
        if len(" ".join(value)) > MAX_SCOPES_LENGTH:
            raise ValueError(f"the scopes together take at most {MAX_SCOPES_LENGTH} characters")
        return value


class ClientRead(BaseModel):
    """A machine client (never its secret)."""

    client_id: str
    role: Literal["insurer", "department"]
    subject: str
    name: str
    scopes: list[str]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoked_reason: str | None = None


class ClientWithSecret(ClientRead):
    """A client with its secret: shown this once, stored only as a hash."""

    client_secret: str


class Revocation(BaseModel):
    """Why a credential is withdrawn (kept with it for the audit trail)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, pattern=REASON_PATTERN)


class ApiKeyCreate(BaseModel):
    """An API key to issue to an insurer's system."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(pattern=SUBJECT_PATTERN, description="The insurer's id")
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    expires_at: AwareDatetime | None = Field(default=None, description="In the future; none: never")

    @field_validator("expires_at")
    @classmethod
    def _in_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            # Stored in UTC: an offset that carries it past year 9999 is bad input, not a 500.
            value = value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("out of range") from exc
        if value <= utcnow():
            raise ValueError("expires_at must be in the future")
        return value


class ApiKeyRead(BaseModel):
    """An insurer's API key (never the key or its hash)."""

    key_id: str
    subject: str
    name: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoked_reason: str | None = None


class ApiKeyWithKey(ApiKeyRead):
    """An API key with the key itself: shown this once, stored only as a hash."""

    key: str = Field(description="Send as the X-API-Key header")


def _client_read(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.id,
        "role": client.role,
        "subject": client.subject,
        "name": client.name,
        "scopes": split_scopes(client.scopes),
        "created_at": client.created_at,
        "created_by": client.created_by,
        "revoked_at": client.revoked_at,
        "revoked_by": client.revoked_by,
        "revoked_reason": client.revoked_reason,
    }


def _key_read(row: ApiKey) -> dict[str, Any]:
    return {
        "key_id": row.id,
        "subject": row.subject,
        "name": row.name,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "revoked_by": row.revoked_by,
        "revoked_reason": row.revoked_reason,
    }


# --- the token endpoint ----------------------------------------------------------------------


async def _token_form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "send the parameters as application/x-www-form-urlencoded"
        )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TOKEN_REQUEST_BYTES:
            raise OAuthError(
                "invalid_request", f"the request is larger than {MAX_TOKEN_REQUEST_BYTES} bytes"
            )
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_TOKEN_REQUEST_FIELDS,
        )
    except ValueError as exc:  # also UnicodeDecodeError
        raise OAuthError("invalid_request", f"the form cannot be read: {exc}") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"parameter {name[:64]!r} is sent more than once")
        if value:  # RFC 6749 §3.1: a parameter without a value is as if omitted
            form[name] = value
    return form


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization")
    if header is None:
        if form_id is None or form_secret is None:
            raise OAuthError(
                "invalid_client",
                "authenticate the client with HTTP Basic or client_id and client_secret",
            )
        return form_id, form_secret
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "authenticate the client with HTTP Basic")
    if form_secret is not None:
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        raw_id, colon, raw_secret = decoded.partition(":")
        # RFC 6749 §2.3.1: both parts are form-encoded before they are joined.
        client_id, secret = (
            unquote_plus(raw_id, errors="strict"),
            unquote_plus(raw_secret, errors="strict"),
        )
    except ValueError:
        raise OAuthError("invalid_client", "the Basic credentials are malformed") from None
    if not colon:
        raise OAuthError("invalid_client", "the Basic credentials are malformed")
    if form_id is not None and form_id != client_id:
        raise OAuthError("invalid_request", "client_id differs from the authenticated client")
    return client_id, secret


# Compared against when the client does not exist, so that the answer takes as long.
_NO_CLIENT_SHA256 = sha256_hex(b"no such client")


def _granted_scopes(form: dict[str, str], allowed: list[str]) -> list[str]:
    requested = form.get("scope")
    if requested is None or not requested.strip():
        return allowed
    wanted = requested.split()
    if any(len(s) > 64 or not _SCOPE_CHARS.issuperset(s) for s in wanted):
        raise OAuthError("invalid_scope", "scope is a space-separated list of scope tokens")
    unknown = sorted(set(wanted) - set(allowed))
    if unknown:
        raise OAuthError(
            "invalid_scope", f"this client may not ask for {' '.join(unknown)[:200]!r}"
        )
    return [s for s in allowed if s in wanted]


# --- dependencies ----------------------------------------------------------------------------


def identity_of(request: Request) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


Admin = Annotated[Principal, Depends(require(Role.admin))]
KeyHolder = Annotated[Principal, Depends(require(Role.admin, Role.insurer))]
MachineOrAdmin = Annotated[Principal, Depends(require(Role.admin, Role.insurer, Role.department))]
ClientId = Annotated[str, Path(max_length=64)]
KeyId = Annotated[str, Path(max_length=64)]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of a page")]
Limit = Annotated[int, Query(ge=1, le=200)]


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    (last,) = decode_cursor(cursor, 1)
    if not isinstance(last, str):
        raise InvalidCursor("cursor does not belong to this listing", field="cursor")
    return last


def _owned_key(row: ApiKey | None, key_id: str, caller: Principal) -> ApiKey:
    # Another insurer's key is as absent as an unknown one: ids are not to be probed.
    if row is None or (caller.role is not Role.admin and row.subject != caller.subject):
        raise ApiKeyNotFound(f"there is no API key {key_id[:64]!r}")
    return row


# --- routes ----------------------------------------------------------------------------------


def identity_router() -> APIRouter:
    router = APIRouter()

    @router.post(
        TOKEN_PATH,
        tags=["identity"],
        summary="OAuth2 client credentials: a token for a machine client",
        response_model=TokenResponse,
        responses={
            400: {"description": "invalid_request, unsupported_grant_type or invalid_scope"},
            401: {"description": "invalid_client"},
            503: {"description": "issuer_unavailable"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["grant_type"],
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "scope": {"type": "string"},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def token(request: Request, session: Session, runtime: Runtime) -> Response:
        """RFC 6749 §4.4; the client authenticates with HTTP Basic or in the form."""
        form = await _token_form(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthError(
                "unsupported_grant_type", "only grant_type=client_credentials is served here"
            )
        client_id, secret = _client_credentials(request, form)
        client = await get_client(session, client_id)
        if not secret_matches(secret, client.secret_sha256 if client else _NO_CLIENT_SHA256):
            raise OAuthError("invalid_client", "unknown client or wrong secret")
        assert client is not None
        if client.revoked_at is not None:
            raise OAuthError("invalid_client", "this client has been revoked")
        if client.role not in MACHINE_ROLES:
            # Only ever insurer or department (ClientCreate); a row saying otherwise is not
            # honoured, so this endpoint never mints a role an admin did not register.
            raise OAuthError("invalid_client", "this client's role cannot be issued tokens")
        # Service scopes are never issued to a machine client, even if its row lists one.
        allowed = [s for s in split_scopes(client.scopes) if s not in SERVICE_SCOPES]
        granted = _granted_scopes(form, allowed)
        issuer = issuer_of(runtime)
        if issuer is None:
            raise _issuer_unavailable()
        ttl = runtime.settings.issued_token_seconds
        access_token = issuer.mint(
            Role(client.role), client.subject, scopes=tuple(granted), ttl_seconds=ttl
        )
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ttl,
        }
        if granted:
            body["scope"] = " ".join(granted)
        return Response(orjson.dumps(body), media_type="application/json", headers=NO_STORE)

    @router.get(
        JWKS_PATH,
        tags=["identity"],
        summary="Public keys of the gateway's tokens",
        response_class=Response,
        responses={
            200: {"content": {"application/jwk-set+json": {}}},
            503: {"description": "issuer_unavailable: this gateway has no signing key"},
        },
    )
    async def jwks(runtime: Runtime) -> Response:
        issuer = issuer_of(runtime)
        if issuer is None:
            raise _issuer_unavailable()
        return Response(
            orjson.dumps(issuer.jwks()),
            media_type="application/jwk-set+json",
            headers={"Cache-Control": "public, max-age=300"},
        )

    manage = APIRouter(prefix=MANAGEMENT_PREFIX, tags=["gateway: credentials"])

    @manage.post(
        "/clients", status_code=201, response_model=ClientWithSecret, summary="Register a client"
    )
    async def create_client(
        body: ClientCreate, caller: Admin, session: Session, response: Response
    ) -> dict[str, Any]:
        """The secret is in this answer only; the gateway keeps its hash."""
        client, secret = await register_client(
            session,
            role=body.role,
            subject=body.subject,
            name=body.name,
            scopes=body.scopes,
            by=caller.key,
            now=utcnow(),
        )
        response.headers["Location"] = f"{MANAGEMENT_PREFIX}/clients/{client.id}"
        response.headers.update(NO_STORE)
        return {**_client_read(client), "client_secret": secret}

    @manage.get("/clients", response_model=Page[ClientRead], summary="List clients")
    async def clients(
        _: Admin,
        session: Session,
        role: Literal["insurer", "department"] | None = None,
        subject: Annotated[str | None, Query(pattern=SUBJECT_PATTERN)] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        rows = await list_clients(
            session, role=role, subject=subject, after=_after(cursor), limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "items": [_client_read(c) for c in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more else None,
        }

    @manage.get("/clients/{client_id}", response_model=ClientRead, summary="One client")
    async def client(client_id: ClientId, caller: MachineOrAdmin, session: Session) -> Any:
        """Admins see every client; an insurer or a department its own."""
        row = await get_client(session, client_id)
        if row is None or (
            caller.role is not Role.admin
            and (row.role != caller.role.value or row.subject != caller.subject)
        ):
            raise ClientNotFound(f"there is no client {client_id[:64]!r}")
        return _client_read(row)

    @manage.post(
        "/clients/{client_id}/revoke", response_model=ClientRead, summary="Revoke a client"
    )
    async def revoke(
        client_id: ClientId, body: Revocation, caller: Admin, session: Session
    ) -> dict[str, Any]:
        """The client obtains no more tokens; tokens already issued lapse within their life."""
        row = await revoke_client(
            session, client_id, reason=body.reason, by=caller.key, now=utcnow()
        )
        return _client_read(row)

    @manage.post(
        "/clients/{client_id}/secret",
        response_model=ClientWithSecret,
        summary="Replace a client's secret",
    )
    async def rotate(
        client_id: ClientId, _: Admin, session: Session, response: Response
    ) -> dict[str, Any]:
        """The old secret stops working; the new one is in this answer only."""
        row, secret = await rotate_client_secret(session, client_id)
        response.headers.update(NO_STORE)
        return {**_client_read(row), "client_secret": secret}

    @manage.post(
        "/api-keys", status_code=201, response_model=ApiKeyWithKey, summary="Issue an API key"
    )
    async def create_api_key(
        body: ApiKeyCreate, caller: Admin, session: Session, response: Response
    ) -> dict[str, Any]:
        """The key is in this answer only; the gateway keeps its hash."""
        row, key = await issue_api_key(
            session,
            subject=body.subject,
            name=body.name,
            expires_at=body.expires_at,
            by=caller.key,
            now=utcnow(),
        )
        response.headers["Location"] = f"{MANAGEMENT_PREFIX}/api-keys/{row.id}"
        response.headers.update(NO_STORE)
        return {**_key_read(row), "key": key}

    @manage.get("/api-keys", response_model=Page[ApiKeyRead], summary="List API keys")
    async def api_keys(
        caller: KeyHolder,
        session: Session,
        subject: Annotated[str | None, Query(pattern=SUBJECT_PATTERN)] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """Admins list every insurer's keys (or one's, with `subject`); an insurer its own."""
        if caller.role is Role.insurer:
            if subject is not None and subject != caller.subject:
                raise Forbidden("an insurer lists only its own API keys")
            subject = caller.subject
        rows = await list_api_keys(session, subject=subject, after=_after(cursor), limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "items": [_key_read(r) for r in rows],
            "next_cursor": encode_cursor(rows[-1].id) if more else None,
        }

    @manage.get("/api-keys/{key_id}", response_model=ApiKeyRead, summary="One API key")
    async def api_key(key_id: KeyId, caller: KeyHolder, session: Session) -> dict[str, Any]:
        return _key_read(_owned_key(await get_api_key(session, key_id), key_id, caller))

    @manage.post(
        "/api-keys/{key_id}/revoke", response_model=ApiKeyRead, summary="Revoke an API key"
    )
    async def revoke_key(
        key_id: KeyId,
        body: Revocation,
        caller: KeyHolder,
        session: Session,
        request: Request,
    ) -> dict[str, Any]:
        """Refused here at once, by other replicas within GATEWAY_API_KEY_CACHE_SECONDS."""
        row = _owned_key(await get_api_key(session, key_id), key_id, caller)
        await revoke_api_key(session, row, reason=body.reason, by=caller.key, now=utcnow())
        identity = identity_of(request)
        identity.key_revoked(row)
        # Again once committed: a lookup racing the commit may have read the row unrevoked.
        event.listen(
            session.sync_session, "after_commit", lambda _: identity.key_revoked(row), once=True
        )
        return _key_read(row)

    router.include_router(manage)
    return router

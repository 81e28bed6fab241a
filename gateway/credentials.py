"""Machine credentials: OAuth2 clients and insurer API keys. Generation, hashing, parsing, and
the queries and use cases over their tables (gateway/models.py).

Secrets carry 256 bits from `secrets` and are stored only as SHA-256 (see gateway/models.py for
why not a slow password hash). A secret is returned once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import ApiKey, Client
from kernel.errors import Conflict, NotFound

# Machine clients' subjects: insurer ids (as the insurance service registers them) and
# department codes (e.g. QD-CBIRC). Grants name departments with the same pattern, so a grant
# is never made for a code no client could carry.
SUBJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$"

CLIENT_ID_PREFIX = "qdc_"
API_KEY_PREFIX = "qdk_"
# Ids are 96 random bits in lower-case hex: unguessable enough to name a key without being
# secret, and free of the `_` that separates an API key's id from its secret.
_ID_HEX = 24
_CLIENT_ID = re.compile(rf"{CLIENT_ID_PREFIX}[0-9a-f]{{{_ID_HEX}}}")
_KEY_ID = re.compile(rf"[0-9a-f]{{{_ID_HEX}}}")
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
_API_KEY = re.compile(rb"qdk_([0-9a-f]{24})_[A-Za-z0-9_-]{43}")


class ClientNotFound(NotFound):
    code = "client_not_found"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"


class AlreadyRevoked(Conflict):
    code = "already_revoked"


# --- secrets ---------------------------------------------------------------------------------


def new_secret() -> str:
    """A client secret: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_hex(_ID_HEX // 2)


def new_api_key() -> tuple[str, str]:
    """A key id and the whole key (`qdk_<id>_<secret>`), which is what callers send."""
    key_id = secrets.token_hex(_ID_HEX // 2)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{new_secret()}"


def sha256_hex(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def secret_matches(presented: str | bytes, stored_sha256: str) -> bool:
    """Whether `presented` hashes to `stored_sha256`, compared in constant time."""
    return hmac.compare_digest(sha256_hex(presented), stored_sha256)


def is_client_id(value: str) -> bool:
    return _CLIENT_ID.fullmatch(value) is not None


def is_key_id(value: str) -> bool:
    return _KEY_ID.fullmatch(value) is not None


def is_secret(value: str) -> bool:
    return _SECRET.fullmatch(value) is not None


def api_key_id(presented: bytes) -> str | None:
    """The key id inside a well-formed API key, None for anything else."""
    match = _API_KEY.fullmatch(presented)
    return match.group(1).decode() if match else None


def join_scopes(scopes: Sequence[str]) -> str:
    return " ".join(scopes)


def split_scopes(stored: str) -> list[str]:
    return stored.split()


# --- queries ---------------------------------------------------------------------------------


async def get_client(session: AsyncSession, client_id: str) -> Client | None:
    """The client with this id, if any (ids of the wrong shape are never looked up)."""
    if not is_client_id(client_id):
        return None
    return await session.get(Client, client_id)


async def list_clients(
    session: AsyncSession,
    *,
    role: str | None,
    subject: str | None,
    after: str | None,
    limit: int,
) -> list[Client]:
    """Clients by id, optionally of one role or subject, from after `after`."""
    query = sa.select(Client).order_by(Client.id).limit(limit)
    if role is not None:
        query = query.where(Client.role == role)
    if subject is not None:
        query = query.where(Client.subject == subject)
    if after is not None:
        query = query.where(Client.id > after)
    return list((await session.scalars(query)).all())


async def get_api_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    """The API key with this id, if any."""
    if not is_key_id(key_id):
        return None
    return await session.get(ApiKey, key_id)


async def list_api_keys(
    session: AsyncSession, *, subject: str | None, after: str | None, limit: int
) -> list[ApiKey]:
    """API keys by id, optionally of one insurer, from after `after`."""
    query = sa.select(ApiKey).order_by(ApiKey.id).limit(limit)
    if subject is not None:
        query = query.where(ApiKey.subject == subject)
    if after is not None:
        query = query.where(ApiKey.id > after)
    return list((await session.scalars(query)).all())


# --- use cases -------------------------------------------------------------------------------


async def register_client(
    session: AsyncSession,
    *,
    role: str,
    subject: str,
    name: str,
    scopes: Sequence[str],
    by: str,
    now: datetime,
) -> tuple[Client, str]:
    """A new machine client and its secret (shown to the admin once)."""
    secret = new_secret()
    client = Client(
        id=new_client_id(),
        role=role,
        subject=subject,
        name=name,
        secret_sha256=sha256_hex(secret),
        scopes=join_scopes(scopes),
        created_at=now,
        created_by=by,
    )
    session.add(client)
    await session.flush()
    return client, secret


async def _live_client(session: AsyncSession, client_id: str) -> Client:
    client = await get_client(session, client_id)
    if client is None:
        raise ClientNotFound(f"there is no client {client_id[:64]!r}")
    if client.revoked_at is not None:
        raise AlreadyRevoked(f"client {client.id} was revoked at {client.revoked_at.isoformat()}")
    return client


async def rotate_client_secret(session: AsyncSession, client_id: str) -> tuple[Client, str]:
    """A new secret for the client; the old one stops working."""
    client = await _live_client(session, client_id)
    secret = new_secret()
    client.secret_sha256 = sha256_hex(secret)
    await session.flush()
    return client, secret


async def revoke_client(
    session: AsyncSession, client_id: str, *, reason: str, by: str, now: datetime
) -> Client:
    """The client can obtain no more tokens."""
    client = await _live_client(session, client_id)
    client.revoked_at, client.revoked_by, client.revoked_reason = now, by, reason
    await session.flush()
    return client


async def issue_api_key(
    session: AsyncSession,
    *,
    subject: str,
    name: str,
    expires_at: datetime | None,
    by: str,
    now: datetime,
) -> tuple[ApiKey, str]:
    """A new API key for an insurer and the key itself (shown once)."""
    key_id, key = new_api_key()
    row = ApiKey(
        id=key_id,
        subject=subject,
        name=name,
        key_sha256=sha256_hex(key),
        created_at=now,
        created_by=by,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row, key


async def revoke_api_key(
    session: AsyncSession, row: ApiKey, *, reason: str, by: str, now: datetime
) -> ApiKey:
    """The key is refused from now on."""
    if row.revoked_at is not None:
        raise AlreadyRevoked(f"API key {row.id} was revoked at {row.revoked_at.isoformat()}")
    row.revoked_at, row.revoked_by, row.revoked_reason = now, by, reason
    await session.flush()
    return row

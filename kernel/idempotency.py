"""Idempotency-Key for create endpoints: a retried request gets the first answer, once."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

import orjson
import sqlalchemy as sa
from fastapi import Header
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth.principal import Principal
from kernel.db import utcnow
from kernel.errors import RuleViolated
from kernel.tables import KernelTables

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="Client-chosen key; a retry with the same key and body returns the first "
        "response instead of acting twice (answers are kept for at least 24 hours)",
    ),
]


def request_hash(route: str, body: BaseModel) -> str:
    """Fingerprint of what was asked, so a key reused for a different request is refused."""
    raw = (
        route.encode()
        + b"\n"
        + orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    )
    return hashlib.sha256(raw).hexdigest()


async def run_idempotent(
    session: AsyncSession,
    tables: KernelTables,
    principal: Principal,
    key: str | None,
    route: str,
    body: BaseModel,
    action: Callable[[], Awaitable[BaseModel]],
    *,
    status_code: int = 201,
    headers: dict[str, str] | None = None,
) -> Response:
    """Run `action` once per (caller, key); store its response in the same transaction."""
    if key is None:
        result = await action()
        return Response(
            orjson.dumps(result.model_dump(mode="json")),
            status_code=status_code,
            media_type="application/json",
            headers=headers,
        )
    table = tables.idempotency
    fingerprint = request_hash(route, body)
    stored = (
        await session.execute(
            sa.select(table).where(table.c.principal == principal.key, table.c.key == key)
        )
    ).first()
    if stored is not None:
        if stored.request_hash != fingerprint or stored.route != route:
            raise RuleViolated(
                "this Idempotency-Key was already used for a different request",
                code="idempotency_key_reused",
            )
        return Response(
            stored.body,
            status_code=stored.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    result = await action()
    payload = orjson.dumps(result.model_dump(mode="json"))
    # A concurrent twin with the same key fails on this primary key at commit: one effect only.
    await session.execute(
        sa.insert(table).values(
            principal=principal.key,
            key=key,
            route=route,
            request_hash=fingerprint,
            status_code=status_code,
            body=payload,
            created_at=utcnow(),
        )
    )
    return Response(
        payload, status_code=status_code, media_type="application/json", headers=headers
    )

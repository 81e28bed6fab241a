"""Reading the audit log over HTTP: who changed what, and whether the chain still holds.

The bureau's leaders and administrators answer "who revoked this licence, when, and what did
it say before?" from here; the on-call engineer checks the chain without database access.
Each service mounts it at `/audit` (through the gateway `/api/<service>/audit`), the gateway
at `/api/gateway/audit` for its own clients, keys and grants.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.audit import verify
from kernel.pagination import InvalidCursor, Page, decode_cursor, encode_cursor

# Where a request finds the log: the app's engine and its audit table.
Locate = Callable[[Request], tuple[AsyncEngine, sa.Table]]
Guard = Callable[..., Any]


class AuditRecord(BaseModel):
    """One change: who, when, through what, and the fields as they were and as they became."""

    id: int
    seq: int | None = Field(description="Position in the hash chain; null until sealed")
    at: datetime
    actor: str = Field(description="role:subject of the caller, event:<source>, or system")
    via: str | None = Field(description="The route (METHOD /path) or the event (type id)")
    action: Literal["insert", "update", "delete"]
    entity: str
    entity_key: str = Field(description="The changed row's primary key, as JSON")
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str | None


class ChainCheck(BaseModel):
    """The chain recomputed link by link; `broken_at_seq` is the first link that fails."""

    ok: bool
    checked: int
    unsealed: int
    broken_at_seq: int | None
    row_id: int | None
    reason: str | None


def audit_router(guard: Guard, locate: Locate, prefix: str = "") -> APIRouter:
    """`GET {prefix}/audit` and `GET {prefix}/audit/verify`, admitted by `guard`."""
    router = APIRouter(prefix=prefix, tags=["audit"], dependencies=[Depends(guard)])

    @router.get(
        "/audit",
        response_model=Page[AuditRecord],
        summary="The audit log, newest first (leader, admin)",
    )
    async def list_audit(
        request: Request,
        entity: Annotated[str | None, Query(max_length=64, description="Table name")] = None,
        entity_key: Annotated[
            str | None, Query(max_length=300, description='Primary key as JSON, e.g. "L-1"')
        ] = None,
        actor: Annotated[str | None, Query(max_length=200, description="role:subject")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Page[AuditRecord]:
        engine, table = locate(request)
        query = sa.select(table).order_by(table.c.id.desc()).limit(limit + 1)
        if entity is not None:
            query = query.where(table.c.entity == entity)
        if entity_key is not None:
            query = query.where(table.c.entity_key == entity_key)
        if actor is not None:
            query = query.where(table.c.actor == actor)
        if cursor is not None:
            (last,) = decode_cursor(cursor, 1)
            if not isinstance(last, int) or isinstance(last, bool):
                raise InvalidCursor("cursor does not belong to this listing", field="cursor")
            query = query.where(table.c.id < last)
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [AuditRecord.model_validate(dict(r._mapping)) for r in rows[:limit]]
        more = len(rows) > limit
        return Page[AuditRecord](
            items=items, next_cursor=encode_cursor(items[-1].id) if more else None
        )

    @router.get(
        "/audit/verify",
        response_model=ChainCheck,
        summary="Recompute the audit hash chain and name its first broken link (leader, admin)",
    )
    async def verify_audit(request: Request) -> ChainCheck:
        engine, table = locate(request)
        report = await verify(engine, table)
        return ChainCheck.model_validate(report.as_dict())

    return router

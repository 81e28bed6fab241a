"""Catalogue endpoints: thin — parse, authorise, call the use case, return.

Reads are public (the catalogue, its service guides and approvers' phones are published);
writes are for administrators.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, decode_cursor, encode_cursor
from kernel.workdays import shanghai_today
from services.permits import service
from services.permits.dependencies import AdminDep, OnDate
from services.permits.domain import (
    ApprovalMode,
    Material,
    MaterialSource,
    is_zero_materials,
    version_status,
)
from services.permits.models import ItemVersion
from services.permits.repository import ItemRepository
from services.permits.schemas import ItemCreate, ItemHistory, ItemRead, ItemVersionCreate

router = APIRouter(prefix="/items", tags=["catalogue"])

# No pattern here: a code that cannot exist is simply not found (404), never a 422.
ItemCode = Annotated[str, Path(description="Catalogue code, e.g. QD-AJ-001")]


# Stored columns shown as they are; the rest of ItemRead is derived by the domain.
_COLUMNS = tuple(
    name for name in ItemRead.model_fields if name not in {"is_zero_materials", "status"}
)


def _read(row: ItemVersion, in_force: ItemVersion | None) -> ItemRead:
    """A stored version as the catalogue shows it, standing judged against `in_force`."""
    materials = [
        Material(m["name"], MaterialSource(m["source"]), bool(m["mandatory"]))
        for m in row.materials
    ]
    return ItemRead.model_validate(
        {
            **{name: getattr(row, name) for name in _COLUMNS},
            "is_zero_materials": is_zero_materials(materials),
            "status": version_status(row, in_force),
        }
    )


@router.post(
    "",
    status_code=201,
    response_model=ItemRead,
    summary="Add an item to the catalogue (admin); published at once as version 1",
)
async def publish_item(
    body: ItemCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: AdminDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> ItemRead:
        row = await service.publish_item(session, runtime.outbox, admin, body)
        # Just published, so nothing supersedes it: published whether in force or scheduled.
        return _read(row, None)

    return await run_idempotent(
        session, runtime.tables, admin, idempotency_key, "POST /items", body, act
    )


@router.post(
    "/{code}/versions",
    status_code=201,
    response_model=ItemRead,
    summary="Publish the next version of an item (admin), in force from its effective date",
)
async def publish_version(
    code: ItemCode,
    body: ItemVersionCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: AdminDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> ItemRead:
        today = shanghai_today()
        row = await service.publish_version(session, runtime.outbox, admin, code, body, today)
        return _read(row, None)

    route = f"POST /items/{code}/versions"
    return await run_idempotent(session, runtime.tables, admin, idempotency_key, route, body, act)


@router.get("", response_model=Page[ItemRead], summary="The catalogue in force, by code")
async def list_items(
    session: SessionDep,
    on: OnDate,
    approval_mode: ApprovalMode | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=50, description="Part of the item's name")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ItemRead]:
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await ItemRepository(session).list_in_force_page(
        on=on, approval_mode=approval_mode, name_contains=q, after_code=after, limit=limit + 1
    )
    items = [_read(row, row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].code) if len(rows) > limit else None
    return Page[ItemRead](items=items, next_cursor=next_cursor)


@router.get("/{code}", response_model=ItemRead, summary="An item's version in force")
async def get_item(code: ItemCode, session: SessionDep, on: OnDate) -> ItemRead:
    in_force = await service.item_in_force(session, code, on)
    return _read(in_force, in_force)


@router.get("/{code}/versions", response_model=ItemHistory, summary="An item's version history")
async def list_versions(code: ItemCode, session: SessionDep, on: OnDate) -> ItemHistory:
    history = await service.item_history(session, code, on)
    return ItemHistory(
        code=code,
        on=on,
        in_force_version=history.in_force.version if history.in_force else None,
        versions=[_read(v, history.in_force) for v in history.versions],
    )


@router.get("/{code}/versions/{version}", response_model=ItemRead, summary="One version")
async def get_version(
    code: ItemCode,
    version: Annotated[int, Path(ge=1)],
    session: SessionDep,
    on: OnDate,
) -> ItemRead:
    row, in_force = await service.item_version(session, code, version, on)
    return _read(row, in_force)

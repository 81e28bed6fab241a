"""Public guidance lists: no token needed (measure 8: published on the portal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from kernel.app import SessionDep
from kernel.pagination import Page, encode_cursor
from kernel.vocab import Sector
from services.inspection import guidance
from services.inspection.dependencies import int_cursor
from services.inspection.guidance_schemas import (
    HazardousWorkRead,
    KeyItemRead,
    ViolationCategoryRead,
    ViolationItemRead,
    WorkerGuideRead,
    WorkerKind,
)

router = APIRouter(prefix="/guidance", tags=["guidance"])


@router.get(
    "/violations",
    response_model=Page[ViolationItemRead],
    summary="The common-violations catalogue (常见违法行为清单), searchable",
)
async def list_violations(
    session: SessionDep,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Text")] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    sector: Annotated[Sector | None, Query(description="Items for this sector")] = None,
    management: Annotated[
        bool | None, Query(description="true: only 制度管理类; false: only on-site items")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ViolationItemRead]:
    after = int_cursor(cursor) if cursor else None
    rows = await guidance.search_violations(
        session,
        q=q,
        category=category,
        sector=sector,
        management=management,
        after=after,
        limit=limit + 1,
    )
    items = [ViolationItemRead.model_validate(r) for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].sort_order) if len(rows) > limit else None
    return Page[ViolationItemRead](items=items, next_cursor=next_cursor)


@router.get(
    "/violations/categories",
    response_model=list[ViolationCategoryRead],
    summary="The catalogue's categories with item counts",
)
async def list_violation_categories(session: SessionDep) -> list[ViolationCategoryRead]:
    return [
        ViolationCategoryRead(category=c, items=n, management_items=m)
        for c, n, m in await guidance.violation_categories(session)
    ]


@router.get("/violations/{code}", response_model=ViolationItemRead, summary="One catalogue item")
async def get_violation(
    session: SessionDep, code: Annotated[str, Path(max_length=16, examples=["CV-001"])]
) -> ViolationItemRead:
    return ViolationItemRead.model_validate(await guidance.get_violation(session, code))


@router.get(
    "/hazardous-work",
    response_model=list[HazardousWorkRead],
    summary="Hazardous-work guidance: the special operations of GB 30871-2022",
)
async def list_hazardous_work(session: SessionDep) -> list[HazardousWorkRead]:
    return [HazardousWorkRead.model_validate(g) for g in await guidance.hazardous_work(session)]


@router.get(
    "/hazardous-work/{code}", response_model=HazardousWorkRead, summary="One special operation"
)
async def get_hazardous_work(
    session: SessionDep, code: Annotated[str, Path(max_length=32, examples=["hot_work"])]
) -> HazardousWorkRead:
    return HazardousWorkRead.model_validate(await guidance.get_hazardous_work(session, code))


@router.get(
    "/flexible-workers",
    response_model=list[WorkerGuideRead],
    summary="Dispatched and flexible-worker guidance (劳务派遣和灵活用工人员)",
)
async def list_worker_guides(
    session: SessionDep, kind: WorkerKind | None = None
) -> list[WorkerGuideRead]:
    return [WorkerGuideRead.model_validate(g) for g in await guidance.worker_guides(session, kind)]


@router.get(
    "/key-items",
    response_model=list[KeyItemRead],
    summary="Key enforcement items (重点执法事项) of a year; the latest year by default",
)
async def list_key_items(
    session: SessionDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    sector: Sector | None = None,
) -> list[KeyItemRead]:
    rows = await guidance.key_items(session, year=year, sector=sector)
    return [KeyItemRead.model_validate(r) for r in rows]

"""Public guidance lists (measure 8's "三个清单" and key enforcement items): queries."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.errors import NotFound
from kernel.vocab import Sector
from services.inspection.models_guidance import (
    HazardousWorkGuide,
    KeyEnforcementItem,
    ViolationItem,
    WorkerGuide,
)


async def search_violations(
    session: AsyncSession,
    *,
    q: str | None,
    category: str | None,
    sector: Sector | None,
    management: bool | None,
    after: int | None,
    limit: int,
) -> Sequence[ViolationItem]:
    """Catalogue items in list order after a cursor, filtered.

    `sector` keeps items that name the sector and items that apply to every sector (an empty
    list): an enterprise reads all that concerns it. The sector test runs on the JSON text, so
    it behaves the same on SQLite and PostgreSQL.
    """
    query = sa.select(ViolationItem).order_by(ViolationItem.sort_order).limit(limit)
    if q:
        query = query.where(
            sa.or_(
                ViolationItem.title.contains(q, autoescape=True),
                ViolationItem.legal_basis.contains(q, autoescape=True),
                ViolationItem.penalty_basis.contains(q, autoescape=True),
                ViolationItem.code == q.upper(),
            )
        )
    if category is not None:
        query = query.where(ViolationItem.category == category)
    if management is not None:
        query = query.where(ViolationItem.is_management.is_(management))
    if sector is not None:
        sectors_text = sa.cast(ViolationItem.sectors, sa.Text)
        query = query.where(
            sa.or_(sectors_text == "[]", sectors_text.contains(f'"{sector.value}"'))
        )
    if after is not None:
        query = query.where(ViolationItem.sort_order > after)
    return (await session.scalars(query)).all()


async def violation_categories(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(category, items, management items) in catalogue order."""
    rows = await session.execute(
        sa.select(
            ViolationItem.category,
            sa.func.count(),
            sa.func.sum(sa.case((ViolationItem.is_management.is_(True), 1), else_=0)),
            sa.func.min(ViolationItem.sort_order),
        )
        .group_by(ViolationItem.category)
        .order_by(sa.func.min(ViolationItem.sort_order))
    )
    return [(category, int(n), int(m or 0)) for category, n, m, _ in rows]


async def get_violation(session: AsyncSession, code: str) -> ViolationItem:
    """One catalogue item; 404 if the code is not in the catalogue."""
    item = await session.get(ViolationItem, code.upper())
    if item is None:
        raise NotFound(
            f"{code} is not in the common-violations catalogue", code="violation_item_not_found"
        )
    return item


async def hazardous_work(session: AsyncSession) -> Sequence[HazardousWorkGuide]:
    """The special operations of GB 30871-2022, in the standard's order."""
    query = sa.select(HazardousWorkGuide).order_by(HazardousWorkGuide.sort_order)
    return (await session.scalars(query)).all()


async def get_hazardous_work(session: AsyncSession, code: str) -> HazardousWorkGuide:
    guide = await session.get(HazardousWorkGuide, code)
    if guide is None:
        raise NotFound(
            f"{code} is not a special operation in the list", code="hazardous_work_not_found"
        )
    return guide


async def worker_guides(session: AsyncSession, kind: str | None) -> list[WorkerGuide]:
    """The dispatched and flexible-worker duties, optionally those covering one worker kind."""
    query = sa.select(WorkerGuide).order_by(WorkerGuide.sort_order)
    guides = (await session.scalars(query)).all()
    return [g for g in guides if kind is None or kind in g.worker_kinds]


async def key_items(
    session: AsyncSession, *, year: int | None, sector: Sector | None
) -> Sequence[KeyEnforcementItem]:
    """Key enforcement items of a year (the latest published year when none is given)."""
    if year is None:
        year = await session.scalar(sa.select(sa.func.max(KeyEnforcementItem.year)))
        if year is None:
            return []
    query = (
        sa.select(KeyEnforcementItem)
        .where(KeyEnforcementItem.year == year)
        .order_by(KeyEnforcementItem.sort_order)
    )
    if sector is not None:
        query = query.where(
            sa.or_(KeyEnforcementItem.sector.is_(None), KeyEnforcementItem.sector == sector.value)
        )
    return (await session.scalars(query)).all()

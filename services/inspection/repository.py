"""Registry queries. Adds and flushes; never commits."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.inspection.models import Enterprise


class EnterpriseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, uscc: str) -> Enterprise | None:
        """The registry entry for this USCC."""
        return await self.session.get(Enterprise, uscc)

    async def list_page(
        self, *, district: str | None, sector: str | None, after: str | None, limit: int
    ) -> Sequence[Enterprise]:
        """Registry entries in USCC order after a cursor, optionally filtered."""
        query = sa.select(Enterprise).order_by(Enterprise.uscc).limit(limit)
        if district is not None:
            query = query.where(Enterprise.district == district)
        if sector is not None:
            query = query.where(Enterprise.sector == sector)
        if after is not None:
            query = query.where(Enterprise.uscc > after)
        return (await self.session.scalars(query)).all()

    def add(self, enterprise: Enterprise) -> None:
        self.session.add(enterprise)

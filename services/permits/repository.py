"""Catalogue queries. Adds and flushes; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.permits.domain import ApprovalMode
from services.permits.licences import LicenceStatus
from services.permits.models import ItemVersion, Licence


class ItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_versions(self, code: str) -> Sequence[ItemVersion]:
        """Every published version of an item, oldest first (empty if the code is unknown)."""
        return (
            await self.session.scalars(
                sa.select(ItemVersion).where(ItemVersion.code == code).order_by(ItemVersion.version)
            )
        ).all()

    async def get_version(self, code: str, version: int) -> ItemVersion | None:
        """One version of an item."""
        return await self.session.scalar(
            sa.select(ItemVersion).where(ItemVersion.code == code, ItemVersion.version == version)
        )

    async def code_exists(self, code: str) -> bool:
        """Whether any version of this item was ever published."""
        found = await self.session.scalar(
            sa.select(ItemVersion.id).where(ItemVersion.code == code).limit(1)
        )
        return found is not None

    async def list_in_force_page(
        self,
        *,
        on: date,
        approval_mode: ApprovalMode | None,
        name_contains: str | None,
        after_code: str | None,
        limit: int,
    ) -> Sequence[ItemVersion]:
        """The catalogue as in force on a date, one version per item, in code order.

        The SQL form of domain.version_in_force: effective dates rise with version numbers
        (rule effective_on_after_latest), so the latest effective version is the highest one.
        """
        in_force = (
            sa.select(ItemVersion.code, sa.func.max(ItemVersion.version).label("version"))
            .where(ItemVersion.effective_on <= on)
            .group_by(ItemVersion.code)
            .subquery()
        )
        query = (
            sa.select(ItemVersion)
            .join(
                in_force,
                sa.and_(
                    ItemVersion.code == in_force.c.code,
                    ItemVersion.version == in_force.c.version,
                ),
            )
            .order_by(ItemVersion.code)
            .limit(limit)
        )
        if approval_mode is not None:
            query = query.where(ItemVersion.approval_mode == approval_mode.value)
        if name_contains is not None:
            query = query.where(ItemVersion.name.icontains(name_contains, autoescape=True))
        if after_code is not None:
            query = query.where(ItemVersion.code > after_code)
        return (await self.session.scalars(query)).all()

    def add(self, item_version: ItemVersion) -> None:
        self.session.add(item_version)


@dataclass(frozen=True)
class LicenceFilter:
    """Which licences a listing shows; instants are half-open [issued_from, issued_before)."""

    uscc: str | None = None
    status: LicenceStatus | None = None
    item_code: str | None = None
    issued_from: datetime | None = None
    issued_before: datetime | None = None


class LicenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_page(
        self, where: LicenceFilter, after: tuple[datetime, str] | None, limit: int
    ) -> Sequence[Licence]:
        """Licences issued, newest first by (issued_at, id), after the key `after`."""
        query = sa.select(Licence)
        if where.uscc is not None:
            query = query.where(Licence.uscc == where.uscc)
        if where.status is not None:
            query = query.where(Licence.status == where.status.value)
        if where.item_code is not None:
            query = query.where(Licence.item_code == where.item_code)
        if where.issued_from is not None:
            query = query.where(Licence.issued_at >= where.issued_from)
        if where.issued_before is not None:
            query = query.where(Licence.issued_at < where.issued_before)
        if after is not None:
            at, last_id = after
            query = query.where(
                sa.or_(
                    Licence.issued_at < at,
                    sa.and_(Licence.issued_at == at, Licence.id < last_id),
                )
            )
        query = query.order_by(Licence.issued_at.desc(), Licence.id.desc()).limit(limit)
        return (await self.session.scalars(query)).all()

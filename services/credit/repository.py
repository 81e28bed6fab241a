"""Penalty queries. Adds and flushes; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.credit.domain import Readership
from services.credit.models import CreditRecord


def in_publicity(today: date) -> sa.ColumnElement[bool]:
    """SQL form of rule `in_publicity` (domain.is_in_publicity): published, and within its
    window (a record past its end is out even before the expiry pass has marked it)."""
    return sa.and_(
        CreditRecord.state == "published",
        CreditRecord.publicity_starts_on <= today,
        CreditRecord.publicity_ends_on >= today,
    )


def readable_by(readership: Readership, today: date) -> sa.ColumnElement[bool] | None:
    """SQL form of rule `penalty_readership` (domain.Readership.may_read); None: no limit."""
    if readership.sees_all:
        return None
    if readership.own_uscc is not None:
        return sa.or_(in_publicity(today), CreditRecord.uscc == readership.own_uscc)
    return in_publicity(today)


class PenaltyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, penalty_id: str) -> CreditRecord | None:
        """The penalty record with this id."""
        record = await self.session.get(CreditRecord, penalty_id)
        return record if record is not None and record.record_class == "penalty" else None

    async def get_by_decision_number(self, decision_number: str) -> CreditRecord | None:
        """The record of one decision, by its canonical decision number."""
        return await self.session.scalar(
            sa.select(CreditRecord).where(
                CreditRecord.record_class == "penalty",
                CreditRecord.document_number == decision_number,
            )
        )

    async def list_page(
        self,
        *,
        readership: Readership,
        today: date,
        uscc: str | None,
        name: str | None,
        publicity: bool | None,
        after: tuple[date, str] | None,
        limit: int,
    ) -> Sequence[CreditRecord]:
        """Readable records, newest decision first, after a (decided_on, id) cursor."""
        query = (
            sa.select(CreditRecord)
            .where(CreditRecord.record_class == "penalty")
            .order_by(CreditRecord.decided_on.desc(), CreditRecord.id.desc())
            .limit(limit)
        )
        visible = readable_by(readership, today)
        if visible is not None:
            query = query.where(visible)
        if publicity is not None:
            window = in_publicity(today)
            query = query.where(window if publicity else sa.not_(window))
        if uscc is not None:
            query = query.where(CreditRecord.uscc == uscc)
        if name is not None:
            query = query.where(CreditRecord.enterprise_name.icontains(name, autoescape=True))
        if after is not None:
            decided_on, penalty_id = after
            query = query.where(
                sa.or_(
                    CreditRecord.decided_on < decided_on,
                    sa.and_(CreditRecord.decided_on == decided_on, CreditRecord.id < penalty_id),
                )
            )
        return (await self.session.scalars(query)).all()

    def add(self, penalty: CreditRecord) -> None:
        self.session.add(penalty)

"""Penalty queries. Adds and flushes; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.credit.domain import Readership
from services.credit.models import Penalty


def in_publicity(today: date) -> sa.ColumnElement[bool]:
    """SQL form of rule `in_publicity` (domain.is_in_publicity)."""
    return sa.and_(Penalty.publicity_starts_on <= today, Penalty.publicity_ends_on >= today)


def readable_by(readership: Readership, today: date) -> sa.ColumnElement[bool] | None:
    """SQL form of rule `penalty_readership` (domain.Readership.may_read); None: no limit."""
    if readership.sees_all:
        return None
    if readership.own_uscc is not None:
        return sa.or_(in_publicity(today), Penalty.uscc == readership.own_uscc)
    return in_publicity(today)


class PenaltyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, penalty_id: str) -> Penalty | None:
        """The penalty record with this id."""
        return await self.session.get(Penalty, penalty_id)

    async def get_by_decision_number(self, decision_number: str) -> Penalty | None:
        """The record of one decision, by its canonical decision number."""
        return await self.session.scalar(
            sa.select(Penalty).where(Penalty.decision_number == decision_number)
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
    ) -> Sequence[Penalty]:
        """Readable records, newest decision first, after a (decided_on, id) cursor."""
        query = (
            sa.select(Penalty).order_by(Penalty.decided_on.desc(), Penalty.id.desc()).limit(limit)
        )
        visible = readable_by(readership, today)
        if visible is not None:
            query = query.where(visible)
        if publicity is not None:
            window = in_publicity(today)
            query = query.where(window if publicity else sa.not_(window))
        if uscc is not None:
            query = query.where(Penalty.uscc == uscc)
        if name is not None:
            query = query.where(Penalty.enterprise_name.icontains(name, autoescape=True))
        if after is not None:
            decided_on, penalty_id = after
            query = query.where(
                sa.or_(
                    Penalty.decided_on < decided_on,
                    sa.and_(Penalty.decided_on == decided_on, Penalty.id < penalty_id),
                )
            )
        return (await self.session.scalars(query)).all()

    def add(self, penalty: Penalty) -> None:
        self.session.add(penalty)

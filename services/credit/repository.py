"""Credit record queries. Adds and flushes; never commits."""

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


def listable_by(readership: Readership, today: date) -> sa.ColumnElement[bool] | None:
    """What `GET /records` lists: the bureau everything, an enterprise its own records (its
    credit file, whatever their state), the public what is in publicity. None: no limit."""
    if readership.sees_all:
        return None
    if readership.own_uscc is not None:
        return CreditRecord.uscc == readership.own_uscc
    return in_publicity(today)


def _before(after: tuple[date, str]) -> sa.ColumnElement[bool]:
    decided_on, record_id = after
    return sa.or_(
        CreditRecord.decided_on < decided_on,
        sa.and_(CreditRecord.decided_on == decided_on, CreditRecord.id < record_id),
    )


class RecordRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, record_id: str) -> CreditRecord | None:
        """The record with this id, of any class."""
        return await self.session.get(CreditRecord, record_id)

    async def get_by_document(self, record_class: str, document_number: str) -> CreditRecord | None:
        """The record of one class for one source document (decision, licence, commendation)."""
        return await self.session.scalar(
            sa.select(CreditRecord).where(
                CreditRecord.record_class == record_class,
                CreditRecord.document_number == document_number,
            )
        )

    async def list_page(
        self,
        *,
        readership: Readership,
        today: date,
        uscc: str | None,
        record_class: str | None,
        state: str | None,
        after: tuple[date, str] | None,
        limit: int,
    ) -> Sequence[CreditRecord]:
        """Listable records, newest decision first, after a (decided_on, id) cursor."""
        query = (
            sa.select(CreditRecord)
            .order_by(CreditRecord.decided_on.desc(), CreditRecord.id.desc())
            .limit(limit)
        )
        visible = listable_by(readership, today)
        if visible is not None:
            query = query.where(visible)
        if uscc is not None:
            query = query.where(CreditRecord.uscc == uscc)
        if record_class is not None:
            query = query.where(CreditRecord.record_class == record_class)
        if state is not None:
            query = query.where(CreditRecord.state == state)
        if after is not None:
            query = query.where(_before(after))
        return (await self.session.scalars(query)).all()

    async def count_in_publicity(self, uscc: str, record_class: str, today: date) -> int:
        """How many records of a class an enterprise has in publicity today."""
        return int(
            await self.session.scalar(
                sa.select(sa.func.count())
                .select_from(CreditRecord)
                .where(
                    CreditRecord.uscc == uscc,
                    CreditRecord.record_class == record_class,
                    in_publicity(today),
                )
            )
            or 0
        )

    async def past_their_end(self, today: date, limit: int) -> Sequence[CreditRecord]:
        """Records still marked published whose last day of publicity is before `today`.

        Locked and skipping rows another daily pass holds (PostgreSQL), so two replicas never
        end one record twice.
        """
        query = (
            sa.select(CreditRecord)
            .where(CreditRecord.state == "published", CreditRecord.publicity_ends_on < today)
            .order_by(CreditRecord.publicity_ends_on, CreditRecord.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(query)).all()

    def add(self, record: CreditRecord) -> None:
        self.session.add(record)


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
            query = query.where(_before(after))
        return (await self.session.scalars(query)).all()

    def add(self, penalty: CreditRecord) -> None:
        self.session.add(penalty)

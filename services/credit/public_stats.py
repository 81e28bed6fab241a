"""Aggregate figures of credit for the public scoreboard (measures 5 and 10): counts only, one
query per table, never a name, a code or a reason.

Two kinds of figure: what stands today (listed, in publicity, pending), whatever the year
asked for, and what happened in the year (decided, applied, repaired), by the business date it
took effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.credit.domain import RecordClass
from services.credit.lists_domain import BlacklistState, RedlistState
from services.credit.models import BlacklistEntry, CreditRecord, RedlistEntry, RepairApplication
from services.credit.repair_domain import RepairState
from services.credit.repository import in_publicity


@dataclass(frozen=True)
class ListedNow:
    redlist: int
    joint_incentive: int
    blacklist: int
    penalties_in_publicity: int
    dishonesty_in_publicity: int


@dataclass(frozen=True)
class YearFlows:
    penalties_decided: int
    redlist_listed: int
    blacklist_listed: int
    blacklist_removed: int


@dataclass(frozen=True)
class RepairFigures:
    applied: int
    decided: int
    decided_within_limit: int
    approved: int
    rejected: int
    enterprises_repaired: int
    pending_now: int


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    # SUM(CASE ...) rather than COUNT(*) FILTER: the same SQL on every engine we run on.
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _in_year(
    column: InstrumentedAttribute[date] | InstrumentedAttribute[date | None], year: int
) -> sa.ColumnElement[bool]:
    return sa.and_(column >= date(year, 1, 1), column <= date(year, 12, 31))


async def listed_now(session: AsyncSession, today: date) -> ListedNow:
    red_listed = sa.and_(
        RedlistEntry.state == RedlistState.listed.value, RedlistEntry.listed_until >= today
    )
    red = (
        await session.execute(
            sa.select(
                _count(red_listed),
                _count(sa.and_(red_listed, RedlistEntry.joint_incentive.is_(True))),
            ).where(RedlistEntry.state == RedlistState.listed.value)
        )
    ).one()
    black = await session.scalar(
        sa.select(sa.func.count())
        .select_from(BlacklistEntry)
        .where(
            BlacklistEntry.state == BlacklistState.listed.value,
            BlacklistEntry.listed_until >= today,
        )
    )
    publicity = dict(
        (
            await session.execute(
                sa.select(CreditRecord.record_class, sa.func.count())
                .where(in_publicity(today))
                .group_by(CreditRecord.record_class)
            )
        ).all()
    )
    return ListedNow(
        redlist=int(red[0]),
        joint_incentive=int(red[1]),
        blacklist=int(black or 0),
        penalties_in_publicity=int(publicity.get(RecordClass.penalty.value, 0)),
        dishonesty_in_publicity=int(publicity.get(RecordClass.dishonesty.value, 0)),
    )


async def year_flows(session: AsyncSession, year: int) -> YearFlows:
    penalties = await session.scalar(
        sa.select(sa.func.count())
        .select_from(CreditRecord)
        .where(
            CreditRecord.record_class == RecordClass.penalty.value,
            _in_year(CreditRecord.decided_on, year),
        )
    )
    # A listing decided in the year counts whether or not it has ended since.
    was_listed = (BlacklistState.listed.value, BlacklistState.removed.value)
    black = (
        await session.execute(
            sa.select(
                _count(
                    sa.and_(
                        BlacklistEntry.state.in_(was_listed),
                        _in_year(BlacklistEntry.decided_on, year),
                    )
                ),
                _count(
                    sa.and_(
                        BlacklistEntry.state == BlacklistState.removed.value,
                        _in_year(BlacklistEntry.removed_on, year),
                    )
                ),
            ).where(BlacklistEntry.state.in_(was_listed))
        )
    ).one()
    red = await session.scalar(
        sa.select(sa.func.count())
        .select_from(RedlistEntry)
        .where(
            RedlistEntry.state.in_((RedlistState.listed.value, RedlistState.removed.value)),
            _in_year(RedlistEntry.decided_on, year),
        )
    )
    return YearFlows(
        penalties_decided=int(penalties or 0),
        redlist_listed=int(red or 0),
        blacklist_listed=int(black[0]),
        blacklist_removed=int(black[1]),
    )


async def repairs(session: AsyncSession, year: int) -> RepairFigures:
    """Applications received in the year and decisions taken in it. A revoked approval was a
    decision in time but is no repair; an application whose deadline the official calendar
    could not give yet is never counted as decided within the limit."""
    decided = sa.and_(
        RepairApplication.decided_on.is_not(None), _in_year(RepairApplication.decided_on, year)
    )
    approved = sa.and_(decided, RepairApplication.state == RepairState.approved.value)
    row = (
        await session.execute(
            sa.select(
                _count(_in_year(RepairApplication.received_on, year)),
                _count(decided),
                _count(
                    sa.and_(
                        decided,
                        RepairApplication.due_on.is_not(None),
                        RepairApplication.decided_on <= RepairApplication.due_on,
                    )
                ),
                _count(approved),
                _count(sa.and_(decided, RepairApplication.state == RepairState.rejected.value)),
                sa.func.count(sa.distinct(sa.case((approved, RepairApplication.uscc)))),
                _count(RepairApplication.state == RepairState.pending.value),
            )
        )
    ).one()
    return RepairFigures(*(int(v) for v in row))

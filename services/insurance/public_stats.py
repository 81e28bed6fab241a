"""Aggregate figures of insurance for the public scoreboard (measure 2, 政保双联): counts only,
grouped in the database, never an enterprise, a policy or an insurer's record.

Flows are counted by their business date in the year asked for; what is in force or overdue is
as of today.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.insurance.domain import ObligationStatus
from services.insurance.models import Campaign, CampaignVisit, Insurer, Obligation, Policy
from services.insurance.sme import SizeClass

DELIVERED: tuple[str, ...] = (ObligationStatus.delivered.value, ObligationStatus.verified.value)


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    # SUM(CASE ...) rather than COUNT(*) FILTER: the same SQL on every engine we run on.
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _in_year(column: InstrumentedAttribute[Any], year: int) -> sa.ColumnElement[bool]:
    return sa.and_(column >= date(year, 1, 1), column <= date(year, 12, 31))


@dataclass(frozen=True)
class CoverFigures:
    insurers: int
    policies_in_force: int
    enterprises_insured: int
    policies_started: int


@dataclass(frozen=True)
class ServiceFigures:
    due: int
    delivered: int
    delivered_on_time: int
    overdue_now: int
    delivered_by_kind: dict[str, int]


@dataclass(frozen=True)
class CampaignFigures:
    campaigns_running: int
    visits: int
    smes_helped: int
    smes_by_size: dict[str, int]
    smes_helped_all_years: int


def in_force(today: date) -> sa.ColumnElement[bool]:
    """SQL form of rule `policy_in_force` (domain.status_on) with cancellation: from its start
    to its last covered day (`ends_on`, or `cancelled_on` when cancelled)."""
    return sa.and_(
        Policy.starts_on <= today,
        Policy.ends_on >= today,
        sa.or_(Policy.cancelled_on.is_(None), Policy.cancelled_on >= today),
    )


async def cover(session: AsyncSession, year: int, today: date) -> CoverFigures:
    insurers = await session.scalar(
        sa.select(sa.func.count()).select_from(Insurer).where(Insurer.status == "active")
    )
    row = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(Policy.uscc))).where(
                in_force(today)
            )
        )
    ).one()
    started = await session.scalar(
        sa.select(sa.func.count()).select_from(Policy).where(_in_year(Policy.starts_on, year))
    )
    return CoverFigures(
        insurers=int(insurers or 0),
        policies_in_force=int(row[0]),
        enterprises_insured=int(row[1]),
        policies_started=int(started or 0),
    )


async def services(session: AsyncSession, year: int, today: date) -> ServiceFigures:
    """The 6+3 services: owed (due in the year and not withdrawn), delivered in the year (on
    time: on or before the due date), and open past their due date today."""
    delivered = sa.and_(
        Obligation.status.in_(DELIVERED),
        Obligation.delivered_on.is_not(None),
        _in_year(Obligation.delivered_on, year),
    )
    row = (
        await session.execute(
            sa.select(
                _count(
                    sa.and_(
                        Obligation.status != ObligationStatus.withdrawn.value,
                        _in_year(Obligation.due_on, year),
                    )
                ),
                _count(delivered),
                _count(sa.and_(delivered, Obligation.delivered_on <= Obligation.due_on)),
                _count(
                    sa.and_(
                        Obligation.status == ObligationStatus.open.value,
                        Obligation.due_on < today,
                    )
                ),
            )
        )
    ).one()
    by_kind = dict(
        (
            await session.execute(
                sa.select(Obligation.kind, sa.func.count())
                .where(delivered)
                .group_by(Obligation.kind)
            )
        ).all()
    )
    return ServiceFigures(
        due=int(row[0]),
        delivered=int(row[1]),
        delivered_on_time=int(row[2]),
        overdue_now=int(row[3]),
        delivered_by_kind=by_kind,
    )


async def campaigns(session: AsyncSession, year: int, today: date) -> CampaignFigures:
    """惠企助安: small, medium and micro enterprises given free expert help (an enterprise
    visited twice counts once)."""
    sme = CampaignVisit.size_class != SizeClass.large.value
    running = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Campaign)
        .where(Campaign.starts_on <= today, Campaign.ends_on >= today)
    )
    in_year = _in_year(CampaignVisit.visited_on, year)
    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(sa.distinct(sa.case((sme, CampaignVisit.uscc)))),
            ).where(in_year)
        )
    ).one()
    by_size = dict(
        (
            await session.execute(
                sa.select(CampaignVisit.size_class, sa.func.count(sa.distinct(CampaignVisit.uscc)))
                .where(in_year, sme)
                .group_by(CampaignVisit.size_class)
            )
        ).all()
    )
    total = await session.scalar(
        sa.select(sa.func.count(sa.distinct(CampaignVisit.uscc))).where(sme)
    )
    return CampaignFigures(
        campaigns_running=int(running or 0),
        visits=int(row[0]),
        smes_helped=int(row[1]),
        smes_by_size=by_size,
        smes_helped_all_years=int(total or 0),
    )

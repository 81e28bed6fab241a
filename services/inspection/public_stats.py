"""Aggregate figures of inspection for the public scoreboard (measures 1, 6, 7, 8, 9): counts
only, grouped in the database, never a name, a code or a finding's text.

Flows are counted by the business date they took effect in the year asked for; what is open or
overdue is as of today. Inspections are classified by the enterprise's tier and credit standing
as the registry holds them today: the registry keeps no history of either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.inspection.cases import RETURNED
from services.inspection.enforcement import (
    DecisionKind,
    HazardGrade,
    HazardState,
    PledgeVisitState,
)
from services.inspection.models import Enterprise
from services.inspection.models_cases import (
    CaseDecision,
    Deliberation,
    Hazard,
    Inspection,
    PledgeVisit,
)
from services.inspection.models_draw import Draw, GuidanceRequest

UNCLASSIFIED = "unclassified"


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    # SUM(CASE ...) rather than COUNT(*) FILTER: the same SQL on every engine we run on.
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _in_year(column: InstrumentedAttribute[Any], year: int) -> sa.ColumnElement[bool]:
    return sa.and_(column >= date(year, 1, 1), column <= date(year, 12, 31))


@dataclass(frozen=True)
class InspectionFigures:
    total: int
    enterprises: int
    closed: int
    by_tier: dict[str, int]
    by_source: dict[str, int]
    by_standing: dict[str, int]
    lessons_given: int
    questions_answered: int


@dataclass(frozen=True)
class DecisionFigures:
    by_kind: dict[str, int]
    lenient_by_rule: dict[str, int]


@dataclass(frozen=True)
class HazardFigures:
    found: int
    major: int
    self_found: int
    rectified: int
    awaiting_verification: int
    open: int
    overdue: int


@dataclass(frozen=True)
class PledgeFigures:
    verified: int
    passed: int
    breached: int
    due_now: int


@dataclass(frozen=True)
class GuidanceFigures:
    requested: int
    answered: int


async def inspections(session: AsyncSession, year: int) -> InspectionFigures:
    """Inspections started in the year."""
    started = _in_year(Inspection.started_on, year)
    rows = (
        await session.execute(
            sa.select(
                Inspection.source, Enterprise.tier, Enterprise.credit_standing, sa.func.count()
            )
            .select_from(Inspection)
            .outerjoin(Enterprise, Enterprise.uscc == Inspection.uscc)
            .where(started)
            .group_by(Inspection.source, Enterprise.tier, Enterprise.credit_standing)
        )
    ).all()
    by_tier: dict[str, int] = {}
    by_source: dict[str, int] = {}
    by_standing: dict[str, int] = {}
    for source, tier, standing, n in rows:
        # No registry row (the outer join's nulls): an enterprise the registry does not hold.
        tier, standing = tier or UNCLASSIFIED, standing or UNCLASSIFIED
        by_source[source] = by_source.get(source, 0) + n
        by_tier[tier] = by_tier.get(tier, 0) + n
        by_standing[standing] = by_standing.get(standing, 0) + n
    totals = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(sa.distinct(Inspection.uscc)),
                _count(Inspection.closed_on.is_not(None)),
                _count(sa.func.length(sa.func.coalesce(Inspection.lesson, "")) > 0),
                sa.func.coalesce(sa.func.sum(Inspection.questions_answered), 0),
            ).where(started)
        )
    ).one()
    return InspectionFigures(
        total=int(totals[0]),
        enterprises=int(totals[1]),
        closed=int(totals[2]),
        by_tier=by_tier,
        by_source=by_source,
        by_standing=by_standing,
        lessons_given=int(totals[3]),
        questions_answered=int(totals[4] or 0),
    )


async def decisions(session: AsyncSession, year: int) -> DecisionFigures:
    """Decisions of deliberations held in the year, one per finding. A returned deliberation's
    decisions were never served, so they do not count."""
    rows = (
        await session.execute(
            sa.select(CaseDecision.kind, CaseDecision.rule, sa.func.count())
            .join(Deliberation, Deliberation.id == CaseDecision.deliberation_id)
            .where(
                CaseDecision.state != RETURNED,
                Deliberation.state != RETURNED,
                _in_year(Deliberation.held_on, year),
            )
            .group_by(CaseDecision.kind, CaseDecision.rule)
        )
    ).all()
    by_kind: dict[str, int] = {}
    lenient: dict[str, int] = {}
    for kind, rule, n in rows:
        by_kind[kind] = by_kind.get(kind, 0) + n
        if kind != DecisionKind.penalty.value:
            lenient[rule] = lenient.get(rule, 0) + n
    return DecisionFigures(by_kind=by_kind, lenient_by_rule=lenient)


async def hazards(session: AsyncSession, year: int, today: date) -> HazardFigures:
    """Hazards found in the year, and where each of them stands today."""
    not_rectified = Hazard.state != HazardState.rectified.value
    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                _count(Hazard.grade == HazardGrade.major.value),
                _count(Hazard.is_self_found.is_(True)),
                _count(Hazard.state == HazardState.rectified.value),
                _count(Hazard.state == HazardState.reported.value),
                _count(Hazard.state == HazardState.open.value),
                _count(
                    sa.and_(
                        not_rectified, Hazard.rectify_by.is_not(None), Hazard.rectify_by < today
                    )
                ),
            ).where(_in_year(Hazard.found_on, year))
        )
    ).one()
    return HazardFigures(*(int(v) for v in row))


async def pledge_visits(session: AsyncSession, year: int) -> PledgeFigures:
    """Verification visits of pledge-based licences (承诺制) with a result in the year, and
    those still due now."""
    verified = sa.and_(
        PledgeVisit.verified_on.is_not(None), _in_year(PledgeVisit.verified_on, year)
    )
    row = (
        await session.execute(
            sa.select(
                _count(verified),
                _count(sa.and_(verified, PledgeVisit.state == PledgeVisitState.passed.value)),
                _count(sa.and_(verified, PledgeVisit.state == PledgeVisitState.breached.value)),
                _count(PledgeVisit.state == PledgeVisitState.due.value),
            )
        )
    ).one()
    return PledgeFigures(*(int(v) for v in row))


async def guidance_requests(session: AsyncSession, year: int) -> GuidanceFigures:
    """Requests for guidance before a drawn inspection (measure 8), by the draw's year."""
    row = (
        await session.execute(
            sa.select(sa.func.count(), _count(GuidanceRequest.state == "answered"))
            .select_from(GuidanceRequest)
            .join(Draw, Draw.id == GuidanceRequest.draw_id)
            .where(Draw.year == year)
        )
    ).one()
    return GuidanceFigures(requested=int(row[0]), answered=int(row[1]))

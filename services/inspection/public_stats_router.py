"""`GET /public/stats`: inspection's figures for the public scoreboard, no token needed.
Counts only: which enterprise was inspected, what was found and what it was told stay with the
bureau and the enterprise."""

from __future__ import annotations

from datetime import date
from typing import Final

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from kernel.app import SessionDep
from kernel.inputs import StatsYear
from services.inspection import outreach, public_stats
from services.inspection.cases_schemas import InspectionSource
from services.inspection.dependencies import TodayDep
from services.inspection.domain import CreditStanding, Tier
from services.inspection.enforcement import DecisionKind

router = APIRouter(tags=["public"])

# Figures move with every case; a minute's staleness is what a scoreboard can bear and it spares
# the database a burst of portal readers.
CACHE_CONTROL: Final = "public, max-age=60"


class TierCounts(BaseModel):
    """By the enterprise's classification (分级分类) in the registry today."""

    key: int = Field(description="Key enterprises (重点), planned every year")
    general: int = Field(description="Other enterprises, mostly by double-random draw")
    unclassified: int = Field(description="Enterprises the registry does not hold")


class SourceCounts(BaseModel):
    """By why the inspection took place."""

    planned: int = Field(description="The yearly plan (计划检查)")
    draw: int = Field(description="The monthly double-random draw (双随机)")
    pledge: int = Field(description="Verification of a pledge-based licence (承诺制核查)")
    complaint: int = Field(description="A complaint (投诉举报)")
    assignment: int = Field(description="Assigned by a superior (上级交办)")
    follow_up: int = Field(description="Follow-up visit after a major penalty (重大案件回访)")


class StandingCounts(BaseModel):
    """By the enterprise's credit standing (红黑名单) in the registry today."""

    normal: int
    redlisted: int
    blacklisted: int
    unclassified: int = Field(description="Enterprises the registry does not hold")


class InspectionCounts(BaseModel):
    """Inspections started in the year (measures 6 and 7)."""

    total: int
    enterprises: int = Field(description="Distinct enterprises inspected")
    closed: int = Field(description="Of those, closed (all four steps done)")
    by_tier: TierCounts
    by_source: SourceCounts
    by_standing: StandingCounts
    lessons_given: int = Field(description="Inspections with a law lesson recorded (执法+普法)")
    questions_answered: int = Field(description="Questions answered during inspections (答疑)")


class DecisionCounts(BaseModel):
    """Decisions, one per finding, of deliberations (合议) held in the year (measure 9)."""

    no_penalty: int = Field(description="Not penalised (不予行政处罚)")
    rectification_order: int = Field(
        description="Education and an order to rectify, no fine (批评教育、责令整改)"
    )
    penalty: int = Field(description="Administrative penalty")
    lenient_by_rule: dict[str, int] = Field(
        description="Decisions without a penalty by the lenient rule that settled them "
        "(e.g. minor_corrected_harmless, first_offence_management_leniency)"
    )


class HazardCounts(BaseModel):
    """Hazards found in the year and where they stand on `as_of`."""

    found: int
    major: int = Field(description="Of those, major hazards (重大事故隐患)")
    self_found: int = Field(description="Of those, found by the enterprise itself")
    rectified: int = Field(description="Rectification verified on site")
    awaiting_verification: int = Field(description="Reported rectified, not yet verified")
    open: int = Field(description="Not yet reported rectified")
    overdue: int = Field(description="Not rectified and past the deadline")


class PledgeVisitCounts(BaseModel):
    """Verification visits of licences granted on a pledge (measure 3's 承诺制)."""

    verified: int = Field(description="Visits with a result in the year")
    passed: int
    breached: int = Field(description="The pledge was found false")
    due_now: int = Field(description="Visits still to be made on `as_of`")


class GuidanceRequestCounts(BaseModel):
    """Enterprises on a month's published list asking for guidance before the inspection."""

    requested: int
    answered: int


class OutreachCounts(BaseModel):
    """The "1+21+N" outreach system and the sessions held in the year (measure 1)."""

    groups: int = Field(description="Outreach groups (宣讲团)")
    professional_committees: int = Field(description="Professional committees organising groups")
    experts: int = Field(description="Distinct experts in the groups (the N)")
    sessions: int = Field(description="Sessions held in the year, up to `as_of`")
    online: int
    offline: int
    enterprises: int = Field(description="Enterprise attendances recorded")
    attendees: int
    questions_answered: int


class InspectionStats(BaseModel):
    """Inspection's public figures for a year."""

    year: int
    as_of: date = Field(description="The business date of the figures that stand now")
    inspections: InspectionCounts
    decisions: DecisionCounts
    hazards: HazardCounts
    pledge_visits: PledgeVisitCounts
    guidance_requests: GuidanceRequestCounts
    outreach: OutreachCounts


def _zero_filled(counts: dict[str, int], names: list[str]) -> dict[str, int]:
    return {name: counts.get(name, 0) for name in names}


@router.get(
    "/public/stats",
    response_model=InspectionStats,
    summary="Public figures: inspections by tier and source, lenient decisions, hazards, outreach",
    description="Aggregates only, for the public scoreboard of the ten measures (1: outreach; "
    "6: differentiated enforcement; 7: enforcement with law education; 8: guidance before "
    "the inspection; 9: lenient enforcement). Flows are counted in `year`; what is open or "
    "overdue is as of today.",
)
async def public_stats_endpoint(
    session: SessionDep, today: TodayDep, response: Response, year: StatsYear = None
) -> InspectionStats:
    chosen = year or today.year
    cases = await public_stats.inspections(session, chosen)
    decided = await public_stats.decisions(session, chosen)
    hazards = await public_stats.hazards(session, chosen, today)
    pledges = await public_stats.pledge_visits(session, chosen)
    guidance = await public_stats.guidance_requests(session, chosen)
    sessions = await outreach.figures(session, chosen, today)
    cells = sessions.cells.values()
    response.headers["Cache-Control"] = CACHE_CONTROL
    return InspectionStats(
        year=chosen,
        as_of=today,
        inspections=InspectionCounts(
            total=cases.total,
            enterprises=cases.enterprises,
            closed=cases.closed,
            by_tier=TierCounts(**_zero_filled(cases.by_tier, [*Tier, public_stats.UNCLASSIFIED])),
            by_source=SourceCounts(**_zero_filled(cases.by_source, list(InspectionSource))),
            by_standing=StandingCounts(
                **_zero_filled(cases.by_standing, [*CreditStanding, public_stats.UNCLASSIFIED])
            ),
            lessons_given=cases.lessons_given,
            questions_answered=cases.questions_answered,
        ),
        decisions=DecisionCounts(
            **_zero_filled(decided.by_kind, list(DecisionKind)),
            lenient_by_rule=decided.lenient_by_rule,
        ),
        hazards=HazardCounts(**vars(hazards)),
        pledge_visits=PledgeVisitCounts(**vars(pledges)),
        guidance_requests=GuidanceRequestCounts(**vars(guidance)),
        outreach=OutreachCounts(
            groups=sessions.groups,
            professional_committees=sessions.professional_committees,
            experts=sessions.experts,
            sessions=sum(c.sessions for c in cells),
            online=sum(c.online for c in cells),
            offline=sum(c.offline for c in cells),
            enterprises=sum(c.enterprises for c in cells),
            attendees=sum(c.attendees for c in cells),
            questions_answered=sum(c.questions_answered for c in cells),
        ),
    )

"""`GET /public/stats`: insurance's figures for the public scoreboard (measure 2, 政保双联), no
token needed. Counts only: who holds a policy with whom, and who was visited, stay with the
bureau, the insurer and the enterprise."""

from __future__ import annotations

from datetime import date
from typing import Final

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from kernel.app import SessionDep
from kernel.inputs import StatsYear
from services.insurance import public_stats
from services.insurance.dependencies import TodayDep
from services.insurance.domain import ObligationKind
from services.insurance.sme import SizeClass

router = APIRouter(tags=["public"])

# Figures move with every record pushed; a minute's staleness is what a scoreboard can bear and
# it spares the database a burst of portal readers.
CACHE_CONTROL: Final = "public, max-age=60"


class CoverCounts(BaseModel):
    """Work-safety liability insurance (安责险)."""

    insurers: int = Field(description="Insurers registered and active")
    policies_in_force: int = Field(description="Policies in force on `as_of`")
    enterprises_insured: int = Field(description="Distinct enterprises insured on `as_of`")
    policies_started: int = Field(description="Policies whose cover started in the year")


class KindCounts(BaseModel):
    """Services delivered in the year by kind: the 6 mandatory and the 3 custom ones."""

    risk_assessment: int = Field(description="起保后风险评估")
    key_check: int = Field(description="每季度重点排查")
    full_check: int = Field(description="每半年起底式大检查")
    training: int = Field(description="全员培训")
    hazard_assistance: int = Field(description="协助整改政府部门发现的隐患")
    graded_service: int = Field(description="分类分级服务")
    one_plan: int = Field(description="一企一策")
    remote_guidance: int = Field(description="24小时远程指导")
    onsite_staff: int = Field(description="驻厂驻点")


class ServiceCounts(BaseModel):
    """The insurers' "6+3" services."""

    due: int = Field(description="Services due in the year (not withdrawn)")
    delivered: int = Field(description="Services delivered in the year")
    delivered_on_time: int = Field(description="Of those, delivered by their due date")
    overdue_now: int = Field(description="Services still open past their due date on `as_of`")
    delivered_by_kind: KindCounts


class SmeSizeCounts(BaseModel):
    """Distinct enterprises helped in the year by size class (GB/T, MIIT 2011-300); an
    enterprise reclassified between two visits counts under both."""

    medium: int
    small: int
    micro: int


class CampaignCounts(BaseModel):
    """惠企助安: free expert help for small, medium and micro enterprises."""

    campaigns_running: int = Field(description="Campaigns running on `as_of`")
    visits: int = Field(description="Expert visits in the year")
    smes_helped: int = Field(description="Distinct SMEs visited in the year")
    smes_by_size: SmeSizeCounts
    smes_helped_all_years: int = Field(description="Distinct SMEs visited in any year")


class InsuranceStats(BaseModel):
    """Insurance's public figures for a year."""

    year: int
    as_of: date = Field(description="The business date of the figures that stand now")
    cover: CoverCounts
    services: ServiceCounts
    campaigns: CampaignCounts


@router.get(
    "/public/stats",
    response_model=InsuranceStats,
    summary="Public figures: policies in force, the 6+3 services delivered, SMEs helped",
    description="Aggregates only, for the public scoreboard of the ten measures (2: 政保双联, "
    "the 6+3 service model and 惠企助安). Flows are counted in `year`; what is in force or "
    "overdue is as of today.",
)
async def public_stats_endpoint(
    session: SessionDep, today: TodayDep, response: Response, year: StatsYear = None
) -> InsuranceStats:
    chosen = year or today.year
    cover = await public_stats.cover(session, chosen, today)
    services = await public_stats.services(session, chosen, today)
    helped = await public_stats.campaigns(session, chosen, today)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return InsuranceStats(
        year=chosen,
        as_of=today,
        cover=CoverCounts(**vars(cover)),
        services=ServiceCounts(
            due=services.due,
            delivered=services.delivered,
            delivered_on_time=services.delivered_on_time,
            overdue_now=services.overdue_now,
            delivered_by_kind=KindCounts(
                **{k.value: services.delivered_by_kind.get(k.value, 0) for k in ObligationKind}
            ),
        ),
        campaigns=CampaignCounts(
            campaigns_running=helped.campaigns_running,
            visits=helped.visits,
            smes_helped=helped.smes_helped,
            smes_by_size=SmeSizeCounts(
                **{s.value: helped.smes_by_size.get(s.value, 0) for s in SizeClass if s.is_sme}
            ),
            smes_helped_all_years=helped.smes_helped_all_years,
        ),
    )

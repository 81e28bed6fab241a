"""惠企助安 use cases: campaigns of free expert help for small enterprises, their visits and the
figures the bureau publishes. Inside the caller's transaction; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, NotFound, RuleViolated
from services.insurance.campaign_schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignRead,
    FindingCategory,
    FindingGrade,
    GradeCounts,
    SizeCounts,
    VisitCreate,
)
from services.insurance.models import Campaign, CampaignVisit
from services.insurance.sme import MIIT_2011_300_INDUSTRY, SizeClass, classify


async def create_campaign(session: AsyncSession, data: CampaignCreate, actor: str) -> Campaign:
    """Launch a 惠企助安 campaign."""
    campaign = Campaign(
        id=str(uuid.uuid4()),
        name=data.name,
        organiser=data.organiser,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        target_sectors=[s.value for s in data.target_sectors],
        description=data.description,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def get_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    """The campaign with this id; 404 otherwise."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found", code="campaign_not_found")
    return campaign


async def list_campaigns(
    session: AsyncSession, after: tuple[date, str] | None, limit: int
) -> Sequence[Campaign]:
    """Campaigns, latest start first; `after` is the last (starts_on, id) seen."""
    query = sa.select(Campaign)
    if after is not None:
        on, last_id = after
        query = query.where(
            sa.or_(
                Campaign.starts_on < on, sa.and_(Campaign.starts_on == on, Campaign.id < last_id)
            )
        )
    query = query.order_by(Campaign.starts_on.desc(), Campaign.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def headline_counts(
    session: AsyncSession, campaign_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """Per campaign: (visits, distinct enterprises served)."""
    if not campaign_ids:
        return {}
    rows = await session.execute(
        sa.select(
            CampaignVisit.campaign_id,
            sa.func.count(),
            sa.func.count(sa.distinct(CampaignVisit.uscc)),
        )
        .where(CampaignVisit.campaign_id.in_(campaign_ids))
        .group_by(CampaignVisit.campaign_id)
    )
    return {campaign_id: (int(v), int(e)) for campaign_id, v, e in rows}


def summarise(campaign: Campaign, visits: Sequence[CampaignVisit]) -> CampaignDetail:
    """The publishable figures of a campaign: counts only, no names, codes or finding texts."""
    latest: dict[str, CampaignVisit] = {}
    for visit in visits:
        seen = latest.get(visit.uscc)
        if seen is None or (visit.visited_on, visit.created_at) > (
            seen.visited_on,
            seen.created_at,
        ):
            latest[visit.uscc] = visit
    by_size = {size: 0 for size in SizeClass if size.is_sme}
    for visit in latest.values():
        by_size[SizeClass(visit.size_class)] += 1
    by_category = {category: GradeCounts() for category in FindingCategory}
    experts: set[tuple[str, str]] = set()
    hazards = major = 0
    for visit in visits:
        experts.update((e["name"], e["organisation"]) for e in visit.experts)
        for finding in visit.findings:
            counts = by_category[FindingCategory(finding["category"])]
            if finding["grade"] == FindingGrade.major.value:
                counts.major += 1
                major += 1
            else:
                counts.general += 1
            hazards += 1
    return CampaignDetail(
        **CampaignRead.of(campaign, len(visits), len(latest)).model_dump(),
        enterprises_by_size=SizeCounts(**{size.value: n for size, n in by_size.items()}),
        hazards_found=hazards,
        major_hazards_found=major,
        findings_by_category=by_category,
        experts_involved=len(experts),
    )


async def campaign_detail(session: AsyncSession, campaign: Campaign) -> CampaignDetail:
    """A campaign with its public summary."""
    visits = (
        await session.scalars(
            sa.select(CampaignVisit).where(CampaignVisit.campaign_id == campaign.id)
        )
    ).all()
    return summarise(campaign, visits)


async def record_visit(
    session: AsyncSession,
    campaign: Campaign,
    data: VisitCreate,
    recorder: Principal,
    insurer_id: str | None,
    today: date,
) -> CampaignVisit:
    """Record an expert visit; only a small, medium or micro enterprise of a targeted sector."""
    if not campaign.starts_on <= data.visited_on <= campaign.ends_on:
        raise RuleViolated(
            f"the campaign runs from {campaign.starts_on.isoformat()} to "
            f"{campaign.ends_on.isoformat()}",
            code="visit_outside_campaign",
            field="visited_on",
        )
    if data.visited_on > today:
        raise RuleViolated(
            "a visit is recorded after it took place", code="visit_in_future", field="visited_on"
        )
    if campaign.target_sectors and data.sector.value not in campaign.target_sectors:
        raise RuleViolated(
            f"this campaign serves {', '.join(campaign.target_sectors)} enterprises",
            code="sector_not_targeted",
            field="sector",
        )
    size = classify(data.employees, data.annual_revenue)
    if not size.is_sme:
        large = MIIT_2011_300_INDUSTRY.large
        raise RuleViolated(
            f"惠企助安 serves small and medium enterprises; with {data.employees} employees and "
            f"{data.annual_revenue} yuan of revenue (at least {large.employees} and "
            f"{large.revenue_yuan} yuan) this enterprise is large under "
            f"{MIIT_2011_300_INDUSTRY.source}",
            code="not_small_enterprise",
            field="employees",
        )
    duplicate = (
        await session.execute(
            sa.select(CampaignVisit.id, CampaignVisit.insurer_id).where(
                CampaignVisit.campaign_id == campaign.id,
                CampaignVisit.uscc == data.uscc,
                CampaignVisit.visited_on == data.visited_on,
            )
        )
    ).first()
    if duplicate is not None:
        # Name the visit only to whoever may read it: an insurer reads the visits it recorded.
        readable = insurer_id is None or duplicate.insurer_id == insurer_id
        raise Conflict(
            f"a visit to {data.uscc} on {data.visited_on.isoformat()} is already recorded "
            "in this campaign",
            code="visit_exists",
            field="visited_on",
            **({"visit_id": duplicate.id} if readable else {}),
        )
    visit = CampaignVisit(
        id=str(uuid.uuid4()),
        campaign_id=campaign.id,
        uscc=data.uscc,
        enterprise_name=data.enterprise_name,
        sector=data.sector.value,
        employees=data.employees,
        annual_revenue=data.annual_revenue,
        size_class=size.value,
        visited_on=data.visited_on,
        experts=[e.model_dump(mode="json") for e in data.experts],
        insurer_id=insurer_id,
        findings=[f.model_dump(mode="json") for f in data.findings],
        recorded_by=recorder.key,
        created_at=utcnow(),
    )
    session.add(visit)
    await session.flush()
    return visit


async def list_visits(
    session: AsyncSession,
    *,
    campaign_id: str | None,
    insurer_id: str | None,
    uscc: str | None,
    after: tuple[date, str] | None,
    limit: int,
) -> Sequence[tuple[CampaignVisit, str]]:
    """Visits with their campaign's name, latest first; `after` is the last (visited_on, id)."""
    query = sa.select(CampaignVisit, Campaign.name).join(
        Campaign, Campaign.id == CampaignVisit.campaign_id
    )
    if campaign_id is not None:
        query = query.where(CampaignVisit.campaign_id == campaign_id)
    if insurer_id is not None:
        query = query.where(CampaignVisit.insurer_id == insurer_id)
    if uscc is not None:
        query = query.where(CampaignVisit.uscc == uscc)
    if after is not None:
        on, last_id = after
        query = query.where(
            sa.or_(
                CampaignVisit.visited_on < on,
                sa.and_(CampaignVisit.visited_on == on, CampaignVisit.id < last_id),
            )
        )
    query = query.order_by(CampaignVisit.visited_on.desc(), CampaignVisit.id.desc()).limit(limit)
    return [(visit, name) for visit, name in (await session.execute(query)).all()]

"""惠企助安 endpoints: the bureau runs campaigns, the bureau or an insurer whose experts went
records visits, anyone signed in reads the figures; who was visited and what was found stays
with the bureau, the recording insurer and the enterprise itself."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from kernel.app import SessionDep
from kernel.auth import CurrentPrincipal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.errors import Forbidden
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.uscc import USCC
from services.insurance import campaigns
from services.insurance.campaign_schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignRead,
    VisitCreate,
    VisitRead,
)
from services.insurance.dependencies import BureauDep, TodayDep, registered_insurer
from services.insurance.models import CampaignVisit

router = APIRouter(tags=["惠企助安 campaigns"])

CampaignId = Annotated[str, Path(max_length=36)]
CursorQuery = Annotated[str | None, Query(max_length=200)]
LimitQuery = Annotated[int, Query(ge=1, le=200)]


def _visits_page(rows: list[tuple[CampaignVisit, str]], limit: int) -> Page[VisitRead]:
    page = rows[:limit]
    more = len(rows) > limit
    return Page[VisitRead](
        items=[VisitRead.of(visit, name) for visit, name in page],
        next_cursor=(
            encode_cursor(page[-1][0].visited_on.isoformat(), page[-1][0].id) if more else None
        ),
    )


@router.post(
    "/campaigns",
    status_code=201,
    response_model=CampaignDetail,
    summary="Launch a 惠企助安 campaign (bureau)",
)
async def create_campaign(
    body: CampaignCreate, session: SessionDep, officer: BureauDep
) -> CampaignDetail:
    campaign = await campaigns.create_campaign(session, body, officer.key)
    return campaigns.summarise(campaign, [])


@router.get(
    "/campaigns",
    response_model=Page[CampaignRead],
    summary="Campaigns with their headline figures, latest first (anyone signed in)",
)
async def list_campaigns(
    session: SessionDep,
    _: CurrentPrincipal,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[CampaignRead]:
    after = date_cursor(cursor) if cursor else None
    rows = await campaigns.list_campaigns(session, after, limit + 1)
    page = rows[:limit]
    counts = await campaigns.headline_counts(session, [c.id for c in page])
    more = len(rows) > limit
    return Page[CampaignRead](
        items=[CampaignRead.of(c, *counts.get(c.id, (0, 0))) for c in page],
        next_cursor=encode_cursor(page[-1].starts_on.isoformat(), page[-1].id) if more else None,
    )


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignDetail,
    summary="A campaign's public summary: visits, enterprises by size, findings (anyone signed in)",
)
async def get_campaign(
    campaign_id: CampaignId, session: SessionDep, _: CurrentPrincipal
) -> CampaignDetail:
    campaign = await campaigns.get_campaign(session, campaign_id)
    return await campaigns.campaign_detail(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/visits",
    status_code=201,
    response_model=VisitRead,
    summary="Record an expert visit (bureau, or a registered insurer whose experts went)",
)
async def record_visit(
    campaign_id: CampaignId,
    body: VisitCreate,
    session: SessionDep,
    principal: CurrentPrincipal,
    today: TodayDep,
) -> VisitRead:
    insurer_id: str | None = None
    if principal.role is Role.insurer:
        insurer_id = (await registered_insurer(principal, session)).id
    elif principal.role not in BUREAU_ROLES:
        raise Forbidden(
            f"role {principal.role.value!r} may not record visits (allowed: the bureau, insurers)"
        )
    campaign = await campaigns.get_campaign(session, campaign_id)
    visit = await campaigns.record_visit(session, campaign, body, principal, insurer_id, today)
    return VisitRead.of(visit, campaign.name)


@router.get(
    "/campaigns/{campaign_id}/visits",
    response_model=Page[VisitRead],
    summary="A campaign's visits, latest first (bureau: all; an insurer: those it recorded)",
)
async def list_campaign_visits(
    campaign_id: CampaignId,
    session: SessionDep,
    principal: CurrentPrincipal,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[VisitRead]:
    if principal.role is Role.insurer:
        insurer_id: str | None = principal.subject
    elif principal.role in BUREAU_ROLES:
        insurer_id = None
    else:
        raise Forbidden(
            f"role {principal.role.value!r} may not list visits; the campaign's summary is public"
        )
    await campaigns.get_campaign(session, campaign_id)
    after: tuple[date, str] | None = date_cursor(cursor) if cursor else None
    rows = await campaigns.list_visits(
        session,
        campaign_id=campaign_id,
        insurer_id=insurer_id,
        uscc=None,
        after=after,
        limit=limit + 1,
    )
    return _visits_page(list(rows), limit)


@router.get(
    "/enterprises/{uscc}/expert-visits",
    response_model=Page[VisitRead],
    summary="The expert visits an enterprise received (the bureau and the enterprise itself)",
)
async def enterprise_visits(
    uscc: Annotated[USCC, Path()],
    session: SessionDep,
    principal: CurrentPrincipal,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[VisitRead]:
    own = principal.role is Role.enterprise and principal.subject == uscc
    if not own and principal.role not in BUREAU_ROLES:
        raise Forbidden(
            "only the bureau and the enterprise itself may read its expert visits",
            code="visits_not_yours",
        )
    after = date_cursor(cursor) if cursor else None
    rows = await campaigns.list_visits(
        session, campaign_id=None, insurer_id=None, uscc=uscc, after=after, limit=limit + 1
    )
    return _visits_page(list(rows), limit)

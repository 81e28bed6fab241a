"""Supervision endpoints: public scorecards; the bureau's overdue list, summary and coverage
gaps; an enterprise's service history for the bureau, the enterprise and its insurers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from kernel.app import SessionDep
from kernel.auth import CurrentPrincipal, OptionalPrincipal, Principal, Role, require_roles
from kernel.auth.service_token import DATA_SHARE_SCOPE
from kernel.inputs import IsoDate
from kernel.pagination import Page, date_cursor, decode_cursor, encode_cursor
from kernel.uscc import USCC
from kernel.vocab import Sector
from services.insurance import supervision
from services.insurance.dependencies import BureauDep, NowDep, TodayDep
from services.insurance.domain import ObligationKind
from services.insurance.supervision_schemas import (
    CoverageGapRead,
    InsurerScorecardRead,
    OverdueObligationRead,
    ScorecardsRead,
    ServiceHistoryRead,
    SupervisionSummaryRead,
)

router = APIRouter(tags=["supervision"])

# The banking & insurance regulator (a department) supervises insurers' 安责险 business and
# reads coverage gaps with the bureau: through the gateway's `coverage-gaps` data set, under a
# grant and with each read logged, like every department read; it sees nothing else here.
GapReaderDep = Annotated[
    Principal,
    Depends(require_roles(Role.officer, Role.leader, Role.admin, shared_scope=DATA_SHARE_SCOPE)),
]

From = Annotated[
    IsoDate, Query(alias="from", description="First due date / day raised (inclusive)")
]
To = Annotated[IsoDate, Query(description="Last due date / day raised (inclusive); ≤ 366 days")]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]

_SCORECARD_RULES = (
    "Obligations count when their due date is in [from, to]; withdrawn ones are left out. "
    "due = delivered + overdue + open_not_yet_due; delivered includes verified; on time means "
    "delivered on or before the due date. Rates are over `assessable` (delivered + overdue) "
    "and null when it is 0. Whistles count when raised on an Asia/Shanghai day in the period. "
    "Public: aggregates only, never an enterprise's name or USCC. A period longer than 366 "
    "days, or `to` before `from`, is 422 naming `to`; a period outside 2000-01-01 to "
    "2099-12-31 is 422 `period_out_of_range` naming `from` or `to`."
)


@router.get(
    "/scorecards",
    response_model=ScorecardsRead,
    summary="Insurer scorecards for a period (public)",
    description=_SCORECARD_RULES,
)
async def list_scorecards(
    session: SessionDep,
    _caller: OptionalPrincipal,
    today: TodayDep,
    now: NowDep,
    from_: From,
    to: To,
    insurer_id: Annotated[str | None, Query(max_length=64)] = None,
) -> ScorecardsRead:
    period = supervision.period_of(from_, to)
    return await supervision.scorecards(session, period, today, now, insurer_id)


@router.get(
    "/scorecards/{insurer_id}",
    response_model=InsurerScorecardRead,
    summary="One insurer's scorecard with its month-by-month series (public)",
    description=_SCORECARD_RULES + " 404 for an insurer not registered with the bureau.",
    responses={404: {"description": "insurer_not_found"}},
)
async def get_scorecard(
    session: SessionDep,
    _caller: OptionalPrincipal,
    today: TodayDep,
    now: NowDep,
    insurer_id: Annotated[str, Path(max_length=64)],
    from_: From,
    to: To,
) -> InsurerScorecardRead:
    period = supervision.period_of(from_, to)
    return await supervision.insurer_scorecard(session, insurer_id, period, today, now)


@router.get(
    "/supervision/overdue",
    response_model=Page[OverdueObligationRead],
    summary="Open obligations past their due date, oldest first (bureau)",
)
async def list_overdue(
    session: SessionDep,
    _bureau: BureauDep,
    today: TodayDep,
    insurer_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: ObligationKind | None = None,
    district: Annotated[str | None, Query(max_length=64, description="Registry district")] = None,
    min_days: Annotated[
        int, Query(ge=1, le=3660, description="At least this many days overdue")
    ] = 1,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[OverdueObligationRead]:
    after = date_cursor(cursor) if cursor else None
    rows = await supervision.overdue_obligations(
        session,
        today,
        insurer_id=insurer_id,
        kind=kind,
        district=district,
        min_days=min_days,
        after=after,
        limit=limit + 1,
    )
    items = rows[:limit]
    next_cursor = (
        encode_cursor(items[-1].due_on.isoformat(), items[-1].obligation_id)
        if len(rows) > limit
        else None
    )
    return Page[OverdueObligationRead](items=items, next_cursor=next_cursor)


@router.get(
    "/supervision/summary",
    response_model=SupervisionSummaryRead,
    summary="Totals across insurers: cover, this month, overdue, whistles, gaps (bureau)",
)
async def get_summary(
    session: SessionDep, _bureau: BureauDep, today: TodayDep, now: NowDep
) -> SupervisionSummaryRead:
    return await supervision.summary(session, today, now)


@router.get(
    "/enterprises/{uscc}/service-history",
    response_model=ServiceHistoryRead,
    summary="An enterprise's policies, obligations, pushed records and whistles",
    description=(
        "The bureau and the enterprise itself see everything; an insurer sees only what is "
        "under its own policies (403 `enterprise_not_insured_by_you` if it never insured the "
        "enterprise); another enterprise is 403 `history_not_yours`; other roles 403. A "
        "malformed USCC is 422 naming `uscc`; a well-formed one no policy names is 200 with "
        "empty lists."
    ),
    responses={403: {"description": "history_not_yours, enterprise_not_insured_by_you, forbidden"}},
)
async def get_service_history(
    session: SessionDep,
    principal: CurrentPrincipal,
    today: TodayDep,
    now: NowDep,
    uscc: Annotated[USCC, Path(description="The enterprise's USCC")],
) -> ServiceHistoryRead:
    return await supervision.service_history(session, principal, uscc, today, now)


@router.get(
    "/coverage-gaps",
    response_model=Page[CoverageGapRead],
    summary="High-risk-sector enterprises without cover (bureau; departments: gateway grant)",
    description=(
        "Registry enterprises in a high-risk sector that no active policy covers today, by "
        "USCC, each with the policy that last covered it and one registered to start later. "
        "A `sector` that is not high-risk is 422 `sector_not_high_risk`."
    ),
)
async def list_coverage_gaps(
    session: SessionDep,
    _reader: GapReaderDep,
    today: TodayDep,
    district: Annotated[str | None, Query(max_length=64)] = None,
    sector: Sector | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CoverageGapRead]:
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await supervision.coverage_gaps(
        session, today, district=district, sector=sector, after=after, limit=limit + 1
    )
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1].uscc) if len(rows) > limit else None
    return Page[CoverageGapRead](items=items, next_cursor=next_cursor)

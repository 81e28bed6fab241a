"""Hazard endpoints: listing (overdue too), the enterprise's report, on-site verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role, require_roles
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.uscc import USCC
from kernel.versioning import ExpectedVersion, etag
from services.inspection import hazards
from services.inspection.cases_router import OfficerDep, TodayDep, hazard_read
from services.inspection.cases_schemas import (
    HazardRead,
    RectificationReportCreate,
    VerificationCreate,
)
from services.inspection.enforcement import HazardState

router = APIRouter(prefix="/hazards", tags=["hazards"])

EnterpriseDep = Annotated[Principal, Depends(require_roles(Role.enterprise))]
HazardId = Annotated[str, Path(max_length=36)]


def _with_etag(body: HazardRead) -> Response:
    return Response(
        body.model_dump_json(), media_type="application/json", headers={"ETag": etag(body.version)}
    )


@router.get(
    "",
    response_model=Page[HazardRead],
    summary="Hazards by found day; ?uscc=&state=&overdue= (bureau: all; enterprise: its own)",
)
async def list_hazards(
    session: SessionDep,
    principal: CurrentPrincipal,
    today: TodayDep,
    uscc: USCC | None = None,
    state: HazardState | None = None,
    overdue: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[HazardRead]:
    after = None
    if cursor:
        day, last_id = date_cursor(cursor)
        after = (day.isoformat(), last_id)
    rows = await hazards.list_hazards(
        session,
        principal,
        today,
        uscc=uscc,
        state=state,
        overdue=overdue,
        after=after,
        limit=limit + 1,
    )
    items = [hazard_read(h, today) for h in rows[:limit]]
    next_cursor = (
        encode_cursor(items[-1].found_on.isoformat(), items[-1].id) if len(rows) > limit else None
    )
    return Page[HazardRead](items=items, next_cursor=next_cursor)


@router.get(
    "/{hazard_id}",
    response_model=HazardRead,
    summary="One hazard (bureau, or the enterprise it concerns; 404 for anyone else)",
)
async def get_hazard(
    hazard_id: HazardId, session: SessionDep, principal: CurrentPrincipal, today: TodayDep
) -> Response:
    hazard = await hazards.readable_hazard(session, principal, hazard_id)
    return _with_etag(hazard_read(hazard, today))


@router.post(
    "/{hazard_id}/rectification-report",
    response_model=HazardRead,
    summary="Report the hazard rectified (enterprise, own hazards only)",
)
async def report_rectification(
    hazard_id: HazardId,
    body: RectificationReportCreate,
    session: SessionDep,
    enterprise: EnterpriseDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    hazard = await hazards.report_rectification(
        session, enterprise, hazard_id, body, today, expected
    )
    return _with_etag(hazard_read(hazard, today))


@router.post(
    "/{hazard_id}/verification",
    response_model=HazardRead,
    summary="Verify the rectification on site (bureau): passed closes it, failed reopens it",
    description="A pass announces inspection.hazard.rectified.v1.",
)
async def verify_rectification(
    hazard_id: HazardId,
    body: VerificationCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: OfficerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    hazard = await hazards.verify_rectification(
        session, runtime.outbox, officer, hazard_id, body, today, expected
    )
    return _with_etag(hazard_read(hazard, today))

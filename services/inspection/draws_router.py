"""Endpoints: inspectors, the monthly double-random draw (public), guidance before inspection."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from kernel.app import SessionDep
from kernel.auth import Principal, Role, require_roles
from services.inspection import draws
from services.inspection.dependencies import OfficerDep, business_today
from services.inspection.draws_schemas import (
    DrawCommit,
    DrawPublic,
    DrawRecomputed,
    DrawReveal,
    GuidanceAnswer,
    GuidanceAssignment,
    GuidanceRequestCreate,
    GuidanceRequestRead,
    InspectorCreate,
    InspectorRead,
    InspectorUpdate,
)
from services.inspection.models_draw import GuidanceRequest

router = APIRouter()


draw_today = business_today  # the name the draw tests override


TodayDep = Annotated[date, Depends(draw_today)]
Year = Annotated[int, Path(ge=2000, le=2100)]
Month = Annotated[int, Path(ge=1, le=12)]
# Committing publishes the month's list: officers prepare it, leaders may too.
CommitterDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader))]
LeaderDep = Annotated[Principal, Depends(require_roles(Role.leader))]
EnterpriseDep = Annotated[Principal, Depends(require_roles(Role.enterprise))]
GuidanceReaderDep = Annotated[
    Principal, Depends(require_roles(Role.enterprise, Role.officer, Role.leader, Role.admin))
]
AssignerDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader))]


@router.post(
    "/inspectors",
    status_code=201,
    response_model=InspectorRead,
    tags=["inspectors"],
    summary="Enter an enforcement officer into the registry of inspectors",
)
async def create_inspector(
    body: InspectorCreate, session: SessionDep, officer: OfficerDep
) -> InspectorRead:
    return InspectorRead.model_validate(await draws.create_inspector(session, body, officer.key))


@router.get(
    "/inspectors", response_model=list[InspectorRead], tags=["inspectors"], summary="Inspectors"
)
async def list_inspectors(
    session: SessionDep, _officer: OfficerDep, active: Annotated[bool, Query()] = False
) -> list[InspectorRead]:
    rows = await draws.list_inspectors(session, active_only=active)
    return [InspectorRead.model_validate(r) for r in rows]


@router.get(
    "/inspectors/{inspector_id}",
    response_model=InspectorRead,
    tags=["inspectors"],
    summary="One inspector",
)
async def get_inspector(
    inspector_id: str, session: SessionDep, _officer: OfficerDep
) -> InspectorRead:
    return InspectorRead.model_validate(await draws.get_inspector(session, inspector_id))


@router.patch(
    "/inspectors/{inspector_id}",
    response_model=InspectorRead,
    tags=["inspectors"],
    summary="Change qualifications, conflicts, monthly cap or activity",
)
async def update_inspector(
    inspector_id: str, body: InspectorUpdate, session: SessionDep, _officer: OfficerDep
) -> InspectorRead:
    return InspectorRead.model_validate(await draws.update_inspector(session, inspector_id, body))


@router.post(
    "/draws/{year}/{month}",
    status_code=201,
    response_model=DrawPublic,
    tags=["draws"],
    summary="Publish the month's list and the commitment (15 days ahead at the latest)",
)
async def commit_draw(
    year: Year,
    month: Month,
    body: DrawCommit,
    session: SessionDep,
    committer: CommitterDep,
    today: TodayDep,
) -> DrawPublic:
    row = await draws.commit_draw(session, year, month, body, committer.key, today)
    return draws.public_view(row)


@router.get(
    "/draws/{year}/{month}",
    response_model=DrawPublic,
    tags=["draws"],
    summary="The month's public list (no token needed)",
)
async def get_draw(year: Year, month: Month, session: SessionDep) -> DrawPublic:
    return draws.public_view(await draws.get_draw(session, year, month))


@router.post(
    "/draws/{year}/{month}/reveal",
    response_model=DrawPublic,
    tags=["draws"],
    summary="Record the public value, reveal the secret, draw and assign teams",
)
async def reveal_draw(
    year: Year,
    month: Month,
    body: DrawReveal,
    session: SessionDep,
    leader: LeaderDep,
    today: TodayDep,
) -> DrawPublic:
    row = await draws.reveal_draw(session, year, month, body.public_value, leader.key, today)
    return draws.public_view(row)


@router.post(
    "/draws/{year}/{month}/recompute",
    response_model=DrawRecomputed,
    tags=["draws"],
    summary="Anyone: recompute the revealed draw from its published inputs",
)
async def recompute_draw(year: Year, month: Month, session: SessionDep) -> DrawRecomputed:
    return await draws.recompute_draw(session, year, month)


async def _read(session: SessionDep, request: GuidanceRequest) -> GuidanceRequestRead:
    view = GuidanceRequestRead.model_validate(request)
    if request.inspector_id is not None:
        inspector = await draws.get_inspector(session, request.inspector_id)
        view = view.model_copy(update={"inspector_name": inspector.name})
    return view


@router.post(
    "/draws/{year}/{month}/guidance-requests",
    status_code=201,
    response_model=GuidanceRequestRead,
    tags=["draws"],
    summary="A listed enterprise asks for guidance before its inspection",
)
async def request_guidance(
    year: Year,
    month: Month,
    body: GuidanceRequestCreate,
    session: SessionDep,
    enterprise: EnterpriseDep,
    today: TodayDep,
) -> GuidanceRequestRead:
    request = await draws.request_guidance(session, year, month, body, enterprise, today)
    return await _read(session, request)


@router.get(
    "/draws/{year}/{month}/guidance-requests",
    response_model=list[GuidanceRequestRead],
    tags=["draws"],
    summary="Guidance requests: the bureau all, an enterprise its own",
)
async def list_guidance(
    year: Year, month: Month, session: SessionDep, reader: GuidanceReaderDep
) -> list[GuidanceRequestRead]:
    return [
        await _read(session, r) for r in await draws.list_guidance(session, year, month, reader)
    ]


@router.post(
    "/draws/{year}/{month}/guidance-requests/{request_id}/assignment",
    response_model=GuidanceRequestRead,
    tags=["draws"],
    summary="Assign an inspector to give the guidance",
)
async def assign_guidance(
    year: Year,
    month: Month,
    request_id: str,
    body: GuidanceAssignment,
    session: SessionDep,
    assigner: AssignerDep,
) -> GuidanceRequestRead:
    request = await draws.assign_guidance(
        session, year, month, request_id, body.inspector_id, assigner.key
    )
    return await _read(session, request)


@router.post(
    "/draws/{year}/{month}/guidance-requests/{request_id}/answer",
    response_model=GuidanceRequestRead,
    tags=["draws"],
    summary="The assigned inspector records the guidance given",
)
async def answer_guidance(
    year: Year,
    month: Month,
    request_id: str,
    body: GuidanceAnswer,
    session: SessionDep,
    answerer: AssignerDep,
) -> GuidanceRequestRead:
    request = await draws.answer_guidance(session, year, month, request_id, body.answer, answerer)
    return await _read(session, request)

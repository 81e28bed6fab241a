"""Yearly plan and joint inspection endpoints (measure 6): parse, authorise, call, return.

The bureau generates, reads and (leaders only) approves plans, and records joint inspections.
An enterprise may read its own entry of an approved plan; to it every other entry, and any
draft, does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import Principal, Role, require_roles
from kernel.auth.principal import BUREAU_ROLES
from kernel.errors import NotFound
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import (
    Page,
    date_cursor,
    decode_cursor,
    encode_cursor,
    instant_cursor,
)
from kernel.uscc import USCC
from kernel.versioning import ExpectedVersion, etag
from kernel.vocab import Sector
from services.inspection import plans
from services.inspection.dependencies import business_today
from services.inspection.planning import PlanMode, PlanState
from services.inspection.plans_schemas import (
    JointInspectionCreate,
    JointInspectionRead,
    PlanCreate,
    PlanEntryRead,
    PlanRead,
)

router = APIRouter()

BureauDep = Annotated[Principal, Depends(require_roles(*BUREAU_ROLES))]
LeaderDep = Annotated[Principal, Depends(require_roles(Role.leader))]
EntryReaderDep = Annotated[Principal, Depends(require_roles(*BUREAU_ROLES, Role.enterprise))]


TodayDep = Annotated[date, Depends(business_today)]
PlanId = Annotated[str, Path(max_length=36)]
CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]
LimitQuery = Annotated[int, Query(ge=1, le=500)]
YearQuery = Annotated[int | None, Query(ge=2000, le=2100)]

# Entries an enterprise may see: a draft is the bureau's working paper, not yet a decision.
_VISIBLE_TO_ENTERPRISES = frozenset({PlanState.approved.value, PlanState.superseded.value})


def _with_etag(view: PlanRead, response: Response) -> PlanRead:
    response.headers["ETag"] = etag(view.version)
    return view


# --- plans ---------------------------------------------------------------------------------------


@router.post(
    "/plans",
    status_code=201,
    response_model=PlanRead,
    tags=["plans"],
    summary="Generate a draft yearly plan from the registry (bureau)",
    description="年度监督检查计划. Applies the named frequency rules of the rule pack to every "
    "registry enterprise and that year's joint inspections; for this year or the next.",
)
async def create_plan(
    body: PlanCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: BureauDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> PlanRead:
        return PlanRead.of(await plans.generate_yearly_plan(session, body.year, officer.key, today))

    return await run_idempotent(
        session, runtime.tables, officer, idempotency_key, "POST /plans", body, act
    )


@router.get(
    "/plans",
    response_model=Page[PlanRead],
    tags=["plans"],
    summary="Plans, newest first (bureau)",
)
async def list_plans(
    session: SessionDep,
    _: BureauDep,
    year: YearQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[PlanRead]:
    after: tuple[datetime, str] | None = None
    if cursor is not None:
        after = instant_cursor(cursor)
    rows = await plans.list_plans(session, year, after, limit + 1)
    page = rows[:limit]
    more = len(rows) > limit  # then the page is full, so page[-1] exists
    return Page[PlanRead](
        items=[PlanRead.of(p) for p in page],
        next_cursor=encode_cursor(page[-1].generated_at.isoformat(), page[-1].id) if more else None,
    )


@router.get(
    "/plans/{plan_id}",
    response_model=PlanRead,
    tags=["plans"],
    summary="One plan with its summary per mode, rule and month (bureau)",
)
async def get_plan(
    plan_id: PlanId, session: SessionDep, _: BureauDep, response: Response
) -> PlanRead:
    return _with_etag(PlanRead.of(await plans.get_plan(session, plan_id)), response)


@router.post(
    "/plans/{plan_id}/approval",
    response_model=PlanRead,
    tags=["plans"],
    summary="Approve a draft plan (leader)",
    description="The approved plan becomes the plan of its year; the one approved before is "
    "superseded. Send If-Match with the plan's ETag to be sure of what you approve.",
)
async def approve_plan(
    plan_id: PlanId,
    session: SessionDep,
    leader: LeaderDep,
    today: TodayDep,
    expected: ExpectedVersion,
    response: Response,
) -> PlanRead:
    plan = await plans.approve_plan(session, plan_id, leader.key, today, expected)
    return _with_etag(PlanRead.of(plan), response)


# --- entries -------------------------------------------------------------------------------------


@router.get(
    "/plans/{plan_id}/entries",
    response_model=Page[PlanEntryRead],
    tags=["plans"],
    summary="A plan's entries with the rules that produced each (bureau)",
)
async def list_entries(
    plan_id: PlanId,
    session: SessionDep,
    _: BureauDep,
    mode: PlanMode | None = None,
    uscc: Annotated[USCC | None, Query()] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    sector: Sector | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[PlanEntryRead]:
    await plans.get_plan(session, plan_id)
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await plans.list_entries(
        session,
        plan_id,
        mode=mode.value if mode else None,
        uscc=uscc,
        district=district,
        sector=sector.value if sector else None,
        after=after,
        limit=limit + 1,
    )
    items = [PlanEntryRead.of(e) for e in rows[:limit]]
    next_cursor = encode_cursor(items[-1].uscc) if len(rows) > limit else None
    return Page[PlanEntryRead](items=items, next_cursor=next_cursor)


@router.get(
    "/plans/{plan_id}/entries/{uscc}",
    response_model=PlanEntryRead,
    tags=["plans"],
    summary="One enterprise's entry (bureau; an enterprise its own, in an approved plan)",
)
async def get_entry(
    plan_id: PlanId,
    uscc: Annotated[USCC, Path(description="The enterprise's USCC")],
    session: SessionDep,
    principal: EntryReaderDep,
) -> PlanEntryRead:
    missing = NotFound(f"plan {plan_id} has no entry for {uscc}", code="plan_entry_not_found")
    if principal.role is Role.enterprise:
        # Another enterprise's entry, or a draft, answers exactly like a missing one: an
        # enterprise learns nothing about who else is planned, or about unapproved plans.
        if principal.subject != uscc:
            raise missing
        plan = await plans.get_plan(session, plan_id)
        if plan.state not in _VISIBLE_TO_ENTERPRISES:
            raise missing
    entry = await plans.get_entry(session, plan_id, uscc)
    if entry is None:
        raise missing
    return PlanEntryRead.of(entry)


# --- joint inspections ------------------------------------------------------------------------


@router.post(
    "/joint-inspections",
    status_code=201,
    response_model=JointInspectionRead,
    tags=["plans"],
    summary="Record a joint inspection an enterprise received (bureau)",
    description="联合检查. Without an override the enterprise gets no separate same-type "
    "inspection in the next plan of that year; a complaint (投诉举报) or an assignment "
    "(上级交办) keeps it, and must say why.",
)
async def record_joint_inspection(
    body: JointInspectionCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: BureauDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> JointInspectionRead:
        row = await plans.record_joint_inspection(session, body, officer.key, today)
        return JointInspectionRead.of(row)

    return await run_idempotent(
        session, runtime.tables, officer, idempotency_key, "POST /joint-inspections", body, act
    )


@router.get(
    "/joint-inspections",
    response_model=Page[JointInspectionRead],
    tags=["plans"],
    summary="Joint inspections by date (bureau)",
)
async def list_joint_inspections(
    session: SessionDep,
    _: BureauDep,
    year: YearQuery = None,
    uscc: Annotated[USCC | None, Query()] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 100,
) -> Page[JointInspectionRead]:
    after: tuple[date, str] | None = None
    if cursor is not None:
        after = date_cursor(cursor)
    rows = await plans.list_joint_inspections(
        session, year=year, uscc=uscc, after=after, limit=limit + 1
    )
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    return Page[JointInspectionRead](
        items=[JointInspectionRead.of(r) for r in page],
        next_cursor=encode_cursor(last.inspected_on.isoformat(), last.id) if last else None,
    )

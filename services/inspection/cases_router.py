"""Inspection case endpoints: the four steps, major-penalty approval, follow-ups, pledge visits."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role, require_roles
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.uscc import USCC
from kernel.versioning import ExpectedVersion, etag
from services.inspection import cases, pledge_visits
from services.inspection.cases_schemas import (
    ApprovalCreate,
    DecisionRead,
    DeliberationCreate,
    DeliberationRead,
    FeedbackCreate,
    FindingCreate,
    FindingRead,
    FollowUpRead,
    HazardCreate,
    HazardRead,
    InspectionCreate,
    InspectionRead,
    InspectionSummary,
    PledgeResultCreate,
    PledgeVisitRead,
)
from services.inspection.dependencies import InspectionReaderDep, business_today, shared_view
from services.inspection.enforcement import InspectionState, PledgeVisitState
from services.inspection.hazards import hazard_is_overdue, record_hazard
from services.inspection.models_cases import Hazard, Inspection, PledgeVisit

router = APIRouter()

OfficerDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader, Role.admin))]
# Major penalties are approved by the next-level leader (重大行政处罚 集体讨论/负责人审批).
LeaderDep = Annotated[Principal, Depends(require_roles(Role.leader))]
CaseId = Annotated[str, Path(max_length=36, description="The inspection's id")]


TodayDep = Annotated[date, Depends(business_today)]


def hazard_read(hazard: Hazard, today: date) -> HazardRead:
    """A hazard as read, with whether it is overdue today."""
    view = HazardRead.model_validate(hazard)
    return view.model_copy(update={"is_overdue": hazard_is_overdue(hazard, today)})


async def case_read(session: AsyncSession, case: Inspection, today: date) -> InspectionRead:
    """The full case: its steps, findings, hazards and current deliberation."""
    view = await cases.case_view(session, case)
    deliberation = None
    if view.deliberation is not None:
        deliberation = DeliberationRead.model_validate(view.deliberation).model_copy(
            update={"decisions": [DecisionRead.model_validate(d) for d in view.decisions]}
        )
    summary = InspectionRead.model_validate(case)
    return summary.model_copy(
        update={
            "findings": [FindingRead.model_validate(f) for f in view.findings],
            "hazards": [hazard_read(h, today) for h in view.hazards],
            "deliberation": deliberation,
        }
    )


def _with_etag(body: InspectionRead, status: int = 200) -> Response:
    return Response(
        body.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers={"ETag": etag(body.version)},
    )


@router.post(
    "/inspections",
    status_code=201,
    response_model=InspectionRead,
    tags=["inspections"],
    summary="Start an inspection (启动): team, notice served, law-education plan (bureau)",
)
async def start_inspection(
    body: InspectionCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: OfficerDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> InspectionRead:
        case = await cases.start_inspection(session, officer, body, today)
        return await case_read(session, case, today)

    return await run_idempotent(
        session,
        runtime.tables,
        officer,
        idempotency_key,
        "POST /inspections",
        body,
        act,
        headers={"ETag": etag(1)},  # a new case is at its first version
    )


@router.get(
    "/inspections",
    response_model=Page[InspectionSummary],
    tags=["inspections"],
    summary="Inspections, newest first (bureau: all; enterprise: its own; shared data set for "
    "departments through the gateway: what the bureau sees)",
)
async def list_inspections(
    session: SessionDep,
    principal: InspectionReaderDep,
    uscc: USCC | None = None,
    state: InspectionState | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[InspectionSummary]:
    after = None
    if cursor:
        day, last_id = date_cursor(cursor)
        after = (day.isoformat(), last_id)
    rows = await cases.list_cases(
        session, shared_view(principal), uscc=uscc, state=state, after=after, limit=limit + 1
    )
    items = [InspectionSummary.model_validate(r) for r in rows[:limit]]
    next_cursor = (
        encode_cursor(items[-1].started_on.isoformat(), items[-1].id) if len(rows) > limit else None
    )
    return Page[InspectionSummary](items=items, next_cursor=next_cursor)


@router.get(
    "/inspections/{case_id}",
    response_model=InspectionRead,
    tags=["inspections"],
    summary="One inspection (bureau, or the enterprise inspected; 404 for anyone else)",
)
async def get_inspection(
    case_id: CaseId, session: SessionDep, principal: CurrentPrincipal, today: TodayDep
) -> Response:
    case = await cases.readable_case(session, principal, case_id)
    return _with_etag(await case_read(session, case, today))


@router.post(
    "/inspections/{case_id}/findings",
    status_code=201,
    response_model=InspectionRead,
    tags=["inspections"],
    summary="Record a finding in the inspect step (检查), against the common-violations list",
)
async def add_finding(
    case_id: CaseId,
    body: FindingCreate,
    session: SessionDep,
    officer: OfficerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    await cases.record_finding(session, officer, case_id, body, expected)
    case = await cases.readable_case(session, officer, case_id)
    return _with_etag(await case_read(session, case, today), 201)


@router.post(
    "/inspections/{case_id}/hazards",
    status_code=201,
    response_model=InspectionRead,
    tags=["inspections", "hazards"],
    summary="Record a hazard in the inspect step; a government-found one gets a deadline",
    description="rectify_by is found_on plus the pack's working days for the grade; null with "
    "deadline_unknown when the official calendar of that year is not loaded. Announces "
    "inspection.hazard.found.v1 for a government-found hazard.",
)
async def add_hazard(
    case_id: CaseId,
    body: HazardCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: OfficerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    await record_hazard(
        session, runtime.outbox, runtime.calendar, officer, case_id, body, today, expected
    )
    case = await cases.readable_case(session, officer, case_id)
    return _with_etag(await case_read(session, case, today), 201)


@router.post(
    "/inspections/{case_id}/deliberation",
    response_model=InspectionRead,
    tags=["inspections"],
    summary="Hold the deliberation (合议): minutes, participants, a decision per finding",
    description="The lenient-enforcement rules settle what each finding allows; a fine or "
    "measure the rules exclude is refused (422) naming the rule and its reason. A major "
    "penalty waits for a leader's approval.",
)
async def hold_deliberation(
    case_id: CaseId,
    body: DeliberationCreate,
    session: SessionDep,
    officer: OfficerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    case = await cases.deliberate(session, officer, case_id, body, today, expected)
    return _with_etag(await case_read(session, case, today))


@router.post(
    "/inspections/{case_id}/decisions/{n}/approval",
    response_model=InspectionRead,
    tags=["inspections"],
    summary="Approve a major penalty or return the deliberation (leader)",
    description="With the last approval the major penalties are decided: numbered, announced "
    "(inspection.penalty.decided.v1, severity serious) and given a follow-up visit date.",
)
async def approve_decision(
    case_id: CaseId,
    n: Annotated[int, Path(ge=1, description="The finding's number")],
    body: ApprovalCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    leader: LeaderDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    case = await cases.approve_decision(
        session, runtime.outbox, runtime.calendar, leader, case_id, n, body, today, expected
    )
    return _with_etag(await case_read(session, case, today))


@router.post(
    "/inspections/{case_id}/feedback",
    response_model=InspectionRead,
    tags=["inspections"],
    summary="Deliver the results (反馈): lesson given, questions answered; closes the case",
    description="Non-major penalties are decided on the delivery day and announced "
    "(inspection.penalty.decided.v1, severity general).",
)
async def give_feedback(
    case_id: CaseId,
    body: FeedbackCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: OfficerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    case = await cases.give_feedback(
        session, runtime.outbox, officer, case_id, body, today, expected
    )
    return _with_etag(await case_read(session, case, today))


@router.get(
    "/follow-ups",
    response_model=list[FollowUpRead],
    tags=["inspections"],
    summary="Follow-up visits after major penalties (重大案件回访), earliest due first (bureau)",
)
async def list_follow_ups(
    session: SessionDep,
    _officer: OfficerDep,
    today: TodayDep,
    pending: bool = True,
    overdue: bool = False,
) -> list[FollowUpRead]:
    rows = await cases.list_follow_ups(session, today, pending_only=pending, overdue_only=overdue)
    out = []
    for row in rows:
        d = row.decision
        # A decided major penalty always has its number and day.
        assert d.decision_number is not None
        assert d.decided_on is not None
        out.append(
            FollowUpRead(
                inspection_id=row.inspection.id,
                uscc=row.inspection.uscc,
                enterprise_name=row.inspection.enterprise_name,
                decision_number=d.decision_number,
                decided_on=d.decided_on,
                follow_up_due_on=d.follow_up_due_on,
                follow_up_deadline_unknown=d.follow_up_deadline_unknown,
                follow_up_inspection_id=d.follow_up_inspection_id,
                is_overdue=row.is_overdue,
            )
        )
    return out


# --- pledge verification visits ------------------------------------------------------------


def visit_read(visit: PledgeVisit, today: date) -> PledgeVisitRead:
    view = PledgeVisitRead.model_validate(visit)
    return view.model_copy(
        update={
            "deadline_unknown": visit.verify_by is None,
            "is_overdue": pledge_visits.visit_is_overdue(visit, today),
        }
    )


@router.get(
    "/pledge-visits",
    response_model=Page[PledgeVisitRead],
    tags=["pledge visits"],
    summary="Pledge verification visits by verify-by day; ?state=due&overdue=true (bureau)",
)
async def list_pledge_visits(
    session: SessionDep,
    _officer: OfficerDep,
    today: TodayDep,
    state: PledgeVisitState | None = None,
    overdue: bool | None = None,
    uscc: USCC | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[PledgeVisitRead]:
    after = None
    if cursor:
        day, last_id = date_cursor(cursor)
        after = (day.isoformat(), last_id)
    rows = await pledge_visits.list_visits(
        session, today, state=state, overdue=overdue, uscc=uscc, after=after, limit=limit + 1
    )
    items = [visit_read(v, today) for v in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor((last.verify_by or date(9999, 12, 31)).isoformat(), last.id)
    return Page[PledgeVisitRead](items=items, next_cursor=next_cursor)


@router.get(
    "/pledge-visits/{visit_id}",
    response_model=PledgeVisitRead,
    tags=["pledge visits"],
    summary="One pledge verification visit (bureau)",
)
async def get_pledge_visit(
    visit_id: Annotated[str, Path(max_length=36)],
    session: SessionDep,
    _officer: OfficerDep,
    today: TodayDep,
) -> Response:
    visit = await pledge_visits.get_visit(session, visit_id)
    body = visit_read(visit, today)
    return Response(
        body.model_dump_json(),
        media_type="application/json",
        headers={"ETag": etag(visit.version)},
    )


@router.post(
    "/pledge-visits/{visit_id}/result",
    response_model=PledgeVisitRead,
    tags=["pledge visits"],
    summary="Record the visit's result: pledge kept or breached (bureau, >= 2 inspectors)",
    description="Announces inspection.pledge.verified.v1; on a breach permits revokes the "
    "licence and credit records the dishonesty.",
)
async def record_pledge_result(
    visit_id: Annotated[str, Path(max_length=36)],
    body: PledgeResultCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: OfficerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    visit = await pledge_visits.record_result(
        session, runtime.outbox, officer, visit_id, body, today, expected
    )
    view = visit_read(visit, today)
    return Response(
        view.model_dump_json(),
        media_type="application/json",
        headers={"ETag": etag(visit.version)},
    )

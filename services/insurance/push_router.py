"""Insurance endpoints: the insurer push API (/insurer/...) and reading what was pushed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.uscc import USCC
from services.insurance import push, receipts
from services.insurance.dependencies import InsurerDep, NowDep, RegisteredInsurer, TodayDep
from services.insurance.push_schemas import (
    HazardAssistanceCreate,
    HazardAssistanceRead,
    RiskAssessmentCreate,
    RiskAssessmentRead,
    ServiceRecordCreate,
    ServiceRecordRead,
)

router = APIRouter(tags=["insurer push"])

RecordId = Annotated[str, Path(max_length=36)]

_PUSH_RULES = (
    """
Only a registered, active insurer may push (403 `insurer_not_registered` /
`insurer_suspended`), and only for its own policies and obligations (403 `policy_not_yours` /
`obligation_not_yours`; an unknown id is 404). A risk assessment needs the policy in force
(409 `policy_not_active`); a service record or assistance report may follow the end of the
policy, for a service given while it covered the enterprise. Dates may not be after today,
before the policy or obligation window, nor after the last covered day (422
`date_after_cover`).
Send an `Idempotency-Key`: a retry with the same key and body returns the first answer byte for
byte, receipt included; the same key with another body is 422 `idempotency_key_reused`.

**Receipt.** The answer is the stored record plus `receipt`.
"""
    + receipts.RECEIPT_SPEC
)
# What the rules above answer besides what every write documents (403, 409, 422).
_PUSH_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "policy_not_found / obligation_not_found: no such id"}
}


@router.post(
    "/insurer/service-records",
    status_code=201,
    response_model=ServiceRecordRead,
    summary="Push a service record (insurer): delivers a check, training, graded or custom service",
    description="A risk_assessment or hazard_assistance obligation is delivered by its own "
    "endpoint (422 `obligation_kind_has_own_endpoint`). Training needs `participants`; "
    "key_check and full_check need `hazards_found`; no other kind takes either.\n" + _PUSH_RULES,
    responses=_PUSH_RESPONSES,
)
async def push_service_record(
    body: ServiceRecordCreate,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: InsurerDep,
    insurer: RegisteredInsurer,
    today: TodayDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    raw = await request.body()

    async def act() -> ServiceRecordRead:
        record = await push.push_service_record(session, insurer, body, raw, today, now)
        return ServiceRecordRead.of(record)

    return await run_idempotent(
        session,
        runtime.tables,
        principal,
        idempotency_key,
        "POST /insurer/service-records",
        body,
        act,
    )


@router.post(
    "/insurer/risk-assessments",
    status_code=201,
    response_model=RiskAssessmentRead,
    summary="Push a risk assessment (insurer): sets the policy's risk level",
    description="Delivers the policy's open scheduled assessment if there is one, otherwise it "
    "is a reassessment. The level re-plans the graded service and is announced as "
    "insurance.risk.assessed.v1 (inspection raises priority on high and major). An assessment "
    "dated before the latest on file is 422 `assessment_older_than_latest`.\n" + _PUSH_RULES,
    responses=_PUSH_RESPONSES,
)
async def push_risk_assessment(
    body: RiskAssessmentCreate,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: InsurerDep,
    insurer: RegisteredInsurer,
    today: TodayDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    raw = await request.body()

    async def act() -> RiskAssessmentRead:
        row = await push.push_risk_assessment(
            session, runtime.outbox, insurer, body, raw, today, now
        )
        return RiskAssessmentRead.of(row)

    return await run_idempotent(
        session,
        runtime.tables,
        principal,
        idempotency_key,
        "POST /insurer/risk-assessments",
        body,
        act,
    )


@router.post(
    "/insurer/hazard-assistance",
    status_code=201,
    response_model=HazardAssistanceRead,
    summary="Push a hazard-assistance report (insurer): help with a government-found hazard",
    description="The obligation must be a hazard_assistance one (422 "
    "`obligation_not_hazard_assistance`).\n" + _PUSH_RULES,
    responses=_PUSH_RESPONSES,
)
async def push_hazard_assistance(
    body: HazardAssistanceCreate,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: InsurerDep,
    insurer: RegisteredInsurer,
    today: TodayDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    raw = await request.body()

    async def act() -> HazardAssistanceRead:
        row = await push.push_hazard_assistance(session, insurer, body, raw, today, now)
        return HazardAssistanceRead.of(row)

    return await run_idempotent(
        session,
        runtime.tables,
        principal,
        idempotency_key,
        "POST /insurer/hazard-assistance",
        body,
        act,
    )


@router.get(
    "/service-records/{record_id}",
    response_model=ServiceRecordRead,
    summary="One service record with its receipt (its insurer, its enterprise, the bureau)",
)
async def get_service_record(
    record_id: RecordId, session: SessionDep, principal: CurrentPrincipal
) -> ServiceRecordRead:
    return ServiceRecordRead.of(await push.readable_service_record(session, principal, record_id))


@router.get(
    "/risk-assessments/{assessment_id}",
    response_model=RiskAssessmentRead,
    summary="One risk assessment with its receipt (its insurer, its enterprise, the bureau)",
)
async def get_risk_assessment(
    assessment_id: RecordId, session: SessionDep, principal: CurrentPrincipal
) -> RiskAssessmentRead:
    row = await push.readable_risk_assessment(session, principal, assessment_id)
    return RiskAssessmentRead.of(row)


@router.get(
    "/risk-assessments",
    response_model=Page[RiskAssessmentRead],
    summary="Risk assessments, newest first; ?uscc=&policy_id= (insurer: own; enterprise: own)",
)
async def list_risk_assessments(
    session: SessionDep,
    principal: CurrentPrincipal,
    uscc: Annotated[USCC | None, Query(description="Only this enterprise's")] = None,
    policy_id: Annotated[str | None, Query(max_length=36)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RiskAssessmentRead]:
    after = date_cursor(cursor) if cursor else None
    rows = await push.list_risk_assessments(
        session, principal, uscc=uscc, policy_id=policy_id, after=after, limit=limit + 1
    )
    items = [RiskAssessmentRead.of(r) for r in rows[:limit]]
    next_cursor = (
        encode_cursor(items[-1].assessed_on.isoformat(), items[-1].id)
        if len(rows) > limit
        else None
    )
    return Page[RiskAssessmentRead](items=items, next_cursor=next_cursor)


@router.get(
    "/hazard-assistance/{report_id}",
    response_model=HazardAssistanceRead,
    summary="One hazard-assistance report with its receipt (its insurer, enterprise, bureau)",
)
async def get_hazard_assistance(
    report_id: RecordId, session: SessionDep, principal: CurrentPrincipal
) -> HazardAssistanceRead:
    row = await push.readable_hazard_assistance(session, principal, report_id)
    return HazardAssistanceRead.of(row)

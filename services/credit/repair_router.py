"""Credit-repair and credit-website delivery endpoints: thin — parse, authorise, call, return."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import Principal, Role, require_roles
from kernel.auth.principal import BUREAU_ROLES
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, encode_cursor, instant_cursor
from kernel.uscc import USCC
from kernel.versioning import ExpectedVersion, etag
from kernel.workdays import WorkingDayCalendar
from services.credit import repair, website
from services.credit.dependencies import TodayDep
from services.credit.models import RepairApplication
from services.credit.repair_domain import RepairState
from services.credit.repair_schemas import (
    RepairCreate,
    RepairDecisionCreate,
    RepairRead,
    RepairRevocationCreate,
    WebsiteDeliveryRead,
)

router = APIRouter()

ApplicantDep = Annotated[Principal, Depends(require_roles(Role.enterprise))]
ReaderDep = Annotated[Principal, Depends(require_roles(Role.enterprise, *BUREAU_ROLES))]
# Verification (核实) is the credit officers' work; leaders and admins may stand in.
DeciderDep = Annotated[Principal, Depends(require_roles(*BUREAU_ROLES))]
# Revoking a granted repair for fraud restores a public sanction: a leader's decision.
RevokerDep = Annotated[Principal, Depends(require_roles(Role.leader))]
OperatorDep = Annotated[Principal, Depends(require_roles(*BUREAU_ROLES))]


async def _read(
    session: AsyncSession,
    application: RepairApplication,
    today: date,
    calendar: WorkingDayCalendar,
) -> RepairRead:
    histories = await repair.histories_of(session, [application.id])
    return RepairRead.of(application, histories[application.id], today, calendar)


def _json(model: RepairRead, status_code: int = 200) -> Response:
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": etag(model.version)},
    )


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    return None if cursor is None else instant_cursor(cursor)


# --- repairs -------------------------------------------------------------------------------


@router.post(
    "/repairs",
    status_code=201,
    response_model=RepairRead,
    tags=["repairs"],
    summary="Apply for credit repair of an own record in publicity or black listing (enterprise)",
    description="Eligible from the record's repair_eligible_on or the listing's "
    "early_removal_on; answered within 3 working days (due_on).",
    responses={404: {"description": "No record or black listing of yours has that target_id"}},
)
async def apply_for_repair(
    body: RepairCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    applicant: ApplicantDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> RepairRead:
        application = await repair.apply_for_repair(
            session, runtime.calendar, applicant, body, today
        )
        return await _read(session, application, today, runtime.calendar)

    return await run_idempotent(
        session, runtime.tables, applicant, idempotency_key, "POST /repairs", body, act
    )


@router.get(
    "/repairs",
    response_model=Page[RepairRead],
    tags=["repairs"],
    summary="Repair applications, newest first: an enterprise its own, the bureau all",
)
async def list_repairs(
    session: SessionDep,
    runtime: RuntimeDep,
    reader: ReaderDep,
    today: TodayDep,
    state: Annotated[RepairState | None, Query()] = None,
    overdue: Annotated[
        bool | None, Query(description="Only pending applications past (true) or not (false) due")
    ] = None,
    uscc: Annotated[USCC | None, Query(description="Only this enterprise's applications")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RepairRead]:
    rows = await repair.list_repairs(
        session,
        reader,
        today=today,
        uscc=uscc,
        state=state,
        overdue=overdue,
        after=_after(cursor),
        limit=limit + 1,
    )
    page = rows[:limit]
    histories = await repair.histories_of(session, [a.id for a in page])
    items = [RepairRead.of(a, histories[a.id], today, runtime.calendar) for a in page]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last.received_at.isoformat(), last.id)
    return Page[RepairRead](items=items, next_cursor=next_cursor)


@router.get(
    "/repairs/{repair_id}",
    response_model=RepairRead,
    tags=["repairs"],
    summary="One repair application with its clock and history (own only, for an enterprise)",
)
async def get_repair(
    repair_id: str, session: SessionDep, runtime: RuntimeDep, reader: ReaderDep, today: TodayDep
) -> Response:
    application = await repair.readable_repair(session, reader, repair_id)
    return _json(await _read(session, application, today, runtime.calendar))


@router.post(
    "/repairs/{repair_id}/decision",
    response_model=RepairRead,
    tags=["repairs"],
    summary="Decide a pending application after verification (officer; leader, admin)",
    description="Approved: the record leaves publicity / the enterprise leaves the black list "
    "today, and the result is queued for the credit website. Rejected: a reason is required.",
)
async def decide_repair(
    repair_id: str,
    body: RepairDecisionCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: DeciderDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    application = await repair.decide_repair(
        session, runtime.outbox, officer, repair_id, body, today, expected
    )
    return _json(await _read(session, application, today, runtime.calendar))


@router.post(
    "/repairs/{repair_id}/revocation",
    response_model=RepairRead,
    tags=["repairs"],
    summary="Revoke an approved repair obtained by fraud and restore the listing (leader)",
    description="A restored record keeps its original publicity window: if that has passed, it "
    "is restored already out of publicity.",
)
async def revoke_repair(
    repair_id: str,
    body: RepairRevocationCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    leader: RevokerDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    application = await repair.revoke_repair(
        session, runtime.outbox, leader, repair_id, body, today, expected
    )
    return _json(await _read(session, application, today, runtime.calendar))


# --- credit website deliveries -------------------------------------------------------------


@router.get(
    "/website-deliveries",
    response_model=Page[WebsiteDeliveryRead],
    tags=["website deliveries"],
    summary="Results queued for the credit website, newest first (bureau)",
)
async def list_website_deliveries(
    session: SessionDep,
    _operator: OperatorDep,
    state: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[WebsiteDeliveryRead]:
    rows = await website.list_deliveries(
        session, state=state, after=_after(cursor), limit=limit + 1
    )
    items = [WebsiteDeliveryRead.of(d) for d in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.created_at.isoformat(), last.id)
    return Page[WebsiteDeliveryRead](items=items, next_cursor=next_cursor)


@router.get(
    "/website-deliveries/{delivery_id}",
    response_model=WebsiteDeliveryRead,
    tags=["website deliveries"],
    summary="One delivery with its attempt log (bureau)",
)
async def get_website_delivery(
    delivery_id: str, session: SessionDep, _operator: OperatorDep
) -> WebsiteDeliveryRead:
    delivery, attempts = await website.get_delivery(session, delivery_id)
    return WebsiteDeliveryRead.of(delivery, attempts)


@router.post(
    "/website-deliveries/{delivery_id}/retry",
    response_model=WebsiteDeliveryRead,
    tags=["website deliveries"],
    summary="Queue a failed delivery again, due now (bureau)",
)
async def retry_website_delivery(
    delivery_id: str, session: SessionDep, _operator: OperatorDep
) -> WebsiteDeliveryRead:
    delivery = await website.retry_delivery(session, delivery_id)
    return WebsiteDeliveryRead.of(delivery, None)

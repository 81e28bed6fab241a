"""Insurance endpoints: insurers registered as machine clients (admin), readable by all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal, Principal
from kernel.auth.principal import BUREAU_ROLES
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, decode_cursor, encode_cursor
from services.insurance import insurers
from services.insurance.dependencies import AdminDep, NowDep
from services.insurance.insurer_schemas import (
    InsurerCreate,
    InsurerRead,
    InsurerStatus,
    InsurerSummary,
    InsurerSuspensionCreate,
)
from services.insurance.models import Insurer

router = APIRouter(prefix="/insurers", tags=["insurers"])

InsurerId = Annotated[str, Path(max_length=64)]


def _view(principal: Principal, insurer: Insurer) -> InsurerRead | InsurerSummary:
    # Contacts are the bureau's working data, not for other insurers or the public.
    if principal.role in BUREAU_ROLES:
        return InsurerRead.model_validate(insurer)
    return InsurerSummary.model_validate(insurer)


@router.post(
    "",
    status_code=201,
    response_model=InsurerRead,
    summary="Register an insurer as a machine client (admin)",
    description="`id` is the subject its tokens carry. 409 `insurer_exists` for a registered "
    "id, `insurer_uscc_exists` for a registered USCC.",
)
async def register_insurer(
    body: InsurerCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: AdminDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> InsurerRead:
        return InsurerRead.model_validate(
            await insurers.register_insurer(session, admin, body, now)
        )

    return await run_idempotent(
        session, runtime.tables, admin, idempotency_key, "POST /insurers", body, act
    )


@router.get(
    "",
    response_model=Page[InsurerRead] | Page[InsurerSummary],
    summary="Registered insurers in id order (bureau: with contacts; others: id, name, status)",
)
async def list_insurers(
    session: SessionDep,
    principal: CurrentPrincipal,
    status: InsurerStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[InsurerRead] | Page[InsurerSummary]:
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await insurers.list_insurers(session, status=status, after_id=after, limit=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    if principal.role in BUREAU_ROLES:
        full = [InsurerRead.model_validate(r) for r in rows[:limit]]
        return Page[InsurerRead](items=full, next_cursor=next_cursor)
    brief = [InsurerSummary.model_validate(r) for r in rows[:limit]]
    return Page[InsurerSummary](items=brief, next_cursor=next_cursor)


@router.get(
    "/{insurer_id}",
    response_model=InsurerRead | InsurerSummary,
    summary="One insurer (bureau: with contacts; others: id, name, status)",
)
async def get_insurer(
    insurer_id: InsurerId, session: SessionDep, principal: CurrentPrincipal
) -> InsurerRead | InsurerSummary:
    return _view(principal, await insurers.get_insurer(session, insurer_id))


@router.post(
    "/{insurer_id}/suspension",
    response_model=InsurerRead,
    summary="Suspend an insurer (admin): its pushes and registrations become 403",
)
async def suspend_insurer(
    insurer_id: InsurerId,
    body: InsurerSuspensionCreate,
    session: SessionDep,
    _admin: AdminDep,
    now: NowDep,
) -> InsurerRead:
    insurer = await insurers.suspend_insurer(session, insurer_id, body.reason, now)
    return InsurerRead.model_validate(insurer)


@router.post(
    "/{insurer_id}/reinstatement",
    response_model=InsurerRead,
    summary="Reinstate a suspended insurer (admin)",
)
async def reinstate_insurer(
    insurer_id: InsurerId, session: SessionDep, _admin: AdminDep, now: NowDep
) -> InsurerRead:
    return InsurerRead.model_validate(await insurers.reinstate_insurer(session, insurer_id, now))

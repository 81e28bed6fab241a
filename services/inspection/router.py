"""Inspection endpoints: the supervision registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, decode_cursor, encode_cursor
from kernel.vocab import Sector
from kernel.workdays import shanghai_today
from services.inspection import service
from services.inspection.dependencies import OfficerDep, ReadableEnterprise
from services.inspection.models import Enterprise
from services.inspection.repository import EnterpriseRepository
from services.inspection.schemas import EnterpriseCreate, EnterpriseRead

router = APIRouter(prefix="/enterprises", tags=["registry"])


def enterprise_view(enterprise: Enterprise) -> EnterpriseRead:
    """The registry entry as read, with what is derived at read time."""
    view = EnterpriseRead.model_validate(enterprise)
    return view.model_copy(
        update={
            "is_insured": service.is_insured(enterprise, shanghai_today()),
            "is_complete": service.is_complete(enterprise),
        }
    )


@router.post(
    "",
    status_code=201,
    response_model=EnterpriseRead,
    summary="Enter an enterprise into the supervision registry",
)
async def register_enterprise(
    body: EnterpriseCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: OfficerDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> EnterpriseRead:
        enterprise = await service.register_enterprise(session, runtime.outbox, body, officer.key)
        return enterprise_view(enterprise)

    return await run_idempotent(
        session, runtime.tables, officer, idempotency_key, "POST /enterprises", body, act
    )


@router.get("/{uscc}", response_model=EnterpriseRead, summary="One registry entry")
async def get_enterprise(enterprise: ReadableEnterprise) -> EnterpriseRead:
    return enterprise_view(enterprise)


@router.get("", response_model=Page[EnterpriseRead], summary="The registry, by USCC")
async def list_enterprises(
    session: SessionDep,
    _officer: OfficerDep,
    district: Annotated[str | None, Query(max_length=64)] = None,
    sector: Sector | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[EnterpriseRead]:
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await EnterpriseRepository(session).list_page(
        district=district, sector=sector.value if sector else None, after=after, limit=limit + 1
    )
    items = [enterprise_view(e) for e in rows[:limit]]
    next_cursor = encode_cursor(items[-1].uscc) if len(rows) > limit else None
    return Page[EnterpriseRead](items=items, next_cursor=next_cursor)

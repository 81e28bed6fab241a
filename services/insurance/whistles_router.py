"""Whistle endpoints (企业吹哨、保险报到): the enterprise raises and closes, its insurer
acknowledges and delivers, the bureau watches every state and breach."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.errors import Forbidden
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, encode_cursor, instant_cursor
from kernel.uscc import USCC
from services.insurance import whistles
from services.insurance.config import InsuranceSettings
from services.insurance.dependencies import (
    EnterpriseDep,
    InsurerDep,
    NowDep,
    RegisteredInsurer,
    TodayDep,
)
from services.insurance.models import Whistle
from services.insurance.whistle_rules import WhistleStatus
from services.insurance.whistle_schemas import (
    AcknowledgementCreate,
    ClosureCreate,
    DeliveryCreate,
    WhistleCreate,
    WhistleDetail,
    WhistleRead,
)

router = APIRouter(prefix="/whistles", tags=["whistles"])

WhistleId = Annotated[str, Path(max_length=36)]


async def _detail(session: SessionDep, whistle: Whistle, now: datetime) -> WhistleDetail:
    events = await whistles.history(session, whistle.id)
    return WhistleDetail.with_history(whistle, list(events), now)


@router.post(
    "",
    status_code=201,
    response_model=WhistleDetail,
    summary="Blow the whistle: ask the insurer of the policy in force for help (enterprise)",
    responses={409: {"description": "no_active_policy: no insurer to route the request to"}},
)
async def raise_whistle(
    body: WhistleCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    enterprise: EnterpriseDep,
    today: TodayDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    settings = runtime.settings
    assert isinstance(settings, InsuranceSettings)

    async def act() -> WhistleDetail:
        whistle = await whistles.raise_whistle(
            session, enterprise, body, whistles.sla_of(settings), today, now
        )
        return await _detail(session, whistle, now)

    return await run_idempotent(
        session, runtime.tables, enterprise, idempotency_key, "POST /whistles", body, act
    )


def _scope(
    principal: Principal, insurer_id: str | None, uscc: str | None
) -> tuple[str | None, str | None]:
    """Narrow the filters to what the caller may see; asking for someone else's is 403."""
    if principal.role in BUREAU_ROLES:
        return insurer_id, uscc
    if principal.role is Role.insurer:
        if insurer_id is not None and insurer_id != principal.subject:
            raise Forbidden("an insurer may list only its own whistles", code="whistle_not_yours")
        return principal.subject, uscc
    if principal.role is Role.enterprise:
        if uscc is not None and uscc != principal.subject:
            raise Forbidden(
                "an enterprise may list only its own whistles", code="whistle_not_yours"
            )
        return insurer_id, principal.subject
    raise Forbidden(f"role {principal.role.value!r} may not read whistles")


@router.get("", response_model=Page[WhistleRead], summary="Whistles, newest first")
async def list_whistles(
    session: SessionDep,
    principal: CurrentPrincipal,
    now: NowDep,
    status: WhistleStatus | None = None,
    breached: Annotated[
        bool | None, Query(description="Only those that missed (true) or kept (false) the SLA")
    ] = None,
    insurer_id: Annotated[str | None, Query(max_length=64)] = None,
    uscc: Annotated[USCC | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[WhistleRead]:
    insurer_id, uscc = _scope(principal, insurer_id, uscc)
    after = instant_cursor(cursor) if cursor else None
    where = whistles.WhistleFilter(
        insurer_id=insurer_id, uscc=uscc, status=status, breached=breached
    )
    rows = await whistles.list_whistles(session, where, now, after, limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return Page[WhistleRead](
        items=[WhistleRead.of(w, now) for w in page],
        next_cursor=encode_cursor(page[-1].raised_at.isoformat(), page[-1].id) if more else None,
    )


@router.get("/{whistle_id}", response_model=WhistleDetail, summary="One whistle with its history")
async def get_whistle(
    whistle_id: WhistleId, session: SessionDep, principal: CurrentPrincipal, now: NowDep
) -> WhistleDetail:
    whistle = await whistles.readable_whistle(session, principal, whistle_id)
    return await _detail(session, whistle, now)


@router.post(
    "/{whistle_id}/acknowledgement",
    response_model=WhistleDetail,
    summary="Acknowledge (报到) a whistle routed to this insurer; late ones record a breach",
)
async def acknowledge(
    whistle_id: WhistleId,
    body: AcknowledgementCreate,
    session: SessionDep,
    insurer: RegisteredInsurer,
    principal: InsurerDep,
    now: NowDep,
) -> WhistleDetail:
    whistle = await whistles.acknowledge(session, insurer, principal, whistle_id, body, now)
    return await _detail(session, whistle, now)


@router.post(
    "/{whistle_id}/delivery",
    response_model=WhistleDetail,
    summary="Report the help given, with evidence (the routed insurer)",
)
async def deliver(
    whistle_id: WhistleId,
    body: DeliveryCreate,
    session: SessionDep,
    insurer: RegisteredInsurer,
    principal: InsurerDep,
    now: NowDep,
) -> WhistleDetail:
    whistle = await whistles.deliver(session, insurer, principal, whistle_id, body, now)
    return await _detail(session, whistle, now)


@router.post(
    "/{whistle_id}/closure",
    response_model=WhistleDetail,
    summary="Close the request with feedback (the enterprise that raised it)",
)
async def close(
    whistle_id: WhistleId,
    body: ClosureCreate,
    session: SessionDep,
    enterprise: EnterpriseDep,
    now: NowDep,
) -> WhistleDetail:
    whistle = await whistles.close(session, enterprise, whistle_id, body, now)
    return await _detail(session, whistle, now)

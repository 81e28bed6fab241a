"""Obligation endpoints: a policy's schedule, the scoped listing, one obligation's history, and
the bureau's verification of a delivered service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from kernel.app import SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role, require_roles
from kernel.inputs import IsoDate
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.uscc import USCC
from services.insurance import obligations
from services.insurance.dependencies import NowDep, ReadablePolicy, TodayDep
from services.insurance.domain import ObligationKind, ObligationStatus, RiskLevel
from services.insurance.models import Obligation, ObligationEvent
from services.insurance.repository import ObligationFilter, ObligationRepository
from services.insurance.schemas import (
    ObligationDetail,
    ObligationEventRead,
    ObligationRead,
    VerificationCreate,
)

router = APIRouter(tags=["obligations"])

ObligationId = Annotated[str, Path(max_length=36)]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]
Limit = Annotated[int, Query(ge=1, le=200)]
VerifierDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader))]


def obligation_read(obligation: Obligation, today: date) -> ObligationRead:
    """The API view of an obligation, its lateness judged on the business date."""
    late = obligations.overdue_on(obligation, today)
    kind = ObligationKind(obligation.kind)
    return ObligationRead(
        id=obligation.id,
        policy_id=obligation.policy_id,
        insurer_id=obligation.insurer_id,
        uscc=obligation.uscc,
        kind=kind,
        mandatory=kind.mandatory,
        seq=obligation.seq,
        window_start=obligation.window_start,
        due_on=obligation.due_on,
        status=ObligationStatus(obligation.status),
        overdue=late.overdue,
        days_overdue=late.days_overdue,
        hazard_id=obligation.hazard_id,
        risk_level=RiskLevel(obligation.risk_level) if obligation.risk_level else None,
        delivered_on=obligation.delivered_on,
        delivered_at=obligation.delivered_at,
        record_id=obligation.record_id,
        verified_at=obligation.verified_at,
        verified_by=obligation.verified_by,
        rejections=obligation.rejections,
        withdrawn_reason=obligation.withdrawn_reason,
        created_at=obligation.created_at,
        updated_at=obligation.updated_at,
    )


def _detail(
    obligation: Obligation, history: Sequence[ObligationEvent], today: date
) -> ObligationDetail:
    return ObligationDetail(
        **obligation_read(obligation, today).model_dump(),
        history=[ObligationEventRead.model_validate(e) for e in history],
    )


async def _page(
    session: SessionDep,
    where: ObligationFilter,
    today: date,
    cursor: str | None,
    limit: int,
) -> Page[ObligationRead]:
    after = date_cursor(cursor) if cursor else None
    rows = await ObligationRepository(session).list_page(where, today, after, limit + 1)
    items = [obligation_read(o, today) for o in rows[:limit]]
    next_cursor = (
        encode_cursor(items[-1].due_on.isoformat(), items[-1].id) if len(rows) > limit else None
    )
    return Page[ObligationRead](items=items, next_cursor=next_cursor)


@router.get(
    "/policies/{policy_id}/obligations",
    response_model=Page[ObligationRead],
    summary="A policy's 6+3 schedule by due date (its insurer, its enterprise, the bureau)",
)
async def list_policy_obligations(
    policy: ReadablePolicy,
    session: SessionDep,
    today: TodayDep,
    kind: ObligationKind | None = None,
    status: ObligationStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[ObligationRead]:
    where = ObligationFilter(policy_id=policy.id, kind=kind, status=status)
    return await _page(session, where, today, cursor, limit)


@router.get(
    "/obligations",
    response_model=Page[ObligationRead],
    summary="Obligations by due date; an insurer sees its own, an enterprise its own, the "
    "bureau all",
    description="Filters: insurer_id, uscc, kind, status, overdue (open after its due date on "
    "the business date), due_from/due_to (inclusive). An insurer asking for another insurer's, "
    "or an enterprise for another enterprise's, gets 403 `obligation_not_yours`.",
)
async def list_obligations(
    session: SessionDep,
    principal: CurrentPrincipal,
    today: TodayDep,
    insurer_id: Annotated[str | None, Query(max_length=64)] = None,
    uscc: USCC | None = None,
    kind: ObligationKind | None = None,
    status: ObligationStatus | None = None,
    overdue: bool | None = None,
    due_from: IsoDate | None = None,
    due_to: IsoDate | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ObligationRead]:
    where = obligations.scoped_filter(
        principal,
        ObligationFilter(
            insurer_id=insurer_id,
            uscc=uscc,
            kind=kind,
            status=status,
            overdue=overdue,
            due_from=due_from,
            due_to=due_to,
        ),
    )
    return await _page(session, where, today, cursor, limit)


@router.get(
    "/obligations/{obligation_id}",
    response_model=ObligationDetail,
    summary="One obligation with its history (403 another's, 404 unknown)",
)
async def get_obligation(
    obligation_id: ObligationId, session: SessionDep, principal: CurrentPrincipal, today: TodayDep
) -> ObligationDetail:
    obligation, history = await obligations.readable_obligation(session, principal, obligation_id)
    return _detail(obligation, history, today)


@router.post(
    "/obligations/{obligation_id}/verification",
    response_model=ObligationDetail,
    summary="Verify a delivered service (officer or leader): accepted → verified, rejected → "
    "owed again",
    description="409 `obligation_not_delivered` unless delivered; a rejection needs a `note` of "
    "5+ characters (422 `rejection_note_required`). The due date stays: a rejected service may "
    "become overdue.",
)
async def verify_obligation(
    obligation_id: ObligationId,
    body: VerificationCreate,
    session: SessionDep,
    verifier: VerifierDep,
    today: TodayDep,
    now: NowDep,
) -> ObligationDetail:
    obligation = await obligations.verify_delivery(
        session, obligation_id, body.outcome, body.note, verifier, now
    )
    history = await ObligationRepository(session).history(obligation.id)
    return _detail(obligation, history, today)

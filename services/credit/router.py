"""Credit endpoints: thin — parse, authorise, call the use case, return."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.uscc import USCC
from services.credit import service
from services.credit.dependencies import ReadablePenalty, ReadershipDep, RecorderDep, TodayDep
from services.credit.repository import PenaltyRepository
from services.credit.schemas import PenaltyCreate, PenaltyRead

router = APIRouter(prefix="/penalties", tags=["penalties"])


@router.post(
    "",
    status_code=201,
    response_model=PenaltyRead,
    summary="Record a penalty decision and publish it (credit officers)",
)
async def record_penalty(
    body: PenaltyCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: RecorderDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> PenaltyRead:
        penalty = await service.record_penalty(
            session, runtime.outbox, runtime.calendar, officer, body, today
        )
        return PenaltyRead.of(penalty, today)

    return await run_idempotent(
        session, runtime.tables, officer, idempotency_key, "POST /penalties", body, act
    )


@router.get(
    "/{penalty_id}",
    response_model=PenaltyRead,
    summary="One penalty: public while in publicity; the bureau and the enterprise always",
)
async def get_penalty(penalty: ReadablePenalty, today: TodayDep) -> PenaltyRead:
    return PenaltyRead.of(penalty, today)


def decided_cursor(cursor: str | None) -> tuple[date, str] | None:
    """The (decided_on, id) key inside a record listing's cursor."""
    return None if cursor is None else date_cursor(cursor)


@router.get(
    "",
    response_model=Page[PenaltyRead],
    summary="Penalty publicity list, newest decision first",
    description="Without a token: records in publicity today. The bureau sees every record; "
    "an enterprise also sees all of its own, including those whose publicity has ended.",
)
async def list_penalties(
    session: SessionDep,
    readership: ReadershipDep,
    today: TodayDep,
    uscc: Annotated[USCC | None, Query(description="Only this enterprise's records")] = None,
    name: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Part of the name")
    ] = None,
    in_publicity: Annotated[
        bool | None, Query(description="Only records in (true) or out of (false) publicity")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[PenaltyRead]:
    rows = await PenaltyRepository(session).list_page(
        readership=readership,
        today=today,
        uscc=uscc,
        name=(name or "").strip() or None,
        publicity=in_publicity,
        after=decided_cursor(cursor),
        limit=limit + 1,
    )
    items = [PenaltyRead.of(p, today) for p in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = encode_cursor(last.decided_on.isoformat(), last.id)
    return Page[PenaltyRead](items=items, next_cursor=next_cursor)

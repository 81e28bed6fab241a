"""Red- and black-list endpoints (measure 5): thin — parse, authorise, call the use case, return.

Public reads need no token and show only what is published. The bureau proposes, notifies and
decides; the enterprise sees and objects to its own cases only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import Principal, Role, require_roles
from kernel.auth.principal import BUREAU_ROLES
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, date_cursor, encode_cursor
from kernel.uscc import USCC
from kernel.versioning import ExpectedVersion, etag
from services.credit import ledger, lists
from services.credit.dependencies import TodayDep
from services.credit.lists_domain import BlacklistState, RedlistState
from services.credit.lists_schemas import (
    BlacklistCaseRead,
    BlacklistDecision,
    BlacklistProposal,
    BlacklistPublicRead,
    CriterionRead,
    JointIncentiveRead,
    ObjectionCreate,
    RedlistCheckRead,
    RedlistDecision,
    RedlistEntryRead,
    RedlistNomination,
    RedlistPublicRead,
)
from services.credit.models import BlacklistEntry, RedlistEntry

router = APIRouter()

BureauDep = Annotated[Principal, Depends(require_roles(*BUREAU_ROLES))]
LeaderDep = Annotated[Principal, Depends(require_roles(Role.leader))]
EnterpriseDep = Annotated[Principal, Depends(require_roles(Role.enterprise))]

CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` of a page")]
LimitQuery = Annotated[int, Query(ge=1, le=200)]
SearchQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=100, description="Part of the name, or an exact USCC"),
]
CaseId = Annotated[str, Path(max_length=36)]


def _after(cursor: str | None) -> lists.After:
    return None if cursor is None else date_cursor(cursor)


def _next(more: bool, on: date | None, last_id: str) -> str | None:
    return encode_cursor(on.isoformat(), last_id) if more and on is not None else None


async def _case_read(session: SessionDep, entry: BlacklistEntry) -> BlacklistCaseRead:
    return BlacklistCaseRead.of(entry, await ledger.history_of(session, lists.BLACKLIST, entry.id))


async def _redlist_read(session: SessionDep, entry: RedlistEntry) -> RedlistEntryRead:
    return RedlistEntryRead.of(entry, await ledger.history_of(session, lists.REDLIST, entry.id))


# --- black list: bureau and enterprise -------------------------------------------------------
# Fixed paths come before /blacklist/{case_id} so they are not read as an id.


@router.get(
    "/blacklist/cases",
    response_model=Page[BlacklistCaseRead],
    tags=["blacklist"],
    summary="All black-list cases with private fields and full history (bureau)",
)
async def list_cases(
    session: SessionDep,
    _: BureauDep,
    state: Annotated[BlacklistState | None, Query(description="Only cases in this state")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[BlacklistCaseRead]:
    rows = await lists.bureau_cases(session, state, _after(cursor), limit + 1)
    page = rows[:limit]
    history = await lists.histories(session, lists.BLACKLIST, [r.id for r in page])
    items = [BlacklistCaseRead.of(r, history[r.id]) for r in page]
    last = page[-1] if page else None
    return Page[BlacklistCaseRead](
        items=items,
        next_cursor=_next(len(rows) > limit, last.proposed_on, last.id) if last else None,
    )


@router.get(
    "/blacklist/cases/mine",
    response_model=list[BlacklistCaseRead],
    tags=["blacklist"],
    summary="The calling enterprise's own cases, with its pre-notices (enterprise)",
    description="Cases appear once the pre-notice (列入前告知书) has been served.",
)
async def my_cases(session: SessionDep, enterprise: EnterpriseDep) -> list[BlacklistCaseRead]:
    rows = await lists.cases_of_enterprise(session, enterprise.subject)
    history = await lists.histories(session, lists.BLACKLIST, [r.id for r in rows])
    return [BlacklistCaseRead.of(r, history[r.id]) for r in rows]


@router.post(
    "/blacklist",
    status_code=201,
    response_model=BlacklistCaseRead,
    tags=["blacklist"],
    summary="Propose listing an enterprise on the black list (bureau)",
    description="拟列入安全生产严重失信主体名单. One open case per enterprise (409 otherwise); "
    "basis records must be this enterprise's credit records.",
)
async def propose_case(
    body: BlacklistProposal,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: BureauDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> BlacklistCaseRead:
        entry = await lists.propose_case(session, officer, body, today)
        return await _case_read(session, entry)

    return await run_idempotent(
        session, runtime.tables, officer, idempotency_key, "POST /blacklist", body, act
    )


@router.post(
    "/blacklist/{case_id}/notice",
    response_model=BlacklistCaseRead,
    tags=["blacklist"],
    summary="Serve the pre-notice and start the objection window (bureau)",
    description="送达列入前告知书. The window ends a configured number of working days after "
    "today on the official calendar; refused (422 calendar_year_unknown) when that calendar "
    "year is not loaded.",
)
async def serve_notice(
    case_id: CaseId,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: BureauDep,
    today: TodayDep,
    response: Response,
    expected: ExpectedVersion,
) -> BlacklistCaseRead:
    entry = await lists.serve_pre_notice(
        session, runtime.calendar, officer, case_id, today, expected
    )
    response.headers["ETag"] = etag(entry.version)
    return await _case_read(session, entry)


@router.post(
    "/blacklist/{case_id}/objection",
    response_model=BlacklistCaseRead,
    tags=["blacklist"],
    summary="State the enterprise's case against a pre-notice (enterprise, own cases only)",
    description="陈述、申辩. Accepted up to and including the objection due day.",
)
async def file_objection(
    case_id: CaseId,
    body: ObjectionCreate,
    session: SessionDep,
    enterprise: EnterpriseDep,
    today: TodayDep,
    response: Response,
    expected: ExpectedVersion,
) -> BlacklistCaseRead:
    entry = await lists.file_objection(session, enterprise, case_id, body, today, expected)
    response.headers["ETag"] = etag(entry.version)
    return await _case_read(session, entry)


@router.post(
    "/blacklist/{case_id}/decision",
    response_model=BlacklistCaseRead,
    tags=["blacklist"],
    summary="Decide a case: list or withdraw (leader)",
    description="列入决定. Listing waits for the objection window unless the enterprise has "
    "objected, and then needs a reason answering the objection. Listing ends a red listing and "
    "announces credit.standing.changed.v1.",
)
async def decide_case(
    case_id: CaseId,
    body: BlacklistDecision,
    session: SessionDep,
    runtime: RuntimeDep,
    leader: LeaderDep,
    today: TodayDep,
    response: Response,
    expected: ExpectedVersion,
) -> BlacklistCaseRead:
    entry = await lists.decide_case(session, runtime.outbox, leader, case_id, body, today, expected)
    response.headers["ETag"] = etag(entry.version)
    return await _case_read(session, entry)


# --- black list: public --------------------------------------------------------------------


@router.get(
    "/blacklist",
    response_model=Page[BlacklistPublicRead],
    tags=["blacklist"],
    summary="The black list today, newest listing first (public)",
    description="安全生产严重失信主体名单: enterprises listed today.",
)
async def public_blacklist(
    session: SessionDep,
    today: TodayDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[BlacklistPublicRead]:
    rows = await lists.public_blacklist(session, today, q, _after(cursor), limit + 1)
    page = rows[:limit]
    history = await lists.histories(
        session, lists.BLACKLIST, [r.id for r in page], public_only=True
    )
    items = [BlacklistPublicRead.of(r, history[r.id]) for r in page]
    last = page[-1] if page else None
    return Page[BlacklistPublicRead](
        items=items,
        next_cursor=_next(len(rows) > limit, last.decided_on, last.id) if last else None,
    )


@router.get(
    "/blacklist/{case_id}",
    response_model=BlacklistPublicRead,
    tags=["blacklist"],
    summary="One black-list entry, listed or removed (public)",
)
async def public_case(case_id: CaseId, session: SessionDep) -> BlacklistPublicRead:
    entry = await lists.public_case(session, case_id)
    history = await ledger.history_of(session, lists.BLACKLIST, entry.id, public_only=True)
    return BlacklistPublicRead.of(entry, history)


# --- red list: bureau ----------------------------------------------------------------------


@router.get(
    "/redlist/nominations",
    response_model=Page[RedlistEntryRead],
    tags=["redlist"],
    summary="Red-list nominations and listings with private fields (bureau)",
)
async def list_nominations(
    session: SessionDep,
    _: BureauDep,
    state: Annotated[RedlistState | None, Query(description="Only entries in this state")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[RedlistEntryRead]:
    rows = await lists.nominations(session, state, _after(cursor), limit + 1)
    page = rows[:limit]
    history = await lists.histories(session, lists.REDLIST, [r.id for r in page])
    items = [RedlistEntryRead.of(r, history[r.id]) for r in page]
    last = page[-1] if page else None
    return Page[RedlistEntryRead](
        items=items,
        next_cursor=_next(len(rows) > limit, last.nominated_on, last.id) if last else None,
    )


@router.get(
    "/redlist/check/{uscc}",
    response_model=RedlistCheckRead,
    tags=["redlist"],
    summary="Compute the red-list criteria now, without saving (bureau)",
)
async def check_redlist(
    uscc: Annotated[USCC, Path()],
    session: SessionDep,
    _: BureauDep,
    today: TodayDep,
    standardisation_level: Annotated[
        int | None, Query(ge=1, le=3, description="安全生产标准化等级, if known")
    ] = None,
    accident_free_attested: Annotated[
        bool, Query(description="Whether the officer would attest 3 accident-free years")
    ] = False,
) -> RedlistCheckRead:
    check = await lists.check_redlist(
        session,
        uscc,
        today,
        standardisation_level=standardisation_level,
        accident_free_attested=accident_free_attested,
    )
    return RedlistCheckRead(
        uscc=uscc,
        checked_on=today,
        eligible=check.eligible,
        criteria=[CriterionRead.model_validate(r.as_dict()) for r in check.results],
    )


@router.post(
    "/redlist",
    status_code=201,
    response_model=RedlistEntryRead,
    tags=["redlist"],
    summary="Nominate an enterprise for the red list (bureau)",
    description="推荐纳入守信红名单. The criteria are computed and stored; a nomination that "
    "fails any is refused (422 redlist_criteria_not_met, listing the failing criteria).",
)
async def nominate(
    body: RedlistNomination,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: BureauDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> RedlistEntryRead:
        entry = await lists.nominate(session, officer, body, today)
        return await _redlist_read(session, entry)

    return await run_idempotent(
        session, runtime.tables, officer, idempotency_key, "POST /redlist", body, act
    )


@router.post(
    "/redlist/{entry_id}/decision",
    response_model=RedlistEntryRead,
    tags=["redlist"],
    summary="Approve or reject a nomination (leader)",
    description="Approval computes the criteria again and lists the enterprise for 3 years, "
    "announcing credit.standing.changed.v1; a rejection needs its reason.",
)
async def decide_nomination(
    entry_id: CaseId,
    body: RedlistDecision,
    session: SessionDep,
    runtime: RuntimeDep,
    leader: LeaderDep,
    today: TodayDep,
    response: Response,
    expected: ExpectedVersion,
) -> RedlistEntryRead:
    entry = await lists.decide_nomination(
        session, runtime.outbox, leader, entry_id, body, today, expected
    )
    response.headers["ETag"] = etag(entry.version)
    return await _redlist_read(session, entry)


# --- red list: public ----------------------------------------------------------------------


@router.get(
    "/redlist",
    response_model=Page[RedlistPublicRead],
    tags=["redlist"],
    summary="The red list today, newest listing first (public)",
    description="守信红名单: enterprises listed today.",
)
async def public_redlist(
    session: SessionDep,
    today: TodayDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[RedlistPublicRead]:
    rows = await lists.public_redlist(session, today, q, _after(cursor), limit + 1)
    page = rows[:limit]
    history = await lists.histories(session, lists.REDLIST, [r.id for r in page], public_only=True)
    items = [RedlistPublicRead.of(r, history[r.id]) for r in page]
    last = page[-1] if page else None
    return Page[RedlistPublicRead](
        items=items,
        next_cursor=_next(len(rows) > limit, last.decided_on, last.id) if last else None,
    )


@router.get(
    "/redlist/{entry_id}",
    response_model=RedlistPublicRead,
    tags=["redlist"],
    summary="One red-list entry, listed or removed (public)",
)
async def public_redlist_entry(entry_id: CaseId, session: SessionDep) -> RedlistPublicRead:
    entry = await lists.public_redlist_entry(session, entry_id)
    history = await ledger.history_of(session, lists.REDLIST, entry.id, public_only=True)
    return RedlistPublicRead.of(entry, history)


@router.get(
    "/joint-incentives",
    response_model=Page[JointIncentiveRead],
    tags=["redlist"],
    summary="The joint-incentive directory (public)",
    description="联合激励对象名录: red-listed enterprises marked for joint incentives, each with "
    "its incentive measures.",
)
async def joint_incentives(
    session: SessionDep,
    today: TodayDep,
    q: SearchQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Page[JointIncentiveRead]:
    rows = await lists.public_redlist(session, today, q, _after(cursor), limit + 1, joint_only=True)
    page = rows[:limit]
    last = page[-1] if page else None
    return Page[JointIncentiveRead](
        items=[JointIncentiveRead.of(r) for r in page],
        next_cursor=_next(len(rows) > limit, last.decided_on, last.id) if last else None,
    )

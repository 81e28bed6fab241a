"""Inter-department data sharing at the gateway: the data-set catalogue, grants (admins),
data-set reads for departments under a grant, and the read log for the data's owner (the
bureau), the department and the enterprise concerned.

Every read is logged before its data is returned: the log row and the enterprises the read
returned commit first, and if they cannot be written the data is withheld (503). A read whose
upstream failed is logged as failed. The owner services are called with the gateway's own
service token (scope data:share), never the department's: the services admit that scope where
they share data, and the gateway is where the grant is checked and the read recorded.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.calls import CallResult, call_json
from gateway.context import GatewayRuntime, Runtime, Session, require
from gateway.models import DataRead, DataReadSubject, Grant
from gateway.proxy import UpstreamTimeout, UpstreamUnavailable
from gateway.sharing import (
    CATALOGUE,
    DEPARTMENT_PATTERN,
    EARLIEST_DAY,
    GRANT_PARAMETER,
    LATEST_DAY,
    DataSet,
    GrantStatus,
    ParameterError,
    QueryInvalid,
    UpstreamQuery,
    answer_of,
    check_expiry,
    choose_grant,
    dataset_of,
)
from gateway.sharing_schemas import (
    DataReadNotice,
    DataReadRead,
    DataSetRead,
    GrantCreate,
    GrantRead,
    GrantRevoke,
)
from kernel.auth.principal import BUREAU_ROLES, Principal, Role
from kernel.auth.service_token import DATA_SHARE_SCOPE
from kernel.db import unit_of_work, utcnow
from kernel.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    RuleViolated,
    ServiceUnavailable,
)
from kernel.inputs import IsoDate
from kernel.pagination import InvalidCursor, Page, encode_cursor, instant_cursor
from kernel.uscc import USCC
from kernel.workdays import business_day_start

log = logging.getLogger("gateway.sharing")

# The service token the gateway reads with: short-lived, renewed a minute before it expires.
SHARE_TOKEN_SECONDS: Final = 300
SHARE_TOKEN_RENEW_BEFORE: Final = 60
GATEWAY_SUBJECT: Final = "svc:gateway"

_GRANT_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

AdminCaller = Annotated[Principal, Depends(require(Role.admin))]
GrantViewer = Annotated[Principal, Depends(require(*BUREAU_ROLES, Role.department))]
DataReader = Annotated[Principal, Depends(require(Role.department))]
ReadLogViewer = Annotated[
    Principal, Depends(require(*BUREAU_ROLES, Role.department, Role.enterprise))
]


# --- errors ----------------------------------------------------------------------------------


class GrantNotFound(NotFound):
    code = "grant_not_found"


class UpstreamRejected(ProblemError):
    """The owner service refused the read's query (a stale cursor, say): its answer, relayed."""

    title, title_zh = "Query refused by the data's owner", "数据提供方拒绝了查询"

    def __init__(self, status: int, detail: str, *, code: str, **extra: Any) -> None:
        super().__init__(detail, code=code, **extra)
        self.status = status


# --- the gateway's service token -------------------------------------------------------------


class ShareTokens:
    """The one data:share token, minted on first use and renewed a minute before it expires."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self, runtime: GatewayRuntime) -> str:
        issuer = runtime.issuer
        if issuer is None:
            raise ServiceUnavailable(
                "the gateway has no token issuer to read data sets with",
                code="sharing_unavailable",
            )
        now = time.monotonic()
        if self._token is None or now >= self._renew_at:
            self._token = issuer.mint(
                Role.service,
                GATEWAY_SUBJECT,
                scopes=(DATA_SHARE_SCOPE,),
                ttl_seconds=SHARE_TOKEN_SECONDS,
            )
            self._renew_at = now + SHARE_TOKEN_SECONDS - SHARE_TOKEN_RENEW_BEFORE
        return self._token


def share_tokens_of(request: Request) -> ShareTokens:
    tokens: ShareTokens = request.app.state.share_tokens
    return tokens


# --- helpers ---------------------------------------------------------------------------------


def _json(body: BaseModel | dict[str, Any], status: int = 200, **headers: str) -> Response:
    content = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **headers},
    )


def _period(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """[start, end) instants of the business days `first`..`last` (each end optional)."""
    if first is not None and last is not None and first > last:
        raise RuleViolated("`to` must be on or after `from`", code="period_reversed", field="to")
    start = business_day_start(first) if first is not None else None
    end = business_day_start(last + timedelta(days=1)) if last is not None else None
    return start, end


async def _grant(session: AsyncSession, grant_id: str) -> Grant:
    # An id that cannot exist is not found (404), never a 422, and never reaches the database.
    grant = await session.get(Grant, grant_id) if _GRANT_ID.fullmatch(grant_id) else None
    if grant is None:
        raise GrantNotFound(f"grant {grant_id[:40]!r} not found")
    return grant


CursorQuery = Annotated[
    str | None, Query(max_length=300, description="`next_cursor` of the previous page")
]
LimitQuery = Annotated[int, Query(ge=1, le=200)]
DepartmentQuery = Annotated[str | None, Query(pattern=DEPARTMENT_PATTERN, max_length=64)]
DatasetQuery = Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,64}$")]
Day = Annotated[IsoDate | None, Query(ge=EARLIEST_DAY, le=LATEST_DAY)]
# No length or pattern here: an id that cannot exist is simply not found (404), never a 422.
GrantId = Annotated[str, Path(description="The grant's id")]

router = APIRouter(tags=["data sharing"])


# --- catalogue -------------------------------------------------------------------------------

# Built once: the catalogue is code, not data.
_CATALOGUE_BODY: Final = orjson.dumps({"items": [ds.describe() for ds in CATALOGUE.values()]})


@router.get(
    "/api/data",
    summary="The data sets departments may be granted (departments, bureau)",
    responses={200: {"description": "The catalogue: each data set's owner and parameters"}},
)
async def list_datasets(_caller: GrantViewer) -> Response:
    return Response(
        _CATALOGUE_BODY, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


# --- grants ----------------------------------------------------------------------------------


@router.post(
    "/api/gateway/grants",
    status_code=201,
    response_model=GrantRead,
    summary="Grant a department one data set for one purpose until it expires (admin)",
)
async def create_grant(body: GrantCreate, session: Session, admin: AdminCaller) -> Response:
    now = utcnow()
    check_expiry(body.expires_at, now)
    grant = Grant(
        id=str(uuid.uuid4()),
        department=body.department,
        dataset=body.dataset,
        purpose=body.purpose,
        legal_basis=body.legal_basis,
        expires_at=body.expires_at,
        created_at=now,
        created_by=admin.key,
        revoked_at=None,
        revoked_by=None,
        revoked_reason=None,
    )
    session.add(grant)
    await session.flush()
    return _json(GrantRead.of(grant, now), 201, Location=f"/api/gateway/grants/{grant.id}")


@router.get(
    "/api/gateway/grants",
    response_model=Page[GrantRead],
    summary="Grants, newest first (admin and bureau: all; a department: its own)",
)
async def list_grants(
    session: Session,
    caller: GrantViewer,
    department: DepartmentQuery = None,
    dataset: DatasetQuery = None,
    status: GrantStatus | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Response:
    if caller.role is Role.department:
        if department is not None and department != caller.subject:
            raise Forbidden("a department sees only its own grants", code="grants_not_yours")
        department = caller.subject
    now = utcnow()
    query = sa.select(Grant)
    if department is not None:
        query = query.where(Grant.department == department)
    if dataset is not None:
        query = query.where(Grant.dataset == dataset)
    if status is GrantStatus.revoked:
        query = query.where(Grant.revoked_at.is_not(None))
    elif status is GrantStatus.expired:
        query = query.where(Grant.revoked_at.is_(None), Grant.expires_at <= now)
    elif status is GrantStatus.active:
        query = query.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
    after = instant_cursor(cursor) if cursor is not None else None
    if after is not None:
        at, last_id = after
        query = query.where(
            sa.or_(Grant.created_at < at, sa.and_(Grant.created_at == at, Grant.id < last_id))
        )
    query = query.order_by(Grant.created_at.desc(), Grant.id.desc()).limit(limit + 1)
    rows = (await session.scalars(query)).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1].created_at.isoformat(), page[-1].id)
    return _json(
        Page[GrantRead](items=[GrantRead.of(g, now) for g in page], next_cursor=next_cursor)
    )


@router.get(
    "/api/gateway/grants/{grant_id}",
    response_model=GrantRead,
    summary="One grant (admin and bureau; a department its own)",
)
async def get_grant(grant_id: GrantId, session: Session, caller: GrantViewer) -> Response:
    grant = await _grant(session, grant_id)
    if caller.role is Role.department and grant.department != caller.subject:
        # Another department's grant does not exist for this one.
        raise GrantNotFound(f"grant {grant_id!r} not found")
    return _json(GrantRead.of(grant, utcnow()))


@router.post(
    "/api/gateway/grants/{grant_id}/revoke",
    response_model=GrantRead,
    summary="Revoke a grant now (admin); reads under it stop at once",
)
async def revoke_grant(
    grant_id: GrantId, body: GrantRevoke, session: Session, admin: AdminCaller
) -> Response:
    grant = await _grant(session, grant_id)
    now = utcnow()
    # Conditional, so two administrators revoking at once leave one record of who did it.
    revoked = await session.execute(
        sa.update(Grant)
        .where(Grant.id == grant.id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=admin.key, revoked_reason=body.reason)
        .execution_options(synchronize_session=False)
    )
    if getattr(revoked, "rowcount", 0) != 1:
        raise Conflict(f"grant {grant.id} is already revoked", code="grant_revoked")
    await session.refresh(grant)
    return _json(GrantRead.of(grant, now))


# --- data-set reads --------------------------------------------------------------------------


def _split_grant(pairs: Sequence[tuple[str, str]]) -> tuple[str | None, list[tuple[str, str]]]:
    """The read's `grant` parameter (the gateway's own) and the rest (the data set's)."""
    wanted = [v for k, v in pairs if k == GRANT_PARAMETER]
    if len(wanted) > 1:
        raise QueryInvalid(
            f"`{GRANT_PARAMETER}` given twice",
            field=GRANT_PARAMETER,
            errors=[ParameterError(GRANT_PARAMETER, "repeated", "given twice").as_problem_item()],
        )
    return (wanted[0] if wanted else None), [(k, v) for k, v in pairs if k != GRANT_PARAMETER]


async def _active_grants(
    runtime: GatewayRuntime, department: str, dataset: str, now: datetime
) -> list[Grant]:
    async with unit_of_work(runtime.session_factory) as session:
        rows = await session.scalars(
            sa.select(Grant)
            .where(
                Grant.department == department,
                Grant.dataset == dataset,
                Grant.revoked_at.is_(None),
                Grant.expires_at > now,
            )
            .order_by(Grant.created_at, Grant.id)
        )
        return list(rows.all())


@dataclass(frozen=True)
class PendingRead:
    """A read under way: logged once its outcome is known, before anything is answered."""

    at: datetime
    caller: Principal
    grant: Grant
    query: UpstreamQuery
    request_id: str | None

    async def log(
        self,
        runtime: GatewayRuntime,
        outcome: str,
        record_count: int = 0,
        subjects: frozenset[str] = frozenset(),
    ) -> int:
        """Record the read and the enterprises it returned, in one committed transaction."""
        async with unit_of_work(runtime.session_factory) as session:
            row = DataRead(
                at=self.at,
                department=self.caller.subject,
                actor=self.caller.key,
                grant_id=self.grant.id,
                dataset=self.grant.dataset,
                purpose=self.grant.purpose,
                query=self.query.logged,
                record_count=record_count,
                outcome=outcome,
                request_id=self.request_id,
            )
            session.add(row)
            await session.flush()
            session.add_all(DataReadSubject(read_id=row.id, uscc=u) for u in sorted(subjects))
            await session.flush()
            return row.id


def _upstream_failure(ds: DataSet, result: CallResult, timeout: float) -> ProblemError:
    """What the department is told when the owner could not serve the read."""
    name = ds.owner
    if result.error == "timeout":
        return UpstreamTimeout(
            f"the {name} service did not answer within {timeout:g} s", upstream=name
        )
    body = result.body if isinstance(result.body, dict) else {}
    if result.status in (400, 422) and isinstance(body.get("code"), str):
        # The query was the department's (a stale or foreign cursor): say so as the owner did.
        extra = {"field": body["field"]} if isinstance(body.get("field"), str) else {}
        return UpstreamRejected(
            result.status,
            str(body.get("detail") or "the query was refused")[:500],
            code=str(body["code"])[:64],
            upstream=name,
            **extra,
        )
    why = result.error or f"HTTP {result.status}"
    if result.ok:
        why = "its answer was not a page of items"
    return UpstreamUnavailable(
        f"the {name} service could not serve data set {ds.code!r} ({why}); retry later",
        upstream=name,
        headers={"Retry-After": "5"},
    )


@router.get(
    "/api/data/{dataset}",
    response_model=DataSetRead,
    summary="Read a data set under one of the department's active grants (logged)",
    description="Only the catalogue's parameters for the data set are accepted. With several "
    "active grants for the data set, `grant=<id>` says which one (and so which purpose) the "
    "read is made under. Every read is logged before its data is returned.",
)
async def read_dataset(
    dataset: Annotated[str, Path(description="A data set of the catalogue (GET /api/data)")],
    request: Request,
    runtime: Runtime,
    caller: DataReader,
    tokens: Annotated[ShareTokens, Depends(share_tokens_of)],
) -> Response:
    ds = dataset_of(dataset)
    wanted, rest = _split_grant(request.query_params.multi_items())
    now = utcnow()
    active = await _active_grants(runtime, caller.subject, ds.code, now)
    grant = choose_grant(ds.code, active, wanted)
    query = ds.query(rest)
    token = tokens.get(runtime)
    pending = PendingRead(now, caller, grant, query, request.headers.get("x-request-id"))
    forwarded = {
        k: v
        for k in ("x-request-id", "traceparent", "tracestate", "accept-language")
        if (v := request.headers.get(k)) is not None
    }
    timeout = runtime.settings.read_timeout_of(ds.owner)
    result = await call_json(
        runtime.upstreams,
        ds.owner,
        query.path,
        token=token,
        params=query.params,
        headers=forwarded,
        timeout=timeout,
    )
    try:
        answer = answer_of(ds, result.body) if result.ok else None
    except ValueError:
        answer = None
    if answer is None:
        try:
            await pending.log(runtime, "failed")
        except SQLAlchemyError:
            log.exception("a failed read of %s by %s could not be logged", ds.code, caller.key)
        raise _upstream_failure(ds, result, timeout)
    try:
        read_id = await pending.log(runtime, "served", len(answer.items), answer.subjects)
    except SQLAlchemyError as exc:
        log.exception("a read of %s by %s could not be logged", ds.code, caller.key)
        raise ServiceUnavailable(
            "the read could not be logged, so its data is withheld; retry later",
            code="read_log_unavailable",
            headers={"Retry-After": "5"},
        ) from exc
    # The owner's items as they came (a DataSetRead), without walking them again.
    return _json(
        {
            "dataset": ds.code,
            "grant_id": grant.id,
            "purpose": grant.purpose,
            "read_id": read_id,
            "items": answer.items,
            "next_cursor": answer.next_cursor,
        }
    )


# --- the read log ----------------------------------------------------------------------------


@router.get(
    "/api/gateway/data-reads",
    response_model=Page[DataReadRead] | Page[DataReadNotice],
    summary="Who read what, newest first: the bureau all reads; a department its own; an "
    "enterprise the reads that returned its records",
)
async def list_data_reads(
    session: Session,
    caller: ReadLogViewer,
    dataset: DatasetQuery = None,
    department: DepartmentQuery = None,
    uscc: Annotated[USCC | None, Query(description="Reads that returned this enterprise")] = None,
    from_: Annotated[Day, Query(alias="from", description="From this business date")] = None,
    to: Annotated[Day, Query(description="To this business date, inclusive")] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = 50,
) -> Response:
    if caller.role is Role.department:
        if department is not None and department != caller.subject:
            raise Forbidden("a department sees only its own reads", code="reads_not_yours")
        department = caller.subject
    elif caller.role is Role.enterprise:
        if uscc is not None and uscc != caller.subject:
            raise Forbidden(
                "an enterprise sees only the reads of its own records", code="reads_not_yours"
            )
        uscc = caller.subject
    start, end = _period(from_, to)
    query = sa.select(DataRead)
    if uscc is not None:
        query = query.where(
            DataRead.id.in_(sa.select(DataReadSubject.read_id).where(DataReadSubject.uscc == uscc))
        )
    if department is not None:
        query = query.where(DataRead.department == department)
    if dataset is not None:
        query = query.where(DataRead.dataset == dataset)
    if start is not None:
        query = query.where(DataRead.at >= start)
    if end is not None:
        query = query.where(DataRead.at < end)
    after = instant_cursor(cursor) if cursor is not None else None
    if after is not None:
        at, last = after
        if not (last.isascii() and last.isdigit()) or len(last) > 18:
            raise InvalidCursor("cursor is malformed", field="cursor")
        query = query.where(
            sa.or_(DataRead.at < at, sa.and_(DataRead.at == at, DataRead.id < int(last)))
        )
    query = query.order_by(DataRead.at.desc(), DataRead.id.desc()).limit(limit + 1)
    rows = (await session.scalars(query)).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1].at.isoformat(), str(page[-1].id))
    if caller.role is Role.enterprise:
        notices = [DataReadNotice.notice_of(r) for r in page]
        return _json(Page[DataReadNotice](items=notices, next_cursor=next_cursor))
    return _json(
        Page[DataReadRead](items=[DataReadRead.of(r) for r in page], next_cursor=next_cursor)
    )


def install_sharing(app: FastAPI, runtime: GatewayRuntime) -> None:
    """Add the data-sharing routes (before the proxy's catch-all) and the gateway's token
    source for reading data sets."""
    app.state.share_tokens = ShareTokens()
    app.include_router(router)

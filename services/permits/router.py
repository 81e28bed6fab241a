"""Catalogue endpoints: thin — parse, authorise, call the use case, return.

Reads are public (the catalogue, its service guides and approvers' phones are published);
writes are for administrators.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.app import RuntimeDep, ServiceRuntime, SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.db import utcnow
from kernel.errors import Forbidden, NotFound, RuleViolated
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.inputs import IsoDate
from kernel.pagination import Page, decode_cursor, encode_cursor, instant_cursor
from kernel.uscc import USCC
from kernel.versioning import ExpectedVersion, etag
from kernel.workdays import (
    EARLIEST_BUSINESS_DAY,
    LATEST_BUSINESS_DAY,
    business_day_start,
    shanghai_today,
)
from services.permits import applications, licences, service
from services.permits.config import PermitsSettings
from services.permits.dependencies import (
    AdminDep,
    EnterpriseDep,
    IssuingDep,
    LicenceAdminDep,
    LicenceReaderDep,
    OnDate,
    ReviewerDep,
    TodayDep,
)
from services.permits.domain import (
    FINAL_STATUSES,
    ITEM_CODE_PATTERN,
    ApplicationStatus,
    ApprovalMode,
    Clock,
    Material,
    MaterialSource,
    is_zero_materials,
    pledge_text,
    version_status,
)
from services.permits.licences import LicenceStatus
from services.permits.models import Application, ItemVersion, Licence
from services.permits.qr import licence_qr_png, licence_qr_svg, qr_payload
from services.permits.repository import ItemRepository, LicenceFilter, LicenceRepository
from services.permits.schemas import (
    ApplicationCreate,
    ApplicationRead,
    ApplicationStepRead,
    DecisionCreate,
    ItemCreate,
    ItemHistory,
    ItemRead,
    ItemVersionCreate,
    LicenceRead,
    LicenceStatusChange,
)
from services.permits.status_list import StatusPurpose

router = APIRouter(prefix="/items", tags=["catalogue"])

# No pattern here: a code that cannot exist is simply not found (404), never a 422.
ItemCode = Annotated[str, Path(description="Catalogue code, e.g. QD-AJ-001")]


# Stored columns shown as they are; the rest of ItemRead is derived by the domain.
_COLUMNS = tuple(
    name for name in ItemRead.model_fields if name not in {"is_zero_materials", "status"}
)


def _read(row: ItemVersion, in_force: ItemVersion | None) -> ItemRead:
    """A stored version as the catalogue shows it, standing judged against `in_force`."""
    materials = [
        Material(m["name"], MaterialSource(m["source"]), bool(m["mandatory"]))
        for m in row.materials
    ]
    return ItemRead.model_validate(
        {
            **{name: getattr(row, name) for name in _COLUMNS},
            "is_zero_materials": is_zero_materials(materials),
            "status": version_status(row, in_force),
        }
    )


@router.post(
    "",
    status_code=201,
    response_model=ItemRead,
    summary="Add an item to the catalogue (admin); published at once as version 1",
)
async def publish_item(
    body: ItemCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: AdminDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> ItemRead:
        row = await service.publish_item(session, runtime.outbox, admin, body)
        # Just published, so nothing supersedes it: published whether in force or scheduled.
        return _read(row, None)

    return await run_idempotent(
        session, runtime.tables, admin, idempotency_key, "POST /items", body, act
    )


@router.post(
    "/{code}/versions",
    status_code=201,
    response_model=ItemRead,
    summary="Publish the next version of an item (admin), in force from its effective date",
)
async def publish_version(
    code: ItemCode,
    body: ItemVersionCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    admin: AdminDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> ItemRead:
        today = shanghai_today()
        row = await service.publish_version(session, runtime.outbox, admin, code, body, today)
        return _read(row, None)

    route = f"POST /items/{code}/versions"
    return await run_idempotent(session, runtime.tables, admin, idempotency_key, route, body, act)


@router.get("", response_model=Page[ItemRead], summary="The catalogue in force, by code")
async def list_items(
    session: SessionDep,
    on: OnDate,
    approval_mode: ApprovalMode | None = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=50, description="Part of the item's name")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ItemRead]:
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await ItemRepository(session).list_in_force_page(
        on=on, approval_mode=approval_mode, name_contains=q, after_code=after, limit=limit + 1
    )
    items = [_read(row, row) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].code) if len(rows) > limit else None
    return Page[ItemRead](items=items, next_cursor=next_cursor)


@router.get("/{code}", response_model=ItemRead, summary="An item's version in force")
async def get_item(code: ItemCode, session: SessionDep, on: OnDate) -> ItemRead:
    in_force = await service.item_in_force(session, code, on)
    return _read(in_force, in_force)


@router.get("/{code}/versions", response_model=ItemHistory, summary="An item's version history")
async def list_versions(code: ItemCode, session: SessionDep, on: OnDate) -> ItemHistory:
    history = await service.item_history(session, code, on)
    return ItemHistory(
        code=code,
        on=on,
        in_force_version=history.in_force.version if history.in_force else None,
        versions=[_read(v, history.in_force) for v in history.versions],
    )


@router.get("/{code}/versions/{version}", response_model=ItemRead, summary="One version")
async def get_version(
    code: ItemCode,
    version: Annotated[int, Path(ge=1)],
    session: SessionDep,
    on: OnDate,
) -> ItemRead:
    row, in_force = await service.item_version(session, code, version, on)
    return _read(row, in_force)


# --- applications -------------------------------------------------------------------------

applications_router = APIRouter(prefix="/applications", tags=["applications"])


class SubmissionRead(ApplicationRead):
    """The application as decided so far, with the licence when it was granted at once."""

    licence: LicenceRead | None = None


def _licence_read(licence: Licence) -> LicenceRead:
    return LicenceRead.model_validate(licence)


def _summary(app: Application, today: date) -> ApplicationRead:
    """An application without its history (listings: one query, not one per row)."""
    clock = None if app.due_on is None else Clock(app.submitted_on, app.due_on, app.limit_days)
    overdue = clock is not None and clock.is_overdue(today, ApplicationStatus(app.status))
    return ApplicationRead.model_validate(app).model_copy(update={"is_overdue": overdue})


async def _application_view(
    session: AsyncSession, app: Application, today: date
) -> ApplicationRead:
    """An application with its dated history."""
    steps = await applications.steps_of(session, app.id)
    return _summary(app, today).model_copy(
        update={"steps": [ApplicationStepRead.model_validate(s) for s in steps]}
    )


async def _readable(
    session: AsyncSession, principal: Principal, application_id: str
) -> Application:
    app = await applications.get_application(session, application_id)
    if principal.role not in BUREAU_ROLES and not (
        principal.role is Role.enterprise and principal.subject == app.uscc
    ):
        raise Forbidden(
            "only the applicant or the bureau may see this application",
            code="application_not_yours",
        )
    return app


@router.get("/{code}/pledge", summary="The pledge text (承诺书) an applicant signs for this item")
async def get_pledge_text(code: ItemCode, session: SessionDep, on: OnDate) -> dict[str, str]:
    history = await service.item_history(session, code, on)
    item = history.in_force
    if item is None or item.approval_mode != ApprovalMode.pledge.value:
        raise NotFound(f"item {code} has no pledge path", code="pledge_not_available")
    text = pledge_text(item.code, item.name, item.version)
    return {"text": text, "sha256": hashlib.sha256(text.encode()).hexdigest()}


@applications_router.post(
    "",
    status_code=201,
    response_model=SubmissionRead,
    summary="Apply for a permit item; instant and pledge paths return the licence at once",
    responses={404: {"description": "item_not_found: no item with that code is in force"}},
)
async def submit_application(
    body: ApplicationCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    issuing: IssuingDep,
    applicant: EnterpriseDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> SubmissionRead:
        app, licence = await applications.submit_application(
            session, runtime.outbox, issuing, applicant, body, today
        )
        view = await _application_view(session, app, today)
        return SubmissionRead(
            **view.model_dump(), licence=_licence_read(licence) if licence else None
        )

    return await run_idempotent(
        session, runtime.tables, applicant, idempotency_key, "POST /applications", body, act
    )


@applications_router.get(
    "/{application_id}",
    response_model=SubmissionRead,
    summary="One application with its history and licence",
)
async def get_application(
    application_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    today: TodayDep,
) -> SubmissionRead:
    app = await _readable(session, principal, application_id)
    licence = await applications.licence_of(session, app.id)
    view = await _application_view(session, app, today)
    response.headers["ETag"] = etag(app.version)
    return SubmissionRead(**view.model_dump(), licence=_licence_read(licence) if licence else None)


@applications_router.get(
    "",
    response_model=Page[ApplicationRead],
    summary="Applications without their history (GET one for its steps): the enterprise's "
    "own, or the review queue",
)
async def list_applications(
    session: SessionDep,
    principal: CurrentPrincipal,
    today: TodayDep,
    status: ApplicationStatus | None = None,
    overdue: Annotated[
        bool, Query(description="Only open applications past their due date")
    ] = False,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ApplicationRead]:
    if principal.role not in BUREAU_ROLES and principal.role is not Role.enterprise:
        raise Forbidden(f"role {principal.role.value!r} may not list applications")
    query = sa.select(Application).order_by(
        Application.priority, Application.submitted_at, Application.id
    )
    if principal.role is Role.enterprise:
        query = query.where(Application.uscc == principal.subject)
    if status is not None:
        query = query.where(Application.status == status.value)
    if overdue:
        query = query.where(
            Application.status.not_in([s.value for s in FINAL_STATUSES]),
            Application.due_on < today,
        )
    if cursor:
        priority, submitted, last_id = decode_cursor(cursor, 3)
        key = sa.tuple_(Application.priority, Application.submitted_at, Application.id)
        query = query.where(
            key
            > sa.tuple_(
                sa.literal(int(priority)),
                sa.literal(datetime.fromisoformat(str(submitted))),
                sa.literal(str(last_id)),
            )
        )
    rows = (await session.scalars(query.limit(limit + 1))).all()
    items = [_summary(a, today) for a in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.priority, last.submitted_at.isoformat(), last.id)
    return Page[ApplicationRead](items=items, next_cursor=next_cursor)


@applications_router.post(
    "/{application_id}/decisions",
    response_model=SubmissionRead,
    summary="Review step: approve, propose_rejection (officer), confirm_rejection / send_back "
    "(leader). `reject` is always refused: no direct 'no' (说“不”提级管理)",
    responses={
        409: {"description": "direct_rejection_forbidden, invalid_transition"},
        412: {"description": "If-Match does not match the application's version"},
    },
)
async def decide(
    application_id: str,
    body: DecisionCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    issuing: IssuingDep,
    reviewer: ReviewerDep,
    expected: ExpectedVersion,
    today: TodayDep,
) -> SubmissionRead:
    app = await applications.get_application(session, application_id)
    app = await applications.decide(
        session, runtime.outbox, issuing, reviewer, app, body, expected, today
    )
    licence = await applications.licence_of(session, app.id)
    view = await _application_view(session, app, today)
    return SubmissionRead(**view.model_dump(), licence=_licence_read(licence) if licence else None)


# --- electronic licences: public verification ---------------------------------------------

licences_router = APIRouter(tags=["licences"])


@licences_router.get(
    "/licences/verify",
    summary="Verify a licence token: signature and status",
    responses={404: {"description": "licence_not_found: no licence has that number"}},
)
async def verify(
    session: SessionDep,
    issuing: IssuingDep,
    token: Annotated[str | None, Query(max_length=8000)] = None,
    licence: Annotated[str | None, Query(max_length=40, description="Licence number")] = None,
) -> dict[str, Any]:
    if token is None and licence is None:
        raise RuleViolated(
            "give the licence token or its number", code="verify_input_missing", field="token"
        )
    if token is None:
        assert licence is not None
        token = (await licences.get_by_number(session, licence)).token
    check = await licences.check_token(session, issuing.ring, token, utcnow())
    return {
        **asdict(check),
        "checked_at": utcnow().isoformat(),
        "method": "Ed25519 signature against the bureau's published keys (/.well-known/jwks."
        "json) and the W3C Bitstring Status Lists (/status-lists/revocation, /suspension)",
    }


IssueDay = Annotated[
    IsoDate | None,
    Query(
        ge=EARLIEST_BUSINESS_DAY,
        le=LATEST_BUSINESS_DAY,
        description="Business date (Asia/Shanghai), inclusive",
    ),
]


@licences_router.get(
    "/licences",
    response_model=Page[LicenceRead],
    summary="Licences issued, newest first (bureau: all; enterprise: its own; shared data "
    "set for departments through the gateway)",
    description="Each licence is public on its own at /licences/{number}; the list is not.",
)
async def list_licences(
    session: SessionDep,
    reader: LicenceReaderDep,
    uscc: Annotated[USCC | None, Query(description="Only this enterprise's licences")] = None,
    status: LicenceStatus | None = None,
    item_code: Annotated[
        str | None, Query(pattern=ITEM_CODE_PATTERN, description="Catalogue code")
    ] = None,
    issued_from: IssueDay = None,
    issued_to: IssueDay = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[LicenceRead]:
    if reader.role is Role.enterprise:
        if uscc is not None and uscc != reader.subject:
            raise Forbidden(
                "an enterprise may list only its own licences", code="licences_not_yours"
            )
        uscc = reader.subject
    if issued_from is not None and issued_to is not None and issued_from > issued_to:
        raise RuleViolated(
            "`issued_to` must be on or after `issued_from`",
            code="period_reversed",
            field="issued_to",
        )
    where = LicenceFilter(
        uscc=uscc,
        status=status,
        item_code=item_code,
        issued_from=business_day_start(issued_from) if issued_from else None,
        issued_before=business_day_start(issued_to + timedelta(days=1)) if issued_to else None,
    )
    after = instant_cursor(cursor) if cursor else None
    rows = await LicenceRepository(session).list_page(where, after, limit + 1)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(page[-1].issued_at.isoformat(), page[-1].id)
    return Page[LicenceRead](items=[_licence_read(x) for x in page], next_cursor=next_cursor)


@licences_router.get(
    "/licences/{number}", response_model=LicenceRead, summary="A licence's public particulars"
)
async def get_licence(number: str, session: SessionDep) -> LicenceRead:
    return _licence_read(await licences.get_by_number(session, number))


def _verify_page(runtime: ServiceRuntime) -> str:
    """Where a scanned QR code leads: the portal's verification page, for people, rather
    than the JSON API (which the page calls with the same query)."""
    settings = runtime.settings
    assert isinstance(settings, PermitsSettings)
    return settings.licence_verify_url


@licences_router.get(
    "/licences/{number}/qr.png",
    summary="The licence's QR code (PNG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def licence_qr_png_view(number: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    licence = await licences.get_by_number(session, number)
    payload = qr_payload(_verify_page(runtime), licence.number, licence.token)
    return Response(licence_qr_png(payload), media_type="image/png")


@licences_router.get(
    "/licences/{number}/qr.svg",
    summary="The licence's QR code (SVG)",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
async def licence_qr_svg_view(number: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    licence = await licences.get_by_number(session, number)
    payload = qr_payload(_verify_page(runtime), licence.number, licence.token)
    return Response(
        licence_qr_svg(payload, title=f"电子证照 {licence.number}"), media_type="image/svg+xml"
    )


@licences_router.post(
    "/licences/{number}/status",
    response_model=LicenceRead,
    summary="Revoke, suspend or reinstate a licence (leader, admin)",
)
async def change_licence_status(
    number: str,
    body: LicenceStatusChange,
    session: SessionDep,
    runtime: RuntimeDep,
    _actor: LicenceAdminDep,
) -> LicenceRead:
    licence = await licences.get_by_number(session, number)
    updated = await licences.change_status(
        session, runtime.outbox, licence, body.status, body.reason
    )
    return _licence_read(updated)


@licences_router.get(
    "/status-lists/{purpose}",
    summary="Signed W3C Bitstring Status List",
    response_class=Response,
    responses={200: {"content": {"application/vc+jwt": {}}}},
)
async def status_list(purpose: StatusPurpose, session: SessionDep, issuing: IssuingDep) -> Response:
    token = await licences.signed_status_list(
        session, issuing.ring, issuing.public_base_url, purpose
    )
    return Response(
        token, media_type="application/vc+jwt", headers={"Cache-Control": "public, max-age=60"}
    )


@licences_router.get("/.well-known/jwks.json", summary="The bureau's licence signing keys")
async def jwks(issuing: IssuingDep) -> dict[str, Any]:
    return issuing.ring.public_jwks()


@licences_router.get(
    "/figures",
    tags=["figures"],
    summary="Public figures per item: applications, instant share, median days to decision, "
    "rejections and their escalation",
)
async def figures(session: SessionDep, today: TodayDep) -> dict[str, Any]:
    items = await applications.item_figures(session, today)
    return {"as_of": utcnow().isoformat(), "items": [asdict(f) for f in items]}

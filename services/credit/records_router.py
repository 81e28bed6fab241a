"""Credit records of every class (penalty, dishonesty, incentive), incentives, reversals, and
the daily export of the public lists."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.errors import NotFound
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.inputs import IsoDate
from kernel.pagination import InvalidCursor, Page, decode_cursor, encode_cursor
from kernel.uscc import USCC
from kernel.versioning import ExpectedVersion, etag
from services.credit import ledger, service
from services.credit.dependencies import (
    ExportReaderDep,
    LeaderDep,
    ReadableRecord,
    ReadershipDep,
    RecorderDep,
    TodayDep,
    is_internal_reader,
)
from services.credit.domain import RecordClass
from services.credit.exports import get_export, list_exports
from services.credit.models import CreditRecord
from services.credit.repository import RecordRepository
from services.credit.router import decided_cursor
from services.credit.schemas import (
    ExportRead,
    HistoryRead,
    IncentiveCreate,
    RecordDetail,
    RecordRead,
    ReversalCreate,
)

records = APIRouter(tags=["records"])
exports = APIRouter(prefix="/exports", tags=["exports"])

TEXT_PLAIN = "text/plain; charset=utf-8"


@records.get(
    "/records",
    response_model=Page[RecordRead],
    summary="Credit records, newest decision first",
    description="Without a token: records in publicity today. The bureau sees every record. "
    "An enterprise sees its own credit file (every record about it, in publicity or not); "
    "filtering on another enterprise's USCC gives an empty page, the public list is read "
    "without a token.",
)
async def list_records(
    session: SessionDep,
    readership: ReadershipDep,
    today: TodayDep,
    uscc: Annotated[USCC | None, Query(description="Only this enterprise's records")] = None,
    record_class: RecordClass | None = None,
    state: Literal["published", "ended"] | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[RecordRead]:
    rows = await RecordRepository(session).list_page(
        readership=readership,
        today=today,
        uscc=uscc,
        record_class=record_class.value if record_class else None,
        state=state,
        after=decided_cursor(cursor),
        limit=limit + 1,
    )
    items = [
        RecordRead.of(r, today, internal=is_internal_reader(readership, r.uscc))
        for r in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1].decided_on.isoformat(), items[-1].id)
    return Page[RecordRead](items=items, next_cursor=next_cursor)


@records.get(
    "/records/{record_id}",
    response_model=RecordDetail,
    summary="One record with its history (the public: only while in publicity, public steps)",
)
async def get_record(
    record: ReadableRecord, session: SessionDep, readership: ReadershipDep, today: TodayDep
) -> Response:
    internal = is_internal_reader(readership, record.uscc)
    history = await ledger.history_of(session, "record", record.id, public_only=not internal)
    detail = RecordDetail(
        **RecordRead.of(record, today, internal=internal).model_dump(),
        history=[HistoryRead.of(h, internal=internal) for h in history],
    )
    return Response(
        detail.model_dump_json(),
        media_type="application/json",
        headers={"ETag": etag(record.version)},
    )


def _document(record: CreditRecord, text: str | None, what: str) -> Response:
    if text is None:
        raise NotFound(
            f"record {record.id} ({record.record_class}) has no {what}",
            code=f"{what.replace(' ', '_')}_not_found",
        )
    return Response(text, media_type=TEXT_PLAIN)


@records.get(
    "/records/{record_id}/notice",
    response_class=Response,
    responses={200: {"content": {TEXT_PLAIN: {}}}},
    summary="The repair notice (信用修复告知书) as served, zh-CN plain text",
)
async def get_notice(record: ReadableRecord) -> Response:
    return _document(record, record.repair_notice, "repair notice")


@records.get(
    "/records/{record_id}/guide",
    response_class=Response,
    responses={200: {"content": {TEXT_PLAIN: {}}}},
    summary="The plain-language repair guide (信用修复明白纸), zh-CN plain text",
)
async def get_guide(record: ReadableRecord) -> Response:
    return _document(record, record.repair_guide, "repair guide")


@records.post(
    "/incentives",
    status_code=201,
    response_model=RecordRead,
    summary="Publish an incentive (守信激励) for 36 months (the bureau)",
)
async def record_incentive(
    body: IncentiveCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    officer: RecorderDep,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> RecordRead:
        record = await service.record_incentive(session, runtime.outbox, officer, body, today)
        return RecordRead.of(record, today, internal=True)

    return await run_idempotent(
        session, runtime.tables, officer, idempotency_key, "POST /incentives", body, act
    )


@records.post(
    "/records/{record_id}/reversal",
    response_model=RecordRead,
    summary="End publicity: the decision was revoked by reconsideration or a court (leaders)",
)
async def reverse_record(
    body: ReversalCreate,
    leader: LeaderDep,
    record: ReadableRecord,
    session: SessionDep,
    runtime: RuntimeDep,
    today: TodayDep,
    expected: ExpectedVersion,
) -> Response:
    await service.reverse_record(session, runtime.outbox, record, leader, body, today, expected)
    read = RecordRead.of(record, today, internal=True)
    return Response(
        read.model_dump_json(),
        media_type="application/json",
        headers={"ETag": etag(record.version)},
    )


@exports.get("", response_model=Page[ExportRead], summary="Daily exports, newest first")
async def list_daily_exports(
    session: SessionDep,
    _reader: ExportReaderDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=366)] = 31,
) -> Page[ExportRead]:
    before = None
    if cursor is not None:
        (value,) = decode_cursor(cursor, 1)
        try:
            before = date.fromisoformat(str(value))
        except ValueError as exc:
            raise InvalidCursor("cursor is malformed", field="cursor") from exc
    rows = await list_exports(session, before=before, limit=limit + 1)
    items = [ExportRead.of(e) for e in rows[:limit]]
    next_cursor = encode_cursor(items[-1].on.isoformat()) if len(rows) > limit else None
    return Page[ExportRead](items=items, next_cursor=next_cursor)


async def _export_body(
    session: SessionDep, on: date, kind: Literal["json", "csv"], if_none_match: str | None
) -> Response:
    export = await get_export(session, on)
    if export is None:
        raise NotFound(f"no export was made for {on.isoformat()}", code="export_not_found")
    body, digest = (
        (export.json_body, export.json_sha256)
        if kind == "json"
        else (export.csv_body, export.csv_sha256)
    )
    tag = f'"{digest}"'
    headers = {
        "ETag": tag,
        "Content-Disposition": f'attachment; filename="credit-lists-{on.isoformat()}.{kind}"',
    }
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    media_type = "application/json" if kind == "json" else "text/csv; charset=utf-8"
    return Response(body.encode("utf-8"), media_type=media_type, headers=headers)


@exports.get(
    "/{on}.json",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}}},
        304: {"description": "Not modified: If-None-Match names the export's ETag"},
    },
    summary="One day's export as JSON (ETag = its sha256)",
)
async def get_export_json(
    on: IsoDate,
    session: SessionDep,
    _reader: ExportReaderDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return await _export_body(session, on, "json", if_none_match)


@exports.get(
    "/{on}.csv",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}},
        304: {"description": "Not modified: If-None-Match names the export's ETag"},
    },
    summary="One day's export as CSV, UTF-8 with BOM (ETag = its sha256)",
)
async def get_export_csv(
    on: IsoDate,
    session: SessionDep,
    _reader: ExportReaderDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return await _export_body(session, on, "csv", if_none_match)


router = APIRouter()
router.include_router(records)
router.include_router(exports)

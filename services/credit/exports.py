"""The daily export of the public lists for other departments (数据共享), frozen once made.

One export per business date: every record in publicity, every black-list and red-list entry
listed on that date: the fields the public sees, plus the listing facts and nomination grounds
that the departments acting on the lists need. JSON for machines, CSV for people
(UTF-8 with a BOM, which Excel needs to read Chinese); the sha256 of each body is kept with it
so a department can prove what it received.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from datetime import date
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from kernel.db import utcnow
from services.credit.models import BlacklistEntry, CreditRecord, DailyExport, RedlistEntry
from services.credit.repository import in_publicity

BOM: Final = "\ufeff"
# A cell starting with one of these is run as a formula by spreadsheet programs (CSV
# injection); a leading apostrophe makes Excel show it as text.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _listed_on(
    model: type[BlacklistEntry] | type[RedlistEntry], on: date
) -> sa.ColumnElement[bool]:
    # The list's own pass ends terms; until it has run, an entry past its term is not shown.
    return sa.and_(
        model.state == "listed",
        sa.or_(model.listed_until.is_(None), model.listed_until >= on),
    )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def public_record(record: CreditRecord) -> dict[str, Any]:
    """A record as published (no source references, no internal state)."""
    return {
        "id": record.id,
        "record_class": record.record_class,
        "uscc": record.uscc,
        "enterprise_name": record.enterprise_name,
        "document_number": record.document_number,
        "decided_on": record.decided_on.isoformat(),
        "severity": record.severity,
        "legal_basis": record.legal_basis,
        "summary": record.summary,
        "fine_amount": None if record.fine_amount is None else f"{record.fine_amount:.2f}",
        "other_measures": record.other_measures,
        "publicity_starts_on": record.publicity_starts_on.isoformat(),
        "publicity_ends_on": record.publicity_ends_on.isoformat(),
    }


def public_blacklist_entry(entry: BlacklistEntry) -> dict[str, Any]:
    """A black-list entry as published (列入事由 and term; no objection or internal notes)."""
    return {
        "id": entry.id,
        "uscc": entry.uscc,
        "enterprise_name": entry.enterprise_name,
        "criterion": entry.criterion,
        "facts": entry.facts,
        "decided_on": _iso(entry.decided_on),
        "listed_until": _iso(entry.listed_until),
    }


def public_redlist_entry(entry: RedlistEntry) -> dict[str, Any]:
    """A red-list entry as published (no criteria computation or nominator)."""
    return {
        "id": entry.id,
        "uscc": entry.uscc,
        "enterprise_name": entry.enterprise_name,
        "standardisation_level": entry.standardisation_level,
        "joint_incentive": entry.joint_incentive,
        "grounds": entry.grounds,
        "decided_on": _iso(entry.decided_on),
        "listed_until": _iso(entry.listed_until),
    }


CSV_COLUMNS: Final = (
    "list",
    "id",
    "uscc",
    "enterprise_name",
    "record_class",
    "document_number",
    "severity",
    "decided_on",
    "publicity_starts_on",
    "publicity_ends_on",
    "listed_until",
    "criterion",
    "standardisation_level",
    "joint_incentive",
    "legal_basis",
    "fine_amount",
    "other_measures",
    "summary",
    "facts",
    "grounds",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(lists: dict[str, list[dict[str, Any]]]) -> str:
    """One row per entry, its list named in the first column; BOM first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for name, rows in lists.items():
        for row in rows:
            cells = {"list": name, **row}
            writer.writerow([_cell(cells.get(column)) for column in CSV_COLUMNS])
    return BOM + out.getvalue()


def sha256_of(body: str) -> str:
    """The sha256 of a body as served (UTF-8 bytes)."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


async def make_daily_export(session: AsyncSession, today: date) -> DailyExport | None:
    """Freeze the public lists as of `today`; None if that date's export already exists."""
    if await session.get(DailyExport, today) is not None:
        return None
    records = (
        await session.scalars(
            sa.select(CreditRecord)
            .where(in_publicity(today))
            .order_by(CreditRecord.record_class, CreditRecord.decided_on, CreditRecord.id)
        )
    ).all()
    blacklist = (
        await session.scalars(
            sa.select(BlacklistEntry)
            .where(_listed_on(BlacklistEntry, today))
            .order_by(BlacklistEntry.uscc, BlacklistEntry.id)
        )
    ).all()
    redlist = (
        await session.scalars(
            sa.select(RedlistEntry)
            .where(_listed_on(RedlistEntry, today))
            .order_by(RedlistEntry.uscc, RedlistEntry.id)
        )
    ).all()
    lists = {
        "records": [public_record(r) for r in records],
        "blacklist": [public_blacklist_entry(e) for e in blacklist],
        "redlist": [public_redlist_entry(e) for e in redlist],
    }
    document = {
        "as_of": today.isoformat(),
        "counts": {name: len(rows) for name, rows in lists.items()},
        **lists,
    }
    json_body = orjson.dumps(document).decode()
    csv_body = to_csv(
        {"record": lists["records"], "blacklist": lists["blacklist"], "redlist": lists["redlist"]}
    )
    export = DailyExport(
        on=today,
        generated_at=utcnow(),
        rows=sum(len(rows) for rows in lists.values()),
        json_body=json_body,
        csv_body=csv_body,
        json_sha256=sha256_of(json_body),
        csv_sha256=sha256_of(csv_body),
    )
    session.add(export)
    await session.flush()
    return export


async def list_exports(
    session: AsyncSession, *, before: date | None, limit: int
) -> Sequence[DailyExport]:
    """Exports newest first, before a date; the bodies are not loaded."""
    query = (
        sa.select(DailyExport)
        .options(defer(DailyExport.json_body), defer(DailyExport.csv_body))
        .order_by(DailyExport.on.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(DailyExport.on < before)
    return (await session.scalars(query)).all()


async def get_export(session: AsyncSession, on: date) -> DailyExport | None:
    """The export of one business date."""
    return await session.get(DailyExport, on)

"""An enterprise's public credit history: every public step of its records and list entries,
including those that have left publicity, and where each one's credit repair stands.

What counts as public here is what the service already publishes, no more:
- a record's particulars (legal basis, facts, fine, other measures) only while it is in
  publicity, as on GET /penalties and /records; once its publicity has ended (expired,
  repaired, reversed) the public keeps only what the change feed announced about it (class,
  document number, severity, window, repair date, when and why it ended). Publicity that ends
  must not be prolonged by a history page; the repair announcement is what stays public;
- black- and red-list entries as GET /blacklist/{id} and /redlist/{id} show them, listed or
  removed; proposals, pre-notices, objections and nominations never;
- of credit repair, approvals and revocations (the steps the target's public history records);
  applications, their materials and rejections are the enterprise's business, as on /changes;
- history steps flagged public, with their date, kind and note: never who did it or the
  private detail.

A record never shown (its maximum period had passed when it reached credit, or its publicity
has not started yet) has no public history and is left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.credit.domain import RecordClass
from services.credit.lists_domain import (
    MEM_ORDER_11,
    PUBLIC_CASE_STATES,
    PUBLIC_REDLIST_STATES,
    ListingCriterion,
)
from services.credit.models import BlacklistEntry, CreditRecord, HistoryEntry, RedlistEntry
from services.credit.schemas import is_shown

# Per kind of entry; an enterprise with more is a case for the bureau's own tools, and the
# answer says it was cut (`truncated`) rather than silently dropping the oldest.
MAX_ENTRIES: Final = 500

EntryKind = Literal["penalty", "dishonesty", "incentive", "blacklist", "redlist"]
RepairStatusName = Literal["not_applicable", "none", "repaired", "revoked"]

_RECORD_KINDS: Final[dict[str, EntryKind]] = {
    RecordClass.penalty.value: "penalty",
    RecordClass.dishonesty.value: "dishonesty",
    RecordClass.incentive.value: "incentive",
}

# Step kinds of a target's public history that a repair writes (services.credit.ledger).
_REPAIRED_RECORD: Final = "repaired"
_REPAIRED_LISTING: Final = "removed_repaired"
_RESTORED: Final = "restored"


class PublicStep(BaseModel):
    """One public, dated step of an entry's life."""

    occurred_on: date = Field(description="The business date it took effect")
    kind: str = Field(
        description="published, expired, repaired, reversed, restored (records); listed, "
        "removed_expired, removed_repaired, removed_reversed, removed_dishonesty, restored, ... "
        "(list entries)"
    )
    note: str = Field(description="The published wording (zh-CN)")


class TimelineStep(PublicStep):
    """A step of the enterprise's whole timeline, naming the entry it belongs to."""

    entry_id: str
    entry_kind: EntryKind
    document_number: str | None = Field(description="The record's document number, if a record")


class RecordParticulars(BaseModel):
    """A record's decision as the publicity lists show it; only while it is in publicity."""

    legal_basis: str
    summary: str = Field(description="违法事实摘要 (penalties), or what the record is about")
    fine_amount: Decimal | None
    other_measures: str | None


class RepairStatus(BaseModel):
    """Where the entry's credit repair stands, as far as it is public.

    `none`: nothing repaired (a pending or refused application is not public); `repaired`:
    an approved repair ended the publicity or the listing on `repaired_on`; `revoked`: an
    approved repair was revoked on `revoked_on` and the entry restored. Incentives and red-list
    entries have nothing to repair (`not_applicable`).
    """

    status: RepairStatusName
    eligible_on: date | None = Field(
        description="First day a repair may be applied for (records in publicity only)"
    )
    repaired_on: date | None
    revoked_on: date | None


class CreditHistoryEntry(BaseModel):
    """A record or list entry of the enterprise, with its public steps oldest first."""

    id: str = Field(description="The record id (GET /records/{id}) or list entry id")
    kind: EntryKind
    enterprise_name: str
    document_number: str | None = Field(description="Records: the decision's document number")
    severity: str | None = Field(description="Records: general | serious | commendation")
    decided_on: date = Field(description="Decision date; for list entries the listing date")
    starts_on: date = Field(description="First day of publicity, or of the listing")
    ends_on: date = Field(description="Last day of publicity or of the listing (inclusive)")
    is_current: bool = Field(description="Shown on the public lists on `as_of`")
    ended_on: date | None = Field(description="First day no longer shown, if it has ended")
    end_reason: str | None = Field(
        description="Records: expired | repaired | reversed; list entries: the removal reason"
    )
    particulars: RecordParticulars | None = Field(
        description="Records while in publicity; null once publicity has ended"
    )
    criterion_zh: str | None = Field(description="Black list: 列入情形")
    basis: str | None = Field(description="Black list: 列入依据")
    standardisation_level: int | None = Field(description="Red list: 安全生产标准化等级")
    joint_incentive: bool | None = Field(description="Red list: also a joint-incentive object")
    repair: RepairStatus
    steps: list[PublicStep]


class EnterpriseCreditHistory(BaseModel):
    """Everything public about an enterprise's credit, in date order.

    Credit keeps no enterprise register: a USCC it has nothing public about answers with no
    entries, not 404.
    """

    uscc: str
    enterprise_name: str | None = Field(description="As on its latest entry; null if none")
    as_of: date
    entries: list[CreditHistoryEntry] = Field(description="Oldest first (by starts_on)")
    timeline: list[TimelineStep] = Field(description="Every public step, oldest first")
    truncated: bool = Field(description=f"More than {MAX_ENTRIES} entries of one kind")


@dataclass(frozen=True)
class _Step:
    seq: int
    row: PublicStep


def _steps_by_subject(rows: Iterable[HistoryEntry]) -> dict[tuple[str, str], list[_Step]]:
    out: dict[tuple[str, str], list[_Step]] = defaultdict(list)
    for row in rows:
        out[(row.subject_type, row.subject_id)].append(
            _Step(row.id, PublicStep(occurred_on=row.occurred_on, kind=row.kind, note=row.note))
        )
    return out


def _last_on(steps: Sequence[_Step], kind: str) -> date | None:
    days = [s.row.occurred_on for s in steps if s.row.kind == kind]
    return days[-1] if days else None


def record_repair(record: CreditRecord, steps: Sequence[_Step], today: date) -> RepairStatus:
    """Rule `public_repair_status` for a record."""
    if record.record_class == RecordClass.incentive.value:
        return RepairStatus(
            status="not_applicable", eligible_on=None, repaired_on=None, revoked_on=None
        )
    repaired_on = _last_on(steps, _REPAIRED_RECORD)
    revoked_on = _last_on(steps, _RESTORED)
    if record.end_reason == "repaired":
        return RepairStatus(
            status="repaired", eligible_on=None, repaired_on=record.ended_on, revoked_on=None
        )
    return RepairStatus(
        status="revoked" if revoked_on is not None else "none",
        eligible_on=record.repair_eligible_on if is_shown(record, today) else None,
        repaired_on=repaired_on if revoked_on is not None else None,
        revoked_on=revoked_on,
    )


def listing_repair(entry: BlacklistEntry, steps: Sequence[_Step]) -> RepairStatus:
    """Rule `public_repair_status` for a black-list entry (its early-removal date is the
    bureau's and the enterprise's: GET /blacklist/{id} does not show it either)."""
    if entry.removal_reason == "repaired":
        return RepairStatus(
            status="repaired", eligible_on=None, repaired_on=entry.removed_on, revoked_on=None
        )
    revoked_on = _last_on(steps, _RESTORED)
    return RepairStatus(
        status="revoked" if revoked_on is not None else "none",
        eligible_on=None,
        repaired_on=_last_on(steps, _REPAIRED_LISTING) if revoked_on is not None else None,
        revoked_on=revoked_on,
    )


def _record_entry(record: CreditRecord, steps: Sequence[_Step], today: date) -> CreditHistoryEntry:
    shown = is_shown(record, today)
    return CreditHistoryEntry(
        id=record.id,
        kind=_RECORD_KINDS[record.record_class],
        enterprise_name=record.enterprise_name,
        document_number=record.document_number,
        severity=record.severity,
        decided_on=record.decided_on,
        starts_on=record.publicity_starts_on,
        ends_on=record.publicity_ends_on,
        is_current=shown,
        ended_on=record.ended_on if record.state == "ended" else None,
        end_reason=record.end_reason if record.state == "ended" else None,
        particulars=RecordParticulars(
            legal_basis=record.legal_basis,
            summary=record.summary,
            fine_amount=record.fine_amount,
            other_measures=record.other_measures,
        )
        if shown
        else None,
        criterion_zh=None,
        basis=None,
        standardisation_level=None,
        joint_incentive=None,
        repair=record_repair(record, steps, today),
        steps=[s.row for s in steps],
    )


def _blacklist_entry(
    entry: BlacklistEntry, steps: Sequence[_Step], today: date
) -> CreditHistoryEntry:
    # Listed or removed: both were set by the listing decision.
    assert entry.decided_on is not None
    assert entry.listed_until is not None
    return CreditHistoryEntry(
        id=entry.id,
        kind="blacklist",
        enterprise_name=entry.enterprise_name,
        document_number=None,
        severity=None,
        decided_on=entry.decided_on,
        starts_on=entry.decided_on,
        ends_on=entry.listed_until,
        is_current=entry.state == "listed" and entry.listed_until >= today,
        ended_on=entry.removed_on,
        end_reason=entry.removal_reason,
        particulars=None,
        criterion_zh=MEM_ORDER_11.case(ListingCriterion(entry.criterion)).zh,
        basis=MEM_ORDER_11.source,
        standardisation_level=None,
        joint_incentive=None,
        repair=listing_repair(entry, steps),
        steps=[s.row for s in steps],
    )


def _redlist_entry(entry: RedlistEntry, steps: Sequence[_Step], today: date) -> CreditHistoryEntry:
    # Listed or removed: both were set by the listing decision.
    assert entry.decided_on is not None
    assert entry.listed_until is not None
    return CreditHistoryEntry(
        id=entry.id,
        kind="redlist",
        enterprise_name=entry.enterprise_name,
        document_number=None,
        severity=None,
        decided_on=entry.decided_on,
        starts_on=entry.decided_on,
        ends_on=entry.listed_until,
        is_current=entry.state == "listed" and entry.listed_until >= today,
        ended_on=entry.removed_on,
        end_reason=entry.removal_reason,
        particulars=None,
        criterion_zh=None,
        basis=None,
        standardisation_level=entry.standardisation_level,
        joint_incentive=entry.joint_incentive,
        repair=RepairStatus(
            status="not_applicable", eligible_on=None, repaired_on=None, revoked_on=None
        ),
        steps=[s.row for s in steps],
    )


async def enterprise_history(
    session: AsyncSession, uscc: str, today: date
) -> EnterpriseCreditHistory:
    """The enterprise's public credit history as of a business date."""
    records = (
        await session.scalars(
            sa.select(CreditRecord)
            .where(CreditRecord.uscc == uscc, CreditRecord.publicity_starts_on <= today)
            .order_by(CreditRecord.decided_on.desc(), CreditRecord.id.desc())
            .limit(MAX_ENTRIES + 1)
        )
    ).all()
    black = (
        await session.scalars(
            sa.select(BlacklistEntry)
            .where(
                BlacklistEntry.uscc == uscc,
                BlacklistEntry.state.in_([s.value for s in PUBLIC_CASE_STATES]),
            )
            .order_by(BlacklistEntry.decided_on.desc(), BlacklistEntry.id.desc())
            .limit(MAX_ENTRIES + 1)
        )
    ).all()
    red = (
        await session.scalars(
            sa.select(RedlistEntry)
            .where(
                RedlistEntry.uscc == uscc,
                RedlistEntry.state.in_([s.value for s in PUBLIC_REDLIST_STATES]),
            )
            .order_by(RedlistEntry.decided_on.desc(), RedlistEntry.id.desc())
            .limit(MAX_ENTRIES + 1)
        )
    ).all()
    truncated = max(len(records), len(black), len(red)) > MAX_ENTRIES
    steps = _steps_by_subject(
        (
            await session.scalars(
                sa.select(HistoryEntry)
                .where(HistoryEntry.uscc == uscc, HistoryEntry.public.is_(True))
                .order_by(HistoryEntry.id)
            )
        ).all()
    )
    built: list[tuple[CreditHistoryEntry, list[_Step]]] = []
    for record in records[:MAX_ENTRIES]:
        own = steps.get(("record", record.id), [])
        # Never published (recorded after its maximum period): on file, never public.
        if own:
            built.append((_record_entry(record, own, today), own))
    for b in black[:MAX_ENTRIES]:
        own = steps.get(("blacklist", b.id), [])
        built.append((_blacklist_entry(b, own, today), own))
    for r in red[:MAX_ENTRIES]:
        own = steps.get(("redlist", r.id), [])
        built.append((_redlist_entry(r, own, today), own))
    built.sort(key=lambda pair: (pair[0].starts_on, pair[0].decided_on, pair[0].id))
    timeline = sorted(
        (
            (
                step.seq,
                TimelineStep(
                    **step.row.model_dump(),
                    entry_id=entry.id,
                    entry_kind=entry.kind,
                    document_number=entry.document_number,
                ),
            )
            for entry, own in built
            for step in own
        ),
        key=lambda pair: (pair[1].occurred_on, pair[0]),
    )
    entries = [entry for entry, _ in built]
    latest = max(entries, key=lambda e: (e.starts_on, e.decided_on), default=None)
    return EnterpriseCreditHistory(
        uscc=uscc,
        enterprise_name=latest.enterprise_name if latest else None,
        as_of=today,
        entries=entries,
        timeline=[step for _, step in timeline],
        truncated=truncated,
    )

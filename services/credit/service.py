"""Credit use cases: domain rules, repository, ledger and outbox, in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.contracts.credit import DishonestyRecordedV1, IncentiveRecordedV1, PenaltyPublishedV1
from kernel.contracts.inspection import PenaltyDecidedV1
from kernel.contracts.permits import PledgeBreachedV1
from kernel.db import utcnow
from kernel.errors import Conflict, RuleViolated
from kernel.outbox import Outbox
from kernel.versioning import check_version
from services.credit import ledger, lists
from services.credit.domain import (
    INCENTIVE_SEVERITY,
    NoticeFacts,
    PenaltyRuleViolated,
    PenaltySource,
    PublicityRulePack,
    PublicityWindow,
    RecordClass,
    Severity,
    WorkingDays,
    check_penalty_content,
    incentive_window,
    normalise_decision_number,
    publicity_window,
    repair_guide,
    repair_notice,
    rule_pack_in_force,
    zh_date,
)
from services.credit.exports import make_daily_export
from services.credit.models import CreditRecord
from services.credit.repository import RecordRepository
from services.credit.schemas import IncentiveCreate, PenaltyCreate, ReversalCreate

EXPIRY_BATCH = 500


@dataclass(frozen=True)
class PenaltyDecision:
    """A penalty decision to publish, from an officer's entry or an inspection case."""

    uscc: str
    enterprise_name: str
    decision_number: str  # canonical form (normalise_decision_number)
    decided_on: date
    legal_basis: str
    violation_summary: str
    fine_amount: Decimal | None
    other_measures: str | None
    severity: Severity
    source: PenaltySource
    source_reference: str | None = None


def _rule_violated(exc: PenaltyRuleViolated) -> RuleViolated:
    return RuleViolated(str(exc), code=exc.code, field=exc.field)


async def _new_adverse_record(
    session: AsyncSession,
    outbox: Outbox,
    *,
    pack: PublicityRulePack,
    record_class: RecordClass,
    facts: NoticeFacts,
    legal_basis: str,
    summary: str,
    other_measures: str | None,
    source: str,
    source_reference: str | None,
    today: date,
    actor: str,
) -> CreditRecord:
    """Store a penalty or dishonesty record with its notice and guide, and its first history
    row; a decision whose period ran out before it arrived is kept on file, never shown."""
    window = facts.window
    record = CreditRecord(
        id=str(uuid.uuid4()),
        record_class=record_class.value,
        document_number=facts.decision_number,
        uscc=facts.uscc,
        enterprise_name=facts.enterprise_name,
        decided_on=facts.decided_on,
        legal_basis=legal_basis,
        summary=summary,
        fine_amount=facts.fine_amount,
        other_measures=other_measures or None,
        severity=facts.severity.value,
        source=source,
        source_reference=source_reference,
        publicity_starts_on=window.starts_on,
        publicity_ends_on=window.ends_on,
        repair_eligible_on=window.repair_eligible_on,
        publish_by=window.publish_by,
        state="published",
        version=1,
        rule_pack_id=pack.id,
        rule_pack_version=pack.version,
        repair_notice=repair_notice(pack, facts),
        repair_guide=repair_guide(pack, facts),
        recorded_at=utcnow(),
        recorded_by=actor,
    )
    if window.has_elapsed:
        # The legal maximum ended before the decision reached credit: showing it now would
        # exceed the law, dropping it would lose it. On file, ended the day after its last day;
        # with nothing in publicity there is nothing to repair, so no notice or guide.
        record.repair_notice = record.repair_guide = None
        record.state = "ended"
        record.end_reason = "expired"
        record.ended_on = window.ends_on + timedelta(days=1)
    RecordRepository(session).add(record)
    # Flush first: a concurrent twin with the same document number fails here, before events.
    await session.flush()
    if window.has_elapsed:
        await ledger.append_history(
            session,
            uscc=record.uscc,
            subject_type="record",
            subject_id=record.id,
            kind="recorded_elapsed",
            on=today,
            actor=actor,
            public=False,
            note=f"收到时最长公示期已于{zh_date(window.ends_on)}届满，依法不再公示，仅存档。",
        )
        return record
    await ledger.append_history(
        session,
        uscc=record.uscc,
        subject_type="record",
        subject_id=record.id,
        kind="published",
        on=today,
        actor=actor,
        public=True,
        note=f"自{zh_date(window.starts_on)}起公示，至{zh_date(window.ends_on)}届满。",
    )
    return record


async def publish_penalty(
    session: AsyncSession,
    outbox: Outbox,
    working_days: WorkingDays,
    decision: PenaltyDecision,
    *,
    today: date,
    actor: str,
    keep_elapsed: bool = False,
) -> CreditRecord:
    """Record a penalty decision and publish it today, with its window, notice and guide.

    One path for officers and inspection events. An officer is told (422) when the period has
    run out; an event (`keep_elapsed`) is kept on file as ended instead, since it cannot be
    sent back.
    """
    pack = rule_pack_in_force(today)
    try:
        check_penalty_content(decision.fine_amount, decision.other_measures)
        window = publicity_window(
            pack,
            decision.severity,
            decision.decided_on,
            today,
            working_days,
            elapsed_ok=keep_elapsed,
        )
    except PenaltyRuleViolated as exc:
        raise _rule_violated(exc) from exc
    repo = RecordRepository(session)
    if await repo.get_by_document(RecordClass.penalty, decision.decision_number) is not None:
        raise Conflict(
            f"penalty decision {decision.decision_number} is already recorded",
            code="penalty_exists",
            field="decision_number",
        )
    penalty = await _new_adverse_record(
        session,
        outbox,
        pack=pack,
        record_class=RecordClass.penalty,
        facts=NoticeFacts(
            enterprise_name=decision.enterprise_name,
            uscc=decision.uscc,
            decision_number=decision.decision_number,
            decided_on=decision.decided_on,
            severity=decision.severity,
            fine_amount=decision.fine_amount,
            window=window,
        ),
        legal_basis=decision.legal_basis,
        summary=decision.violation_summary,
        other_measures=decision.other_measures,
        source=decision.source.value,
        source_reference=decision.source_reference,
        today=today,
        actor=actor,
    )
    if penalty.state == "published":
        await outbox.emit(
            session,
            penalty.uscc,
            PenaltyPublishedV1(
                record_id=penalty.id,
                uscc=penalty.uscc,
                decision_number=penalty.document_number,
                severity=penalty.severity,
                publicity_starts_on=penalty.publicity_starts_on,
                publicity_ends_on=penalty.publicity_ends_on,
                repair_eligible_on=window.repair_eligible_on,
            ),
        )
        await ledger.after_dishonesty(
            session,
            outbox,
            penalty.uscc,
            on=today,
            actor=actor,
            note=f"新的行政处罚信息公示（{penalty.document_number}）",
        )
    return penalty


async def record_penalty(
    session: AsyncSession,
    outbox: Outbox,
    working_days: WorkingDays,
    officer: Principal,
    data: PenaltyCreate,
    today: date,
) -> CreditRecord:
    """Record a penalty decision an officer entered and publish it today."""
    return await publish_penalty(
        session,
        outbox,
        working_days,
        PenaltyDecision(
            uscc=data.uscc,
            enterprise_name=data.enterprise_name,
            decision_number=data.decision_number,
            decided_on=data.decided_on,
            legal_basis=data.legal_basis,
            violation_summary=data.violation_summary,
            fine_amount=data.fine_amount,
            other_measures=data.other_measures,
            severity=data.severity,
            source=data.source,
        ),
        today=today,
        actor=officer.key,
    )


async def record_penalty_decided(
    session: AsyncSession,
    outbox: Outbox,
    working_days: WorkingDays,
    event: PenaltyDecidedV1,
    *,
    today: date,
    actor: str,
) -> CreditRecord | None:
    """Publish a penalty decided in an inspection case; None if that decision is on file."""
    decision_number = normalise_decision_number(event.decision_number)
    repo = RecordRepository(session)
    # The same decision may arrive again under another event id (a re-sent decision, or an
    # officer who entered the paper copy first): the first record stands.
    if await repo.get_by_document(RecordClass.penalty, decision_number) is not None:
        return None
    return await publish_penalty(
        session,
        outbox,
        working_days,
        PenaltyDecision(
            uscc=event.uscc,
            enterprise_name=event.enterprise_name,
            decision_number=decision_number,
            decided_on=event.decided_on,
            legal_basis=event.legal_basis,
            violation_summary=event.violation_summary,
            fine_amount=event.fine_amount,
            other_measures=event.other_measures,
            severity=Severity(event.severity),
            source=PenaltySource.inspection,
            source_reference=f"inspection case {event.case_id}",
        ),
        today=today,
        actor=actor,
        keep_elapsed=True,
    )


async def record_pledge_breach(
    session: AsyncSession,
    outbox: Outbox,
    event: PledgeBreachedV1,
    *,
    today: date,
    actor: str,
) -> CreditRecord | None:
    """Record the dishonesty of a false pledge (虚假承诺); None if that licence's is on file."""
    repo = RecordRepository(session)
    if await repo.get_by_document(RecordClass.dishonesty, event.licence_number) is not None:
        return None
    pack = rule_pack_in_force(today)
    # Found on verification, not decided as a penalty: general unless classed serious, and
    # no 双公示 deadline (that applies to penalty decisions).
    window: PublicityWindow = publicity_window(
        pack, Severity.general, event.verified_on, today, None, elapsed_ok=True
    )
    record = await _new_adverse_record(
        session,
        outbox,
        pack=pack,
        record_class=RecordClass.dishonesty,
        facts=NoticeFacts(
            enterprise_name=event.enterprise_name,
            uscc=event.uscc,
            decision_number=event.licence_number,
            decided_on=event.verified_on,
            severity=Severity.general,
            fine_amount=None,
            window=window,
            record_class=RecordClass.dishonesty,
        ),
        legal_basis=pack.pledge_dishonesty_basis,
        summary=(
            f"{event.item_name}（{event.item_code}）告知承诺经核查与实际情况不符：{event.findings}"
        )[:4000],
        other_measures=None,
        source="permits",
        source_reference=f"pledge sha256 {event.pledge_sha256}",
        today=today,
        actor=actor,
    )
    if record.state == "published":
        await outbox.emit(
            session,
            record.uscc,
            DishonestyRecordedV1(
                record_id=record.id,
                uscc=record.uscc,
                document_number=record.document_number,
                severity=record.severity,
                publicity_starts_on=record.publicity_starts_on,
                publicity_ends_on=record.publicity_ends_on,
                repair_eligible_on=window.repair_eligible_on,
            ),
        )
        await ledger.after_dishonesty(
            session,
            outbox,
            record.uscc,
            on=today,
            actor=actor,
            note=f"虚假承诺记入失信记录（许可证{record.document_number}）",
        )
    return record


async def record_incentive(
    session: AsyncSession,
    outbox: Outbox,
    officer: Principal,
    data: IncentiveCreate,
    today: date,
) -> CreditRecord:
    """Publish an incentive (守信激励) from today for its term; it has no repair."""
    pack = rule_pack_in_force(today)
    try:
        window = incentive_window(pack, data.decided_on, today)
    except PenaltyRuleViolated as exc:
        raise _rule_violated(exc) from exc
    repo = RecordRepository(session)
    if await repo.get_by_document(RecordClass.incentive, data.document_number) is not None:
        raise Conflict(
            f"incentive {data.document_number} is already recorded",
            code="incentive_exists",
            field="document_number",
        )
    record = CreditRecord(
        id=str(uuid.uuid4()),
        record_class=RecordClass.incentive.value,
        document_number=data.document_number,
        uscc=data.uscc,
        enterprise_name=data.enterprise_name,
        decided_on=data.decided_on,
        legal_basis=data.legal_basis,
        summary=data.summary,
        fine_amount=None,
        other_measures=None,
        severity=INCENTIVE_SEVERITY,
        source="manual",
        source_reference=None,
        publicity_starts_on=window.starts_on,
        publicity_ends_on=window.ends_on,
        repair_eligible_on=None,
        publish_by=None,
        state="published",
        version=1,
        rule_pack_id=pack.id,
        rule_pack_version=pack.version,
        repair_notice=None,
        repair_guide=None,
        recorded_at=utcnow(),
        recorded_by=officer.key,
    )
    repo.add(record)
    await session.flush()
    await ledger.append_history(
        session,
        uscc=record.uscc,
        subject_type="record",
        subject_id=record.id,
        kind="published",
        on=today,
        actor=officer.key,
        public=True,
        note=f"自{zh_date(window.starts_on)}起公示，至{zh_date(window.ends_on)}届满。",
    )
    await outbox.emit(
        session,
        record.uscc,
        IncentiveRecordedV1(
            record_id=record.id,
            uscc=record.uscc,
            document_number=record.document_number,
            publicity_starts_on=record.publicity_starts_on,
            publicity_ends_on=record.publicity_ends_on,
        ),
    )
    return record


async def reverse_record(
    session: AsyncSession,
    outbox: Outbox,
    record: CreditRecord,
    leader: Principal,
    data: ReversalCreate,
    today: date,
    expected_version: int | None = None,
) -> CreditRecord:
    """End a record's publicity because its decision was revoked (复议或诉讼撤销)."""
    # Locked and re-read: a concurrent reversal, repair approval or expiry pass may have ended
    # it since the request loaded it; the state is checked on the committed row.
    await session.scalar(
        sa.select(CreditRecord)
        .where(CreditRecord.id == record.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    check_version(record.version, expected_version)
    if record.state == "ended" and record.end_reason == "expired":
        # Out of publicity already, but a black listing built on it may still run: the
        # reversal is recorded and lifts what rested on the decision.
        record.end_reason = "reversed"
        record.version += 1
        await ledger.append_history(
            session,
            uscc=record.uscc,
            subject_type="record",
            subject_id=record.id,
            kind="reversed",
            on=today,
            actor=leader.key,
            public=True,
            note=f"原决定已被撤销（{data.document_number}）。",
            detail={"reason": data.reason, "revoking_document": data.document_number},
        )
        await lists.after_record_reversed(session, outbox, record, on=today, actor=leader.key)
        return record
    if record.state != "published":
        raise Conflict(
            f"record {record.id} is not in publicity (ended: {record.end_reason})",
            code="record_not_published",
        )
    await ledger.end_publicity(
        session,
        outbox,
        record,
        reason="reversed",
        on=today,
        actor=leader.key,
        note=f"原决定已被撤销（{data.document_number}），停止公示。",
        detail={"reason": data.reason, "revoking_document": data.document_number},
    )
    await lists.after_record_reversed(session, outbox, record, on=today, actor=leader.key)
    return record


async def expire_records(
    session: AsyncSession, outbox: Outbox, today: date, *, limit: int = EXPIRY_BATCH
) -> int:
    """End the publicity of at most `limit` records whose last day is before `today`.

    Each ends the day after its last day (not today), so a late pass dates it correctly.
    Returns how many were ended; call again while it returns `limit`.
    """
    records = await RecordRepository(session).past_their_end(today, limit)
    for record in records:
        ended_on = record.publicity_ends_on + timedelta(days=1)
        await ledger.end_publicity(
            session,
            outbox,
            record,
            reason="expired",
            on=ended_on,
            actor=ledger.SYSTEM_ACTOR,
            note=f"最长公示期于{zh_date(record.publicity_ends_on)}届满，自动停止公示。",
        )
    await session.flush()
    return len(records)


async def daily_pass(session: AsyncSession, outbox: Outbox, today: date) -> dict[str, int]:
    """The day's housekeeping: end expired publicity and list terms, then freeze the export."""
    expired = 0
    while True:
        batch = await expire_records(session, outbox, today)
        expired += batch
        if batch < EXPIRY_BATCH:
            break
    list_entries = await lists.expire_list_entries(session, outbox, today)
    export = await make_daily_export(session, today)
    return {
        "expired_records": expired,
        "expired_list_entries": list_entries,
        "exports": 0 if export is None else 1,
    }

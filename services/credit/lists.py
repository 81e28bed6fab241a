"""Red- and black-list use cases: the rules of `lists_domain`, the ledger's state changes and
the outbox, inside the caller's transaction (nothing here commits)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from kernel.auth import Principal
from kernel.db import utcnow
from kernel.errors import Conflict, NotFound, RuleViolated
from kernel.outbox import Outbox
from kernel.uscc import InvalidUSCC, validate_uscc
from kernel.versioning import check_version
from services.credit import ledger
from services.credit.domain import WorkingDays
from services.credit.lists_domain import (
    MEM_ORDER_11,
    PUBLIC_CASE_STATES,
    PUBLIC_REDLIST_STATES,
    QINGDAO_REDLIST_NOTICE,
    BlacklistOutcome,
    BlacklistState,
    CaseStateConflict,
    CriterionResult,
    ListingCriterion,
    ListsRuleViolated,
    PenaltySeen,
    PreNoticeFacts,
    RedlistFacts,
    RedlistOutcome,
    RedlistState,
    check_decision,
    check_notice_may_be_served,
    check_objection,
    check_redlist_decision,
    criterion_from_event,
    failing,
    listing_term,
    objection_due_on,
    pre_notice,
    redlist_criteria,
    redlist_listed_until,
    removal_on,
)
from services.credit.lists_schemas import (
    BlacklistDecision,
    BlacklistProposal,
    ObjectionCreate,
    RedlistDecision,
    RedlistNomination,
)
from services.credit.models import BlacklistEntry, CreditRecord, HistoryEntry, RedlistEntry

BLACKLIST = "blacklist"
REDLIST = "redlist"

# (sort date, id) of the last row of a page: the keyset cursor of the lists.
After = tuple[date, str] | None


def _rule(exc: ListsRuleViolated) -> RuleViolated:
    return RuleViolated(str(exc), code=exc.code, field=exc.field)


def _conflict(exc: CaseStateConflict) -> Conflict:
    return Conflict(str(exc), code=exc.code)


# --- black list: the case workflow ---------------------------------------------------------


async def open_case_of(session: AsyncSession, uscc: str) -> BlacklistEntry | None:
    """The enterprise's open black-list case (proposed to listed), if any."""
    return await session.scalar(sa.select(BlacklistEntry).where(BlacklistEntry.active_key == uscc))


async def _lock_case(session: AsyncSession, case_id: str) -> BlacklistEntry | None:
    # Row lock so two leaders (or a leader and a late objection) cannot both act on one state.
    return await session.scalar(
        sa.select(BlacklistEntry)
        .where(BlacklistEntry.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _case_for_bureau(
    session: AsyncSession, case_id: str, expected_version: int | None
) -> BlacklistEntry:
    entry = await _lock_case(session, case_id)
    if entry is None:
        raise NotFound(f"black-list case {case_id} not found", code="blacklist_case_not_found")
    check_version(entry.version, expected_version)
    return entry


async def _check_basis_records(session: AsyncSession, uscc: str, ids: Sequence[str]) -> None:
    wanted = set(ids)
    if not wanted:
        return
    found = set(
        (
            await session.scalars(
                sa.select(CreditRecord.id).where(
                    CreditRecord.id.in_(wanted), CreditRecord.uscc == uscc
                )
            )
        ).all()
    )
    missing = sorted(wanted - found)
    if missing:
        raise RuleViolated(
            f"basis records not found for enterprise {uscc}: {', '.join(missing)}",
            code="basis_record_not_found",
            field="basis_record_ids",
            missing=missing,
        )


async def _insert_case(session: AsyncSession, entry: BlacklistEntry) -> None:
    session.add(entry)
    try:
        await session.flush()
    except IntegrityError as exc:
        # A concurrent proposal for the same enterprise won the unique active_key.
        raise Conflict(
            f"enterprise {entry.uscc} already has an open black-list case",
            code="blacklist_case_open",
            field="uscc",
        ) from exc


def _new_case(
    *,
    uscc: str,
    enterprise_name: str,
    criterion: ListingCriterion,
    facts: str,
    basis_record_ids: list[str],
    on: date,
    actor: str,
) -> BlacklistEntry:
    return BlacklistEntry(
        id=str(uuid.uuid4()),
        uscc=uscc,
        enterprise_name=enterprise_name,
        criterion=criterion.value,
        facts=facts,
        basis_record_ids=basis_record_ids,
        state=BlacklistState.proposed.value,
        active_key=uscc,
        proposed_on=on,
        proposed_by=actor,
        rule_pack_id=MEM_ORDER_11.id,
        rule_pack_version=MEM_ORDER_11.version,
        created_at=utcnow(),
        version=1,
    )


async def _history_proposed(session: AsyncSession, entry: BlacklistEntry, actor: str) -> None:
    await ledger.append_history(
        session,
        uscc=entry.uscc,
        subject_type=BLACKLIST,
        subject_id=entry.id,
        kind="proposed",
        on=entry.proposed_on,
        actor=actor,
        public=False,
        note=f"拟列入严重失信主体名单：{MEM_ORDER_11.case(ListingCriterion(entry.criterion)).zh}",
        detail={"criterion": entry.criterion, "basis_record_ids": list(entry.basis_record_ids)},
    )


async def propose_case(
    session: AsyncSession, officer: Principal, data: BlacklistProposal, today: date
) -> BlacklistEntry:
    """Open a black-list case for an enterprise (拟列入), one open case per enterprise."""
    existing = await open_case_of(session, data.uscc)
    if existing is not None:
        raise Conflict(
            f"enterprise {data.uscc} already has an open black-list case ({existing.id}, "
            f"{existing.state})",
            code="blacklist_case_open",
            field="uscc",
            case_id=existing.id,
        )
    await _check_basis_records(session, data.uscc, data.basis_record_ids)
    entry = _new_case(
        uscc=data.uscc,
        enterprise_name=data.enterprise_name,
        criterion=data.criterion,
        facts=data.facts,
        basis_record_ids=list(dict.fromkeys(data.basis_record_ids)),
        on=today,
        actor=officer.key,
    )
    await _insert_case(session, entry)
    await _history_proposed(session, entry, officer.key)
    return entry


async def propose_from_penalty(
    session: AsyncSession,
    outbox: Outbox,
    *,
    record: CreditRecord,
    criterion: str,
    on: date,
    actor: str,
) -> BlacklistEntry | None:
    """Open a case from a penalty whose inspection named a listing criterion.

    An unknown criterion code is proposed as `other_serious`, the code kept in the facts. If
    the enterprise already has an open case, nothing new is opened: the record is linked to that
    case with a private note, and None is returned. (A concurrent proposal that wins the race
    fails this flush; the consumer's retry then finds the case and links to it.)
    """
    del outbox  # opening a case announces nothing: only a decision changes the standing
    case, unknown = criterion_from_event(criterion)
    existing = await open_case_of(session, record.uscc)
    if existing is not None:
        if record.id not in existing.basis_record_ids:
            # A new list, so the JSON column is seen as changed.
            existing.basis_record_ids = [*existing.basis_record_ids, record.id]
            existing.version += 1
        await ledger.append_history(
            session,
            uscc=existing.uscc,
            subject_type=BLACKLIST,
            subject_id=existing.id,
            kind="basis_linked",
            on=on,
            actor=actor,
            public=False,
            note=f"新的行政处罚决定{record.document_number}指向列入情形“{criterion}”，"
            "已并入本案依据",
            detail={"record_id": record.id, "criterion": criterion},
        )
        return None
    facts = record.summary
    if unknown is not None:
        facts = f"{facts}（执法检查认定的列入情形代码：{unknown}）"
    entry = _new_case(
        uscc=record.uscc,
        enterprise_name=record.enterprise_name,
        criterion=case,
        facts=facts[:4000],
        basis_record_ids=[record.id],
        on=on,
        actor=actor,
    )
    session.add(entry)
    await session.flush()
    await _history_proposed(session, entry, actor)
    return entry


async def serve_pre_notice(
    session: AsyncSession,
    working_days: WorkingDays,
    officer: Principal,
    case_id: str,
    today: date,
    expected_version: int | None = None,
) -> BlacklistEntry:
    """Serve the pre-notice (列入前告知书) today and start the objection window."""
    entry = await _case_for_bureau(session, case_id, expected_version)
    try:
        check_notice_may_be_served(BlacklistState(entry.state))
        due = objection_due_on(MEM_ORDER_11, today, working_days)
    except CaseStateConflict as exc:
        raise _conflict(exc) from exc
    except ListsRuleViolated as exc:
        raise _rule(exc) from exc
    documents: tuple[str, ...] = ()
    if entry.basis_record_ids:
        documents = tuple(
            (
                await session.scalars(
                    sa.select(CreditRecord.document_number)
                    .where(CreditRecord.id.in_(entry.basis_record_ids))
                    .order_by(CreditRecord.decided_on, CreditRecord.document_number)
                )
            ).all()
        )
    entry.pre_notice = pre_notice(
        MEM_ORDER_11,
        PreNoticeFacts(
            enterprise_name=entry.enterprise_name,
            uscc=entry.uscc,
            criterion=ListingCriterion(entry.criterion),
            facts=entry.facts,
            basis_documents=documents,
            served_on=today,
            objection_due_on=due,
        ),
    )
    entry.state = BlacklistState.noticed.value
    entry.notice_served_on = today
    entry.objection_due_on = due
    entry.version += 1
    await ledger.append_history(
        session,
        uscc=entry.uscc,
        subject_type=BLACKLIST,
        subject_id=entry.id,
        kind="noticed",
        on=today,
        actor=officer.key,
        public=False,
        note=f"送达列入前告知书，陈述申辩期限至{due.isoformat()}",
        detail={"objection_due_on": due.isoformat()},
    )
    return entry


async def file_objection(
    session: AsyncSession,
    enterprise: Principal,
    case_id: str,
    data: ObjectionCreate,
    today: date,
    expected_version: int | None = None,
) -> BlacklistEntry:
    """The enterprise states its case against a pre-notice served on it, within the window."""
    entry = await _lock_case(session, case_id)
    # Another enterprise's case, or one not yet told to this enterprise, does not exist for it.
    if entry is None or entry.uscc != enterprise.subject or entry.notice_served_on is None:
        raise NotFound(f"black-list case {case_id} not found", code="blacklist_case_not_found")
    check_version(entry.version, expected_version)
    try:
        check_objection(BlacklistState(entry.state), entry.objection_due_on, today)
    except CaseStateConflict as exc:
        raise _conflict(exc) from exc
    except ListsRuleViolated as exc:
        raise _rule(exc) from exc
    entry.state = BlacklistState.objected.value
    entry.objection = data.statement
    entry.objected_on = today
    entry.version += 1
    await ledger.append_history(
        session,
        uscc=entry.uscc,
        subject_type=BLACKLIST,
        subject_id=entry.id,
        kind="objected",
        on=today,
        actor=enterprise.key,
        public=False,
        note="企业提出陈述、申辩意见",
    )
    return entry


async def decide_case(
    session: AsyncSession,
    outbox: Outbox,
    leader: Principal,
    case_id: str,
    data: BlacklistDecision,
    today: date,
    expected_version: int | None = None,
) -> BlacklistEntry:
    """A leader lists the enterprise (列入决定) or withdraws the case."""
    entry = await _case_for_bureau(session, case_id, expected_version)
    try:
        check_decision(
            BlacklistState(entry.state), data.outcome, entry.objection_due_on, today, data.reason
        )
    except CaseStateConflict as exc:
        raise _conflict(exc) from exc
    except ListsRuleViolated as exc:
        raise _rule(exc) from exc
    entry.decided_on = today
    entry.decided_by = leader.key
    entry.decision_reason = data.reason or None
    entry.version += 1
    if data.outcome is BlacklistOutcome.withdrawn:
        entry.state = BlacklistState.withdrawn.value
        entry.active_key = None
        await ledger.append_history(
            session,
            uscc=entry.uscc,
            subject_type=BLACKLIST,
            subject_id=entry.id,
            kind="withdrawn",
            on=today,
            actor=leader.key,
            public=False,
            note=f"决定不予列入：{data.reason}",
        )
        return entry
    term = listing_term(MEM_ORDER_11, today)
    entry.state = BlacklistState.listed.value
    entry.listed_until = term.listed_until
    entry.early_removal_on = term.early_removal_on
    case = MEM_ORDER_11.case(ListingCriterion(entry.criterion))
    await ledger.append_history(
        session,
        uscc=entry.uscc,
        subject_type=BLACKLIST,
        subject_id=entry.id,
        kind="listed",
        on=today,
        actor=leader.key,
        public=True,
        note=f"列入安全生产严重失信主体名单（{case.zh}），管理期限至"
        f"{term.listed_until.isoformat()}",
        detail={
            "criterion": entry.criterion,
            "listed_until": term.listed_until.isoformat(),
            "early_removal_on": term.early_removal_on.isoformat(),
        },
    )
    # The case is listed before the red entry ends, so the standing moves straight from
    # redlisted to blacklisted and never announces a passing "normal".
    await session.flush()
    red = await session.scalar(
        sa.select(RedlistEntry)
        .where(RedlistEntry.uscc == entry.uscc, RedlistEntry.state == RedlistState.listed.value)
        .with_for_update()
    )
    note = f"列入安全生产严重失信主体名单（{case.zh}）"
    if red is not None:
        await ledger.remove_from_redlist(
            session,
            outbox,
            red,
            reason="blacklisted",
            on=today,
            actor=leader.key,
            note=f"因{note}，移出守信红名单",
            detail={"blacklist_id": entry.id},
        )
    await ledger.refresh_standing(session, outbox, entry.uscc, today, note)
    return entry


async def expire_list_entries(session: AsyncSession, outbox: Outbox, today: date) -> int:
    """Remove black- and red-list entries whose term ended before today; how many were removed.

    Each leaves the list the day after its last day; running the pass again removes nothing.
    """
    removed = 0
    blacks = (
        await session.scalars(
            sa.select(BlacklistEntry)
            .where(
                BlacklistEntry.state == BlacklistState.listed.value,
                BlacklistEntry.listed_until < today,
            )
            .order_by(BlacklistEntry.listed_until, BlacklistEntry.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for black in blacks:
        assert black.listed_until is not None
        await ledger.remove_from_blacklist(
            session,
            outbox,
            black,
            reason="expired",
            on=removal_on(black.listed_until),
            actor=ledger.SYSTEM_ACTOR,
            note=f"管理期限于{black.listed_until.isoformat()}届满，自动移出严重失信主体名单",
        )
        removed += 1
    reds = (
        await session.scalars(
            sa.select(RedlistEntry)
            .where(
                RedlistEntry.state == RedlistState.listed.value,
                RedlistEntry.listed_until < today,
            )
            .order_by(RedlistEntry.listed_until, RedlistEntry.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for red in reds:
        assert red.listed_until is not None
        await ledger.remove_from_redlist(
            session,
            outbox,
            red,
            reason="expired",
            on=removal_on(red.listed_until),
            actor=ledger.SYSTEM_ACTOR,
            note=f"有效期于{red.listed_until.isoformat()}届满，移出守信红名单",
        )
        removed += 1
    return removed


async def after_record_reversed(
    session: AsyncSession, outbox: Outbox, record: CreditRecord, *, on: date, actor: str
) -> None:
    """A reversed penalty no longer supports the black-list case built on it.

    A case stands while any of its basis records is still in force; when the last one is
    reversed, a listed enterprise is removed (reason "reversed") and an open case is withdrawn.
    """
    cases = (
        await session.scalars(
            sa.select(BlacklistEntry)
            .where(BlacklistEntry.uscc == record.uscc, BlacklistEntry.active_key.is_not(None))
            .with_for_update()
        )
    ).all()
    for case in cases:
        if record.id not in case.basis_record_ids:
            continue
        others = [i for i in case.basis_record_ids if i != record.id]
        still_in_force = others and await session.scalar(
            sa.select(sa.func.count())
            .select_from(CreditRecord)
            .where(
                CreditRecord.id.in_(others), CreditRecord.end_reason.is_distinct_from("reversed")
            )
        )
        if still_in_force:
            continue
        note = f"列入依据的行政处罚决定{record.document_number}已被撤销"
        if case.state == BlacklistState.listed.value:
            await ledger.remove_from_blacklist(
                session,
                outbox,
                case,
                reason="reversed",
                on=on,
                actor=actor,
                note=f"{note}，移出严重失信主体名单",
                detail={"record_id": record.id},
            )
            continue
        case.state = BlacklistState.withdrawn.value
        case.active_key = None
        case.decided_on = on
        case.decided_by = actor
        case.decision_reason = f"{note}，不再列入"
        case.version += 1
        await ledger.append_history(
            session,
            uscc=case.uscc,
            subject_type=BLACKLIST,
            subject_id=case.id,
            kind="withdrawn",
            on=on,
            actor=actor,
            public=False,
            note=case.decision_reason,
            detail={"record_id": record.id},
        )


# --- black list: reads ---------------------------------------------------------------------


async def histories(
    session: AsyncSession, subject_type: str, ids: Sequence[str], *, public_only: bool = False
) -> dict[str, list[HistoryEntry]]:
    """The steps of many subjects in one query, oldest first, by subject id."""
    out: dict[str, list[HistoryEntry]] = defaultdict(list)
    if not ids:
        return out
    query = (
        sa.select(HistoryEntry)
        .where(HistoryEntry.subject_type == subject_type, HistoryEntry.subject_id.in_(ids))
        .order_by(HistoryEntry.id)
    )
    if public_only:
        query = query.where(HistoryEntry.public.is_(True))
    for row in (await session.scalars(query)).all():
        out[row.subject_id].append(row)
    return out


def _keyset(
    query: sa.Select[Any],
    day: InstrumentedAttribute[Any],
    ident: InstrumentedAttribute[Any],
    after: After,
    limit: int,
) -> sa.Select[Any]:
    query = query.order_by(day.desc(), ident.desc()).limit(limit)
    if after is not None:
        on, last_id = after
        query = query.where(sa.or_(day < on, sa.and_(day == on, ident < last_id)))
    return query


def _search(
    name: InstrumentedAttribute[str], uscc: InstrumentedAttribute[str], q: str | None
) -> sa.ColumnElement[bool] | None:
    text = (q or "").strip()
    if not text:
        return None
    try:
        return uscc == validate_uscc(text)
    except InvalidUSCC:
        return name.icontains(text, autoescape=True)


async def public_blacklist(
    session: AsyncSession, today: date, q: str | None, after: After, limit: int
) -> Sequence[BlacklistEntry]:
    """Entries on the black list today, newest decision first."""
    query = sa.select(BlacklistEntry).where(
        BlacklistEntry.state == BlacklistState.listed.value,
        # Past its last day an entry is off the list even before the daily pass marks it.
        BlacklistEntry.listed_until >= today,
    )
    found = _search(BlacklistEntry.enterprise_name, BlacklistEntry.uscc, q)
    if found is not None:
        query = query.where(found)
    return (
        await session.scalars(
            _keyset(query, BlacklistEntry.decided_on, BlacklistEntry.id, after, limit)
        )
    ).all()


async def public_case(session: AsyncSession, case_id: str) -> BlacklistEntry:
    """A listed or removed entry; any other case does not exist for the public."""
    entry = await session.get(BlacklistEntry, case_id)
    if entry is None or BlacklistState(entry.state) not in PUBLIC_CASE_STATES:
        raise NotFound(f"black-list entry {case_id} not found", code="blacklist_entry_not_found")
    return entry


async def bureau_cases(
    session: AsyncSession, state: BlacklistState | None, after: After, limit: int
) -> Sequence[BlacklistEntry]:
    """Every case (optionally in one state), newest proposal first."""
    query = sa.select(BlacklistEntry)
    if state is not None:
        query = query.where(BlacklistEntry.state == state.value)
    return (
        await session.scalars(
            _keyset(query, BlacklistEntry.proposed_on, BlacklistEntry.id, after, limit)
        )
    ).all()


async def cases_of_enterprise(session: AsyncSession, uscc: str) -> Sequence[BlacklistEntry]:
    """The enterprise's cases it has been told about (pre-notice served), newest first."""
    return (
        await session.scalars(
            sa.select(BlacklistEntry)
            .where(BlacklistEntry.uscc == uscc, BlacklistEntry.notice_served_on.is_not(None))
            .order_by(BlacklistEntry.proposed_on.desc(), BlacklistEntry.id.desc())
        )
    ).all()


# --- red list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedlistCheck:
    """The red-list criteria for an enterprise on a day."""

    results: tuple[CriterionResult, ...]

    @property
    def eligible(self) -> bool:
        return not failing(self.results)


async def check_redlist(
    session: AsyncSession,
    uscc: str,
    today: date,
    *,
    standardisation_level: int | None,
    accident_free_attested: bool,
) -> RedlistCheck:
    """Compute the red-list criteria for an enterprise from the records held today."""
    penalties = (
        await session.execute(
            sa.select(CreditRecord.document_number, CreditRecord.decided_on).where(
                CreditRecord.uscc == uscc,
                CreditRecord.record_class == "penalty",
                CreditRecord.decided_on <= today,
                # A decision revoked by reconsideration or a court is not a penalty received.
                CreditRecord.end_reason.is_distinct_from("reversed"),
            )
        )
    ).all()
    dishonesty = (
        await session.scalars(
            sa.select(CreditRecord.document_number)
            .where(
                CreditRecord.uscc == uscc,
                CreditRecord.record_class == "dishonesty",
                CreditRecord.state == "published",
                CreditRecord.publicity_starts_on <= today,
                CreditRecord.publicity_ends_on >= today,
            )
            .order_by(CreditRecord.document_number)
        )
    ).all()
    case = await open_case_of(session, uscc)
    facts = RedlistFacts(
        standardisation_level=standardisation_level,
        accident_free_attested=accident_free_attested,
        penalties=tuple(PenaltySeen(p.document_number, p.decided_on) for p in penalties),
        dishonesty_in_publicity=tuple(dishonesty),
        blacklist_state=None if case is None else BlacklistState(case.state),
    )
    return RedlistCheck(redlist_criteria(QINGDAO_REDLIST_NOTICE, facts, today))


_CRITERION_FIELD = {
    "standardisation_level_2_or_higher": "standardisation_level",
    "accident_free_attested": "accident_free_attested",
}


def _criteria_refused(check: RedlistCheck, what: str) -> RuleViolated:
    failed = failing(check.results)
    errors = [
        {
            "field": _CRITERION_FIELD.get(r.code.value, "uscc"),
            "rule": r.code.value,
            "message": r.detail,
        }
        for r in failed
    ]
    return RuleViolated(
        f"{what}: red-list criteria not met: {', '.join(r.code.value for r in failed)}",
        code="redlist_criteria_not_met",
        field=errors[0]["field"],
        failing=[r.code.value for r in failed],
        errors=errors,
    )


async def nominate(
    session: AsyncSession, officer: Principal, data: RedlistNomination, today: date
) -> RedlistEntry:
    """Nominate an enterprise for the red list; refused unless every criterion is met."""
    existing = await session.scalar(
        sa.select(RedlistEntry).where(RedlistEntry.active_key == data.uscc)
    )
    if existing is not None:
        raise Conflict(
            f"enterprise {data.uscc} already has an open red-list entry ({existing.id}, "
            f"{existing.state})",
            code="redlist_entry_open",
            field="uscc",
            entry_id=existing.id,
        )
    check = await check_redlist(
        session,
        data.uscc,
        today,
        standardisation_level=data.standardisation_level,
        accident_free_attested=data.accident_free_attested,
    )
    if not check.eligible:
        raise _criteria_refused(check, "nomination refused")
    entry = RedlistEntry(
        id=str(uuid.uuid4()),
        uscc=data.uscc,
        enterprise_name=data.enterprise_name,
        standardisation_level=data.standardisation_level,
        standardisation_certificate=data.standardisation_certificate,
        accident_free_attested=data.accident_free_attested,
        joint_incentive=data.joint_incentive,
        grounds=data.grounds,
        criteria=[r.as_dict() for r in check.results],
        state=RedlistState.nominated.value,
        active_key=data.uscc,
        nominated_on=today,
        nominated_by=officer.key,
        rule_pack_id=QINGDAO_REDLIST_NOTICE.id,
        rule_pack_version=QINGDAO_REDLIST_NOTICE.version,
        created_at=utcnow(),
        version=1,
    )
    session.add(entry)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"enterprise {data.uscc} already has an open red-list entry",
            code="redlist_entry_open",
            field="uscc",
        ) from exc
    await ledger.append_history(
        session,
        uscc=entry.uscc,
        subject_type=REDLIST,
        subject_id=entry.id,
        kind="nominated",
        on=today,
        actor=officer.key,
        public=False,
        note="推荐纳入守信红名单",
        detail={
            "criteria": entry.criteria,
            "accident_free_attested": data.accident_free_attested,
        },
    )
    return entry


async def decide_nomination(
    session: AsyncSession,
    outbox: Outbox,
    leader: Principal,
    entry_id: str,
    data: RedlistDecision,
    today: date,
    expected_version: int | None = None,
) -> RedlistEntry:
    """A leader approves a nomination (criteria computed again today) or rejects it."""
    entry = await session.scalar(
        sa.select(RedlistEntry)
        .where(RedlistEntry.id == entry_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if entry is None:
        raise NotFound(f"red-list entry {entry_id} not found", code="redlist_entry_not_found")
    check_version(entry.version, expected_version)
    try:
        check_redlist_decision(RedlistState(entry.state), data.outcome, data.reason)
    except CaseStateConflict as exc:
        raise _conflict(exc) from exc
    except ListsRuleViolated as exc:
        raise _rule(exc) from exc
    if data.outcome is RedlistOutcome.rejected:
        entry.state = RedlistState.rejected.value
        entry.active_key = None
        entry.decided_on = today
        entry.decided_by = leader.key
        entry.decision_reason = data.reason
        entry.version += 1
        await ledger.append_history(
            session,
            uscc=entry.uscc,
            subject_type=REDLIST,
            subject_id=entry.id,
            kind="rejected",
            on=today,
            actor=leader.key,
            public=False,
            note=f"不予纳入守信红名单：{data.reason}",
        )
        return entry
    check = await check_redlist(
        session,
        entry.uscc,
        today,
        standardisation_level=entry.standardisation_level,
        accident_free_attested=entry.accident_free_attested,
    )
    if not check.eligible:
        raise _criteria_refused(check, "approval refused")
    until = redlist_listed_until(QINGDAO_REDLIST_NOTICE, today)
    entry.criteria = [r.as_dict() for r in check.results]
    entry.state = RedlistState.listed.value
    entry.decided_on = today
    entry.decided_by = leader.key
    entry.decision_reason = data.reason or None
    entry.listed_until = until
    entry.version += 1
    await ledger.append_history(
        session,
        uscc=entry.uscc,
        subject_type=REDLIST,
        subject_id=entry.id,
        kind="listed",
        on=today,
        actor=leader.key,
        public=True,
        note=f"纳入守信红名单，有效期至{until.isoformat()}"
        + ("，并列入联合激励对象名录" if entry.joint_incentive else ""),
        detail={"listed_until": until.isoformat(), "joint_incentive": entry.joint_incentive},
    )
    await ledger.refresh_standing(session, outbox, entry.uscc, today, "纳入守信红名单")
    return entry


async def public_redlist(
    session: AsyncSession,
    today: date,
    q: str | None,
    after: After,
    limit: int,
    *,
    joint_only: bool = False,
) -> Sequence[RedlistEntry]:
    """Entries on the red list today (or only those in the joint directory), newest first."""
    query = sa.select(RedlistEntry).where(
        RedlistEntry.state == RedlistState.listed.value, RedlistEntry.listed_until >= today
    )
    if joint_only:
        query = query.where(RedlistEntry.joint_incentive.is_(True))
    found = _search(RedlistEntry.enterprise_name, RedlistEntry.uscc, q)
    if found is not None:
        query = query.where(found)
    return (
        await session.scalars(
            _keyset(query, RedlistEntry.decided_on, RedlistEntry.id, after, limit)
        )
    ).all()


async def public_redlist_entry(session: AsyncSession, entry_id: str) -> RedlistEntry:
    """A listed or removed red-list entry; nominations do not exist for the public."""
    entry = await session.get(RedlistEntry, entry_id)
    if entry is None or RedlistState(entry.state) not in PUBLIC_REDLIST_STATES:
        raise NotFound(f"red-list entry {entry_id} not found", code="redlist_entry_not_found")
    return entry


async def nominations(
    session: AsyncSession, state: RedlistState | None, after: After, limit: int
) -> Sequence[RedlistEntry]:
    """Every nomination and listing (optionally in one state), newest nomination first."""
    query = sa.select(RedlistEntry)
    if state is not None:
        query = query.where(RedlistEntry.state == state.value)
    return (
        await session.scalars(
            _keyset(query, RedlistEntry.nominated_on, RedlistEntry.id, after, limit)
        )
    ).all()

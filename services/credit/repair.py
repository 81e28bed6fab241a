"""Credit-repair use cases (信用修复): apply, decide within 3 working days, revoke a fraudulent
repair, read. Everything runs in the caller's transaction; nothing here commits.

Each state change goes through services.credit.ledger, so the target's history, its public
state and the events agree. Results for the credit website are queued as WebsiteDelivery rows
in the same transaction as the decision: a crash after commit loses nothing, and the website
adapter (services.credit.website) pushes them later.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Final

import sqlalchemy as sa
from prometheus_client import Gauge
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.contracts.credit import RepairDecidedV1, RepairRevokedV1
from kernel.db import utcnow
from kernel.errors import Conflict, NotFound, RuleViolated
from kernel.outbox import Outbox
from kernel.versioning import check_version
from services.credit import ledger
from services.credit.domain import rule_pack_in_force
from services.credit.models import (
    BlacklistEntry,
    CreditRecord,
    HistoryEntry,
    RepairApplication,
    WebsiteDelivery,
)
from services.credit.repair_domain import (
    RepairAction,
    RepairCalendar,
    RepairOutcome,
    RepairRuleViolated,
    RepairState,
    RepairStateConflict,
    RepairTarget,
    RepairTargetKind,
    WebsiteResult,
    action_for,
    active_key,
    check_decision_reason,
    check_repair_application,
    is_target_open,
    next_state,
    owns_target,
    repair_due_on,
)
from services.credit.repair_schemas import (
    RepairCreate,
    RepairDecisionCreate,
    RepairRevocationCreate,
)

SERVICE: Final = "credit"

REPAIRS_OVERDUE = Gauge(
    "credit_repairs_overdue",
    "Pending credit-repair applications past their 3-working-day due date",
    ["service"],
)

Target = CreditRecord | BlacklistEntry

# What the public reads on a target's history and in the standing event when a repair ends or
# a revocation restores it; the officer's or leader's own words stay private.
PUBLIC_NOTE_REPAIRED_RECORD: Final = "信用修复申请经核实通过，停止公示。"
PUBLIC_NOTE_REPAIRED_LISTING: Final = "信用修复申请经核实通过，提前移出严重失信主体名单。"
PUBLIC_NOTE_REVOKED: Final = "信用修复决定依法撤销，恢复原状态。"


def _rule_error(exc: RepairRuleViolated) -> RuleViolated:
    if exc.eligible_on is None:
        return RuleViolated(str(exc), code=exc.code, field=exc.field)
    return RuleViolated(
        str(exc), code=exc.code, field=exc.field, eligible_on=exc.eligible_on.isoformat()
    )


def _conflict(exc: RepairStateConflict) -> Conflict:
    return Conflict(str(exc), code=exc.code)


# --- targets -------------------------------------------------------------------------------


async def load_target(
    session: AsyncSession, kind: RepairTargetKind, target_id: str, *, lock: bool = False
) -> Target | None:
    """The record or black-list case a repair is about (locked for a state change)."""
    model: type[CreditRecord] | type[BlacklistEntry] = (
        CreditRecord if kind is RepairTargetKind.record else BlacklistEntry
    )
    query = sa.select(model).where(model.id == target_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row: Target | None = await session.scalar(query)
    return row


def target_facts(kind: RepairTargetKind, target: Target) -> RepairTarget:
    """What the eligibility rules read from a target row."""
    if isinstance(target, CreditRecord):
        return RepairTarget(
            kind=kind,
            id=target.id,
            uscc=target.uscc,
            record_class=target.record_class,
            state=target.state,
            starts_on=target.publicity_starts_on,
            ends_on=target.publicity_ends_on,
            eligible_on=target.repair_eligible_on,
        )
    return RepairTarget(
        kind=kind,
        id=target.id,
        uscc=target.uscc,
        record_class=None,
        state=target.state,
        starts_on=None,
        ends_on=None,
        eligible_on=target.early_removal_on,
    )


def _target_not_found(kind: RepairTargetKind, target_id: str) -> NotFound:
    return NotFound(
        f"{kind.value} {target_id} not found", code="repair_target_not_found", field="target_id"
    )


# --- apply ---------------------------------------------------------------------------------


async def apply_for_repair(
    session: AsyncSession,
    calendar: RepairCalendar,
    applicant: Principal,
    data: RepairCreate,
    today: date,
) -> RepairApplication:
    """Receive an enterprise's repair application and start its 3-working-day clock."""
    uscc = applicant.subject
    target = await load_target(session, data.target_kind, data.target_id)
    # Another enterprise's target answers exactly like a missing one: existence is not disclosed.
    if target is None:
        raise _target_not_found(data.target_kind, data.target_id)
    facts = target_facts(data.target_kind, target)
    if not owns_target(uscc, facts):
        raise _target_not_found(data.target_kind, data.target_id)
    key = active_key(data.target_kind, data.target_id)
    pending = await session.scalar(
        sa.select(RepairApplication.id).where(RepairApplication.active_key == key)
    )
    try:
        check_repair_application(
            facts,
            today=today,
            commitment_signed=data.commitment_signed,
            evidence=data.evidence,
            has_pending=pending is not None,
        )
    except RepairRuleViolated as exc:
        raise _rule_error(exc) from exc
    except RepairStateConflict as exc:
        raise _conflict(exc) from exc
    pack = rule_pack_in_force(today)
    application = RepairApplication(
        id=str(uuid.uuid4()),
        uscc=uscc,
        target_kind=data.target_kind.value,
        target_id=data.target_id,
        active_key=key,
        applicant=applicant.key,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        statement=data.statement,
        evidence=[item.stored() for item in data.evidence],
        commitment_signed=data.commitment_signed,
        received_on=today,
        received_at=utcnow(),
        due_on=repair_due_on(pack, today, calendar),
        state=RepairState.pending.value,
        rule_pack_id=pack.id,
        rule_pack_version=pack.version,
        version=1,
    )
    session.add(application)
    try:
        # A concurrent twin for the same target fails here on the unique active_key.
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "a repair application for this target is already pending; wait for its decision",
            code="repair_pending",
        ) from exc
    detail = {"application_id": application.id, "due_on": _iso(application.due_on)}
    await ledger.append_history(
        session,
        uscc=uscc,
        subject_type="repair",
        subject_id=application.id,
        kind="applied",
        on=today,
        actor=applicant.key,
        public=False,
        note=f"credit repair applied for ({data.target_kind.value} {data.target_id})",
        detail=detail,
    )
    await ledger.append_history(
        session,
        uscc=uscc,
        subject_type=data.target_kind.value,
        subject_id=data.target_id,
        kind="repair_applied",
        on=today,
        actor=applicant.key,
        public=False,
        note="credit repair applied for",
        detail=detail,
    )
    return application


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


# --- decide --------------------------------------------------------------------------------


async def lock_application(session: AsyncSession, application_id: str) -> RepairApplication:
    """The application, locked so two deciders cannot both act on it; 404 if absent."""
    application = await session.scalar(
        sa.select(RepairApplication)
        .where(RepairApplication.id == application_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if application is None:
        raise NotFound(f"repair {application_id} not found", code="repair_not_found")
    return application


def _transition(application: RepairApplication, action: RepairAction) -> RepairState:
    try:
        return next_state(RepairState(application.state), action)
    except RepairStateConflict as exc:
        raise _conflict(exc) from exc


def _queue_website(
    session: AsyncSession, application: RepairApplication, result: WebsiteResult
) -> WebsiteDelivery:
    now = utcnow()
    delivery = WebsiteDelivery(
        id=str(uuid.uuid4()),
        uscc=application.uscc,
        kind=result.kind,
        subject_id=application.id,
        payload=result.payload(),
        state="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    return delivery


def _website_result(
    kind: str,
    application: RepairApplication,
    target: Target,
    *,
    revoked_on: date | None = None,
    reason: str | None = None,
) -> WebsiteResult:
    assert application.decided_on is not None
    return WebsiteResult(
        kind=kind,
        application_id=application.id,
        uscc=application.uscc,
        enterprise_name=target.enterprise_name,
        target_kind=RepairTargetKind(application.target_kind),
        target_id=application.target_id,
        document_number=target.document_number if isinstance(target, CreditRecord) else None,
        decided_on=application.decided_on,
        outcome="approved" if kind == "repair_approved" else "revoked",
        revoked_on=revoked_on,
        reason=reason,
    )


async def decide_repair(
    session: AsyncSession,
    outbox: Outbox,
    officer: Principal,
    application_id: str,
    data: RepairDecisionCreate,
    today: date,
    expected_version: int | None = None,
) -> RepairApplication:
    """Decide a pending application; an approval ends the publicity or the listing at once."""
    application = await lock_application(session, application_id)
    check_version(application.version, expected_version)
    new_state = _transition(application, action_for(data.outcome))
    try:
        check_decision_reason(data.outcome, data.reason)
    except RepairRuleViolated as exc:
        raise _rule_error(exc) from exc
    kind = RepairTargetKind(application.target_kind)
    target = await load_target(session, kind, application.target_id, lock=True)
    if target is None:  # targets are never deleted; a missing one is a broken database
        raise Conflict(f"{kind.value} {application.target_id} is missing", code="target_missing")
    application.state = new_state.value
    application.active_key = None
    application.decided_on = today
    application.decided_by = officer.key
    application.decision_reason = data.reason or None
    application.version += 1
    reason = data.reason or ("credit repair approved" if new_state is RepairState.approved else "")
    detail = {"application_id": application.id}
    approved = data.outcome is RepairOutcome.approved
    # A target that left publicity or the list meanwhile (expired, reversed) is not touched
    # again: the approval is recorded, the earlier end stands.
    target_closed = approved and not is_target_open(target_facts(kind, target), today)
    if approved and not target_closed:
        # The officer's reason is the enterprise's and the bureau's (RepairRead): the public
        # step and the standing event say only what happened; the reason stays in `detail`.
        private = {**detail, "reason": data.reason} if data.reason else detail
        if isinstance(target, CreditRecord):
            await ledger.end_publicity(
                session,
                outbox,
                target,
                reason="repaired",
                on=today,
                actor=officer.key,
                note=PUBLIC_NOTE_REPAIRED_RECORD,
                detail=private,
            )
        else:
            await ledger.remove_from_blacklist(
                session,
                outbox,
                target,
                reason="repaired",
                on=today,
                actor=officer.key,
                note=PUBLIC_NOTE_REPAIRED_LISTING,
                detail=private,
            )
    else:
        await ledger.append_history(
            session,
            uscc=application.uscc,
            subject_type=kind.value,
            subject_id=application.target_id,
            kind=f"repair_{new_state.value}",
            on=today,
            actor=officer.key,
            public=False,
            note=reason
            + (" (the target had already left publicity or the list)" if target_closed else ""),
            detail=detail,
        )
    await ledger.append_history(
        session,
        uscc=application.uscc,
        subject_type="repair",
        subject_id=application.id,
        kind=new_state.value,
        on=today,
        actor=officer.key,
        public=False,
        note=reason,
        detail={"on_time": _on_time(application), "target_already_closed": target_closed},
    )
    await outbox.emit(
        session,
        application.uscc,
        RepairDecidedV1(
            application_id=application.id,
            uscc=application.uscc,
            target_kind=kind.value,
            target_id=application.target_id,
            outcome=data.outcome.value,
            decided_on=today,
            due_on=application.due_on,
            on_time=_on_time(application),
        ),
    )
    # Only approvals change what the public sees; a rejection goes back to the enterprise.
    if approved:
        _queue_website(
            session, application, _website_result("repair_approved", application, target)
        )
    await session.flush()
    await refresh_overdue_gauge(session, today)
    return application


def _on_time(application: RepairApplication) -> bool | None:
    if application.decided_on is None or application.due_on is None:
        return None
    return application.decided_on <= application.due_on


# --- revoke --------------------------------------------------------------------------------


async def revoke_repair(
    session: AsyncSession,
    outbox: Outbox,
    leader: Principal,
    application_id: str,
    data: RepairRevocationCreate,
    today: date,
    expected_version: int | None = None,
) -> RepairApplication:
    """Revoke an approved repair found fraudulent and restore what it ended.

    A record is published again to the end of its original window: if that window has passed
    meanwhile, the restored record is immediately out of publicity (not shown) and the daily
    pass ends it as expired. A black-list case is restored with its original term likewise.
    """
    application = await lock_application(session, application_id)
    check_version(application.version, expected_version)
    new_state = _transition(application, RepairAction.revoke)
    kind = RepairTargetKind(application.target_kind)
    target = await load_target(session, kind, application.target_id, lock=True)
    if target is None:
        raise Conflict(f"{kind.value} {application.target_id} is missing", code="target_missing")
    application.state = new_state.value
    application.revoked_on = today
    application.revoked_by = leader.key
    application.revocation_reason = data.reason
    application.version += 1
    # The leader's reason (the fraud found) is not published: the restored target's public
    # step and its events carry a fixed note, the reason stays in the private `detail`.
    detail = {"application_id": application.id, "reason": data.reason}
    note = f"credit repair revoked: {data.reason}"
    restored = False
    if isinstance(target, CreditRecord):
        if target.state == "ended" and target.end_reason == "repaired":
            await ledger.restore_publicity(
                session,
                outbox,
                target,
                on=today,
                actor=leader.key,
                reason=PUBLIC_NOTE_REVOKED,
                detail=detail,
            )
            restored = True
    elif target.state == "removed" and target.removal_reason == "repaired":
        try:
            await ledger.restore_blacklist(
                session,
                outbox,
                target,
                on=today,
                actor=leader.key,
                reason=PUBLIC_NOTE_REVOKED,
                detail=detail,
            )
        except IntegrityError as exc:
            raise Conflict(
                "the enterprise has another open black-list case; the removed case cannot be "
                "restored beside it — resolve that case first",
                code="blacklist_case_open",
            ) from exc
        restored = True
    await ledger.append_history(
        session,
        uscc=application.uscc,
        subject_type="repair",
        subject_id=application.id,
        kind="revoked",
        on=today,
        actor=leader.key,
        public=False,
        note=note,
        detail={"target_restored": restored},
    )
    await outbox.emit(
        session,
        application.uscc,
        RepairRevokedV1(
            application_id=application.id,
            uscc=application.uscc,
            target_kind=kind.value,
            target_id=application.target_id,
            reason=data.reason,
            revoked_on=today,
        ),
    )
    _queue_website(
        session,
        application,
        _website_result(
            "repair_revoked", application, target, revoked_on=today, reason=data.reason
        ),
    )
    await session.flush()
    return application


# --- reads ---------------------------------------------------------------------------------


def sees_all(principal: Principal) -> bool:
    return principal.role in {Role.officer, Role.leader, Role.admin}


async def readable_repair(
    session: AsyncSession, principal: Principal, application_id: str
) -> RepairApplication:
    """The application if this caller may read it: the bureau any, an enterprise its own."""
    application = await session.get(RepairApplication, application_id)
    if application is None or not (sees_all(principal) or application.uscc == principal.subject):
        raise NotFound(f"repair {application_id} not found", code="repair_not_found")
    return application


def _overdue(today: date) -> sa.ColumnElement[bool]:
    """SQL form of repair_domain.is_overdue."""
    return sa.and_(
        RepairApplication.state == RepairState.pending.value,
        RepairApplication.due_on.is_not(None),
        RepairApplication.due_on < today,
    )


async def list_repairs(
    session: AsyncSession,
    principal: Principal,
    *,
    today: date,
    uscc: str | None,
    state: RepairState | None,
    overdue: bool | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[RepairApplication]:
    """Readable applications, newest first, after a (received_at, id) cursor."""
    query = (
        sa.select(RepairApplication)
        .order_by(RepairApplication.received_at.desc(), RepairApplication.id.desc())
        .limit(limit)
    )
    if not sees_all(principal):
        query = query.where(RepairApplication.uscc == principal.subject)
    if uscc is not None:
        query = query.where(RepairApplication.uscc == uscc)
    if state is not None:
        query = query.where(RepairApplication.state == state.value)
    if overdue is not None:
        condition = _overdue(today)
        query = query.where(condition if overdue else sa.not_(condition))
    if after is not None:
        received_at, last_id = after
        query = query.where(
            sa.or_(
                RepairApplication.received_at < received_at,
                sa.and_(
                    RepairApplication.received_at == received_at,
                    RepairApplication.id < last_id,
                ),
            )
        )
    return (await session.scalars(query)).all()


async def histories_of(
    session: AsyncSession, application_ids: Sequence[str]
) -> dict[str, list[HistoryEntry]]:
    """The history of each application, oldest step first, in one query."""
    grouped: dict[str, list[HistoryEntry]] = defaultdict(list)
    if not application_ids:
        return grouped
    rows = await session.scalars(
        sa.select(HistoryEntry)
        .where(
            HistoryEntry.subject_type == "repair",
            HistoryEntry.subject_id.in_(list(application_ids)),
        )
        .order_by(HistoryEntry.id)
    )
    for row in rows:
        grouped[row.subject_id].append(row)
    return grouped


async def count_overdue(session: AsyncSession, today: date) -> int:
    """Pending applications past their due date on this business date."""
    value = await session.scalar(
        sa.select(sa.func.count()).select_from(RepairApplication).where(_overdue(today))
    )
    return int(value or 0)


async def refresh_overdue_gauge(session: AsyncSession, today: date) -> int:
    """Set the overdue-repairs gauge from the database (the count is the truth, not deltas)."""
    overdue = await count_overdue(session, today)
    REPAIRS_OVERDUE.labels(SERVICE).set(overdue)
    return overdue

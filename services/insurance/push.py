"""Insurer push use cases: service records, risk assessments, hazard-assistance reports.

Each push is checked in full (whose policy, its state, the obligation's kind and window, the
dates) before anything is written, then stores the record with its receipt and delivers the
obligation, all in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.contracts.insurance import RiskAssessedV1
from kernel.errors import Conflict, Forbidden, NotFound, RuleViolated
from kernel.outbox import Outbox
from services.insurance import obligations
from services.insurance.domain import (
    ObligationKind,
    ObligationRuleViolated,
    ObligationStatus,
    PolicyStatus,
    check_deliverable,
    last_covered_day,
)
from services.insurance.models import (
    HazardAssistanceReport,
    Insurer,
    Obligation,
    Policy,
    RiskAssessment,
    ServiceRecord,
)
from services.insurance.push_domain import (
    PolicyNotActive,
    PushRuleViolated,
    check_assessment_not_older,
    check_assistance_kind,
    check_not_future,
    check_policy_accepts_pushes,
    check_policy_accepts_records,
    check_service_record_counts,
    check_service_record_kind,
    check_within_cover,
    check_within_policy,
)
from services.insurance.push_schemas import (
    HazardAssistanceCreate,
    RiskAssessmentCreate,
    ServiceRecordCreate,
)
from services.insurance.receipts import ReceiptKind, issue_receipt
from services.insurance.repository import ObligationRepository, PolicyRepository


def _actor(insurer: Insurer) -> str:
    return f"{Role.insurer.value}:{insurer.id}"


def _rule(exc: PushRuleViolated) -> RuleViolated:
    if exc.endpoint is not None:
        return RuleViolated(str(exc), code=exc.code, field=exc.field, endpoint=exc.endpoint)
    return RuleViolated(str(exc), code=exc.code, field=exc.field)


async def _own_obligation(
    session: AsyncSession, insurer: Insurer, obligation_id: str
) -> Obligation:
    # Locked so two pushes for one obligation deliver it once; the loser sees it delivered.
    obligation = await ObligationRepository(session).get_for_update(obligation_id)
    if obligation is None:
        raise NotFound(
            f"obligation {obligation_id} not found",
            code="obligation_not_found",
            field="obligation_id",
        )
    if obligation.insurer_id != insurer.id:
        raise Forbidden(
            "this obligation is owed by another insurer",
            code="obligation_not_yours",
            field="obligation_id",
        )
    return obligation


async def _own_policy(session: AsyncSession, insurer: Insurer, policy_id: str) -> Policy:
    # Locked so concurrent assessments of one policy apply their levels one after the other.
    policy = await PolicyRepository(session).get_for_update(policy_id)
    if policy is None:
        raise NotFound(f"policy {policy_id} not found", code="policy_not_found", field="policy_id")
    if policy.insurer_id != insurer.id:
        raise Forbidden(
            "this policy belongs to another insurer", code="policy_not_yours", field="policy_id"
        )
    return policy


def _accepting(policy: Policy) -> None:
    try:
        check_policy_accepts_pushes(PolicyStatus(policy.status))
    except PolicyNotActive as exc:
        raise Conflict(str(exc), code=exc.code, policy_status=policy.status) from exc


def _recording(policy: Policy) -> None:
    try:
        check_policy_accepts_records(PolicyStatus(policy.status))
    except PolicyNotActive as exc:
        raise Conflict(str(exc), code=exc.code, policy_status=policy.status) from exc


def _deliverable(obligation: Obligation, day: date, field: str) -> None:
    try:
        check_deliverable(ObligationStatus(obligation.status), obligation.window_start, day)
    except ObligationRuleViolated as exc:
        if exc.code == "delivered_before_window":
            raise RuleViolated(str(exc), code=exc.code, field=field) from exc
        raise Conflict(str(exc), code=exc.code, obligation_status=obligation.status) from exc


def _check_dates(day: date, today: date, policy: Policy, field: str) -> None:
    try:
        check_not_future(day, today, field)
        check_within_policy(day, policy.starts_on, field)
        check_within_cover(day, last_covered_day(policy.ends_on, policy.cancelled_on), field)
    except PushRuleViolated as exc:
        raise _rule(exc) from exc


async def _policy_of(session: AsyncSession, obligation: Obligation) -> Policy:
    policy = await session.get(Policy, obligation.policy_id)
    if policy is None:  # unreachable while the obligations.policy_id foreign key holds
        raise NotFound(f"policy {obligation.policy_id} not found", code="policy_not_found")
    return policy


async def push_service_record(
    session: AsyncSession,
    insurer: Insurer,
    data: ServiceRecordCreate,
    body: bytes,
    today: date,
    now: datetime,
) -> ServiceRecord:
    """Record a delivered service and close its obligation (checks, training, graded, 3 custom)."""
    obligation = await _own_obligation(session, insurer, data.obligation_id)
    policy = await _policy_of(session, obligation)
    _recording(policy)
    kind = ObligationKind(obligation.kind)
    try:
        check_service_record_kind(kind)
        check_service_record_counts(kind, data.participants, data.hazards_found)
    except PushRuleViolated as exc:
        raise _rule(exc) from exc
    _check_dates(data.delivered_on, today, policy, "delivered_on")
    _deliverable(obligation, data.delivered_on, "delivered_on")

    record_id = str(uuid.uuid4())
    receipt = issue_receipt(ReceiptKind.service_record, record_id, insurer.id, now, body)
    record = ServiceRecord(
        id=record_id,
        obligation_id=obligation.id,
        policy_id=policy.id,
        insurer_id=insurer.id,
        uscc=obligation.uscc,
        kind=kind.value,
        delivered_on=data.delivered_on,
        performed_by=list(data.performed_by),
        summary=data.summary,
        participants=data.participants,
        hazards_found=data.hazards_found,
        evidence=[e.stored() for e in data.evidence],
        request_sha256=receipt.request_sha256,
        receipt_sha256=receipt.receipt_sha256,
        received_at=now,
        received_from=_actor(insurer),
    )
    session.add(record)
    await session.flush()
    await obligations.record_delivery(
        session, obligation, data.delivered_on, record_id, _actor(insurer), now
    )
    return record


async def push_risk_assessment(
    session: AsyncSession,
    outbox: Outbox,
    insurer: Insurer,
    data: RiskAssessmentCreate,
    body: bytes,
    today: date,
    now: datetime,
) -> RiskAssessment:
    """Store a risk assessment: the first delivers the policy's scheduled one, later ones are
    reassessments; either sets the policy's level (re-planning the graded service) and tells
    inspection (a high or major level raises the enterprise's inspection priority)."""
    policy = await _own_policy(session, insurer, data.policy_id)
    _accepting(policy)
    _check_dates(data.assessed_on, today, policy, "assessed_on")
    latest = await session.scalar(
        sa.select(sa.func.max(RiskAssessment.assessed_on)).where(
            RiskAssessment.policy_id == policy.id
        )
    )
    try:
        check_assessment_not_older(data.assessed_on, latest)
    except PushRuleViolated as exc:
        raise _rule(exc) from exc
    scheduled = await session.scalar(
        sa.select(Obligation)
        .where(
            Obligation.policy_id == policy.id,
            Obligation.kind == ObligationKind.risk_assessment.value,
            Obligation.status == ObligationStatus.open.value,
        )
        .order_by(Obligation.seq)
        .limit(1)
        .with_for_update()
    )
    if scheduled is not None:
        _deliverable(scheduled, data.assessed_on, "assessed_on")

    record_id = str(uuid.uuid4())
    receipt = issue_receipt(ReceiptKind.risk_assessment, record_id, insurer.id, now, body)
    assessment = RiskAssessment(
        id=record_id,
        policy_id=policy.id,
        obligation_id=scheduled.id if scheduled is not None else None,
        insurer_id=insurer.id,
        uscc=policy.uscc,
        risk_level=data.risk_level.value,
        assessed_on=data.assessed_on,
        assessors=list(data.assessors),
        findings=data.findings,
        hazards_found=data.hazards_found,
        evidence=[e.stored() for e in data.evidence],
        request_sha256=receipt.request_sha256,
        receipt_sha256=receipt.receipt_sha256,
        received_at=now,
        received_from=_actor(insurer),
    )
    session.add(assessment)
    await session.flush()
    if scheduled is not None:
        await obligations.record_delivery(
            session, scheduled, data.assessed_on, record_id, _actor(insurer), now
        )
    await obligations.apply_risk_level(
        session, policy, data.risk_level, data.assessed_on, _actor(insurer)
    )
    await outbox.emit(
        session,
        policy.uscc,
        RiskAssessedV1(
            assessment_id=record_id,
            uscc=policy.uscc,
            insurer_id=insurer.id,
            risk_level=data.risk_level.value,
            assessed_on=data.assessed_on,
            findings=data.findings,
        ),
    )
    return assessment


async def push_hazard_assistance(
    session: AsyncSession,
    insurer: Insurer,
    data: HazardAssistanceCreate,
    body: bytes,
    today: date,
    now: datetime,
) -> HazardAssistanceReport:
    """Report help given with a government-found hazard and close that assistance obligation."""
    obligation = await _own_obligation(session, insurer, data.obligation_id)
    policy = await _policy_of(session, obligation)
    _recording(policy)
    try:
        check_assistance_kind(ObligationKind(obligation.kind))
    except PushRuleViolated as exc:
        raise _rule(exc) from exc
    if obligation.hazard_id is None:
        raise Conflict(
            "this assistance obligation names no hazard", code="obligation_without_hazard"
        )
    _check_dates(data.assisted_on, today, policy, "assisted_on")
    _deliverable(obligation, data.assisted_on, "assisted_on")

    record_id = str(uuid.uuid4())
    receipt = issue_receipt(ReceiptKind.hazard_assistance, record_id, insurer.id, now, body)
    report = HazardAssistanceReport(
        id=record_id,
        obligation_id=obligation.id,
        policy_id=policy.id,
        hazard_id=obligation.hazard_id,
        insurer_id=insurer.id,
        uscc=obligation.uscc,
        assisted_on=data.assisted_on,
        performed_by=list(data.performed_by),
        measures=data.measures,
        outcome=data.outcome.value,
        evidence=[e.stored() for e in data.evidence],
        request_sha256=receipt.request_sha256,
        receipt_sha256=receipt.receipt_sha256,
        received_at=now,
        received_from=_actor(insurer),
    )
    session.add(report)
    await session.flush()
    await obligations.record_delivery(
        session, obligation, data.assisted_on, record_id, _actor(insurer), now
    )
    return report


# --- reading ---------------------------------------------------------------------------------


def may_read_record(principal: Principal, insurer_id: str, uscc: str) -> bool:
    """The record's insurer, the enterprise it concerns, and the bureau may read a push."""
    return (
        principal.role in BUREAU_ROLES
        or (principal.role is Role.insurer and principal.subject == insurer_id)
        or (principal.role is Role.enterprise and principal.subject == uscc)
    )


async def readable_service_record(
    session: AsyncSession, principal: Principal, record_id: str
) -> ServiceRecord:
    """A service record this caller may see; 404 unknown, 403 someone else's."""
    record = await session.get(ServiceRecord, record_id)
    if record is None:
        raise NotFound(f"service record {record_id} not found", code="service_record_not_found")
    if not may_read_record(principal, record.insurer_id, record.uscc):
        raise Forbidden(
            "this service record belongs to another insurer or enterprise",
            code="service_record_not_yours",
        )
    return record


async def readable_risk_assessment(
    session: AsyncSession, principal: Principal, assessment_id: str
) -> RiskAssessment:
    """A risk assessment this caller may see; 404 unknown, 403 someone else's."""
    row = await session.get(RiskAssessment, assessment_id)
    if row is None:
        raise NotFound(
            f"risk assessment {assessment_id} not found", code="risk_assessment_not_found"
        )
    if not may_read_record(principal, row.insurer_id, row.uscc):
        raise Forbidden(
            "this risk assessment belongs to another insurer or enterprise",
            code="risk_assessment_not_yours",
        )
    return row


async def readable_hazard_assistance(
    session: AsyncSession, principal: Principal, report_id: str
) -> HazardAssistanceReport:
    """A hazard-assistance report this caller may see; 404 unknown, 403 someone else's."""
    row = await session.get(HazardAssistanceReport, report_id)
    if row is None:
        raise NotFound(
            f"hazard-assistance report {report_id} not found",
            code="hazard_assistance_not_found",
        )
    if not may_read_record(principal, row.insurer_id, row.uscc):
        raise Forbidden(
            "this hazard-assistance report belongs to another insurer or enterprise",
            code="hazard_assistance_not_yours",
        )
    return row


async def list_risk_assessments(
    session: AsyncSession,
    principal: Principal,
    *,
    uscc: str | None,
    policy_id: str | None,
    after: tuple[date, str] | None,
    limit: int,
) -> Sequence[RiskAssessment]:
    """Risk assessments newest first (assessed_on, id); an insurer sees only its own, an
    enterprise only those of itself, the bureau all."""
    query = sa.select(RiskAssessment)
    if principal.role is Role.insurer:
        query = query.where(RiskAssessment.insurer_id == principal.subject)
    elif principal.role is Role.enterprise:
        if uscc is not None and uscc != principal.subject:
            raise Forbidden(
                "an enterprise may list only its own risk assessments",
                code="risk_assessment_not_yours",
                field="uscc",
            )
        uscc = principal.subject
    elif principal.role not in BUREAU_ROLES:
        raise Forbidden(f"role {principal.role.value!r} may not list risk assessments")
    if uscc is not None:
        query = query.where(RiskAssessment.uscc == uscc)
    if policy_id is not None:
        query = query.where(RiskAssessment.policy_id == policy_id)
    if after is not None:
        day, last_id = after
        query = query.where(
            sa.or_(
                RiskAssessment.assessed_on < day,
                sa.and_(RiskAssessment.assessed_on == day, RiskAssessment.id < last_id),
            )
        )
    query = query.order_by(RiskAssessment.assessed_on.desc(), RiskAssessment.id.desc())
    return (await session.scalars(query.limit(limit))).all()

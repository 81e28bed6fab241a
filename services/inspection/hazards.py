"""Hazards (事故隐患) and their rectification: deadlines in working days, the enterprise's
report, on-site verification. A government-found hazard is announced (HazardFoundV1) so the
enterprise's insurer helps rectify it (measure 2's "help rectify government-found hazards")."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.contracts.inspection import HazardFoundV1, HazardRectifiedV1
from kernel.db import utcnow
from kernel.errors import NotFound, RuleViolated
from kernel.outbox import Outbox
from kernel.versioning import check_version
from services.inspection.cases import PACK, lock_case, may_read, order_error, rule_error, touch
from services.inspection.cases_schemas import (
    HazardCreate,
    RectificationReportCreate,
    VerificationCreate,
)
from services.inspection.enforcement import (
    AddsWorkingDays,
    HazardFacts,
    HazardState,
    ProcedureRuleViolated,
    Step,
    StepOutOfOrder,
    check_hazard,
    check_rectification_report,
    check_verification,
    hazard_rectify_by,
    is_overdue,
)
from services.inspection.models_cases import Hazard


async def record_hazard(
    session: AsyncSession,
    outbox: Outbox,
    calendar: AddsWorkingDays,
    officer: Principal,
    case_id: str,
    data: HazardCreate,
    today: date,
    expected_version: int | None,
) -> Hazard:
    """Record a hazard found in the inspect step; a government-found one gets its deadline."""
    case = await lock_case(session, case_id, expected_version, Step.inspect)
    try:
        check_hazard(
            HazardFacts(
                description=data.description,
                grade=data.grade,
                evidence_count=len(data.evidence),
                is_self_found=data.is_self_found,
                under_rectification=data.under_rectification,
                enterprise_rectify_by=data.enterprise_rectify_by,
            )
        )
    except ProcedureRuleViolated as exc:
        raise rule_error(exc) from exc
    if data.is_self_found:
        # The enterprise's own rectification period stands (自查自改); no government deadline.
        rectify_by = data.enterprise_rectify_by
    else:
        rectify_by = hazard_rectify_by(calendar, today, data.grade, PACK)
    hazard = Hazard(
        id=str(uuid.uuid4()),
        inspection_id=case.id,
        uscc=case.uscc,
        enterprise_name=case.enterprise_name,
        grade=data.grade.value,
        description=data.description.strip(),
        evidence=[e.model_dump(mode="json", exclude_none=True) for e in data.evidence],
        is_self_found=data.is_self_found,
        under_rectification=data.under_rectification,
        found_on=today,
        rectify_by=rectify_by,
        deadline_unknown=rectify_by is None,
        state=HazardState.open.value,
        report_evidence=[],
        verifications=[],
        recorded_by=officer.key,
        created_at=utcnow(),
        version=1,
    )
    session.add(hazard)
    if not data.is_self_found:
        await outbox.emit(
            session,
            case.uscc,
            HazardFoundV1(
                hazard_id=hazard.id,
                inspection_id=case.id,
                uscc=case.uscc,
                enterprise_name=case.enterprise_name,
                grade=data.grade.value,
                description=hazard.description,
                found_on=today,
                rectify_by=rectify_by,
            ),
        )
    touch(case)
    await session.flush()
    return hazard


async def readable_hazard(session: AsyncSession, principal: Principal, hazard_id: str) -> Hazard:
    """The hazard if this caller may read it; 404 otherwise."""
    hazard = await session.get(Hazard, hazard_id)
    if hazard is None or not may_read(principal, hazard.uscc):
        raise NotFound(f"hazard {hazard_id} not found", code="hazard_not_found")
    return hazard


async def _lock_hazard(
    session: AsyncSession, principal: Principal, hazard_id: str, expected_version: int | None
) -> Hazard:
    hazard = await session.scalar(
        sa.select(Hazard)
        .where(Hazard.id == hazard_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if hazard is None or not may_read(principal, hazard.uscc):
        raise NotFound(f"hazard {hazard_id} not found", code="hazard_not_found")
    check_version(hazard.version, expected_version)
    return hazard


async def report_rectification(
    session: AsyncSession,
    enterprise: Principal,
    hazard_id: str,
    data: RectificationReportCreate,
    today: date,
    expected_version: int | None,
) -> Hazard:
    """The enterprise reports its own hazard rectified (整改报告), for on-site verification."""
    hazard = await _lock_hazard(session, enterprise, hazard_id, expected_version)
    try:
        check_rectification_report(HazardState(hazard.state))
    except StepOutOfOrder as exc:
        raise order_error(exc) from exc
    if not data.description.strip():
        raise RuleViolated("describe what was done", code="report_described", field="description")
    if not data.evidence:
        raise RuleViolated(
            "a rectification report needs at least one piece of evidence",
            code="report_evidence",
            field="evidence",
        )
    hazard.report_description = data.description.strip()
    hazard.report_evidence = [e.model_dump(mode="json", exclude_none=True) for e in data.evidence]
    hazard.reported_on = today
    hazard.state = HazardState.reported.value
    hazard.version += 1
    await session.flush()
    return hazard


async def verify_rectification(
    session: AsyncSession,
    outbox: Outbox,
    officer: Principal,
    hazard_id: str,
    data: VerificationCreate,
    today: date,
    expected_version: int | None,
) -> Hazard:
    """An officer verifies the rectification on site: passed closes it, failed reopens it."""
    hazard = await _lock_hazard(session, officer, hazard_id, expected_version)
    try:
        check_verification(HazardState(hazard.state))
    except StepOutOfOrder as exc:
        raise order_error(exc) from exc
    note = (data.note or "").strip()
    if not data.passed and not note:
        raise RuleViolated(
            "say what is still wrong when the verification fails",
            code="failed_verification_needs_note",
            field="note",
        )
    hazard.verifications = [
        *hazard.verifications,
        {"on": today.isoformat(), "by": officer.key, "passed": data.passed, "note": note or None},
    ]
    if data.passed:
        hazard.state = HazardState.rectified.value
        hazard.verified_on = today
        hazard.verified_by = officer.key
        await outbox.emit(
            session,
            hazard.uscc,
            HazardRectifiedV1(hazard_id=hazard.id, uscc=hazard.uscc, verified_on=today),
        )
    else:
        # Back to the enterprise under the same deadline: a failed check does not extend it.
        hazard.state = HazardState.open.value
    hazard.version += 1
    await session.flush()
    return hazard


def hazard_is_overdue(hazard: Hazard, today: date) -> bool:
    """Past its deadline and not verified rectified."""
    return is_overdue(hazard.rectify_by, hazard.state == HazardState.rectified.value, today)


async def list_hazards(
    session: AsyncSession,
    principal: Principal,
    today: date,
    *,
    uscc: str | None,
    state: HazardState | None,
    overdue: bool | None,
    after: tuple[str, str] | None,
    limit: int,
) -> Sequence[Hazard]:
    """Hazards by found day then id; an enterprise sees its own only, anyone else none."""
    query = sa.select(Hazard)
    if principal.role not in (Role.officer, Role.leader, Role.admin):
        # Only an enterprise's subject is a USCC it owns: an insurer id or department code
        # spelt like one (ids are free text) must not read that enterprise's hazards.
        if principal.role is not Role.enterprise:
            return []
        if uscc is not None and uscc != principal.subject:
            return []
        uscc = principal.subject
    if uscc is not None:
        query = query.where(Hazard.uscc == uscc)
    if state is not None:
        query = query.where(Hazard.state == state.value)
    if overdue is True:
        query = query.where(
            Hazard.state != HazardState.rectified.value,
            Hazard.rectify_by.is_not(None),
            Hazard.rectify_by < today,
        )
    elif overdue is False:
        query = query.where(
            sa.or_(
                Hazard.state == HazardState.rectified.value,
                Hazard.rectify_by.is_(None),
                Hazard.rectify_by >= today,
            )
        )
    if after is not None:
        found, last_id = date.fromisoformat(after[0]), after[1]
        query = query.where(
            sa.or_(Hazard.found_on > found, sa.and_(Hazard.found_on == found, Hazard.id > last_id))
        )
    query = query.order_by(Hazard.found_on, Hazard.id).limit(limit)
    return (await session.scalars(query)).all()

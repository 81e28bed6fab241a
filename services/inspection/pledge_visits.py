"""Pledge verification visits (承诺制 核查, flow 1): permits asks, inspectors visit before the
deadline, the result goes back (PledgeVerifiedV1); a breach makes permits revoke the licence
and credit record the dishonesty."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.contracts.inspection import PledgeVerifiedV1
from kernel.contracts.permits import PledgeVerificationRequestedV1
from kernel.db import utcnow
from kernel.errors import NotFound, RuleViolated
from kernel.outbox import Outbox
from kernel.versioning import check_version
from services.inspection.cases import order_error, rule_error
from services.inspection.cases_schemas import PledgeResultCreate
from services.inspection.enforcement import (
    PledgeVisitState,
    ProcedureRuleViolated,
    StepOutOfOrder,
    check_pledge_result,
    is_overdue,
)
from services.inspection.models_cases import PledgeVisit


async def schedule_visit(
    session: AsyncSession, event: PledgeVerificationRequestedV1
) -> PledgeVisit:
    """A pledge-based licence was issued: a visit is due by its verify-by day.

    One visit per licence: a request repeated (a replayed or re-sent event) returns the
    visit already scheduled and changes nothing.
    """
    existing = await session.scalar(
        sa.select(PledgeVisit).where(PledgeVisit.licence_number == event.licence_number)
    )
    if existing is not None:
        return existing
    visit = PledgeVisit(
        id=str(uuid.uuid4()),
        licence_number=event.licence_number,
        application_id=event.application_id,
        uscc=event.uscc,
        enterprise_name=event.enterprise_name,
        item_code=event.item_code,
        item_name=event.item_name,
        verify_by=event.verify_by,
        state=PledgeVisitState.due.value,
        inspectors=[],
        requested_at=utcnow(),
        version=1,
    )
    try:
        async with session.begin_nested():
            session.add(visit)
            await session.flush()
    except IntegrityError:
        # A concurrent delivery of the same request inserted it first.
        winner = await session.scalar(
            sa.select(PledgeVisit).where(PledgeVisit.licence_number == event.licence_number)
        )
        assert winner is not None
        return winner
    return visit


async def get_visit(session: AsyncSession, visit_id: str) -> PledgeVisit:
    """One visit; 404 when unknown."""
    visit = await session.get(PledgeVisit, visit_id)
    if visit is None:
        raise NotFound(f"pledge visit {visit_id} not found", code="pledge_visit_not_found")
    return visit


def visit_is_overdue(visit: PledgeVisit, today: date) -> bool:
    """Not visited and past the pledge's verify-by day."""
    return is_overdue(visit.verify_by, visit.state != PledgeVisitState.due.value, today)


async def list_visits(
    session: AsyncSession,
    today: date,
    *,
    state: PledgeVisitState | None,
    overdue: bool | None,
    uscc: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> Sequence[PledgeVisit]:
    """Visits by verify-by day (unknown deadlines last), then id."""
    # An unknown deadline sorts after every known one on both databases.
    sort_day = sa.func.coalesce(PledgeVisit.verify_by, date(9999, 12, 31))
    query = sa.select(PledgeVisit)
    if state is not None:
        query = query.where(PledgeVisit.state == state.value)
    if uscc is not None:
        query = query.where(PledgeVisit.uscc == uscc)
    if overdue is True:
        query = query.where(
            PledgeVisit.state == PledgeVisitState.due.value,
            PledgeVisit.verify_by.is_not(None),
            PledgeVisit.verify_by < today,
        )
    elif overdue is False:
        query = query.where(
            sa.or_(
                PledgeVisit.state != PledgeVisitState.due.value,
                PledgeVisit.verify_by.is_(None),
                PledgeVisit.verify_by >= today,
            )
        )
    if after is not None:
        day, last_id = date.fromisoformat(after[0]), after[1]
        query = query.where(
            sa.or_(sort_day > day, sa.and_(sort_day == day, PledgeVisit.id > last_id))
        )
    query = query.order_by(sort_day, PledgeVisit.id).limit(limit)
    return (await session.scalars(query)).all()


async def record_result(
    session: AsyncSession,
    outbox: Outbox,
    officer: Principal,
    visit_id: str,
    data: PledgeResultCreate,
    today: date,
    expected_version: int | None,
) -> PledgeVisit:
    """Record what the inspectors found: the pledge kept (passed) or breached."""
    visit = await session.scalar(
        sa.select(PledgeVisit)
        .where(PledgeVisit.id == visit_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if visit is None:
        raise NotFound(f"pledge visit {visit_id} not found", code="pledge_visit_not_found")
    check_version(visit.version, expected_version)
    try:
        check_pledge_result(PledgeVisitState(visit.state), data.inspectors, data.findings)
    except StepOutOfOrder as exc:
        raise order_error(exc) from exc
    except ProcedureRuleViolated as exc:
        raise rule_error(exc) from exc
    verified_on = data.verified_on or today
    if verified_on > today:
        raise RuleViolated(
            "a visit cannot be recorded before it happened",
            code="verified_in_future",
            field="verified_on",
        )
    visit.state = (PledgeVisitState.passed if data.passed else PledgeVisitState.breached).value
    visit.findings = data.findings.strip()
    visit.inspectors = [p.strip() for p in data.inspectors]
    visit.verified_on = verified_on
    visit.recorded_by = officer.key
    visit.version += 1
    await outbox.emit(
        session,
        visit.uscc,
        PledgeVerifiedV1(
            licence_number=visit.licence_number,
            uscc=visit.uscc,
            passed=data.passed,
            findings=visit.findings,
            verified_on=verified_on,
            inspectors=visit.inspectors,
        ),
    )
    await session.flush()
    return visit

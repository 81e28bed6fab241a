"""Application use cases: submit, review, decide. Domain rules + repository + outbox."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from statistics import median
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.contracts.permits import PledgeVerificationRequestedV1
from kernel.db import utcnow
from kernel.errors import Conflict, Forbidden, NotFound, RuleViolated
from kernel.outbox import Outbox
from kernel.versioning import check_version
from kernel.workdays import CalendarYearUnknown, WorkingDayCalendar
from services.permits.credentials import IssuerKeyRing
from services.permits.domain import (
    FINAL_STATUSES,
    PLEDGE_VERIFICATION_DAYS,
    ApplicationRuleViolated,
    ApplicationStatus,
    ApprovalMode,
    ApprovalPath,
    CreditStanding,
    ReviewAction,
    choose_path,
    pledge_text,
    review_clock,
    review_priority,
    review_transition,
    version_in_force,
)
from services.permits.licences import issue_for
from services.permits.models import Application, ApplicationStep, EnterpriseStanding, Licence
from services.permits.repository import ItemRepository
from services.permits.schemas import ApplicationCreate, DecisionCreate


def _violation(exc: ApplicationRuleViolated) -> RuleViolated | Conflict | Forbidden:
    if exc.forbidden:
        return Forbidden(str(exc), code=exc.code)
    if exc.conflict:
        return Conflict(str(exc), code=exc.code)
    extra: dict[str, Any] = {"field": exc.field} if exc.field else {}
    return RuleViolated(str(exc), code=exc.code, **extra)


async def standing_of(session: AsyncSession, uscc: str) -> CreditStanding:
    """What the credit lists last said about the enterprise (normal if never listed)."""
    row = await session.get(EnterpriseStanding, uscc)
    return CreditStanding(row.standing) if row is not None else CreditStanding.normal


def _step(
    app: Application,
    action: str,
    actor: Principal,
    from_status: str | None,
    reason: str | None = None,
    legal_basis: str | None = None,
) -> ApplicationStep:
    return ApplicationStep(
        application_id=app.id,
        action=action,
        actor=actor.key,
        from_status=from_status,
        to_status=app.status,
        reason=reason,
        legal_basis=legal_basis,
        at=utcnow(),
    )


@dataclass(frozen=True)
class Issuing:
    """What issuing a licence needs: the signing keys and the public address of this API."""

    ring: IssuerKeyRing
    public_base_url: str
    calendar: WorkingDayCalendar


async def submit_application(
    session: AsyncSession,
    outbox: Outbox,
    issuing: Issuing,
    applicant: Principal,
    data: ApplicationCreate,
    today: date,
) -> tuple[Application, Licence | None]:
    """Take an application; instant and pledge paths are decided inside this transaction."""
    versions = await ItemRepository(session).list_versions(data.item_code)
    item = version_in_force(versions, today)
    if item is None:
        raise NotFound(
            f"item {data.item_code} is not in force", code="item_not_found", field="item_code"
        )
    standing = await standing_of(session, applicant.subject)
    try:
        decision = choose_path(
            ApprovalMode(item.approval_mode),
            pledge_chosen=data.pledge is not None,
            standing=standing,
        )
    except ApplicationRuleViolated as exc:
        raise _violation(exc) from exc
    text = None
    if data.pledge is not None:
        text = pledge_text(item.code, item.name, item.version)
        if not data.pledge.accepted:
            raise RuleViolated(
                "the pledge must be accepted to be approved on it",
                code="pledge_not_accepted",
                field="pledge.accepted",
            )
        if hashlib.sha256(text.encode()).hexdigest() != data.pledge.text_sha256:
            raise RuleViolated(
                "the pledge text has changed since it was shown; read it again and sign",
                code="pledge_text_mismatch",
                field="pledge.text_sha256",
            )
    now = utcnow()
    try:
        due_on: date | None = review_clock(issuing.calendar, today, item.promised_limit_days).due_on
    except CalendarYearUnknown:
        due_on = None
    app = Application(
        id=str(uuid.uuid4()),
        item_code=item.code,
        item_version=item.version,
        item_name=item.name,
        uscc=applicant.subject,
        enterprise_name=data.enterprise_name,
        applicant=applicant.key,
        form=data.form,
        path=decision.path.value,
        path_reason=decision.reason,
        standing=standing.value,
        priority=review_priority(standing),
        status=ApplicationStatus.under_review.value,
        submitted_at=now,
        submitted_on=today,
        limit_days=item.promised_limit_days,
        due_on=due_on,
        pledge_text=text,
        pledge_sha256=data.pledge.text_sha256 if data.pledge else None,
        pledge_signed_at=now if data.pledge else None,
    )
    session.add(app)
    session.add(_step(app, "submit", applicant, None))
    if decision.path in (ApprovalPath.instant, ApprovalPath.pledge):
        app.status = ApplicationStatus.approved.value
        app.decided_at = now
        app.decided_by = "system:" + decision.path.value
        session.add(
            _step(
                app,
                "approve",
                applicant,
                ApplicationStatus.under_review.value,
                reason=decision.reason,
            )
        )
        await session.flush()
        verify_by = None
        if decision.path is ApprovalPath.pledge:
            try:
                verify_by = issuing.calendar.add_working_days(today, PLEDGE_VERIFICATION_DAYS)
            except CalendarYearUnknown:
                # Said, not guessed: the deadline is set once that year's schedule is loaded.
                verify_by = None
        licence = await issue_for(
            session,
            outbox,
            issuing.ring,
            issuing.public_base_url,
            app,
            today,
            pledged=decision.path is ApprovalPath.pledge,
            pledge_verify_by=verify_by,
        )
        if decision.path is ApprovalPath.pledge:
            await outbox.emit(
                session,
                app.uscc,
                PledgeVerificationRequestedV1(
                    licence_number=licence.number,
                    application_id=app.id,
                    uscc=app.uscc,
                    enterprise_name=app.enterprise_name,
                    item_code=app.item_code,
                    item_name=app.item_name,
                    verify_by=verify_by,
                ),
            )
        return app, licence
    await session.flush()
    return app, None


async def get_application(session: AsyncSession, application_id: str) -> Application:
    app = await session.get(Application, application_id)
    if app is None:
        raise NotFound(f"application {application_id} not found", code="application_not_found")
    return app


async def steps_of(session: AsyncSession, application_id: str) -> Sequence[ApplicationStep]:
    """An application's history, oldest first."""
    return (
        await session.scalars(
            sa.select(ApplicationStep)
            .where(ApplicationStep.application_id == application_id)
            .order_by(ApplicationStep.at, ApplicationStep.id)
        )
    ).all()


async def decide(
    session: AsyncSession,
    outbox: Outbox,
    issuing: Issuing,
    reviewer: Principal,
    app: Application,
    data: DecisionCreate,
    expected_version: int | None,
    today: date,
) -> Application:
    """One review step on the standard path (approve, propose or confirm a rejection, ...)."""
    check_version(app.version, expected_version)
    current = ApplicationStatus(app.status)
    try:
        target = review_transition(current, data.action, reviewer.role.value)
    except ApplicationRuleViolated as exc:
        raise _violation(exc) from exc
    if data.action in (ReviewAction.propose_rejection, ReviewAction.confirm_rejection) and not (
        data.reason and data.legal_basis
    ):
        missing = "reason" if not data.reason else "legal_basis"
        raise RuleViolated(
            "a rejection states its reason and its legal basis",
            code="rejection_unfounded",
            field=missing,
        )
    if data.action is ReviewAction.send_back and not data.reason:
        raise RuleViolated(
            "say why the rejection is sent back", code="send_back_unexplained", field="reason"
        )
    app.status = target.value
    if data.action is ReviewAction.propose_rejection:
        app.rejection_reason, app.rejection_legal_basis = data.reason, data.legal_basis
    if data.action is ReviewAction.confirm_rejection:
        # The leader's own wording is what the applicant is told.
        app.rejection_reason, app.rejection_legal_basis = data.reason, data.legal_basis
    if data.action is ReviewAction.send_back:
        app.rejection_reason = app.rejection_legal_basis = None
    if target in (ApplicationStatus.approved, ApplicationStatus.rejected):
        app.decided_at = utcnow()
        app.decided_by = reviewer.key
    session.add(
        _step(app, data.action.value, reviewer, current.value, data.reason, data.legal_basis)
    )
    await session.flush()
    if target is ApplicationStatus.approved:
        await issue_for(session, outbox, issuing.ring, issuing.public_base_url, app, today)
    return app


async def licence_of(session: AsyncSession, application_id: str) -> Licence | None:
    """The licence an application earned, if any."""
    return await session.scalar(sa.select(Licence).where(Licence.application_id == application_id))


@dataclass(frozen=True)
class ItemFigures:
    """Public figures for one item (measure 3's promises, kept live)."""

    item_code: str
    item_name: str
    applications: int
    instant: int
    instant_share: float
    pledge: int
    decided: int
    median_days_to_decision: float | None
    rejections_proposed: int
    rejections_confirmed: int
    rejections_sent_back: int
    open_overdue: int


async def item_figures(session: AsyncSession, today: date) -> list[ItemFigures]:
    """Per item: how many applied, how fast they were decided, every "no" and its escalation."""
    apps = (
        await session.execute(
            sa.select(
                Application.id,
                Application.item_code,
                Application.item_name,
                Application.path,
                Application.status,
                Application.submitted_at,
                Application.decided_at,
                Application.due_on,
            )
        )
    ).all()
    steps = (
        await session.execute(
            sa.select(ApplicationStep.application_id, ApplicationStep.action).where(
                ApplicationStep.action.in_(["propose_rejection", "confirm_rejection", "send_back"])
            )
        )
    ).all()
    actions: dict[str, list[str]] = {}
    for application_id, action in steps:
        actions.setdefault(application_id, []).append(action)
    by_item: dict[str, list[Any]] = {}
    for row in apps:
        by_item.setdefault(row.item_code, []).append(row)
    figures = []
    for code in sorted(by_item):
        rows = by_item[code]
        durations = [
            (r.decided_at - r.submitted_at).total_seconds() / 86400
            for r in rows
            if r.decided_at is not None
        ]
        taken = [a for r in rows for a in actions.get(r.id, [])]
        instant = sum(1 for r in rows if r.path == ApprovalPath.instant.value)
        figures.append(
            ItemFigures(
                item_code=code,
                item_name=rows[-1].item_name,
                applications=len(rows),
                instant=instant,
                instant_share=round(instant / len(rows), 4),
                pledge=sum(1 for r in rows if r.path == ApprovalPath.pledge.value),
                decided=len(durations),
                median_days_to_decision=round(median(durations), 2) if durations else None,
                rejections_proposed=taken.count("propose_rejection"),
                rejections_confirmed=taken.count("confirm_rejection"),
                rejections_sent_back=taken.count("send_back"),
                open_overdue=sum(
                    1
                    for r in rows
                    if r.due_on is not None
                    and r.due_on < today
                    and ApplicationStatus(r.status) not in FINAL_STATUSES
                ),
            )
        )
    return figures


async def count_overdue(session: AsyncSession, today: date) -> int:
    """Open applications past their due date (the review queue's `overdue` filter and
    Clock.is_overdue): the permits SLA gauge."""
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Application)
        .where(
            Application.status.not_in([s.value for s in FINAL_STATUSES]),
            Application.due_on < today,
        )
    )
    return int(count or 0)

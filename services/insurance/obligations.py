"""Obligation use cases: the schedule materialised, risk-graded, delivered, verified, trimmed.

Every change to an obligation writes an ObligationEvent (its history) in the same transaction.
The rules themselves live in schedule.py (rule pack qd-6+3/2) and domain.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.db import utcnow
from kernel.errors import Conflict, Forbidden, NotFound, RuleViolated
from kernel.workdays import shanghai_today
from services.insurance.config import InsuranceSettings
from services.insurance.domain import (
    CustomService,
    ObligationKind,
    ObligationRuleViolated,
    ObligationStatus,
    PolicyStatus,
    RiskLevel,
    check_deliverable,
    check_verifiable,
    is_overdue,
)
from services.insurance.domain import last_covered_day as covered_until
from services.insurance.models import Hazard, Obligation, ObligationEvent, Policy, RiskAssessment
from services.insurance.repository import (
    HazardRepository,
    ObligationFilter,
    ObligationRepository,
    PolicyRepository,
)
from services.insurance.schedule import (
    PACK,
    WITHDRAWN_ON_CANCELLATION,
    WITHDRAWN_ON_REASSESSMENT,
    GradedState,
    PlannedObligation,
    ScheduleDays,
    Window,
    graded_schedule,
    hazard_assistance_window,
    policy_schedule,
    reassessment,
    withdrawn_by_cancellation,
)

SYSTEM_ACTOR = "system:insurance"


def schedule_days(settings: InsuranceSettings) -> ScheduleDays:
    """The pack's configurable day counts, from the service settings."""
    return ScheduleDays(
        risk_assessment_days=settings.risk_assessment_days, one_plan_days=settings.one_plan_days
    )


def last_covered_day(policy: Policy) -> date:
    """The last day the policy covers: its cancellation day if cancelled, else its end."""
    return covered_until(policy.ends_on, policy.cancelled_on)


def _record(
    repo: ObligationRepository,
    obligation: Obligation,
    action: str,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> None:
    repo.add_event(
        ObligationEvent(obligation_id=obligation.id, action=action, at=at, actor=actor, note=note)
    )


def _new(
    repo: ObligationRepository,
    policy: Policy,
    planned: PlannedObligation,
    actor: str,
    now: datetime,
    *,
    hazard_id: str | None = None,
    note: str,
) -> Obligation:
    obligation = Obligation(
        id=str(uuid.uuid4()),
        policy_id=policy.id,
        insurer_id=policy.insurer_id,
        uscc=policy.uscc,
        kind=planned.kind.value,
        seq=planned.seq,
        window_start=planned.window_start,
        due_on=planned.due_on,
        status=ObligationStatus.open.value,
        hazard_id=hazard_id,
        risk_level=planned.risk_level.value if planned.risk_level else None,
        rejections=0,
        created_at=now,
        updated_at=now,
    )
    repo.add(obligation)
    _record(repo, obligation, "scheduled", actor, now, note)
    return obligation


def _withdraw(
    repo: ObligationRepository, obligation: Obligation, reason: str, actor: str, now: datetime
) -> None:
    obligation.status = ObligationStatus.withdrawn.value
    obligation.withdrawn_reason = reason
    obligation.updated_at = now
    _record(repo, obligation, "withdrawn", actor, now, reason)


async def schedule_policy(
    session: AsyncSession,
    policy: Policy,
    settings: InsuranceSettings,
    actor: str,
    now: datetime,
) -> list[Obligation]:
    """Materialise the schedule of a policy that just became active (once, at activation).

    The 6+3 services over its cover, graded services if a risk level is already known, and
    help with every government-found hazard of the enterprise not yet rectified.
    """
    repo = ObligationRepository(session)
    cover_end = last_covered_day(policy)
    custom = [CustomService(c) for c in policy.custom_services]
    planned = policy_schedule(policy.starts_on, cover_end, custom, schedule_days(settings))
    if policy.risk_level is not None:
        planned += graded_schedule(RiskLevel(policy.risk_level), policy.starts_on, cover_end)
    created = [_new(repo, policy, p, actor, now, note=PACK) for p in planned]
    for hazard in await HazardRepository(session).unrectified_of(policy.uscc):
        obligation = await _assist(session, policy, hazard, settings.hazard_assistance_days, now)
        if obligation is not None:
            created.append(obligation)
    await session.flush()
    return created


async def _assist(
    session: AsyncSession, policy: Policy, hazard: Hazard, assistance_days: int, now: datetime
) -> Obligation | None:
    repo = ObligationRepository(session)
    if await repo.for_hazard(policy.id, hazard.id) is not None:
        return None  # one help per hazard per policy, however often it is announced
    window = hazard_assistance_window(
        hazard.found_on,
        hazard.rectify_by,
        Window(policy.starts_on, last_covered_day(policy)),
        assistance_days,
    )
    if window is None:
        return None
    seq = await repo.last_seq(policy.id, ObligationKind.hazard_assistance) + 1
    planned = PlannedObligation(ObligationKind.hazard_assistance, seq, window.start, window.end)
    return _new(
        repo,
        policy,
        planned,
        SYSTEM_ACTOR,
        now,
        hazard_id=hazard.id,
        note=f"{PACK}: {hazard.grade} hazard found on {hazard.found_on.isoformat()}",
    )


async def hazard_assistance_for(
    session: AsyncSession, hazard: Hazard, assistance_days: int, now: datetime
) -> list[Obligation]:
    """Help owed with a government-found hazard by every policy in force that covers the day it
    was found or starts while it is unrectified: the same rule activation applies to the hazards
    already on file, so the outcome does not depend on whether the event arrives before or
    after the policy's activation."""
    created = []
    for policy in await PolicyRepository(session).lock_current_of(hazard.uscc):
        if policy.status != PolicyStatus.active.value or hazard.found_on > last_covered_day(policy):
            continue
        if hazard.rectified_on is not None and hazard.rectified_on < policy.starts_on:
            continue
        obligation = await _assist(session, policy, hazard, assistance_days, now)
        if obligation is not None:
            created.append(obligation)
    await session.flush()
    return created


async def trim_on_cancellation(
    session: AsyncSession, policy: Policy, cancelled_on: date, actor: str, now: datetime
) -> int:
    """Withdraw the open services due after the last covered day; returns how many."""
    repo = ObligationRepository(session)
    count = 0
    for obligation in await repo.of_policy(policy.id):
        if withdrawn_by_cancellation(
            ObligationStatus(obligation.status), obligation.due_on, cancelled_on
        ):
            _withdraw(repo, obligation, WITHDRAWN_ON_CANCELLATION, actor, now)
            count += 1
    await session.flush()
    return count


async def _superseded(session: AsyncSession, policy: Policy, assessed_on: date) -> bool:
    later = await session.scalar(
        sa.select(sa.func.count())
        .select_from(RiskAssessment)
        .where(RiskAssessment.policy_id == policy.id, RiskAssessment.assessed_on > assessed_on)
    )
    return bool(later)


async def apply_risk_level(
    session: AsyncSession, policy: Policy, level: RiskLevel, assessed_on: date, actor: str
) -> None:
    """An assessment gave the policy a risk level: re-plan its graded services (分类分级).

    An assessment older than one already on file for this policy changes nothing (pushes may
    arrive out of order). A policy not in force only records the level; its schedule is
    planned with it at activation.
    """
    # Serialise assessments of one policy: each re-plans from what the previous one left.
    await PolicyRepository(session).get_for_update(policy.id)
    if await _superseded(session, policy, assessed_on):
        return
    previous = RiskLevel(policy.risk_level) if policy.risk_level else None
    policy.risk_level = level.value
    if policy.status != PolicyStatus.active.value:
        await session.flush()
        return
    repo = ObligationRepository(session)
    graded = await repo.of_policy(policy.id, ObligationKind.graded_service)
    change = reassessment(
        [GradedState(o.seq, o.window_start, o.due_on, ObligationStatus(o.status)) for o in graded],
        previous,
        level,
        assessed_on,
        policy.starts_on,
        last_covered_day(policy),
    )
    now = utcnow()
    reason = (
        f"{WITHDRAWN_ON_REASSESSMENT}: {previous.value if previous else 'none'} → {level.value}"
        f" on {assessed_on.isoformat()}"
    )
    for obligation in graded:
        if obligation.seq in change.withdraw:
            _withdraw(repo, obligation, reason, actor, now)
    for planned in change.add:
        _new(repo, policy, planned, actor, now, note=f"{PACK}: risk level {level.value}")
    await session.flush()


def _rule_error(exc: ObligationRuleViolated) -> RuleViolated | Conflict:
    if exc.code in ("obligation_not_open", "obligation_not_delivered"):
        return Conflict(str(exc), code=exc.code)
    return RuleViolated(str(exc), code=exc.code, field="delivered_on")


async def record_delivery(
    session: AsyncSession,
    obligation: Obligation,
    delivered_on: date,
    record_id: str,
    actor: str,
    now: datetime,
) -> None:
    """Mark an open obligation delivered by an insurer's record (service, assessment, report).

    409 `obligation_not_open` when it is not open; 422 on `delivered_on` when the service is
    dated before its window opens or after today.
    """
    # Lock and re-read: two pushes for one obligation must not both deliver it.
    await session.flush()
    await session.refresh(obligation, with_for_update=True)
    try:
        check_deliverable(
            ObligationStatus(obligation.status), obligation.window_start, delivered_on
        )
    except ObligationRuleViolated as exc:
        raise _rule_error(exc) from exc
    if delivered_on > shanghai_today(now):
        raise RuleViolated(
            "a service cannot be delivered in the future",
            code="delivered_in_future",
            field="delivered_on",
        )
    obligation.status = ObligationStatus.delivered.value
    obligation.delivered_on = delivered_on
    obligation.delivered_at = now
    obligation.record_id = record_id
    obligation.updated_at = now
    late = delivered_on > obligation.due_on
    _record(
        ObligationRepository(session),
        obligation,
        "delivered",
        actor,
        now,
        f"record {record_id} of {delivered_on.isoformat()}" + (" (late)" if late else ""),
    )
    await session.flush()


async def verify_delivery(
    session: AsyncSession,
    obligation_id: str,
    outcome: Literal["accepted", "rejected"],
    note: str | None,
    verifier: Principal,
    now: datetime,
) -> Obligation:
    """The bureau checks a delivered record: accepted → verified; rejected → owed again.

    A rejection needs a reason the insurer can act on, and keeps the due date, so a rejected
    service may become overdue.
    """
    repo = ObligationRepository(session)
    obligation = await repo.get_for_update(obligation_id)
    if obligation is None:
        raise NotFound(f"obligation {obligation_id} not found", code="obligation_not_found")
    try:
        check_verifiable(ObligationStatus(obligation.status))
    except ObligationRuleViolated as exc:
        raise _rule_error(exc) from exc
    note = note.strip() if note else None
    if outcome == "rejected":
        if not note or len(note) < 5:
            raise RuleViolated(
                "a rejection states what is wrong (at least 5 characters)",
                code="rejection_note_required",
                field="note",
            )
        obligation.status = ObligationStatus.open.value
        obligation.rejections += 1
        obligation.delivered_on = None
        obligation.delivered_at = None
        obligation.record_id = None
    else:
        obligation.status = ObligationStatus.verified.value
        obligation.verified_at = now
        obligation.verified_by = verifier.key
    obligation.updated_at = now
    action = "verified" if outcome == "accepted" else "rejected"
    _record(repo, obligation, action, verifier.key, now, note)
    await session.flush()
    return obligation


# --- reading, scoped to the caller ------------------------------------------------------------


def may_read_obligation(principal: Principal, obligation: Obligation) -> bool:
    """The bureau, the obligation's insurer and its enterprise may read it."""
    return (
        principal.role in BUREAU_ROLES
        or (principal.role is Role.insurer and principal.subject == obligation.insurer_id)
        or (principal.role is Role.enterprise and principal.subject == obligation.uscc)
    )


async def readable_obligation(
    session: AsyncSession, principal: Principal, obligation_id: str
) -> tuple[Obligation, Sequence[ObligationEvent]]:
    """The obligation and its history, if this caller may see it (404 unknown, 403 not yours)."""
    repo = ObligationRepository(session)
    obligation = await repo.get(obligation_id)
    if obligation is None:
        raise NotFound(f"obligation {obligation_id} not found", code="obligation_not_found")
    if not may_read_obligation(principal, obligation):
        raise Forbidden(
            "this obligation belongs to another insurer or enterprise",
            code="obligation_not_yours",
        )
    return obligation, await repo.history(obligation.id)


def scoped_filter(principal: Principal, where: ObligationFilter) -> ObligationFilter:
    """Narrow a listing to what the caller may see: an insurer its own, an enterprise its own."""
    if principal.role is Role.insurer:
        if where.insurer_id is not None and where.insurer_id != principal.subject:
            raise Forbidden(
                "an insurer may list only its own obligations", code="obligation_not_yours"
            )
        return replace(where, insurer_id=principal.subject)
    if principal.role is Role.enterprise:
        if where.uscc is not None and where.uscc != principal.subject:
            raise Forbidden(
                "an enterprise may list only its own obligations", code="obligation_not_yours"
            )
        return replace(where, uscc=principal.subject)
    if principal.role in BUREAU_ROLES:
        return where
    raise Forbidden(f"role {principal.role.value!r} may not list obligations")


@dataclass(frozen=True)
class Overdue:
    """Whether an obligation is overdue on a day, and by how many days."""

    overdue: bool
    days_overdue: int


def overdue_on(obligation: Obligation, today: date) -> Overdue:
    """Rule `obligation_overdue` (domain.is_overdue) with the days past due."""
    late = is_overdue(ObligationStatus(obligation.status), obligation.due_on, today)
    return Overdue(late, (today - obligation.due_on).days if late else 0)


async def count_overdue(session: AsyncSession, today: date) -> int:
    """Obligations still open after their due date (rule `obligation_overdue`, the SQL form the
    listing's `overdue` filter uses): the insurer-obligations SLA gauge."""
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Obligation)
        .where(Obligation.status == ObligationStatus.open.value, Obligation.due_on < today)
    )
    return int(count or 0)

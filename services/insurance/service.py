"""Policy use cases: registration, activation, cancellation (退保) and the life-cycle pass.

Domain rules + repository + outbox, inside the caller's transaction. A policy is in force from
`starts_on` to its last covered day (`ends_on`, or `cancelled_on` when cancelled); activation
materialises its 6+3 schedule (obligations.py) and announces PolicyActivatedV1; the end of
cover, by expiry or cancellation, announces PolicyEndedV1 exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal, Role
from kernel.contracts.insurance import PolicyActivatedV1, PolicyEndedV1
from kernel.db import utcnow
from kernel.errors import Conflict, Forbidden, NotFound, RuleViolated
from kernel.outbox import Outbox
from services.insurance import obligations
from services.insurance.config import InsuranceSettings
from services.insurance.dependencies import registered_insurer
from services.insurance.domain import (
    PolicyRuleViolated,
    PolicyStatus,
    PolicyTerms,
    check_policy_terms,
    status_on,
)
from services.insurance.models import Policy
from services.insurance.repository import PolicyRepository
from services.insurance.schemas import PolicyCancellation, PolicyCreate


def _terms(p: Policy | PolicyCreate) -> PolicyTerms:
    return PolicyTerms(p.starts_on, p.ends_on, p.coverage_amount, p.premium)


async def register_policy(
    session: AsyncSession,
    outbox: Outbox,
    insurer: Principal,
    data: PolicyCreate,
    today: date,
    settings: InsuranceSettings,
) -> Policy:
    """Register an insurer's policy; one already in force is activated (and scheduled) at once."""
    try:
        check_policy_terms(_terms(data))
    except PolicyRuleViolated as exc:
        raise RuleViolated(str(exc), code=exc.code, field=exc.field) from exc
    repo = PolicyRepository(session)
    if await repo.get_by_number(insurer.subject, data.policy_number) is not None:
        raise Conflict(
            f"policy {data.policy_number} is already registered",
            code="policy_exists",
            field="policy_number",
        )
    status = status_on(_terms(data), today)
    if status is PolicyStatus.expired:
        raise RuleViolated(
            "the policy period has already ended", code="policy_expired", field="ends_on"
        )
    now = utcnow()
    policy = Policy(
        id=str(uuid.uuid4()),
        policy_number=data.policy_number,
        insurer_id=insurer.subject,
        uscc=data.uscc,
        enterprise_name=data.enterprise_name,
        sector=data.sector.value,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        coverage_amount=data.coverage_amount,
        premium=data.premium,
        status=PolicyStatus.pending.value,
        custom_services=sorted(c.value for c in data.custom_services),
        created_at=now,
        created_by=insurer.key,
    )
    repo.add(policy)
    await session.flush()
    if status is PolicyStatus.active:
        await _activate(session, outbox, policy, settings, insurer.key, now)
    return policy


async def _activate(
    session: AsyncSession,
    outbox: Outbox,
    policy: Policy,
    settings: InsuranceSettings,
    actor: str,
    now: datetime,
) -> None:
    policy.status = PolicyStatus.active.value
    policy.activated_at = now
    await obligations.schedule_policy(session, policy, settings, actor, now)
    await outbox.emit(
        session,
        policy.uscc,
        PolicyActivatedV1(
            policy_id=policy.id,
            policy_number=policy.policy_number,
            uscc=policy.uscc,
            enterprise_name=policy.enterprise_name,
            insurer_id=policy.insurer_id,
            sector=policy.sector,
            starts_on=policy.starts_on,
            ends_on=policy.ends_on,
            coverage_amount=policy.coverage_amount,
            premium=policy.premium,
        ),
    )


async def _end(
    session: AsyncSession,
    outbox: Outbox,
    policy: Policy,
    reason: Literal["expired", "cancelled"],
    now: datetime,
) -> None:
    """The cover stopped: the status says why, and inspection hears the last covered day."""
    policy.status = PolicyStatus(reason).value
    policy.ended_at = now
    await outbox.emit(
        session,
        policy.uscc,
        PolicyEndedV1(
            policy_id=policy.id,
            policy_number=policy.policy_number,
            uscc=policy.uscc,
            insurer_id=policy.insurer_id,
            reason=reason,
            last_covered_on=obligations.last_covered_day(policy),
        ),
    )
    await session.flush()


async def cancel_policy(
    session: AsyncSession,
    outbox: Outbox,
    principal: Principal,
    policy_id: str,
    data: PolicyCancellation,
    today: date,
) -> Policy:
    """Cancel a policy (退保) from `cancelled_on`, its last covered day (never backdated).

    The policy's own insurer (registered, not suspended) or an admin. Services due after the
    last covered day are withdrawn now. A cancellation effective today ends the policy now; a
    later one ends it in the life-cycle pass. A pending policy cancelled before its start
    never comes into force: no activation, no schedule, no event.
    """
    if principal.role is Role.insurer:
        await registered_insurer(principal, session)
    elif principal.role is not Role.admin:
        raise Forbidden(f"role {principal.role.value!r} may not cancel policies")
    policy = await PolicyRepository(session).get_for_update(policy_id)
    if policy is None:
        raise NotFound(f"policy {policy_id} not found", code="policy_not_found")
    if principal.role is Role.insurer and policy.insurer_id != principal.subject:
        raise Forbidden("this policy belongs to another insurer", code="policy_not_yours")
    status = PolicyStatus(policy.status)
    if status in (PolicyStatus.expired, PolicyStatus.cancelled):
        raise Conflict(f"this policy has already ended ({status.value})", code="policy_ended")
    if policy.cancelled_on is not None:
        raise Conflict(
            f"this policy is already cancelled from {policy.cancelled_on.isoformat()}",
            code="policy_cancellation_pending",
        )
    _check_cancellation(policy, data.cancelled_on, today)
    now = utcnow()
    policy.cancelled_on = data.cancelled_on
    policy.cancel_reason = data.reason.strip()
    if status is PolicyStatus.pending:
        if data.cancelled_on < policy.starts_on:
            # Never in force: nobody was told it started, so nobody is told it ended.
            policy.status = PolicyStatus.cancelled.value
            policy.ended_at = now
        # Otherwise its term is shortened: it activates on its start with the shorter cover.
        await session.flush()
        return policy
    await obligations.trim_on_cancellation(session, policy, data.cancelled_on, principal.key, now)
    if data.cancelled_on <= today:
        await _end(session, outbox, policy, "cancelled", now)
    await session.flush()
    return policy


def _check_cancellation(policy: Policy, cancelled_on: date, today: date) -> None:
    """Rule `cancellation_date_valid`: from today to the end of the term, never backdated."""
    if cancelled_on < today:
        raise RuleViolated(
            "a cancellation cannot be backdated: it would erase services already owed",
            code="cancellation_backdated",
            field="cancelled_on",
        )
    if cancelled_on > policy.ends_on:
        raise RuleViolated(
            f"the policy ends on {policy.ends_on.isoformat()}",
            code="cancellation_after_term",
            field="cancelled_on",
        )


@dataclass(frozen=True)
class LifecycleReport:
    """How many policies one pass activated, expired and ended by cancellation."""

    activated: int = 0
    expired: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.activated + self.expired + self.cancelled


async def lifecycle_pass(
    session: AsyncSession, outbox: Outbox, today: date, settings: InsuranceSettings
) -> LifecycleReport:
    """Activate policies whose start arrived; end those whose last covered day has passed.

    Each transition happens once: it changes the status the next pass selects on, and the rows
    are locked (others' locks skipped) so two passes never act on one policy. A pass that runs
    late still activates a policy whose whole term passed meanwhile, then ends it: the policy
    was in force, and the events tell inspection so in order.
    """
    repo = PolicyRepository(session)
    now = utcnow()
    activated = expired = cancelled = 0
    for policy in await repo.list_pending_starting_by(today):
        await _activate(session, outbox, policy, settings, obligations.SYSTEM_ACTOR, now)
        activated += 1
    await session.flush()
    for policy in await repo.list_active_ended_before(today):
        if policy.cancelled_on is not None and policy.cancelled_on < today:
            await _end(session, outbox, policy, "cancelled", now)
            cancelled += 1
        elif policy.ends_on < today:
            await _end(session, outbox, policy, "expired", now)
            expired += 1
    return LifecycleReport(activated, expired, cancelled)

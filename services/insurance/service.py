"""Insurance use cases: domain rules + repository + outbox, inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.contracts.insurance import PolicyActivatedV1
from kernel.db import utcnow
from kernel.errors import Conflict, RuleViolated
from kernel.outbox import Outbox
from services.insurance.domain import (
    PolicyRuleViolated,
    PolicyStatus,
    PolicyTerms,
    check_policy_terms,
    should_activate,
    status_on,
)
from services.insurance.models import Policy
from services.insurance.repository import PolicyRepository
from services.insurance.schemas import PolicyCreate


def _terms(p: Policy | PolicyCreate) -> PolicyTerms:
    return PolicyTerms(p.starts_on, p.ends_on, p.coverage_amount, p.premium)


async def register_policy(
    session: AsyncSession, outbox: Outbox, insurer: Principal, data: PolicyCreate, today: date
) -> Policy:
    """Register an insurer's policy; one already in force is activated at once."""
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
        created_at=utcnow(),
        created_by=insurer.key,
    )
    repo.add(policy)
    if status is PolicyStatus.active:
        await _activate(session, outbox, policy)
    await session.flush()
    return policy


async def activate_due_policies(session: AsyncSession, outbox: Outbox, today: date) -> int:
    """Activate pending policies whose start date has arrived; returns how many."""
    repo = PolicyRepository(session)
    count = 0
    for policy in await repo.list_pending_starting_by(today):
        if should_activate(PolicyStatus(policy.status), _terms(policy), today):
            await _activate(session, outbox, policy)
            count += 1
    return count


async def _activate(session: AsyncSession, outbox: Outbox, policy: Policy) -> None:
    policy.status = PolicyStatus.active.value
    policy.activated_at = utcnow()
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

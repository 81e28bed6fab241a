"""Insurance request dependencies: the business clock, roles, object-level access."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import Depends

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role, require_roles
from kernel.auth.principal import BUREAU_ROLES
from kernel.db import utcnow
from kernel.errors import Forbidden, NotFound
from kernel.settings import ServiceSettings
from kernel.workdays import shanghai_today
from services.insurance.models import Insurer, Policy
from services.insurance.repository import PolicyRepository


def clock_offset(settings: ServiceSettings) -> timedelta:
    """The rehearsal offset of the business clock (always zero in production)."""
    days = settings.clock_offset_days
    return timedelta(days=days)


def business_date(settings: ServiceSettings) -> date:
    """The business date in Asia/Shanghai under the settings' clock offset."""
    return shanghai_today() + clock_offset(settings)


def business_instant(settings: ServiceSettings) -> datetime:
    """The current instant (UTC) under the settings' clock offset."""
    return utcnow() + clock_offset(settings)


def business_today(runtime: RuntimeDep) -> date:
    """Today's business date: one clock for every route, so tests move it once."""
    return business_date(runtime.settings)


def business_now(runtime: RuntimeDep) -> datetime:
    """The current instant for SLA clocks in hours; tests override it like the date."""
    return business_instant(runtime.settings)


TodayDep = Annotated[date, Depends(business_today)]
NowDep = Annotated[datetime, Depends(business_now)]


InsurerDep = Annotated[Principal, Depends(require_roles(Role.insurer))]
BureauDep = Annotated[Principal, Depends(require_roles(Role.officer, Role.leader, Role.admin))]
AdminDep = Annotated[Principal, Depends(require_roles(Role.admin))]
EnterpriseDep = Annotated[Principal, Depends(require_roles(Role.enterprise))]


async def registered_insurer(insurer: InsurerDep, session: SessionDep) -> Insurer:
    """The calling insurer's registration: an unregistered or suspended client may not act."""
    row = await session.get(Insurer, insurer.subject)
    if row is None:
        raise Forbidden(
            f"insurer {insurer.subject!r} is not registered with the bureau",
            code="insurer_not_registered",
        )
    if row.status != "active":
        raise Forbidden(
            f"insurer {insurer.subject!r} is suspended: {row.status_reason or 'no reason given'}",
            code="insurer_suspended",
        )
    return row


RegisteredInsurer = Annotated[Insurer, Depends(registered_insurer)]


def may_read_policy(principal: Principal, policy: Policy) -> bool:
    """The bureau, the policy's insurer and its enterprise may read it and its schedule."""
    return (
        principal.role in BUREAU_ROLES
        or (principal.role is Role.insurer and principal.subject == policy.insurer_id)
        or (principal.role is Role.enterprise and principal.subject == policy.uscc)
    )


async def readable_policy(
    policy_id: str, session: SessionDep, principal: CurrentPrincipal
) -> Policy:
    """The policy, if this caller may see it: its insurer, its enterprise, or the bureau."""
    policy = await PolicyRepository(session).get(policy_id)
    if policy is None:
        raise NotFound(f"policy {policy_id} not found", code="policy_not_found")
    if not may_read_policy(principal, policy):
        raise Forbidden(
            "this policy belongs to another insurer or enterprise", code="policy_not_yours"
        )
    return policy


ReadablePolicy = Annotated[Policy, Depends(readable_policy)]

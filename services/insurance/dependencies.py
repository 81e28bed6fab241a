"""Insurance request dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from kernel.app import SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role, require_roles
from kernel.errors import Forbidden, NotFound
from services.insurance.models import Policy
from services.insurance.repository import PolicyRepository

InsurerDep = Annotated[Principal, Depends(require_roles(Role.insurer))]

_READERS = frozenset({Role.officer, Role.leader, Role.admin})


async def readable_policy(
    policy_id: str, session: SessionDep, principal: CurrentPrincipal
) -> Policy:
    """The policy, if this caller may see it: its insurer, its enterprise, or the bureau."""
    policy = await PolicyRepository(session).get(policy_id)
    if policy is None:
        raise NotFound(f"policy {policy_id} not found", code="policy_not_found")
    allowed = (
        principal.role in _READERS
        or (principal.role is Role.insurer and principal.subject == policy.insurer_id)
        or (principal.role is Role.enterprise and principal.subject == policy.uscc)
    )
    if not allowed:
        raise Forbidden(
            "this policy belongs to another insurer or enterprise", code="policy_not_yours"
        )
    return policy


ReadablePolicy = Annotated[Policy, Depends(readable_policy)]

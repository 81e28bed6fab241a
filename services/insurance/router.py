"""Insurance endpoints: thin — parse, authorise, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import CurrentPrincipal, Principal, Role, require_roles
from kernel.errors import Forbidden
from kernel.idempotency import IdempotencyKey, run_idempotent
from kernel.pagination import Page, decode_cursor, encode_cursor
from kernel.uscc import USCC
from services.insurance import service
from services.insurance.config import InsuranceSettings
from services.insurance.dependencies import InsurerDep, ReadablePolicy, RegisteredInsurer, TodayDep
from services.insurance.repository import PolicyRepository
from services.insurance.schemas import PolicyCancellation, PolicyCreate, PolicyRead

router = APIRouter(prefix="/policies", tags=["policies"])


@router.post(
    "",
    status_code=201,
    response_model=PolicyRead,
    summary="Register a policy (registered insurers); in force today → activated and scheduled",
    description="403 `insurer_not_registered` / `insurer_suspended` for an insurer the bureau "
    "has not registered or has suspended. Activation generates the 6+3 schedule (rule pack "
    "qd-6+3/2) and announces insurance.policy.activated.v1.",
)
async def register_policy(
    body: PolicyCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    insurer: InsurerDep,
    _registered: RegisteredInsurer,
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    settings = runtime.settings
    assert isinstance(settings, InsuranceSettings)

    async def act() -> PolicyRead:
        policy = await service.register_policy(
            session, runtime.outbox, insurer, body, today, settings
        )
        return PolicyRead.model_validate(policy)

    return await run_idempotent(
        session, runtime.tables, insurer, idempotency_key, "POST /policies", body, act
    )


@router.post(
    "/{policy_id}/cancellation",
    response_model=PolicyRead,
    summary="Cancel a policy (退保) from its last covered day (its insurer, or an admin)",
    description="`cancelled_on` is today or later and within the term (422 "
    "`cancellation_backdated` / `cancellation_after_term`). Open services due after it are "
    "withdrawn; effective today, the policy ends now (insurance.policy.ended.v1), later, in "
    "the life-cycle pass. 409 `policy_ended` / `policy_cancellation_pending`.",
)
async def cancel_policy(
    policy_id: Annotated[str, Path(max_length=36)],
    body: PolicyCancellation,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require_roles(Role.insurer, Role.admin))],
    today: TodayDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def act() -> PolicyRead:
        policy = await service.cancel_policy(
            session, runtime.outbox, principal, policy_id, body, today
        )
        return PolicyRead.model_validate(policy)

    return await run_idempotent(
        session,
        runtime.tables,
        principal,
        idempotency_key,
        f"POST /policies/{policy_id}/cancellation",
        body,
        act,
        status_code=200,
    )


@router.get("/{policy_id}", response_model=PolicyRead, summary="One policy")
async def get_policy(policy: ReadablePolicy) -> PolicyRead:
    return PolicyRead.model_validate(policy)


@router.get("", response_model=Page[PolicyRead], summary="Policies, newest registration order")
async def list_policies(
    session: SessionDep,
    principal: CurrentPrincipal,
    uscc: Annotated[USCC | None, Query(description="Only this enterprise's policies")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[PolicyRead]:
    insurer_id: str | None = None
    if principal.role is Role.insurer:
        insurer_id = principal.subject
    elif principal.role is Role.enterprise:
        if uscc is not None and uscc != principal.subject:
            raise Forbidden("an enterprise may list only its own policies", code="policy_not_yours")
        uscc = principal.subject
    elif principal.role not in (Role.officer, Role.leader, Role.admin):
        raise Forbidden(f"role {principal.role.value!r} may not list policies")
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = await PolicyRepository(session).list_page(
        insurer_id=insurer_id, uscc=uscc, after_id=after, limit=limit + 1
    )
    items = [PolicyRead.model_validate(p) for p in rows[:limit]]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return Page[PolicyRead](items=items, next_cursor=next_cursor)

"""Insurer registration use cases: admit, suspend, reinstate, list. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.errors import Conflict, NotFound
from services.insurance.insurer_schemas import InsurerCreate, InsurerStatus
from services.insurance.models import Insurer


async def get_insurer(session: AsyncSession, insurer_id: str, *, lock: bool = False) -> Insurer:
    """The insurer with this id; 404 otherwise."""
    insurer = await session.get(Insurer, insurer_id, with_for_update=lock)
    if insurer is None:
        raise NotFound(f"insurer {insurer_id} not found", code="insurer_not_found")
    return insurer


async def register_insurer(
    session: AsyncSession, admin: Principal, data: InsurerCreate, now: datetime
) -> Insurer:
    """Admit an insurer as a machine client; its id and its USCC are each registered once."""
    if await session.get(Insurer, data.id) is not None:
        raise Conflict(
            f"insurer {data.id} is already registered", code="insurer_exists", field="id"
        )
    if await session.scalar(sa.select(Insurer.id).where(Insurer.uscc == data.uscc)) is not None:
        raise Conflict(
            f"an insurer with USCC {data.uscc} is already registered",
            code="insurer_uscc_exists",
            field="uscc",
        )
    insurer = Insurer(
        id=data.id,
        name=data.name,
        uscc=data.uscc,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        status=InsurerStatus.active.value,
        status_reason=None,
        registered_at=now,
        registered_by=admin.key,
        updated_at=now,
    )
    session.add(insurer)
    await session.flush()
    return insurer


async def suspend_insurer(
    session: AsyncSession, insurer_id: str, reason: str, now: datetime
) -> Insurer:
    """Stop an insurer's pushes and policy registrations until it is reinstated."""
    insurer = await get_insurer(session, insurer_id, lock=True)
    if insurer.status == InsurerStatus.suspended.value:
        raise Conflict(
            f"insurer {insurer_id} is already suspended", code="insurer_already_suspended"
        )
    insurer.status = InsurerStatus.suspended.value
    insurer.status_reason = reason
    insurer.updated_at = now
    await session.flush()
    return insurer


async def reinstate_insurer(session: AsyncSession, insurer_id: str, now: datetime) -> Insurer:
    """Let a suspended insurer push and register policies again."""
    insurer = await get_insurer(session, insurer_id, lock=True)
    if insurer.status != InsurerStatus.suspended.value:
        raise Conflict(f"insurer {insurer_id} is not suspended", code="insurer_not_suspended")
    insurer.status = InsurerStatus.active.value
    insurer.status_reason = None
    insurer.updated_at = now
    await session.flush()
    return insurer


async def list_insurers(
    session: AsyncSession, *, status: InsurerStatus | None, after_id: str | None, limit: int
) -> Sequence[Insurer]:
    """Insurers in id order after a cursor, optionally in one status."""
    query = sa.select(Insurer).order_by(Insurer.id).limit(limit)
    if status is not None:
        query = query.where(Insurer.status == status.value)
    if after_id is not None:
        query = query.where(Insurer.id > after_id)
    return (await session.scalars(query)).all()

"""Policy queries. Adds and flushes; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.insurance.models import Policy


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, policy_id: str) -> Policy | None:
        """The policy with this id."""
        return await self.session.get(Policy, policy_id)

    async def get_by_number(self, insurer_id: str, policy_number: str) -> Policy | None:
        """An insurer's policy by its own number."""
        return await self.session.scalar(
            sa.select(Policy).where(
                Policy.insurer_id == insurer_id, Policy.policy_number == policy_number
            )
        )

    async def list_page(
        self,
        *,
        insurer_id: str | None,
        uscc: str | None,
        after_id: str | None,
        limit: int,
    ) -> Sequence[Policy]:
        """Policies in id order after a cursor, optionally for one insurer or enterprise."""
        query = sa.select(Policy).order_by(Policy.id).limit(limit)
        if insurer_id is not None:
            query = query.where(Policy.insurer_id == insurer_id)
        if uscc is not None:
            query = query.where(Policy.uscc == uscc)
        if after_id is not None:
            query = query.where(Policy.id > after_id)
        return (await self.session.scalars(query)).all()

    async def list_pending_starting_by(self, day: date, limit: int = 500) -> Sequence[Policy]:
        """Pending policies whose start date has arrived."""
        return (
            await self.session.scalars(
                sa.select(Policy)
                .where(Policy.status == "pending", Policy.starts_on <= day)
                .order_by(Policy.starts_on, Policy.id)
                .limit(limit)
            )
        ).all()

    def add(self, policy: Policy) -> None:
        self.session.add(policy)

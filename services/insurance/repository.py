"""Policy, obligation and hazard queries. Adds and flushes; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.insurance.domain import ObligationKind, ObligationStatus, PolicyStatus
from services.insurance.models import Hazard, Obligation, ObligationEvent, Policy


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, policy_id: str) -> Policy | None:
        """The policy with this id."""
        return await self.session.get(Policy, policy_id)

    async def get_for_update(self, policy_id: str) -> Policy | None:
        """The policy with this id, locked for this transaction and read afresh."""
        return await self.session.scalar(
            sa.select(Policy)
            .where(Policy.id == policy_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

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
        """Pending policies whose start date has arrived, locked (others' locks skipped)."""
        return (
            await self.session.scalars(
                sa.select(Policy)
                .where(Policy.status == PolicyStatus.pending.value, Policy.starts_on <= day)
                .order_by(Policy.starts_on, Policy.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()

    async def list_active_ended_before(self, day: date, limit: int = 500) -> Sequence[Policy]:
        """Active policies whose last covered day is before `day`, locked (skipping others')."""
        return (
            await self.session.scalars(
                sa.select(Policy)
                .where(
                    Policy.status == PolicyStatus.active.value,
                    sa.or_(Policy.ends_on < day, Policy.cancelled_on < day),
                )
                .order_by(Policy.ends_on, Policy.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()

    async def lock_current_of(self, uscc: str) -> Sequence[Policy]:
        """The enterprise's pending and active policies, locked and read afresh.

        A hazard arriving while a policy activates or is cancelled waits for that change
        (and the life-cycle pass skips a policy locked here until the next pass), so help is
        neither missed nor scheduled past a new last covered day.
        """
        return (
            await self.session.scalars(
                sa.select(Policy)
                .where(
                    Policy.uscc == uscc,
                    Policy.status.in_([PolicyStatus.pending.value, PolicyStatus.active.value]),
                )
                .order_by(Policy.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()

    def add(self, policy: Policy) -> None:
        self.session.add(policy)


@dataclass(frozen=True)
class ObligationFilter:
    """What a listing of obligations is narrowed to; None means any."""

    policy_id: str | None = None
    insurer_id: str | None = None
    uscc: str | None = None
    kind: ObligationKind | None = None
    status: ObligationStatus | None = None
    overdue: bool | None = None
    due_from: date | None = None
    due_to: date | None = None


class ObligationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, obligation_id: str) -> Obligation | None:
        """The obligation with this id."""
        return await self.session.get(Obligation, obligation_id)

    async def get_for_update(self, obligation_id: str) -> Obligation | None:
        """The obligation with this id, locked for this transaction and read afresh."""
        return await self.session.scalar(
            sa.select(Obligation)
            .where(Obligation.id == obligation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def of_policy(
        self, policy_id: str, kind: ObligationKind | None = None
    ) -> Sequence[Obligation]:
        """A policy's obligations (of one kind), by kind and number."""
        query = (
            sa.select(Obligation)
            .where(Obligation.policy_id == policy_id)
            .order_by(Obligation.kind, Obligation.seq)
        )
        if kind is not None:
            query = query.where(Obligation.kind == kind.value)
        return (await self.session.scalars(query)).all()

    async def last_seq(self, policy_id: str, kind: ObligationKind) -> int:
        """The highest number given to this kind under the policy (0 if none)."""
        value = await self.session.scalar(
            sa.select(sa.func.max(Obligation.seq)).where(
                Obligation.policy_id == policy_id, Obligation.kind == kind.value
            )
        )
        return int(value or 0)

    async def for_hazard(self, policy_id: str, hazard_id: str) -> Obligation | None:
        """The help owed under this policy for this hazard, if any."""
        return await self.session.scalar(
            sa.select(Obligation).where(
                Obligation.policy_id == policy_id, Obligation.hazard_id == hazard_id
            )
        )

    async def list_page(
        self,
        where: ObligationFilter,
        today: date,
        after: tuple[date, str] | None,
        limit: int,
    ) -> Sequence[Obligation]:
        """Obligations by (due date, id) after a cursor, narrowed by `where`."""
        query = sa.select(Obligation).order_by(Obligation.due_on, Obligation.id).limit(limit)
        conditions: list[sa.ColumnElement[bool]] = []
        if where.policy_id is not None:
            conditions.append(Obligation.policy_id == where.policy_id)
        if where.insurer_id is not None:
            conditions.append(Obligation.insurer_id == where.insurer_id)
        if where.uscc is not None:
            conditions.append(Obligation.uscc == where.uscc)
        if where.kind is not None:
            conditions.append(Obligation.kind == where.kind.value)
        if where.status is not None:
            conditions.append(Obligation.status == where.status.value)
        if where.due_from is not None:
            conditions.append(Obligation.due_on >= where.due_from)
        if where.due_to is not None:
            conditions.append(Obligation.due_on <= where.due_to)
        if where.overdue is not None:
            # The rule of domain.is_overdue, as SQL: still open after its due date.
            overdue = sa.and_(
                Obligation.status == ObligationStatus.open.value, Obligation.due_on < today
            )
            conditions.append(overdue if where.overdue else sa.not_(overdue))
        if after is not None:
            day, last_id = after
            conditions.append(
                sa.or_(
                    Obligation.due_on > day,
                    sa.and_(Obligation.due_on == day, Obligation.id > last_id),
                )
            )
        if conditions:
            query = query.where(*conditions)
        return (await self.session.scalars(query)).all()

    async def history(self, obligation_id: str) -> Sequence[ObligationEvent]:
        """What happened to an obligation, oldest first."""
        return (
            await self.session.scalars(
                sa.select(ObligationEvent)
                .where(ObligationEvent.obligation_id == obligation_id)
                .order_by(ObligationEvent.id)
            )
        ).all()

    def add(self, obligation: Obligation) -> None:
        self.session.add(obligation)

    def add_event(self, event: ObligationEvent) -> None:
        self.session.add(event)


class HazardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, hazard_id: str) -> Hazard | None:
        """The government-found hazard with inspection's id."""
        return await self.session.get(Hazard, hazard_id)

    async def unrectified_of(self, uscc: str) -> Sequence[Hazard]:
        """The enterprise's hazards not yet verified rectified, oldest first."""
        return (
            await self.session.scalars(
                sa.select(Hazard)
                .where(Hazard.uscc == uscc, Hazard.rectified_on.is_(None))
                .order_by(Hazard.found_on, Hazard.id)
            )
        ).all()

    def add(self, hazard: Hazard) -> None:
        self.session.add(hazard)

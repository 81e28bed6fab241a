"""Handlers for events inspection reacts to."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.consumer import Handlers
from kernel.contracts.credit import CreditStandingChangedV1
from kernel.contracts.insurance import PolicyActivatedV1, PolicyEndedV1, RiskAssessedV1
from kernel.contracts.permits import (
    LicenceIssuedV1,
    LicenceStatusChangedV1,
    PledgeVerificationRequestedV1,
)
from kernel.events import EventEnvelope
from kernel.outbox import Outbox
from services.inspection import pledge_visits, service
from services.inspection.models import TABLES

handlers = Handlers()
_outbox = Outbox(TABLES)


@handlers.on(PolicyActivatedV1)
async def on_policy_activated(
    session: AsyncSession, event: PolicyActivatedV1, _envelope: EventEnvelope
) -> None:
    await service.record_policy_activated(session, _outbox, event)


@handlers.on(PolicyEndedV1)
async def on_policy_ended(
    session: AsyncSession, event: PolicyEndedV1, _envelope: EventEnvelope
) -> None:
    await service.record_policy_ended(session, event)


@handlers.on(PledgeVerificationRequestedV1)
async def on_pledge_verification_requested(
    session: AsyncSession, event: PledgeVerificationRequestedV1, _envelope: EventEnvelope
) -> None:
    await pledge_visits.schedule_visit(session, event)


# --- Supervision registry kept current from credit, insurance and permits --------------------


@handlers.on(CreditStandingChangedV1)
async def on_standing_changed(
    session: AsyncSession, event: CreditStandingChangedV1, _envelope: EventEnvelope
) -> None:
    await service.record_standing_changed(session, _outbox, event)


@handlers.on(RiskAssessedV1)
async def on_risk_assessed(
    session: AsyncSession, event: RiskAssessedV1, _envelope: EventEnvelope
) -> None:
    await service.record_risk_assessed(session, _outbox, event)


@handlers.on(LicenceIssuedV1)
async def on_licence_issued(
    session: AsyncSession, event: LicenceIssuedV1, _envelope: EventEnvelope
) -> None:
    await service.record_licence_issued(session, _outbox, event)


@handlers.on(LicenceStatusChangedV1)
async def on_licence_status_changed(
    session: AsyncSession, event: LicenceStatusChangedV1, _envelope: EventEnvelope
) -> None:
    await service.record_licence_status_changed(session, _outbox, event)

"""Handlers for events permits reacts to: pledge verification results and credit lists."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.consumer import Handlers
from kernel.contracts.credit import CreditStandingChangedV1
from kernel.contracts.inspection import PledgeVerifiedV1
from kernel.events import EventEnvelope
from kernel.outbox import Outbox
from services.permits import licences
from services.permits.models import TABLES

handlers = Handlers()
_outbox = Outbox(TABLES)


@handlers.on(PledgeVerifiedV1)
async def on_pledge_verified(
    session: AsyncSession, event: PledgeVerifiedV1, _envelope: EventEnvelope
) -> None:
    await licences.record_pledge_verification(session, _outbox, event)


@handlers.on(CreditStandingChangedV1)
async def on_standing_changed(
    session: AsyncSession, event: CreditStandingChangedV1, _envelope: EventEnvelope
) -> None:
    await licences.record_standing(session, _outbox, event)

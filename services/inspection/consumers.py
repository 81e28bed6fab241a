"""Handlers for events inspection reacts to."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.consumer import Handlers
from kernel.contracts.insurance import PolicyActivatedV1
from kernel.events import EventEnvelope
from kernel.outbox import Outbox
from services.inspection import service
from services.inspection.models import TABLES

handlers = Handlers()
_outbox = Outbox(TABLES)


@handlers.on(PolicyActivatedV1)
async def on_policy_activated(
    session: AsyncSession, event: PolicyActivatedV1, _envelope: EventEnvelope
) -> None:
    await service.record_policy_activated(session, _outbox, event)

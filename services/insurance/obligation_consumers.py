"""Handlers for inspection's hazard events: a government-found hazard becomes help its insured
enterprise's insurer owes (协助整改政府部门发现的隐患); a verified rectification is noted.

Registered on services.insurance.consumers.handlers. The consumer runner applies each event
once (inbox) in one transaction; the handlers are also idempotent on their own, so a replayed
event changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.contracts.inspection import HazardFoundV1, HazardRectifiedV1
from kernel.db import utcnow
from kernel.events import EventEnvelope
from services.insurance import obligations
from services.insurance.config import get_settings
from services.insurance.consumers import handlers
from services.insurance.models import Hazard, Obligation
from services.insurance.repository import HazardRepository

log = logging.getLogger("insurance.hazards")


async def record_hazard_found(
    session: AsyncSession, event: HazardFoundV1, assistance_days: int, now: datetime
) -> list[Obligation]:
    """Keep the hazard and owe help with it under each policy in force on the day it was found.

    A hazard already known (a redelivery) changes nothing.
    """
    repo = HazardRepository(session)
    if await repo.get(event.hazard_id) is not None:
        return []
    hazard = Hazard(
        id=event.hazard_id,
        inspection_id=event.inspection_id,
        uscc=event.uscc,
        enterprise_name=event.enterprise_name,
        grade=event.grade,
        description=event.description,
        found_on=event.found_on,
        rectify_by=event.rectify_by,
        rectified_on=None,
        received_at=now,
    )
    repo.add(hazard)
    await session.flush()
    return await obligations.hazard_assistance_for(session, hazard, assistance_days, now)


async def record_hazard_rectified(session: AsyncSession, event: HazardRectifiedV1) -> bool:
    """Note the day a hazard's rectification was verified; False for a hazard never announced.

    The help owed stays as it is: an insurer whose help led to the rectification still reports
    it, and help already overdue is not excused by someone else's work.
    """
    hazard = await HazardRepository(session).get(event.hazard_id)
    if hazard is None:
        log.warning("rectification of unknown hazard %s (%s) ignored", event.hazard_id, event.uscc)
        return False
    if hazard.rectified_on is None:
        hazard.rectified_on = event.verified_on
        await session.flush()
    return True


@handlers.on(HazardFoundV1)
async def on_hazard_found(
    session: AsyncSession, event: HazardFoundV1, _envelope: EventEnvelope
) -> None:
    await record_hazard_found(session, event, get_settings().hazard_assistance_days, utcnow())


@handlers.on(HazardRectifiedV1)
async def on_hazard_rectified(
    session: AsyncSession, event: HazardRectifiedV1, _envelope: EventEnvelope
) -> None:
    await record_hazard_rectified(session, event)

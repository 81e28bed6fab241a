"""Inspection use cases for the registry."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.contracts.insurance import PolicyActivatedV1
from kernel.db import utcnow
from kernel.errors import Conflict
from kernel.outbox import Outbox
from kernel.vocab import Sector
from services.inspection.domain import default_tier, later_cover
from services.inspection.models import Enterprise
from services.inspection.repository import EnterpriseRepository
from services.inspection.schemas import EnterpriseCreate

UNKNOWN_DISTRICT = "未登记"


async def register_enterprise(
    session: AsyncSession, outbox: Outbox, data: EnterpriseCreate, actor: str
) -> Enterprise:
    """Enter an enterprise into the supervision registry."""
    repo = EnterpriseRepository(session)
    if await repo.get(data.uscc) is not None:
        raise Conflict(
            f"enterprise {data.uscc} is already registered", code="enterprise_exists", field="uscc"
        )
    now = utcnow()
    enterprise = Enterprise(
        uscc=data.uscc,
        name=data.name,
        district=data.district,
        sector=data.sector.value,
        tier=(data.tier or default_tier(data.sector)).value,
        standardisation_level=int(data.standardisation_level),
        is_pre_ipo=data.is_pre_ipo,
        is_specialised=data.is_specialised,
        registered_by=actor,
        created_at=now,
        updated_at=now,
    )
    repo.add(enterprise)
    await _announce(session, outbox, enterprise)
    await session.flush()
    return enterprise


async def record_policy_activated(
    session: AsyncSession, outbox: Outbox, event: PolicyActivatedV1
) -> Enterprise:
    """An insurer's policy took effect: the registry knows the enterprise is insured.

    An enterprise the registry did not know yet is entered from the policy (its district is
    unknown until an officer completes it), so no insured enterprise escapes supervision.
    """
    repo = EnterpriseRepository(session)
    enterprise = await repo.get(event.uscc)
    now = utcnow()
    if enterprise is None:
        sector = Sector(event.sector) if event.sector in Sector.__members__ else Sector.other
        enterprise = Enterprise(
            uscc=event.uscc,
            name=event.enterprise_name,
            district=UNKNOWN_DISTRICT,
            sector=sector.value,
            tier=default_tier(sector).value,
            standardisation_level=0,
            is_pre_ipo=False,
            is_specialised=False,
            registered_by="event:insurance",
            created_at=now,
            updated_at=now,
        )
        repo.add(enterprise)
        await _announce(session, outbox, enterprise)
    new_end = later_cover(enterprise.insured_until, event.ends_on)
    if new_end != enterprise.insured_until or enterprise.insurer_id != event.insurer_id:
        enterprise.insured_until = new_end
        if new_end == event.ends_on:
            enterprise.insurer_id = event.insurer_id
        enterprise.updated_at = now
    await session.flush()
    return enterprise


async def _announce(session: AsyncSession, outbox: Outbox, enterprise: Enterprise) -> None:
    await outbox.emit(
        session,
        enterprise.uscc,
        EnterpriseRegisteredV1(
            uscc=enterprise.uscc,
            name=enterprise.name,
            district=enterprise.district,
            sector=enterprise.sector,
            tier=enterprise.tier,
        ),
    )


def is_insured(enterprise: Enterprise, today: date) -> bool:
    """Whether a policy covers the enterprise on `today`."""
    from services.inspection.domain import insurance_covered

    return insurance_covered(enterprise.insured_until, today)

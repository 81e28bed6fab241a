"""Inspection use cases for the registry."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.contracts.credit import CreditStandingChangedV1
from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.contracts.insurance import PolicyActivatedV1, PolicyEndedV1, RiskAssessedV1
from kernel.contracts.permits import LicenceIssuedV1, LicenceStatusChangedV1
from kernel.db import utcnow
from kernel.errors import Conflict, RuleViolated
from kernel.outbox import Outbox
from kernel.vocab import Sector
from services.inspection.domain import (
    CreditStanding,
    LicenceStatus,
    RiskLevel,
    count_active_licences,
    default_tier,
    is_placeholder_name,
    later_cover,
    next_licence_status,
    placeholder_name,
    supersedes_assessment,
)
from services.inspection.models import Enterprise
from services.inspection.models_registry import RegistryLicence
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
    sector = Sector(event.sector) if event.sector in Sector.__members__ else Sector.other
    enterprise = await _known_or_entered(
        session, outbox, event.uscc, event.enterprise_name, sector, "event:insurance"
    )
    now = utcnow()
    new_end = later_cover(enterprise.insured_until, event.ends_on)
    if new_end != enterprise.insured_until or enterprise.insurer_id != event.insurer_id:
        enterprise.insured_until = new_end
        if new_end == event.ends_on:
            enterprise.insurer_id = event.insurer_id
        enterprise.updated_at = now
    await session.flush()
    return enterprise


async def record_policy_ended(session: AsyncSession, event: PolicyEndedV1) -> Enterprise | None:
    """A policy stopped covering the enterprise: "insured until" moves back to its last day.

    The registry keeps one cover (the latest end and its insurer), so it moves back only when
    that cover was this insurer's and ran past the policy's last covered day. An expiry never
    moves it: a policy that ran its term has `last_covered_on` = its end, so a later date
    belongs to another policy (a renewal signed early). An enterprise the registry does not
    know is not entered: nothing about it is insured any more.
    """
    enterprise = await session.get(Enterprise, event.uscc)
    if enterprise is None:
        return None
    if (
        event.reason == "cancelled"
        and enterprise.insurer_id == event.insurer_id
        and enterprise.insured_until is not None
        and enterprise.insured_until > event.last_covered_on
    ):
        enterprise.insured_until = event.last_covered_on
        enterprise.updated_at = utcnow()
        await session.flush()
    return enterprise


async def record_standing_changed(
    session: AsyncSession, outbox: Outbox, event: CreditStandingChangedV1
) -> Enterprise:
    """Credit listed or delisted an enterprise: the plan's frequency rules follow the standing.

    Credit's events arrive in credit's order, so the latest applied is the current standing.
    """
    enterprise = await _known_or_entered(session, outbox, event.uscc, None, None, "event:credit")
    standing = CreditStanding(event.standing)
    if enterprise.credit_standing != standing.value or enterprise.standing_since != (
        event.effective_on
    ):
        enterprise.credit_standing = standing.value
        enterprise.standing_since = event.effective_on
        enterprise.updated_at = utcnow()
    await session.flush()
    return enterprise


async def record_risk_assessed(
    session: AsyncSession, outbox: Outbox, event: RiskAssessedV1
) -> Enterprise:
    """An insurer assessed the enterprise's risk; the latest assessment sets its priority."""
    enterprise = await _known_or_entered(session, outbox, event.uscc, None, None, "event:insurance")
    held = RiskLevel[enterprise.risk_level] if enterprise.risk_level else None
    new = RiskLevel[event.risk_level]
    if supersedes_assessment(enterprise.risk_assessed_on, held, event.assessed_on, new):
        enterprise.risk_level = new.name
        enterprise.risk_assessed_on = event.assessed_on
        enterprise.updated_at = utcnow()
    await session.flush()
    return enterprise


async def record_licence_issued(
    session: AsyncSession, outbox: Outbox, event: LicenceIssuedV1
) -> Enterprise:
    """Permits issued a licence: the holder is in the registry and its active count follows."""
    enterprise = await _known_or_entered(
        session, outbox, event.uscc, event.holder_name, None, "event:permits"
    )
    licence = await session.get(RegistryLicence, event.licence_number)
    if licence is None:
        licence = RegistryLicence(
            licence_number=event.licence_number,
            uscc=event.uscc,
            status=LicenceStatus.active.value,
            updated_at=utcnow(),
        )
        session.add(licence)
    licence.item_code = event.item_code
    licence.item_name = event.item_name
    licence.valid_until = event.valid_until
    await _recount_licences(session, enterprise)
    return enterprise


async def record_licence_status_changed(
    session: AsyncSession, outbox: Outbox, event: LicenceStatusChangedV1
) -> Enterprise:
    """Permits suspended, reinstated or revoked a licence: the active count is recomputed."""
    enterprise = await _known_or_entered(session, outbox, event.uscc, None, None, "event:permits")
    licence = await session.get(RegistryLicence, event.licence_number)
    reported = LicenceStatus(event.status)
    if licence is None:
        # Issued before this service kept licence states: the status event is all it knows.
        licence = RegistryLicence(
            licence_number=event.licence_number,
            uscc=event.uscc,
            status=reported.value,
            updated_at=utcnow(),
        )
        session.add(licence)
    else:
        licence.status = next_licence_status(LicenceStatus(licence.status), reported).value
        licence.updated_at = utcnow()
    await _recount_licences(session, enterprise)
    return enterprise


async def _recount_licences(session: AsyncSession, enterprise: Enterprise) -> None:
    await session.flush()
    statuses = await session.scalars(
        sa.select(RegistryLicence.status).where(RegistryLicence.uscc == enterprise.uscc)
    )
    count = count_active_licences(LicenceStatus(s) for s in statuses)
    if count != enterprise.licences_active:
        enterprise.licences_active = count
        enterprise.updated_at = utcnow()
    await session.flush()


async def _known_or_entered(
    session: AsyncSession,
    outbox: Outbox,
    uscc: str,
    name: str | None,
    sector: Sector | None,
    registered_by: str,
) -> Enterprise:
    """The registry entry, entered from what the event knows if the registry lacks it.

    An enterprise another service knows first (a listing, a licence, a policy) must not escape
    supervision: it is entered at once, with a placeholder name when the event carries none and
    district 未登记 until an officer completes it (`is_complete` is false until then). A later
    event that carries the name or the sector fills in what the placeholder lacked.
    """
    repo = EnterpriseRepository(session)
    enterprise = await repo.get(uscc)
    now = utcnow()
    if enterprise is None:
        known_sector = sector or Sector.other
        enterprise = Enterprise(
            uscc=uscc,
            name=name or placeholder_name(uscc),
            district=UNKNOWN_DISTRICT,
            sector=known_sector.value,
            tier=default_tier(known_sector).value,
            standardisation_level=0,
            is_pre_ipo=False,
            is_specialised=False,
            credit_standing=CreditStanding.normal.value,
            licences_active=0,
            registered_by=registered_by,
            created_at=now,
            updated_at=now,
        )
        repo.add(enterprise)
        await _announce(session, outbox, enterprise)
        return enterprise
    if name and is_placeholder_name(enterprise.name):
        enterprise.name = name
        enterprise.updated_at = now
    if (
        sector is not None
        and sector is not Sector.other
        and enterprise.sector == Sector.other.value
        and enterprise.district == UNKNOWN_DISTRICT
    ):
        # Only an event-entered row is refined; an officer's classification is never overridden.
        enterprise.sector = sector.value
        enterprise.tier = default_tier(sector).value
        enterprise.updated_at = now
    return enterprise


def is_complete(enterprise: Enterprise) -> bool:
    """Whether an officer has completed the entry (events alone leave the district unknown)."""
    return enterprise.district != UNKNOWN_DISTRICT and not is_placeholder_name(enterprise.name)


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


async def complete_registration(
    session: AsyncSession,
    outbox: Outbox,
    enterprise: Enterprise,
    data: EnterpriseCreate,
    actor: str,
) -> Enterprise:
    """An officer completes an entry that events created (name, district, classification).

    Only incomplete entries are completed this way: a complete entry's classification is an
    officer's earlier decision and is not silently replaced through this path. The completed
    entry is announced again, so copies of the registry (insurance's coverage gaps) learn the
    real district and sector instead of the placeholders events left.
    """
    if data.uscc != enterprise.uscc:
        raise RuleViolated("the body's USCC is not the entry's", code="uscc_mismatch", field="uscc")
    if is_complete(enterprise):
        raise Conflict(
            f"enterprise {enterprise.uscc} is already complete", code="enterprise_complete"
        )
    enterprise.name = data.name
    enterprise.district = data.district
    enterprise.sector = data.sector.value
    enterprise.tier = (data.tier or default_tier(data.sector)).value
    enterprise.standardisation_level = int(data.standardisation_level)
    enterprise.is_pre_ipo = data.is_pre_ipo
    enterprise.is_specialised = data.is_specialised
    enterprise.registered_by = actor
    enterprise.updated_at = utcnow()
    await _announce(session, outbox, enterprise)
    await session.flush()
    return enterprise

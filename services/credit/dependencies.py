"""Credit request dependencies."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends

from kernel.app import RuntimeDep, SessionDep
from kernel.auth import OptionalPrincipal, Principal, Role, require_roles
from kernel.auth.principal import BUREAU_ROLES
from kernel.auth.service_token import DATA_SHARE_SCOPE
from kernel.errors import NotFound
from kernel.settings import ServiceSettings
from kernel.workdays import shanghai_today
from services.credit.domain import PUBLIC_READERSHIP, Readership, is_in_publicity
from services.credit.models import CreditRecord
from services.credit.repository import PenaltyRepository, RecordRepository

# Credit officers record penalties; leaders and admins may too.
RecorderDep = Annotated[Principal, Depends(require_roles(*BUREAU_ROLES))]

# Ending a record because its decision was revoked undoes a published decision: the
# next-level leader's call, as with every "no" on this platform.
LeaderDep = Annotated[Principal, Depends(require_roles(Role.leader))]

# The daily export holds listing facts the public lists do not: the bureau reads it, and other
# departments only through the gateway under a grant, each read logged (DOMAIN.md: "every read
# is logged"), never with their own token directly.
ExportReaderDep = Annotated[
    Principal,
    Depends(require_roles(*BUREAU_ROLES, shared_scope=DATA_SHARE_SCOPE)),
]


def business_today(runtime: RuntimeDep) -> date:
    """Today's business date in Asia/Shanghai (one place, so tests can move the clock)."""
    return business_date(runtime.settings)


def business_date(settings: ServiceSettings) -> date:
    """The business date under the settings' clock offset (0 outside rehearsals)."""
    offset = settings.clock_offset_days
    return shanghai_today() + timedelta(days=offset)


TodayDep = Annotated[date, Depends(business_today)]


def readership_of(principal: OptionalPrincipal) -> Readership:
    """What this caller may read: the bureau everything, an enterprise also its own records."""
    if principal.role in BUREAU_ROLES:
        return Readership(sees_all=True)
    if principal.role is Role.enterprise:
        return Readership(own_uscc=principal.subject)
    return PUBLIC_READERSHIP


ReadershipDep = Annotated[Readership, Depends(readership_of)]


async def readable_penalty(
    penalty_id: str, session: SessionDep, readership: ReadershipDep, today: TodayDep
) -> CreditRecord:
    """The record, if this caller may read it; 404 otherwise.

    A record whose publicity has ended is withdrawn from the public (最长公示期届满后自动停止
    公示): for a reader who may not see it, it does not exist.
    """
    penalty = await PenaltyRepository(session).get(penalty_id)
    if penalty is None or not readership.may_read(
        penalty.uscc,
        penalty.state == "published"
        and is_in_publicity(penalty.publicity_starts_on, penalty.publicity_ends_on, today),
    ):
        raise NotFound(f"penalty {penalty_id} not found", code="penalty_not_found")
    return penalty


ReadablePenalty = Annotated[CreditRecord, Depends(readable_penalty)]


def is_internal_reader(readership: Readership, uscc: str) -> bool:
    """The bureau, or the enterprise the record is about: they see history and sources."""
    return readership.sees_all or readership.own_uscc == uscc


async def readable_record(
    record_id: str, session: SessionDep, readership: ReadershipDep, today: TodayDep
) -> CreditRecord:
    """A record of any class, if this caller may read it; 404 otherwise (as for penalties)."""
    record = await RecordRepository(session).get(record_id)
    if record is None or not readership.may_read(
        record.uscc,
        record.state == "published"
        and is_in_publicity(record.publicity_starts_on, record.publicity_ends_on, today),
    ):
        raise NotFound(f"record {record_id} not found", code="record_not_found")
    return record


ReadableRecord = Annotated[CreditRecord, Depends(readable_record)]

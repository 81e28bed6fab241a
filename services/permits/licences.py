"""Electronic licence use cases: issue, revoke, suspend, verify, publish the status lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.contracts.credit import CreditStandingChangedV1
from kernel.contracts.inspection import PledgeVerifiedV1
from kernel.contracts.permits import LicenceIssuedV1, LicenceStatusChangedV1, PledgeBreachedV1
from kernel.db import utcnow
from kernel.errors import Conflict, NotFound
from kernel.outbox import Outbox
from kernel.tables import next_counter_value
from services.permits.credentials import (
    IssuerKeyRing,
    LicenceClaims,
    issue_licence,
    sign_status_list,
    verify_licence,
)
from services.permits.domain import ApprovalMode, ApprovalPath, PledgeStatus, pledge_outcome
from services.permits.models import TABLES, Application, EnterpriseStanding, Licence
from services.permits.status_list import (
    MIN_BITS,
    StatusList,
    StatusListEntry,
    StatusListFull,
    StatusPurpose,
    status_list_credential,
)

# 《危险化学品经营许可证管理办法》第二十一条: a licence is valid for 3 years. Items with other
# terms will carry their own validity in the catalogue.
VALIDITY_YEARS: Final = 3


class LicenceStatus(StrEnum):
    active = "active"
    suspended = "suspended"
    revoked = "revoked"


def validity_end(start: date, years: int = VALIDITY_YEARS) -> date:
    """The last valid day: the day before the same date `years` later (29 Feb → 28 Feb)."""
    try:
        anniversary = start.replace(year=start.year + years)
    except ValueError:
        anniversary = start.replace(year=start.year + years, day=28)
    return date.fromordinal(anniversary.toordinal() - 1)


def status_list_url(public_base_url: str, purpose: StatusPurpose) -> str:
    return f"{public_base_url.rstrip('/')}/status-lists/{purpose.value}"


async def _next_number(session: AsyncSession, year: int) -> str:
    value = await next_counter_value(session, TABLES.counters, f"licence_number:{year}")
    return f"QDAJ-{year}-{value:06d}"


# Status list positions: an affine permutation of a counter over the list's 2^17 entries
# (odd multiplier, so it is a bijection). Unique without reading other licences, and
# neighbouring licences do not sit in neighbouring bits (the spec's correlation concern).
STATUS_INDEX_MULTIPLIER: Final = 0x9E37 | 1
STATUS_INDEX_OFFSET: Final = 40_503


def permuted_index(n: int, size: int = MIN_BITS) -> int:
    """The n-th licence's position in the status lists (n from 0)."""
    if not 0 <= n < size:
        raise StatusListFull(size)
    return (STATUS_INDEX_MULTIPLIER * n + STATUS_INDEX_OFFSET) % size


async def _next_status_index(session: AsyncSession) -> int:
    value = await next_counter_value(session, TABLES.counters, "licence_status_index")
    return permuted_index(value - 1)


async def issue_for(
    session: AsyncSession,
    outbox: Outbox,
    ring: IssuerKeyRing,
    public_base_url: str,
    app: Application,
    today: date,
    *,
    pledged: bool = False,
    pledge_verify_by: date | None = None,
) -> Licence:
    """Issue the signed licence an approved application earns (in the caller's transaction).

    A pledge licence awaits inspection's verification; its deadline may be unknown (None)
    while that year's official schedule is not loaded.
    """
    index = await _next_status_index(session)
    number = await _next_number(session, today.year)
    entries = tuple(
        StatusListEntry(status_list_url(public_base_url, purpose), purpose, index)
        for purpose in (StatusPurpose.revocation, StatusPurpose.suspension)
    )
    claims = LicenceClaims(
        uscc=app.uscc,
        holder_name=app.enterprise_name,
        item_code=app.item_code,
        item_name=app.item_name,
        licence_number=number,
        scope=app.form.get("scope") or app.item_name,
        approval_mode=ApprovalMode(app.path),
        valid_from=today,
        valid_until=validity_end(today),
        status=entries,
        credential_id=f"urn:qdaj:licence:{number}",
    )
    licence = Licence(
        id=str(uuid.uuid4()),
        number=number,
        application_id=app.id,
        uscc=app.uscc,
        holder_name=app.enterprise_name,
        item_code=app.item_code,
        item_name=app.item_name,
        approval_path=app.path,
        valid_from=claims.valid_from,
        valid_until=claims.valid_until,
        status=LicenceStatus.active.value,
        status_index=index,
        kid=ring.active_kid,
        token=issue_licence(ring, claims),
        issued_at=utcnow(),
        pledge_status=PledgeStatus.awaiting_verification.value if pledged else None,
        pledge_verify_by=pledge_verify_by,
    )
    session.add(licence)
    await outbox.emit(
        session,
        licence.uscc,
        LicenceIssuedV1(
            licence_number=number,
            application_id=app.id,
            uscc=app.uscc,
            holder_name=app.enterprise_name,
            item_code=app.item_code,
            item_name=app.item_name,
            approval_path=ApprovalPath(app.path).value,
            valid_from=licence.valid_from,
            valid_until=licence.valid_until,
        ),
    )
    await session.flush()
    return licence


async def get_by_number(session: AsyncSession, number: str) -> Licence:
    licence = await session.scalar(sa.select(Licence).where(Licence.number == number))
    if licence is None:
        raise NotFound(f"licence {number} not found", code="licence_not_found")
    return licence


# Which licence status sets a bit in which published list. The lists are derived from the
# licence rows when published, so a status change is one row update and cannot be lost.
_LISTED: Final = {
    StatusPurpose.revocation: LicenceStatus.revoked,
    StatusPurpose.suspension: LicenceStatus.suspended,
}


async def _current_list(
    session: AsyncSession, purpose: StatusPurpose
) -> tuple[StatusList, datetime]:
    """The list for `purpose` as the licences stand now, and when it last changed."""
    status = _LISTED[purpose].value
    indices = (
        await session.scalars(sa.select(Licence.status_index).where(Licence.status == status))
    ).all()
    status_list = StatusList(MIN_BITS, purpose)
    for index in indices:
        status_list.set(index)
    changed = await session.scalar(sa.select(sa.func.max(Licence.status_changed_at)))
    return status_list, changed or utcnow()


async def change_status(
    session: AsyncSession, outbox: Outbox, licence: Licence, target: LicenceStatus, reason: str
) -> Licence:
    """Revoke, suspend or reinstate a licence (the published lists follow from its status)."""
    current = LicenceStatus(licence.status)
    if current is LicenceStatus.revoked:
        raise Conflict(
            f"licence {licence.number} is revoked; that is final", code="licence_revoked"
        )
    if current is target:
        raise Conflict(
            f"licence {licence.number} is already {target.value}", code="licence_status_unchanged"
        )
    licence.status = target.value
    licence.status_reason = reason
    licence.status_changed_at = utcnow()
    await outbox.emit(
        session,
        licence.uscc,
        LicenceStatusChangedV1(
            licence_number=licence.number, uscc=licence.uscc, status=target.value, reason=reason
        ),
    )
    await session.flush()
    return licence


async def signed_status_list(
    session: AsyncSession, ring: IssuerKeyRing, public_base_url: str, purpose: StatusPurpose
) -> str:
    """The current list for `purpose` as a signed BitstringStatusListCredential (VC-JWT)."""
    status_list, valid_from = await _current_list(session, purpose)
    body = status_list_credential(
        ring.issuer,
        status_list_url(public_base_url, purpose),
        purpose,
        status_list.encode(),
        valid_from,
    )
    return sign_status_list(ring, body)


@dataclass(frozen=True)
class LicenceCheck:
    """What the public verification endpoint answers."""

    valid: bool
    status: str  # valid | revoked | suspended | expired | invalid
    reason: str
    licence_number: str | None
    holder_name: str | None
    uscc: str | None
    item_name: str | None
    valid_from: str | None
    valid_until: str | None
    kid: str | None


async def check_token(
    session: AsyncSession, ring: IssuerKeyRing, token: str, now: datetime
) -> LicenceCheck:
    """Verify the signature, validity period and current status of a licence token."""
    result = verify_licence(token, ring, now)
    subject = result.subject or {}
    fields = {
        "licence_number": subject.get("licenceNumber"),
        "holder_name": subject.get("holderName"),
        "uscc": subject.get("uscc"),
        "item_name": subject.get("itemName"),
        "valid_from": (result.claims or {}).get("validFrom"),
        "valid_until": (result.claims or {}).get("validUntil"),
        "kid": result.kid,
    }
    if not result.valid:
        status = "expired" if result.reason == "expired" else "invalid"
        return LicenceCheck(False, status, result.reason, **fields)
    # Online, the licence row is the source the published lists are built from: read the one
    # row at this licence's list position instead of decoding whole lists.
    index = next(e.index for e in result.status_entries if e.purpose is StatusPurpose.revocation)
    current = await session.scalar(sa.select(Licence.status).where(Licence.status_index == index))
    if current is None:
        return LicenceCheck(False, "invalid", "unknown_licence", **fields)
    if current != LicenceStatus.active.value:
        return LicenceCheck(False, current, current, **fields)
    return LicenceCheck(True, "valid", "ok", **fields)


# Reason recorded on licences suspended because of the black list; reinstatement on leaving
# the list touches only these, never a suspension an officer decided for another reason.
BLACKLIST_SUSPENSION = "列入失信黑名单，暂停使用（信用修复或移出黑名单后恢复）"


async def record_pledge_verification(
    session: AsyncSession, outbox: Outbox, event: PledgeVerifiedV1
) -> Licence | None:
    """Inspection's on-site result: a kept pledge closes; a breached one revokes the licence
    and tells credit (a dishonesty record follows)."""
    licence = await session.scalar(sa.select(Licence).where(Licence.number == event.licence_number))
    if licence is None or licence.pledge_status is None:
        # Not a pledge licence of ours: nothing to close. The event is still consumed once.
        return None
    outcome = pledge_outcome(PledgeStatus(licence.pledge_status), event.passed)
    licence.pledge_status = outcome.value
    if outcome is PledgeStatus.breached:
        if LicenceStatus(licence.status) is not LicenceStatus.revoked:
            await change_status(
                session,
                outbox,
                licence,
                LicenceStatus.revoked,
                f"承诺不实，撤销许可：{event.findings}"[:2000],
            )
        app = await session.get(Application, licence.application_id)
        assert app is not None
        await outbox.emit(
            session,
            licence.uscc,
            PledgeBreachedV1(
                licence_number=licence.number,
                uscc=licence.uscc,
                enterprise_name=licence.holder_name,
                item_code=licence.item_code,
                item_name=licence.item_name,
                pledge_sha256=app.pledge_sha256 or "",
                findings=event.findings,
                verified_on=event.verified_on,
            ),
        )
    await session.flush()
    return licence


async def record_standing(
    session: AsyncSession, outbox: Outbox, event: CreditStandingChangedV1
) -> None:
    """The credit lists changed for an enterprise: fast paths follow at once (see
    domain.choose_path); entering the black list suspends its active licences, leaving it
    reinstates the ones suspended for that reason."""
    row = await session.get(EnterpriseStanding, event.uscc)
    if row is None:
        session.add(
            EnterpriseStanding(uscc=event.uscc, standing=event.standing, updated_at=utcnow())
        )
    else:
        row.standing = event.standing
        row.updated_at = utcnow()
    owned = (await session.scalars(sa.select(Licence).where(Licence.uscc == event.uscc))).all()
    for licence in owned:
        status = LicenceStatus(licence.status)
        if event.standing == "blacklisted" and status is LicenceStatus.active:
            await change_status(
                session, outbox, licence, LicenceStatus.suspended, BLACKLIST_SUSPENSION
            )
        elif (
            event.standing != "blacklisted"
            and status is LicenceStatus.suspended
            and licence.status_reason == BLACKLIST_SUSPENSION
        ):
            await change_status(
                session, outbox, licence, LicenceStatus.active, "移出失信黑名单，恢复使用"
            )
    await session.flush()

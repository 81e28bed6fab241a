"""Whistle use cases (企业吹哨、保险报到): raise, acknowledge, deliver, close, and the sweep that
records missed SLAs. Inside the caller's transaction; never commits."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.app import ServiceRuntime
from kernel.auth import Principal, Role
from kernel.auth.principal import BUREAU_ROLES
from kernel.db import unit_of_work
from kernel.errors import Conflict, Forbidden, NotFound, RuleViolated
from services.insurance.config import InsuranceSettings
from services.insurance.dependencies import business_instant
from services.insurance.models import Insurer, Policy, Whistle, WhistleEvent
from services.insurance.supervision import covering
from services.insurance.whistle_rules import (
    Breach,
    Feedback,
    WhistleAction,
    WhistleClock,
    WhistleRuleViolated,
    WhistleSla,
    WhistleStatus,
    breaches_to_record,
    deadlines,
    next_status,
)
from services.insurance.whistle_schemas import (
    AcknowledgementCreate,
    ClosureCreate,
    DeliveryCreate,
    WhistleCreate,
)

log = logging.getLogger("insurance.whistles")

SWEEP_ACTOR = "system:whistle-sweep"
_SWEEP_BATCH = 500
_BREACH_ACTION = {Breach.ack: "ack_breached", Breach.delivery: "delivery_breached"}
_OPEN = (WhistleStatus.raised.value, WhistleStatus.acknowledged.value)


def sla_of(settings: InsuranceSettings) -> WhistleSla:
    """The SLA hours configured for this deployment."""
    return WhistleSla(settings.whistle_ack_hours, settings.whistle_delivery_hours)


async def policy_in_force(session: AsyncSession, uscc: str, today: date) -> Policy | None:
    """The enterprise's policy covering `today`; of several, the one that started last.

    A cancelled policy covers up to its last covered day, even while the life-cycle pass has
    not yet marked it ended: after that day its insurer owes the enterprise nothing.
    """
    return await session.scalar(
        sa.select(Policy)
        .where(Policy.uscc == uscc, covering(today))
        .order_by(Policy.starts_on.desc(), Policy.created_at.desc(), Policy.id.desc())
        .limit(1)
    )


def _record(
    session: AsyncSession,
    whistle: Whistle,
    action: str,
    at: datetime,
    actor: str,
    note: str | None = None,
) -> None:
    session.add(WhistleEvent(whistle_id=whistle.id, action=action, at=at, actor=actor, note=note))


def _clock(whistle: Whistle) -> WhistleClock:
    return WhistleClock(
        ack_due_at=whistle.ack_due_at,
        delivery_due_at=whistle.delivery_due_at,
        acknowledged_at=whistle.acknowledged_at,
        delivered_at=whistle.delivered_at,
        ack_breached_at=whistle.ack_breached_at,
        delivery_breached_at=whistle.delivery_breached_at,
    )


def _record_breaches(session: AsyncSession, whistle: Whistle, now: datetime, actor: str) -> int:
    """Put on record, once, each SLA this whistle is seen to have missed at `now`."""
    found = breaches_to_record(_clock(whistle), now)
    for breach in found:
        if breach is Breach.ack:
            whistle.ack_breached_at = now
            due = whistle.ack_due_at
        else:
            whistle.delivery_breached_at = now
            due = whistle.delivery_due_at
        _record(session, whistle, _BREACH_ACTION[breach], now, actor, f"due {due.isoformat()}")
    return len(found)


async def raise_whistle(
    session: AsyncSession,
    enterprise: Principal,
    data: WhistleCreate,
    sla: WhistleSla,
    today: date,
    now: datetime,
) -> Whistle:
    """An enterprise asks for help; the request goes to the insurer of its policy in force."""
    policy = await policy_in_force(session, enterprise.subject, today)
    if policy is None:
        raise Conflict(
            "no work-safety liability policy of this enterprise is in force today, so there is "
            "no insurer to answer; please contact the emergency management bureau "
            "(本企业今日无有效安责险保单，请联系应急管理部门)",
            code="no_active_policy",
        )
    due = deadlines(now, sla)
    whistle = Whistle(
        id=str(uuid.uuid4()),
        uscc=policy.uscc,
        enterprise_name=policy.enterprise_name,
        policy_id=policy.id,
        insurer_id=policy.insurer_id,
        category=data.category.value,
        description=data.description,
        location=data.location,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        status=WhistleStatus.raised.value,
        raised_at=now,
        ack_due_at=due.ack_due_at,
        delivery_due_at=due.delivery_due_at,
        evidence=[],
    )
    session.add(whistle)
    await session.flush()
    _record(session, whistle, "raised", now, enterprise.key, f"to insurer {policy.insurer_id}")
    await session.flush()
    return whistle


def may_read(principal: Principal, whistle: Whistle) -> bool:
    """The bureau, the insurer it was routed to and the enterprise that raised it."""
    return (
        principal.role in BUREAU_ROLES
        or (principal.role is Role.insurer and principal.subject == whistle.insurer_id)
        or (principal.role is Role.enterprise and principal.subject == whistle.uscc)
    )


async def _get(session: AsyncSession, whistle_id: str, *, for_update: bool = False) -> Whistle:
    whistle = await session.get(Whistle, whistle_id, with_for_update=for_update)
    if whistle is None:
        raise NotFound(f"whistle {whistle_id} not found", code="whistle_not_found")
    return whistle


async def readable_whistle(session: AsyncSession, principal: Principal, whistle_id: str) -> Whistle:
    """The whistle, if this caller may see it (404 unknown, 403 someone else's)."""
    whistle = await _get(session, whistle_id)
    if not may_read(principal, whistle):
        raise Forbidden(
            "this whistle belongs to another enterprise or insurer", code="whistle_not_yours"
        )
    return whistle


async def history(session: AsyncSession, whistle_id: str) -> Sequence[WhistleEvent]:
    """A whistle's events, oldest first."""
    query = sa.select(WhistleEvent).where(WhistleEvent.whistle_id == whistle_id)
    return (await session.scalars(query.order_by(WhistleEvent.id))).all()


def _advance(whistle: Whistle, action: WhistleAction) -> None:
    try:
        whistle.status = next_status(WhistleStatus(whistle.status), action).value
    except WhistleRuleViolated as exc:
        raise Conflict(str(exc), code=exc.code, whistle_status=whistle.status) from exc


async def _insurers_whistle(session: AsyncSession, insurer: Insurer, whistle_id: str) -> Whistle:
    whistle = await _get(session, whistle_id, for_update=True)
    if whistle.insurer_id != insurer.id:
        raise Forbidden("this whistle was routed to another insurer", code="whistle_not_yours")
    return whistle


async def acknowledge(
    session: AsyncSession,
    insurer: Insurer,
    actor: Principal,
    whistle_id: str,
    data: AcknowledgementCreate,
    now: datetime,
) -> Whistle:
    """The routed insurer answers (报到); a late answer is accepted and its breach recorded."""
    whistle = await _insurers_whistle(session, insurer, whistle_id)
    _advance(whistle, WhistleAction.acknowledge)
    whistle.acknowledged_at = now
    whistle.responder_name = data.responder_name
    whistle.responder_phone = data.responder_phone
    _record(session, whistle, "acknowledged", now, actor.key, data.note)
    _record_breaches(session, whistle, now, actor.key)
    await session.flush()
    return whistle


async def deliver(
    session: AsyncSession,
    insurer: Insurer,
    actor: Principal,
    whistle_id: str,
    data: DeliveryCreate,
    now: datetime,
) -> Whistle:
    """The routed insurer reports the help given; a late delivery is accepted and recorded."""
    whistle = await _insurers_whistle(session, insurer, whistle_id)
    _advance(whistle, WhistleAction.deliver)
    whistle.delivered_at = now
    whistle.delivery_summary = data.summary
    whistle.evidence = [item.stored() for item in data.evidence]
    _record(session, whistle, "delivered", now, actor.key, f"{len(data.evidence)} evidence item(s)")
    _record_breaches(session, whistle, now, actor.key)
    await session.flush()
    return whistle


async def close(
    session: AsyncSession,
    enterprise: Principal,
    whistle_id: str,
    data: ClosureCreate,
    now: datetime,
) -> Whistle:
    """The enterprise that raised the whistle closes it with its feedback."""
    whistle = await _get(session, whistle_id, for_update=True)
    if whistle.uscc != enterprise.subject:
        raise Forbidden("this whistle was raised by another enterprise", code="whistle_not_yours")
    if data.feedback is Feedback.unsatisfied and not data.note:
        raise RuleViolated(
            "say what was wrong when the help was unsatisfactory",
            code="feedback_note_required",
            field="note",
        )
    _advance(whistle, WhistleAction.close)
    whistle.closed_at = now
    whistle.feedback = data.feedback.value
    whistle.feedback_note = data.note
    _record(session, whistle, "closed", now, enterprise.key, data.feedback.value)
    await session.flush()
    return whistle


@dataclass(frozen=True)
class WhistleFilter:
    """Who sees what (scope) and what they asked for (filters)."""

    insurer_id: str | None = None
    uscc: str | None = None
    status: WhistleStatus | None = None
    breached: bool | None = None


def breached_at(now: datetime) -> sa.ColumnElement[bool]:
    """SQL of `WhistleRead.breached`: a breach on record, or one visible at `now`."""
    # Every term is TRUE or FALSE, never NULL, so that NOT of it (breached=false) is exact.
    return sa.or_(
        Whistle.ack_breached_at.is_not(None),
        Whistle.delivery_breached_at.is_not(None),
        sa.and_(Whistle.acknowledged_at.is_(None), Whistle.ack_due_at < now),
        sa.and_(Whistle.acknowledged_at.is_not(None), Whistle.acknowledged_at > Whistle.ack_due_at),
        sa.and_(Whistle.delivered_at.is_(None), Whistle.delivery_due_at < now),
        sa.and_(Whistle.delivered_at.is_not(None), Whistle.delivered_at > Whistle.delivery_due_at),
    )


async def list_whistles(
    session: AsyncSession,
    where: WhistleFilter,
    now: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
) -> Sequence[Whistle]:
    """Whistles newest first; `after` is the last (raised_at, id) seen."""
    query = sa.select(Whistle)
    if where.insurer_id is not None:
        query = query.where(Whistle.insurer_id == where.insurer_id)
    if where.uscc is not None:
        query = query.where(Whistle.uscc == where.uscc)
    if where.status is not None:
        query = query.where(Whistle.status == where.status.value)
    if where.breached is not None:
        condition = breached_at(now)
        query = query.where(condition if where.breached else sa.not_(condition))
    if after is not None:
        at, last_id = after
        query = query.where(
            sa.or_(Whistle.raised_at < at, sa.and_(Whistle.raised_at == at, Whistle.id < last_id))
        )
    query = query.order_by(Whistle.raised_at.desc(), Whistle.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def sweep_breaches(session: AsyncSession, now: datetime) -> int:
    """Record, once each, the SLAs missed by `now` of whistles still waiting; returns how many."""
    recorded = 0
    while True:
        query = (
            sa.select(Whistle)
            .where(
                Whistle.status.in_(_OPEN),
                sa.or_(
                    sa.and_(
                        Whistle.status == WhistleStatus.raised.value,
                        Whistle.ack_breached_at.is_(None),
                        Whistle.ack_due_at < now,
                    ),
                    sa.and_(
                        Whistle.delivery_breached_at.is_(None),
                        Whistle.delivery_due_at < now,
                    ),
                ),
            )
            .order_by(Whistle.raised_at, Whistle.id)
            .limit(_SWEEP_BATCH)
            # A whistle being answered right now is left to that request, which records the
            # breach itself; the next pass sees what it did not.
            .with_for_update(skip_locked=True)
        )
        batch = (await session.scalars(query)).all()
        found = sum(_record_breaches(session, w, now, SWEEP_ACTOR) for w in batch)
        await session.flush()
        recorded += found
        if len(batch) < _SWEEP_BATCH or found == 0:
            return recorded


async def whistle_loop(runtime: ServiceRuntime) -> None:
    """Record missed whistle SLAs (checked at start, then every `whistle_check_seconds`)."""
    settings = runtime.settings
    assert isinstance(settings, InsuranceSettings)
    while True:
        try:
            async with unit_of_work(runtime.session_factory, runtime.hooks) as session:
                count = await sweep_breaches(session, business_instant(settings))
            if count:
                log.info("recorded %d whistle SLA breaches", count)
        except Exception as exc:
            log.warning("whistle SLA sweep failed: %s", exc)
        await asyncio.sleep(settings.whistle_check_seconds)

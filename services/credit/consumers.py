"""Handlers for events credit reacts to: penalty decisions (inspection) and false pledges
(permits), flows 1 and 2 of DOMAIN.md."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kernel.consumer import Handlers
from kernel.contracts.inspection import PenaltyDecidedV1
from kernel.contracts.permits import PledgeBreachedV1
from kernel.events import EventEnvelope
from kernel.outbox import Outbox
from kernel.workdays import shanghai_today
from services.credit import lists, service
from services.credit.domain import RecordClass, WorkingDays, normalise_decision_number
from services.credit.models import TABLES
from services.credit.repository import RecordRepository

_outbox = Outbox(TABLES)


def event_actor(envelope: EventEnvelope) -> str:
    """Who made a change that an event caused: the event, traceable in the inbox."""
    return f"event:{envelope.source_name}:{envelope.id}"


def make_handlers(
    working_days: WorkingDays, today: Callable[[], date] = shanghai_today
) -> Handlers:
    """Credit's handlers; the calendar dates the 双公示 deadline of penalties.

    Records are published on the business date the event is applied (`today`).
    """
    handlers = Handlers()

    @handlers.on(PenaltyDecidedV1)
    async def on_penalty_decided(
        session: AsyncSession, event: PenaltyDecidedV1, envelope: EventEnvelope
    ) -> None:
        on = today()
        actor = event_actor(envelope)
        record = await service.record_penalty_decided(
            session, _outbox, working_days, event, today=on, actor=actor
        )
        if record is None:
            # An officer entered the paper copy first: the listing criterion the inspectors
            # found still opens (or joins) a black-list case.
            record = await RecordRepository(session).get_by_document(
                RecordClass.penalty, normalise_decision_number(event.decision_number)
            )
        if record is None or record.state != "published" or not event.blacklist_criterion:
            return
        await lists.propose_from_penalty(
            session,
            _outbox,
            record=record,
            criterion=event.blacklist_criterion,
            on=on,
            actor=actor,
        )

    @handlers.on(PledgeBreachedV1)
    async def on_pledge_breached(
        session: AsyncSession, event: PledgeBreachedV1, envelope: EventEnvelope
    ) -> None:
        await service.record_pledge_breach(
            session, _outbox, event, today=today(), actor=event_actor(envelope)
        )

    return handlers

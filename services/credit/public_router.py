"""Public queries, no token needed: an enterprise's standing now, and the public change feed."""

from __future__ import annotations

from typing import Annotated, Final

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query

from kernel.app import RuntimeDep, SessionDep
from kernel.contracts.credit import (
    CreditStandingChangedV1,
    DishonestyRecordedV1,
    IncentiveRecordedV1,
    PenaltyPublishedV1,
    PublicityEndedV1,
    PublicityRestoredV1,
    RepairDecidedV1,
    RepairRevokedV1,
)
from kernel.events import EventEnvelope
from kernel.replay import read_events
from kernel.uscc import USCC
from services.credit import ledger
from services.credit.dependencies import TodayDep
from services.credit.domain import RecordClass
from services.credit.models import BlacklistEntry, RedlistEntry
from services.credit.repository import RecordRepository
from services.credit.schemas import (
    BlacklistSummary,
    ChangeItem,
    ChangesPage,
    RedlistSummary,
    StandingRead,
)

router = APIRouter(tags=["public"])

# What the public may follow. Anything else the service emits (list cases before their
# decision, pre-notices, internal workflow) stays out, including event types added later.
PUBLIC_EVENT_TYPES: Final = frozenset(
    {
        PenaltyPublishedV1.TYPE,
        DishonestyRecordedV1.TYPE,
        IncentiveRecordedV1.TYPE,
        PublicityEndedV1.TYPE,
        PublicityRestoredV1.TYPE,
        CreditStandingChangedV1.TYPE,
        RepairDecidedV1.TYPE,
        RepairRevokedV1.TYPE,
    }
)


def is_public_change(event: EventEnvelope) -> bool:
    """Rule `public_change`: a public event type; of repair decisions only approvals, since
    an application and its rejection are the enterprise's business, not the public's."""
    if event.type not in PUBLIC_EVENT_TYPES:
        return False
    if event.type == RepairDecidedV1.TYPE:
        return bool(event.data.get("outcome") == "approved")
    return True


# Fields of public event types that are the bureau's and the enterprise's, not the public's:
# a revocation's reason names the fraud found; a repair's clock is internal workflow.
PRIVATE_EVENT_FIELDS: Final[dict[str, frozenset[str]]] = {
    RepairRevokedV1.TYPE: frozenset({"reason"}),
}


def public_data(event: EventEnvelope) -> dict[str, object]:
    """Rule `public_change`: the event's data without its private fields."""
    private = PRIVATE_EVENT_FIELDS.get(event.type, frozenset())
    return {k: v for k, v in event.data.items() if k not in private}


@router.get(
    "/standing/{uscc}",
    response_model=StandingRead,
    summary="Is this enterprise on the red or black list now (public)",
)
async def get_standing(
    uscc: Annotated[USCC, Path(description="统一社会信用代码")],
    session: SessionDep,
    today: TodayDep,
) -> StandingRead:
    # Listed today: past its last day an entry is off the list even before the daily pass
    # marks it removed, as on GET /blacklist and /redlist.
    blacklisted = await session.scalar(
        sa.select(BlacklistEntry)
        .where(
            BlacklistEntry.uscc == uscc,
            BlacklistEntry.state == "listed",
            BlacklistEntry.listed_until >= today,
        )
        .limit(1)
    )
    redlisted = await session.scalar(
        sa.select(RedlistEntry)
        .where(
            RedlistEntry.uscc == uscc,
            RedlistEntry.state == "listed",
            RedlistEntry.listed_until >= today,
        )
        .limit(1)
    )
    standing: ledger.StandingName = (
        "blacklisted" if blacklisted else "redlisted" if redlisted else "normal"
    )
    repo = RecordRepository(session)
    return StandingRead(
        uscc=uscc,
        standing=standing,
        blacklist=BlacklistSummary.of(blacklisted) if blacklisted else None,
        redlist=RedlistSummary.of(redlisted) if redlisted else None,
        penalties_in_publicity=await repo.count_in_publicity(uscc, RecordClass.penalty, today),
        dishonesty_in_publicity=await repo.count_in_publicity(uscc, RecordClass.dishonesty, today),
        as_of=today,
    )


@router.get(
    "/changes",
    response_model=ChangesPage,
    summary="Public change feed: publicity, standing and repair changes after a sequence",
    description="Pass the previous page's `next_after` as `after`. It is the last sequence "
    "scanned, so pages of filtered-out events still move the cursor; an empty page with "
    "`next_after` equal to `head` means caught up. 410 when `after` is older than the "
    "retention period.",
)
async def list_changes(
    runtime: RuntimeDep,
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Changes with sequence > after")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="Events scanned per page")] = 100,
) -> ChangesPage:
    page = await read_events(runtime.session_factory, runtime.tables, runtime.source, after, limit)
    items = [
        ChangeItem(
            sequence=event.sequence,
            type=event.type,
            time=event.time,
            uscc=event.subject,
            data=public_data(event),
        )
        for event in page.events
        if is_public_change(event)
    ]
    next_after = page.events[-1].sequence if page.events else after
    return ChangesPage(items=items, next_after=next_after, head=page.head)

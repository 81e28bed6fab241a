"""The registry copy: inspection's supervision registry, kept here to find coverage gaps.

Inspection announces an enterprise when it enters the registry (EnterpriseRegisteredV1). The
copy is an upsert keyed by USCC, so a redelivered or repeated announcement leaves one row
holding the latest classification.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.contracts.inspection import EnterpriseRegisteredV1
from kernel.db import utcnow
from kernel.events import EventEnvelope
from services.insurance.consumers import handlers
from services.insurance.models import Enterprise


async def copy_enterprise(session: AsyncSession, event: EnterpriseRegisteredV1) -> None:
    """Insert or refresh the registry copy of one enterprise (name, district, sector, tier)."""
    values = {
        "uscc": event.uscc,
        "name": event.name,
        "district": event.district,
        "sector": event.sector,
        "tier": event.tier,
        "updated_at": utcnow(),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Enterprise).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Enterprise.uscc],
            set_={k: statement.excluded[k] for k in values if k != "uscc"},
        )
    )


@handlers.on(EnterpriseRegisteredV1)
async def on_enterprise_registered(
    session: AsyncSession, event: EnterpriseRegisteredV1, _envelope: EventEnvelope
) -> None:
    await copy_enterprise(session, event)

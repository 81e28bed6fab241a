"""seed catalogue

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:54:52.375851+00:00

Data migration: publishes Qingdao's starting catalogue (services/permits/seed.py) as version 1
of each item, with its ItemVersionPublishedV1 event in the outbox, in the same transaction.
Tables are declared here as they are at this revision; the app's models are not imported.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kernel.contracts.permits import ItemVersionPublishedV1
from kernel.db import utcnow
from kernel.events import event_time
from services.permits.domain import derive_approval_mode
from services.permits.seed import SEED_ITEMS, SEEDED_BY

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stable row ids, so the seeded catalogue is the same in every database.
_ID_NAMESPACE = uuid.UUID("5b0b7c52-3f7e-4c1e-9a55-6f1d0e9c2a01")

_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

item_versions = sa.table(
    "item_versions",
    sa.column("id", sa.String),
    sa.column("code", sa.String),
    sa.column("version", sa.Integer),
    sa.column("name", sa.String),
    sa.column("legal_basis", sa.Text),
    sa.column("statutory_limit_days", sa.Integer),
    sa.column("promised_limit_days", sa.Integer),
    sa.column("requires_onsite_check", sa.Boolean),
    sa.column("requires_publicity", sa.Boolean),
    sa.column("pledge_allowed", sa.Boolean),
    sa.column("approval_mode", sa.String),
    sa.column("materials", _json),
    sa.column("service_guide", sa.Text),
    sa.column("department", sa.String),
    sa.column("contact_phone", sa.String),
    sa.column("effective_on", sa.Date),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("published_by", sa.String),
)

outbox_events = sa.table(
    "outbox_events",
    sa.column("event_id", sa.String),
    sa.column("type", sa.String),
    sa.column("subject", sa.String),
    sa.column("data", _json),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    now = utcnow()
    versions = []
    events = []
    for item in SEED_ITEMS:
        mode = derive_approval_mode(
            requires_onsite_check=item["requires_onsite_check"],
            requires_publicity=item["requires_publicity"],
            pledge_allowed=item["pledge_allowed"],
        )
        versions.append(
            {
                **item,
                "id": str(uuid.uuid5(_ID_NAMESPACE, f"{item['code']}:1")),
                "version": 1,
                "approval_mode": mode.value,
                "materials": [dict(m) for m in item["materials"]],
                "published_at": now,
                "published_by": SEEDED_BY,
            }
        )
        payload = ItemVersionPublishedV1(
            code=item["code"],
            version=1,
            name=item["name"],
            approval_mode=mode.value,
            effective_on=item["effective_on"],
        )
        events.append(
            {
                "event_id": str(uuid.uuid4()),
                "type": payload.TYPE,
                "subject": item["code"],
                "data": payload.model_dump(mode="json"),
                "occurred_at": event_time(now),
            }
        )
    op.bulk_insert(item_versions, versions)
    op.bulk_insert(outbox_events, events)


def downgrade() -> None:
    # The events stay: they record publications that happened. Development use only.
    op.execute(
        item_versions.delete().where(
            item_versions.c.published_by == SEEDED_BY,
            item_versions.c.code.in_([item["code"] for item in SEED_ITEMS]),
        )
    )

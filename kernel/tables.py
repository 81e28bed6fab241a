"""Kernel tables (outbox, inbox, cursors, dead letters, idempotency, audit) in a service's schema.

Every service owns its database, so each one carries its own copy of these tables; they are
declared here once and attached to the service's metadata by `kernel_tables(metadata)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.audit import audit_table
from kernel.db import JSONDoc, UTCDateTime


@dataclass(frozen=True)
class KernelTables:
    outbox: sa.Table
    counters: sa.Table
    leases: sa.Table
    inbox: sa.Table
    cursors: sa.Table
    dead_letters: sa.Table
    idempotency: sa.Table
    audit: sa.Table


_cache: dict[int, KernelTables] = {}


def kernel_tables(metadata: sa.MetaData) -> KernelTables:
    """Declare (once per metadata) the kernel tables on a service's metadata."""
    key = id(metadata)
    if key in _cache:
        return _cache[key]
    outbox = sa.Table(
        "outbox_events",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("data", JSONDoc, nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        # Assigned by the relay, in publish order, so a source's sequence has no holes.
        sa.Column("sequence", sa.BigInteger(), nullable=True, unique=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        # The W3C traceparent of the span that emitted the event (kernel.tracing), so the
        # relay's publish joins the request's trace; NULL for events emitted outside one.
        sa.Column("traceparent", sa.String(55), nullable=True),
    )
    sa.Index("ix_outbox_events_unpublished", outbox.c.published_at, outbox.c.id)
    counters = sa.Table(
        "kernel_counters",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    leases = sa.Table(
        "kernel_leases",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    inbox = sa.Table(
        "inbox_events",
        metadata,
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
    )
    cursors = sa.Table(
        "source_cursors",
        metadata,
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    dead_letters = sa.Table(
        "dead_letters",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.String(120), nullable=True),
        sa.Column("topic", sa.String(120), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    idempotency = sa.Table(
        "idempotency_keys",
        metadata,
        sa.Column("principal", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    tables = KernelTables(
        outbox, counters, leases, inbox, cursors, dead_letters, idempotency, audit_table(metadata)
    )
    _cache[key] = tables
    return tables


async def next_counter_value(session: AsyncSession, counters: sa.Table, name: str) -> int:
    """Increment and return a named counter atomically (an upsert: no race on the first use).

    The row lock the upsert takes serialises concurrent callers until their commit.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(counters)
        .values(name=name, value=1)
        .on_conflict_do_update(
            index_elements=[counters.c.name], set_={"value": counters.c.value + 1}
        )
        .returning(counters.c.value)
    )
    return int((await session.execute(statement)).scalar_one())

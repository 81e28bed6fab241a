"""Credit tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UTCDateTime
from kernel.tables import kernel_tables


class Base(DeclarativeBase):
    pass


TABLES = kernel_tables(Base.metadata)


class Penalty(Base):
    """An administrative penalty decision published for credit purposes (行政处罚信息公示)."""

    __tablename__ = "penalties"
    __table_args__ = (
        sa.UniqueConstraint("decision_number", name="uq_penalties_decision_number"),
        sa.Index("ix_penalties_uscc", "uscc"),
        # The publicity list's order (newest decision first) and its keyset cursor.
        sa.Index("ix_penalties_decided_on_id", "decided_on", "id"),
        sa.Index("ix_penalties_publicity", "publicity_ends_on", "publicity_starts_on"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    decision_number: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    decided_on: Mapped[date] = mapped_column(sa.Date)
    legal_basis: Mapped[str] = mapped_column(sa.String(1000))
    violation_summary: Mapped[str] = mapped_column(sa.String(2000))
    fine_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2), nullable=True)
    other_measures: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    severity: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(16))
    publicity_starts_on: Mapped[date] = mapped_column(sa.Date)
    publicity_ends_on: Mapped[date] = mapped_column(sa.Date)
    repair_eligible_on: Mapped[date] = mapped_column(sa.Date)
    # Latest lawful start (双公示); null when the official calendar did not cover it yet.
    publish_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    rule_pack_id: Mapped[str] = mapped_column(sa.String(64))
    rule_pack_version: Mapped[str] = mapped_column(sa.String(16))
    # Kept as served: the notice is a document handed to the enterprise with the decision.
    repair_notice: Mapped[str] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(sa.String(128))

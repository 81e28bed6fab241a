"""Insurance tables."""

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


class Policy(Base):
    """A work-safety liability policy held by an enterprise with an insurer."""

    __tablename__ = "policies"
    __table_args__ = (
        sa.UniqueConstraint("insurer_id", "policy_number", name="uq_policies_insurer_number"),
        sa.Index("ix_policies_uscc", "uscc"),
        sa.Index("ix_policies_status_starts_on", "status", "starts_on"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    policy_number: Mapped[str] = mapped_column(sa.String(64))
    insurer_id: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    sector: Mapped[str] = mapped_column(sa.String(32))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    coverage_amount: Mapped[Decimal] = mapped_column(sa.Numeric(16, 2))
    premium: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2))
    status: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(128))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

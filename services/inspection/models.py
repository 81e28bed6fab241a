"""Inspection tables."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import UTCDateTime
from kernel.tables import kernel_tables


class Base(DeclarativeBase):
    pass


TABLES = kernel_tables(Base.metadata)


class Enterprise(Base):
    """An enterprise in the supervision registry, kept current from events."""

    __tablename__ = "enterprises"
    __table_args__ = (sa.Index("ix_enterprises_district_sector", "district", "sector"),)

    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    district: Mapped[str] = mapped_column(sa.String(64))
    sector: Mapped[str] = mapped_column(sa.String(32))
    tier: Mapped[str] = mapped_column(sa.String(16))
    standardisation_level: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    is_pre_ipo: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    is_specialised: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # 专精特新
    insurer_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    insured_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    registered_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

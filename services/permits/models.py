"""Permits tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import JSONDoc, UTCDateTime
from kernel.tables import kernel_tables


class Base(DeclarativeBase):
    pass


TABLES = kernel_tables(Base.metadata)


class ItemVersion(Base):
    """One published version of a permit item (事项) and its implementation elements.

    Rows are written once and never updated: a change to an item is a new version.
    """

    __tablename__ = "item_versions"
    __table_args__ = (
        # Also what turns two admins racing to publish the same version into one 409.
        sa.UniqueConstraint("code", "version", name="uq_item_versions_code_version"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(200))
    legal_basis: Mapped[str] = mapped_column(sa.Text)
    statutory_limit_days: Mapped[int] = mapped_column(sa.Integer)
    promised_limit_days: Mapped[int] = mapped_column(sa.Integer)
    requires_onsite_check: Mapped[bool] = mapped_column(sa.Boolean)
    requires_publicity: Mapped[bool] = mapped_column(sa.Boolean)
    pledge_allowed: Mapped[bool] = mapped_column(sa.Boolean)
    # Derived by domain.derive_approval_mode at publication; stored so listings can filter.
    approval_mode: Mapped[str] = mapped_column(sa.String(16))
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    service_guide: Mapped[str] = mapped_column(sa.Text)
    department: Mapped[str] = mapped_column(sa.String(100))
    contact_phone: Mapped[str] = mapped_column(sa.String(20))
    effective_on: Mapped[date] = mapped_column(sa.Date)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str] = mapped_column(sa.String(128))

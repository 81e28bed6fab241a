"""Registry tables kept from events beside the Enterprise row."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import UTCDateTime
from services.inspection.models import Base


class RegistryLicence(Base):
    """The last known status of one licence permits issued; licences_active is counted from
    these rows so a suspended → active → revoked sequence cannot make the count drift."""

    __tablename__ = "registry_licences"
    __table_args__ = (sa.Index("ix_registry_licences_uscc", "uscc"),)

    licence_number: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    # Null when a status change arrived for a licence whose issue event this service never saw.
    item_code: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    item_name: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    valid_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

"""Inspection tables: inspectors, the monthly double-random draws, guidance requests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import JSONDoc, UTCDateTime
from services.inspection.models import Base


class Inspector(Base):
    """An enforcement officer (执法人员) who can be drawn into inspection teams."""

    __tablename__ = "inspectors"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # The officer's token subject: ties the person who signs in to the registry entry.
    subject: Mapped[str] = mapped_column(sa.String(128), unique=True)
    district: Mapped[str] = mapped_column(sa.String(64))
    sectors: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    # USCCs the officer must not inspect (relatives, a former employer): never published.
    conflicts: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    monthly_cap: Mapped[int] = mapped_column(sa.Integer)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class Draw(Base):
    """One month's double-random draw: committed (inputs published), then revealed."""

    __tablename__ = "draws"
    __table_args__ = (sa.UniqueConstraint("year", "month", name="uq_draws_year_month"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer)
    month: Mapped[int] = mapped_column(sa.SmallInteger)
    state: Mapped[str] = mapped_column(sa.String(16))  # committed | revealed
    plan_id: Mapped[str] = mapped_column(sa.String(36))
    # The published inputs document (draw.DrawInputs.document()) and its sha256.
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    inputs_digest: Mapped[str] = mapped_column(sa.String(64))
    commitment: Mapped[str] = mapped_column(sa.String(64))
    # Sealed: the secret is served only once revealed; the conflicts and their salt never.
    secret: Mapped[str] = mapped_column(sa.String(64))
    conflicts_salt: Mapped[str] = mapped_column(sa.String(64))
    conflicts: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    committed_on: Mapped[date] = mapped_column(sa.Date)
    committed_by: Mapped[str] = mapped_column(sa.String(128))
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    public_value: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    seed: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    # draw.DrawResult.document(): the selection in rank order and every team.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    revealed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    revealed_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class GuidanceRequest(Base):
    """A listed enterprise's request for guidance before its inspection (事前指导帮扶)."""

    __tablename__ = "guidance_requests"
    __table_args__ = (sa.Index("ix_guidance_requests_draw_uscc", "draw_id", "uscc"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    draw_id: Mapped[str] = mapped_column(sa.String(36))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    question: Mapped[str] = mapped_column(sa.String(2000))
    contact: Mapped[str] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(16))  # open | assigned | answered
    inspector_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    assigned_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answer: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    answered_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

"""Inspection tables: public guidance lists and outreach (measure 8's lists, "1+21+N")."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import JSONDoc, UTCDateTime
from services.inspection.models import Base


class ViolationItem(Base):
    """One item of the common-violations catalogue (常见违法行为清单), public."""

    __tablename__ = "violation_items"

    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # e.g. CV-001
    category: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(300))
    # 制度管理类: the lenient first-offence rule applies to these (measure 9).
    is_management: Mapped[bool] = mapped_column(sa.Boolean)
    legal_basis: Mapped[str] = mapped_column(sa.String(1000))  # the duty broken
    penalty_basis: Mapped[str] = mapped_column(sa.String(1000))  # the penalty provision
    sectors: Mapped[list[str]] = mapped_column(JSONDoc, default=list)  # empty: every sector
    sort_order: Mapped[int] = mapped_column(sa.Integer)


class HazardousWorkGuide(Base):
    """One special operation of GB 30871-2022 in the hazardous-work guidance list."""

    __tablename__ = "hazardous_work_guides"

    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # e.g. hot_work
    name: Mapped[str] = mapped_column(sa.String(64))
    definition: Mapped[str] = mapped_column(sa.String(1000))
    # The work permit (作业证) and how it is graded, e.g. 特级/一级/二级动火.
    permit: Mapped[str] = mapped_column(sa.String(1000))
    key_controls: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    legal_basis: Mapped[str] = mapped_column(sa.String(1000))
    sort_order: Mapped[int] = mapped_column(sa.Integer)


class WorkerGuide(Base):
    """One duty in the dispatched and flexible-worker guidance list (劳务派遣和灵活用工人员)."""

    __tablename__ = "worker_guides"

    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # e.g. FW-01
    title: Mapped[str] = mapped_column(sa.String(200))
    # dispatched | flexible | intern: who the duty covers.
    worker_kinds: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    duty: Mapped[str] = mapped_column(sa.String(1000))
    measures: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    legal_basis: Mapped[str] = mapped_column(sa.String(1000))
    sort_order: Mapped[int] = mapped_column(sa.Integer)


class KeyEnforcementItem(Base):
    """A key enforcement item (重点执法事项) published for a year, for a sector or all."""

    __tablename__ = "key_enforcement_items"
    __table_args__ = (sa.Index("ix_key_enforcement_items_year", "year", "sort_order"),)

    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)  # e.g. KE-2026-01
    year: Mapped[int] = mapped_column(sa.Integer)
    sector: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)  # null: every sector
    title: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.String(2000))
    legal_basis: Mapped[str] = mapped_column(sa.String(1000))
    violation_codes: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    sort_order: Mapped[int] = mapped_column(sa.Integer)


class OutreachGroup(Base):
    """An outreach and training group (宣讲团) organised by the "1" or one of the "21"."""

    __tablename__ = "outreach_groups"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    organiser_kind: Mapped[str] = mapped_column(sa.String(32))
    organiser: Mapped[str] = mapped_column(sa.String(200))
    sectors: Mapped[list[str]] = mapped_column(JSONDoc, default=list)  # empty: every sector
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutreachMember(Base):
    """A person in a group; their contact is bureau-only personal data."""

    __tablename__ = "outreach_members"
    __table_args__ = (sa.Index("ix_outreach_members_group", "group_id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    group_id: Mapped[str] = mapped_column(sa.ForeignKey("outreach_groups.id"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(100))
    organisation: Mapped[str] = mapped_column(sa.String(200))
    uscc: Mapped[str | None] = mapped_column(sa.String(18), nullable=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    is_lead: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class OutreachTheme(Base):
    """The theme of a month (每月确定一个主题)."""

    __tablename__ = "outreach_themes"
    __table_args__ = (sa.UniqueConstraint("year", "month", name="uq_outreach_themes_month"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer)
    month: Mapped[int] = mapped_column(sa.SmallInteger)
    theme: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.String(4000))
    set_by: Mapped[str] = mapped_column(sa.String(128))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutreachSession(Base):
    """One outreach session (宣讲活动 场次), online or offline, with its attendance summary."""

    __tablename__ = "outreach_sessions"
    __table_args__ = (sa.Index("ix_outreach_sessions_held_on", "held_on", "id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    group_id: Mapped[str] = mapped_column(sa.ForeignKey("outreach_groups.id"))
    theme_id: Mapped[str] = mapped_column(sa.ForeignKey("outreach_themes.id"))
    held_on: Mapped[date] = mapped_column(sa.Date)
    topic: Mapped[str] = mapped_column(sa.String(200))
    sector: Mapped[str] = mapped_column(sa.String(32))
    mode: Mapped[str] = mapped_column(sa.String(16))
    location: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    link: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    key_project: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    project_stage: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    # Set when attendance is recorded; null until then.
    total_attendees: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    questions_answered: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    attendance_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class OutreachAttendance(Base):
    """An enterprise's attendance at a session; the contact person is bureau-only."""

    __tablename__ = "outreach_attendances"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "uscc", name="uq_outreach_attendances_session_uscc"),
        sa.Index("ix_outreach_attendances_uscc", "uscc"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    session_id: Mapped[str] = mapped_column(sa.ForeignKey("outreach_sessions.id"))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    attendees: Mapped[int] = mapped_column(sa.Integer)
    contact_name: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)

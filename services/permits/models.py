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


class Application(Base):
    """An enterprise's application for a permit item, and where it stands."""

    __tablename__ = "applications"
    __table_args__ = (
        sa.Index("ix_applications_uscc", "uscc"),
        # The officers' queue: open applications by priority, then oldest first.
        sa.Index("ix_applications_queue", "status", "priority", "submitted_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    item_code: Mapped[str] = mapped_column(sa.String(32))
    item_version: Mapped[int] = mapped_column(sa.Integer)
    item_name: Mapped[str] = mapped_column(sa.String(200))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    applicant: Mapped[str] = mapped_column(sa.String(128))
    form: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    path: Mapped[str] = mapped_column(sa.String(16))
    path_reason: Mapped[str] = mapped_column(sa.String(200))
    standing: Mapped[str] = mapped_column(sa.String(16))
    priority: Mapped[int] = mapped_column(sa.SmallInteger)
    status: Mapped[str] = mapped_column(sa.String(24))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_on: Mapped[date] = mapped_column(sa.Date)
    limit_days: Mapped[int] = mapped_column(sa.Integer)
    # Null while the official schedule of the year it falls in is not loaded (said, not guessed).
    due_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    pledge_text: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    pledge_sha256: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    pledge_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    rejection_legal_basis: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    version: Mapped[int] = mapped_column(sa.Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ApplicationStep(Base):
    """One dated step in an application's history: who did what, why, on which legal basis.

    Append-only: public-facing decisions (rejections above all) are auditable after the fact.
    """

    __tablename__ = "application_steps"
    __table_args__ = (sa.Index("ix_application_steps_application", "application_id", "at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    application_id: Mapped[str] = mapped_column(sa.ForeignKey("applications.id"))
    action: Mapped[str] = mapped_column(sa.String(32))
    actor: Mapped[str] = mapped_column(sa.String(128))
    from_status: Mapped[str | None] = mapped_column(sa.String(24), nullable=True)
    to_status: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    legal_basis: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class EnterpriseStanding(Base):
    """The credit lists' word on an enterprise, as last heard from the credit service."""

    __tablename__ = "enterprise_standings"

    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)
    standing: Mapped[str] = mapped_column(sa.String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Licence(Base):
    """An electronic licence (电子证照): the signed credential and its current standing."""

    __tablename__ = "licences"
    __table_args__ = (
        sa.Index("ix_licences_uscc", "uscc"),
        # The shared listing pages newest first by (issued_at, id).
        sa.Index("ix_licences_issued", "issued_at", "id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    application_id: Mapped[str] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    holder_name: Mapped[str] = mapped_column(sa.String(200))
    item_code: Mapped[str] = mapped_column(sa.String(32))
    item_name: Mapped[str] = mapped_column(sa.String(200))
    approval_path: Mapped[str] = mapped_column(sa.String(16))
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_until: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16))
    # The same position in the revocation and the suspension list.
    status_index: Mapped[int] = mapped_column(sa.Integer, unique=True)
    kid: Mapped[str] = mapped_column(sa.String(200))
    token: Mapped[str] = mapped_column(sa.Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    pledge_status: Mapped[str | None] = mapped_column(sa.String(24), nullable=True)
    pledge_verify_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)


class Project(Base):
    """A key project (重点项目) the bureau serves from inside (嵌入式服务), stage by stage."""

    __tablename__ = "projects"
    __table_args__ = (
        # One enterprise does not register the same project twice (two officers, one project).
        sa.UniqueConstraint("uscc", "name", name="uq_projects_uscc_name"),
        sa.Index("ix_projects_registered", "registered_at", "id"),
        sa.Index("ix_projects_district_stage", "district", "current_stage"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    district: Mapped[str] = mapped_column(sa.String(16))
    sector: Mapped[str] = mapped_column(sa.String(32))
    investment_yuan: Mapped[int] = mapped_column(sa.BigInteger)
    description: Mapped[str] = mapped_column(sa.Text)
    # The last stage reached; null until the first one is.
    current_stage: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_by: Mapped[str] = mapped_column(sa.String(128))
    version: Mapped[int] = mapped_column(sa.Integer)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ProjectMilestone(Base):
    """One stage of a key project: when it is planned and when it was reached, by whom."""

    __tablename__ = "project_milestones"

    project_id: Mapped[str] = mapped_column(sa.ForeignKey("projects.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    position: Mapped[int] = mapped_column(sa.SmallInteger)
    planned_on: Mapped[date] = mapped_column(sa.Date)
    reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reached_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class ProjectOfficer(Base):
    """An officer's assignment to a key project; kept after release, for the record."""

    __tablename__ = "project_officers"
    __table_args__ = (
        sa.Index("ix_project_officers_project", "project_id", "assigned_at"),
        sa.Index("ix_project_officers_officer", "officer_id"),
        # An officer holds at most one open assignment per project, even under racing leaders.
        sa.Index(
            "uq_project_officers_open",
            "project_id",
            "officer_id",
            unique=True,
            sqlite_where=sa.text("released_at IS NULL"),
            postgresql_where=sa.text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(sa.ForeignKey("projects.id"))
    officer_id: Mapped[str] = mapped_column(sa.String(128))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by: Mapped[str] = mapped_column(sa.String(128))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    released_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)


class GuidanceRecord(Base):
    """Guidance an assigned officer gave a key project before one of its stages.

    Append-only: the record shows what was advised when, and is never rewritten.
    """

    __tablename__ = "guidance_records"
    __table_args__ = (sa.Index("ix_guidance_records_project", "project_id", "given_at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(sa.ForeignKey("projects.id"))
    stage: Mapped[str] = mapped_column(sa.String(40))
    officer_id: Mapped[str] = mapped_column(sa.String(128))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mode: Mapped[str] = mapped_column(sa.String(16))
    advice: Mapped[str] = mapped_column(sa.Text)
    # [{"question": ..., "answer": ...}]: the enterprise's questions and the answers given.
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    follow_up_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)

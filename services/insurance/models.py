"""Insurance tables: insurers, policies, the 6+3 obligation schedule and what insurers push,
the enterprise whistle loop, 惠企助安 campaigns, and the registry copy used for coverage gaps."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.db import JSONDoc, UTCDateTime
from kernel.tables import kernel_tables


class Base(DeclarativeBase):
    pass


TABLES = kernel_tables(Base.metadata)


class Insurer(Base):
    """An insurance company registered with the bureau; `id` is its machine client's subject."""

    __tablename__ = "insurers"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    contact_name: Mapped[str] = mapped_column(sa.String(64))
    contact_phone: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))  # active | suspended
    status_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_by: Mapped[str] = mapped_column(sa.String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Policy(Base):
    """A work-safety liability policy held by an enterprise with an insurer."""

    __tablename__ = "policies"
    __table_args__ = (
        sa.UniqueConstraint("insurer_id", "policy_number", name="uq_policies_insurer_number"),
        sa.Index("ix_policies_uscc", "uscc"),
        sa.Index("ix_policies_status_starts_on", "status", "starts_on"),
        sa.Index("ix_policies_status_ends_on", "status", "ends_on"),
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
    # pending | active | expired | cancelled
    status: Mapped[str] = mapped_column(sa.String(16))
    # The contracted custom services (one_plan, remote_guidance, onsite_staff), sorted.
    custom_services: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    # The latest risk level an assessment gave; drives the graded service.
    risk_level: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)
    cancelled_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(128))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Obligation(Base):
    """One service an insurer owes under a policy (6+3), with its due date and outcome."""

    __tablename__ = "obligations"
    __table_args__ = (
        sa.UniqueConstraint("policy_id", "kind", "seq", name="uq_obligations_policy_kind_seq"),
        sa.UniqueConstraint("policy_id", "hazard_id", name="uq_obligations_policy_hazard"),
        sa.Index("ix_obligations_insurer_due", "insurer_id", "due_on"),
        sa.Index("ix_obligations_status_due", "status", "due_on"),
        sa.Index("ix_obligations_uscc", "uscc"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    policy_id: Mapped[str] = mapped_column(sa.ForeignKey("policies.id"))
    insurer_id: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    kind: Mapped[str] = mapped_column(sa.String(24))
    # 1-based number of this kind within the policy (the 3rd quarterly key check is seq 3).
    seq: Mapped[int] = mapped_column(sa.Integer)
    window_start: Mapped[date] = mapped_column(sa.Date)
    due_on: Mapped[date] = mapped_column(sa.Date)
    # open | delivered | verified | withdrawn
    status: Mapped[str] = mapped_column(sa.String(16))
    hazard_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    # The risk level a graded-service obligation was scheduled for.
    risk_level: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)
    delivered_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The service record, risk assessment or assistance report that delivered it.
    record_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    verified_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    rejections: Mapped[int] = mapped_column(sa.Integer, default=0)
    withdrawn_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ObligationEvent(Base):
    """Append-only history of an obligation: scheduled, delivered, verified, rejected, withdrawn."""

    __tablename__ = "obligation_events"
    __table_args__ = (sa.Index("ix_obligation_events_obligation", "obligation_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    obligation_id: Mapped[str] = mapped_column(sa.ForeignKey("obligations.id"))
    action: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(128))
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class _Receipted:
    """Columns every insurer push keeps: what was sent (hash) and the receipt given back."""

    request_sha256: Mapped[str] = mapped_column(sa.String(64))
    receipt_sha256: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_from: Mapped[str] = mapped_column(sa.String(128))


class ServiceRecord(_Receipted, Base):
    """An insurer's record of a delivered service (check, training, plan, guidance, on-site)."""

    __tablename__ = "service_records"
    __table_args__ = (
        sa.Index("ix_service_records_policy", "policy_id"),
        sa.Index("ix_service_records_uscc", "uscc"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    obligation_id: Mapped[str] = mapped_column(sa.ForeignKey("obligations.id"))
    policy_id: Mapped[str] = mapped_column(sa.String(36))
    insurer_id: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    kind: Mapped[str] = mapped_column(sa.String(24))
    delivered_on: Mapped[date] = mapped_column(sa.Date)
    performed_by: Mapped[list[str]] = mapped_column(JSONDoc)
    summary: Mapped[str] = mapped_column(sa.Text)
    participants: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    hazards_found: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    # [{"name", "sha256", "media_type", "url"?}] — evidence is referenced by hash, not stored.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)


class RiskAssessment(_Receipted, Base):
    """An insurer's risk assessment (风险评估) of an insured enterprise."""

    __tablename__ = "risk_assessments"
    __table_args__ = (sa.Index("ix_risk_assessments_uscc", "uscc", "assessed_on"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    policy_id: Mapped[str] = mapped_column(sa.ForeignKey("policies.id"))
    # The scheduled assessment it delivered; a reassessment later in the term has none.
    obligation_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    insurer_id: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    risk_level: Mapped[str] = mapped_column(sa.String(8))
    assessed_on: Mapped[date] = mapped_column(sa.Date)
    assessors: Mapped[list[str]] = mapped_column(JSONDoc)
    findings: Mapped[str] = mapped_column(sa.Text)
    hazards_found: Mapped[int] = mapped_column(sa.Integer)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)


class HazardAssistanceReport(_Receipted, Base):
    """An insurer's report of helping rectify a hazard the government found (协助整改)."""

    __tablename__ = "hazard_assistance_reports"
    __table_args__ = (
        sa.Index("ix_hazard_assistance_hazard", "hazard_id"),
        sa.Index("ix_hazard_assistance_uscc", "uscc"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    obligation_id: Mapped[str] = mapped_column(sa.ForeignKey("obligations.id"))
    policy_id: Mapped[str] = mapped_column(sa.String(36))
    hazard_id: Mapped[str] = mapped_column(sa.String(36))
    insurer_id: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    assisted_on: Mapped[date] = mapped_column(sa.Date)
    performed_by: Mapped[list[str]] = mapped_column(JSONDoc)
    measures: Mapped[str] = mapped_column(sa.Text)
    # rectified | in_progress — what the insurer saw when it left
    outcome: Mapped[str] = mapped_column(sa.String(16))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)


class Hazard(Base):
    """A hazard the government found (from inspection's events), kept to assign assistance."""

    __tablename__ = "hazards"
    __table_args__ = (sa.Index("ix_hazards_uscc", "uscc"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)  # inspection's hazard_id
    inspection_id: Mapped[str] = mapped_column(sa.String(36))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    grade: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.Text)
    found_on: Mapped[date] = mapped_column(sa.Date)
    rectify_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    rectified_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Enterprise(Base):
    """The supervision registry's enterprises (from inspection's events): who must be insured."""

    __tablename__ = "enterprises"
    __table_args__ = (sa.Index("ix_enterprises_sector", "sector"),)

    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    district: Mapped[str] = mapped_column(sa.String(64))
    sector: Mapped[str] = mapped_column(sa.String(32))
    tier: Mapped[str] = mapped_column(sa.String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Whistle(Base):
    """An enterprise's call for help (企业吹哨) that its insurer must answer (保险报到)."""

    __tablename__ = "whistles"
    __table_args__ = (
        sa.Index("ix_whistles_insurer_status", "insurer_id", "status"),
        sa.Index("ix_whistles_uscc", "uscc"),
        sa.Index("ix_whistles_status_ack_due", "status", "ack_due_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    policy_id: Mapped[str] = mapped_column(sa.ForeignKey("policies.id"))
    insurer_id: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.Text)
    location: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    contact_name: Mapped[str] = mapped_column(sa.String(64))
    contact_phone: Mapped[str] = mapped_column(sa.String(32))
    # raised | acknowledged | delivered | closed
    status: Mapped[str] = mapped_column(sa.String(16))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivery_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    responder_name: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    responder_phone: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivery_summary: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # satisfied | unsatisfied, the enterprise's word when it closes the request
    feedback: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    feedback_note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # Breaches are recorded once, when first seen, and never cleared by a late answer.
    ack_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivery_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WhistleEvent(Base):
    """Append-only history of a whistle: each state, each breach, who and when."""

    __tablename__ = "whistle_events"
    __table_args__ = (sa.Index("ix_whistle_events_whistle", "whistle_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    whistle_id: Mapped[str] = mapped_column(sa.ForeignKey("whistles.id"))
    action: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(128))
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class Campaign(Base):
    """A 惠企助安 campaign: experts helping small enterprises for free."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    organiser: Mapped[str] = mapped_column(sa.String(200))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date] = mapped_column(sa.Date)
    target_sectors: Mapped[list[str]] = mapped_column(JSONDoc)
    description: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(128))


class CampaignVisit(Base):
    """One expert visit to a small enterprise in a campaign, with its findings."""

    __tablename__ = "campaign_visits"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "uscc", "visited_on", name="uq_campaign_visits_day"),
        sa.Index("ix_campaign_visits_uscc", "uscc"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(sa.ForeignKey("campaigns.id"))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    sector: Mapped[str] = mapped_column(sa.String(32))
    employees: Mapped[int] = mapped_column(sa.Integer)
    annual_revenue: Mapped[Decimal] = mapped_column(sa.Numeric(16, 2))
    size_class: Mapped[str] = mapped_column(sa.String(8))  # micro | small | medium
    visited_on: Mapped[date] = mapped_column(sa.Date)
    # [{"name", "speciality", "organisation"}]
    experts: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    insurer_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    # [{"category", "description", "grade", "recommendation"}]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    recorded_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

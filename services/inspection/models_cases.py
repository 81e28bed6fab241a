"""Inspection tables: cases (four steps), findings, hazards, decisions, pledge visits."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from kernel.db import JSONDoc, UTCDateTime
from services.inspection.models import Base

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Inspection(Base):
    """One inspection case, run in four steps (启动、检查、合议、反馈)."""

    __tablename__ = "inspections"
    __table_args__ = (
        sa.Index("ix_inspections_uscc_started", "uscc", "started_on"),
        sa.Index("ix_inspections_state", "state", "started_on"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    # draw | planned | complaint | assignment | pledge | follow_up, and what it refers to.
    source: Mapped[str] = mapped_column(sa.String(16))
    reference: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    state: Mapped[str] = mapped_column(sa.String(16))
    team: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    notice_served_on: Mapped[date] = mapped_column(sa.Date)
    notice_text: Mapped[str] = mapped_column(sa.String(4000))
    education_topics: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    education_audience: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    started_on: Mapped[date] = mapped_column(sa.Date)
    started_by: Mapped[str] = mapped_column(sa.String(128))
    # The inspect step stated clean (nothing found) at deliberation.
    no_findings: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    deliberated_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    delivered_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    lesson: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    questions_answered: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    closed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    rule_pack_id: Mapped[str] = mapped_column(sa.String(64))
    rule_pack_version: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class Finding(Base):
    """A violation found in the inspect step, against the common-violations catalogue."""

    __tablename__ = "inspection_findings"
    __table_args__ = (
        sa.UniqueConstraint("inspection_id", "n", name="uq_inspection_findings_n"),
        # First-found checks look up earlier findings of a code at an enterprise.
        sa.Index("ix_inspection_findings_uscc_code", "uscc", "violation_code"),
    )

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    inspection_id: Mapped[str] = mapped_column(sa.String(36))
    n: Mapped[int] = mapped_column(sa.Integer)  # 1, 2, ... within the case
    uscc: Mapped[str] = mapped_column(sa.String(18))
    violation_code: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.String(2000))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    is_minor: Mapped[bool] = mapped_column(sa.Boolean)
    corrected_on_spot: Mapped[bool] = mapped_column(sa.Boolean)
    harm: Mapped[str] = mapped_column(sa.String(16))  # none | slight | harmful
    hazard_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    recorded_by: Mapped[str] = mapped_column(sa.String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Hazard(Base):
    """A hazard (事故隐患) found in an inspection and its rectification."""

    __tablename__ = "hazards"
    __table_args__ = (
        sa.Index("ix_hazards_uscc_state", "uscc", "state"),
        sa.Index("ix_hazards_state_rectify_by", "state", "rectify_by"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    inspection_id: Mapped[str] = mapped_column(sa.String(36))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    grade: Mapped[str] = mapped_column(sa.String(16))  # general | major
    description: Mapped[str] = mapped_column(sa.String(2000))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    is_self_found: Mapped[bool] = mapped_column(sa.Boolean)
    under_rectification: Mapped[bool] = mapped_column(sa.Boolean)
    found_on: Mapped[date] = mapped_column(sa.Date)
    # Government-found: found_on + N working days; self-found: the enterprise's own period.
    rectify_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    deadline_unknown: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    state: Mapped[str] = mapped_column(sa.String(16))  # open | reported | rectified
    report_description: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    report_evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    reported_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    verified_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    verified_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    # Each verification, passed or failed, in order: [{on, by, passed, note}].
    verifications: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    recorded_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class Deliberation(Base):
    """A deliberation (合议) of a case; a leader returning a major decision starts a new round."""

    __tablename__ = "deliberations"
    __table_args__ = (sa.UniqueConstraint("inspection_id", "round", name="uq_deliberations_round"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    inspection_id: Mapped[str] = mapped_column(sa.String(36))
    round: Mapped[int] = mapped_column(sa.Integer)
    minutes: Mapped[str] = mapped_column(sa.String(8000))
    participants: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    held_on: Mapped[date] = mapped_column(sa.Date)
    state: Mapped[str] = mapped_column(sa.String(16))  # current | returned
    recorded_by: Mapped[str] = mapped_column(sa.String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseDecision(Base):
    """The decision for one finding of a deliberation, with the lenient rule that settled it."""

    __tablename__ = "case_decisions"
    __table_args__ = (
        sa.UniqueConstraint("deliberation_id", "finding_n", name="uq_case_decisions_finding"),
        sa.UniqueConstraint("decision_number", name="uq_case_decisions_number"),
        sa.Index("ix_case_decisions_follow_up", "follow_up_due_on"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    inspection_id: Mapped[str] = mapped_column(sa.String(36))
    deliberation_id: Mapped[str] = mapped_column(sa.String(36))
    finding_n: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(24))  # no_penalty | rectification_order | penalty
    rule: Mapped[str] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(40))  # what the rules allowed
    reason: Mapped[str] = mapped_column(sa.String(1000))
    fine_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2), nullable=True)
    measures: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    legal_basis: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    violation_summary: Mapped[str] = mapped_column(sa.String(2000))
    blacklist_criterion: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    note: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    is_major: Mapped[bool] = mapped_column(sa.Boolean)
    # proposed -> awaiting_approval (major) -> approved -> decided; returned by the leader;
    # not_penalised for decisions that are no penalty.
    state: Mapped[str] = mapped_column(sa.String(20))
    approved_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    approved_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    approval_note: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    decision_number: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    decided_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    severity: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    follow_up_due_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    follow_up_deadline_unknown: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    follow_up_inspection_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)


class PledgeVisit(Base):
    """A verification visit to a licence granted on a pledge (承诺制), requested by permits."""

    __tablename__ = "pledge_visits"
    __table_args__ = (
        sa.UniqueConstraint("licence_number", name="uq_pledge_visits_licence"),
        sa.Index("ix_pledge_visits_state_verify_by", "state", "verify_by"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    licence_number: Mapped[str] = mapped_column(sa.String(32))
    application_id: Mapped[str] = mapped_column(sa.String(36))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    item_code: Mapped[str] = mapped_column(sa.String(32))
    item_name: Mapped[str] = mapped_column(sa.String(200))
    verify_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    state: Mapped[str] = mapped_column(sa.String(16))  # due | passed | breached
    findings: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    inspectors: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    verified_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    recorded_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)

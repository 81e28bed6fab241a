"""Credit tables.

Every state change of a record, a list entry or a repair application is also a dated row in
`credit_history`; rows there are only ever added (the history is append-only, nothing is
deleted). The current state kept on the subject rows is what queries filter on.

`active_key` columns hold a value only while a case is open and are unique: at most one open
black-list case, one open red-list entry per enterprise and one pending repair per target, held
by the database even when two requests race.
"""

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

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class CreditRecord(Base):
    """A credit record of an enterprise, with its computed publicity window: an administrative
    penalty (行政处罚), a dishonesty record (失信记录, e.g. a false pledge) or an incentive."""

    __tablename__ = "credit_records"
    __table_args__ = (
        sa.UniqueConstraint("record_class", "document_number", name="uq_credit_records_document"),
        sa.Index("ix_credit_records_uscc", "uscc"),
        # The publicity lists' order (newest decision first) and their keyset cursor.
        sa.Index("ix_credit_records_class_decided_on_id", "record_class", "decided_on", "id"),
        sa.Index("ix_credit_records_publicity", "state", "publicity_ends_on"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    record_class: Mapped[str] = mapped_column(sa.String(16))  # penalty | dishonesty | incentive
    # The source document: a penalty decision number, the licence a false pledge was made for,
    # the commendation's document number.
    document_number: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    decided_on: Mapped[date] = mapped_column(sa.Date)
    legal_basis: Mapped[str] = mapped_column(sa.String(1000))
    summary: Mapped[str] = mapped_column(sa.String(4000))
    fine_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2), nullable=True)
    other_measures: Mapped[str | None] = mapped_column(sa.String(1000), nullable=True)
    severity: Mapped[str] = mapped_column(sa.String(16))  # general | serious | commendation
    source: Mapped[str] = mapped_column(sa.String(16))  # inspection | permits | manual
    # Where it came from in the source system (case id, pledge hash, ...), for audit.
    source_reference: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    publicity_starts_on: Mapped[date] = mapped_column(sa.Date)
    publicity_ends_on: Mapped[date] = mapped_column(sa.Date)
    repair_eligible_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    # Latest lawful start (双公示); null when the official calendar did not cover it yet.
    publish_by: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    # published, or ended (expired, repaired, reversed); a revoked repair publishes it again.
    state: Mapped[str] = mapped_column(sa.String(16))
    ended_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    rule_pack_id: Mapped[str] = mapped_column(sa.String(64))
    rule_pack_version: Mapped[str] = mapped_column(sa.String(16))
    # Kept as served: the notice (告知书) and the plain-language guide (明白纸) are documents
    # handed to the enterprise with the decision. Incentives have none.
    repair_notice: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    repair_guide: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(sa.String(128))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class HistoryEntry(Base):
    """One dated step in the life of a record, a list entry or a repair application."""

    __tablename__ = "credit_history"
    __table_args__ = (
        sa.Index("ix_credit_history_subject", "subject_type", "subject_id", "id"),
        sa.Index("ix_credit_history_uscc", "uscc", "id"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True, autoincrement=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    subject_type: Mapped[str] = mapped_column(
        sa.String(16)
    )  # record | blacklist | redlist | repair
    subject_id: Mapped[str] = mapped_column(sa.String(36))
    kind: Mapped[str] = mapped_column(sa.String(32))
    occurred_on: Mapped[date] = mapped_column(sa.Date)  # the business date it took effect
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(128))
    # Shown to the public with the entry (listing, expiry, repair...); the rest is the bureau's
    # and the enterprise's (objections, applications, internal reasons).
    public: Mapped[bool] = mapped_column(sa.Boolean)
    note: Mapped[str] = mapped_column(sa.String(2000))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class Standing(Base):
    """The enterprise's list standing as last announced (credit.standing.changed.v1)."""

    __tablename__ = "standings"

    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)
    standing: Mapped[str] = mapped_column(sa.String(16))  # normal | redlisted | blacklisted
    since: Mapped[date] = mapped_column(sa.Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BlacklistEntry(Base):
    """A serious-dishonesty (black list, 严重失信主体名单) case: proposed, pre-noticed, objected,
    decided, listed, removed."""

    __tablename__ = "blacklist_entries"
    __table_args__ = (
        sa.UniqueConstraint("active_key", name="uq_blacklist_entries_active_key"),
        sa.Index("ix_blacklist_entries_uscc", "uscc"),
        sa.Index("ix_blacklist_entries_state", "state", "listed_until"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    criterion: Mapped[str] = mapped_column(sa.String(64))  # code of the listing case
    facts: Mapped[str] = mapped_column(sa.String(4000))
    basis_record_ids: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    # proposed | noticed | objected | listed | withdrawn | removed
    state: Mapped[str] = mapped_column(sa.String(16))
    active_key: Mapped[str | None] = mapped_column(sa.String(18), nullable=True)
    proposed_on: Mapped[date] = mapped_column(sa.Date)
    proposed_by: Mapped[str] = mapped_column(sa.String(128))
    notice_served_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    objection_due_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    pre_notice: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # 列入前告知书
    objection: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    objected_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    decided_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    listed_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    early_removal_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    removed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    removal_reason: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    rule_pack_id: Mapped[str] = mapped_column(sa.String(64))
    rule_pack_version: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class RedlistEntry(Base):
    """A red-list (守信红名单) nomination and, once approved, the listing."""

    __tablename__ = "redlist_entries"
    __table_args__ = (
        sa.UniqueConstraint("active_key", name="uq_redlist_entries_active_key"),
        sa.Index("ix_redlist_entries_uscc", "uscc"),
        sa.Index("ix_redlist_entries_state", "state", "listed_until"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    enterprise_name: Mapped[str] = mapped_column(sa.String(200))
    standardisation_level: Mapped[int] = mapped_column(sa.Integer)  # 安全生产标准化 1..3
    standardisation_certificate: Mapped[str] = mapped_column(sa.String(64))
    accident_free_attested: Mapped[bool] = mapped_column(sa.Boolean)
    joint_incentive: Mapped[bool] = mapped_column(sa.Boolean)  # also in the 联合激励对象名录
    grounds: Mapped[str] = mapped_column(sa.String(4000))
    # Each criterion as computed at nomination: {code, passed, detail}.
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    state: Mapped[str] = mapped_column(sa.String(16))  # nominated | listed | rejected | removed
    active_key: Mapped[str | None] = mapped_column(sa.String(18), nullable=True)
    nominated_on: Mapped[date] = mapped_column(sa.Date)
    nominated_by: Mapped[str] = mapped_column(sa.String(128))
    decided_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    listed_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    removed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    removal_reason: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    rule_pack_id: Mapped[str] = mapped_column(sa.String(64))
    rule_pack_version: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class RepairApplication(Base):
    """A credit-repair application (信用修复申请) and its 3-working-day clock."""

    __tablename__ = "repair_applications"
    __table_args__ = (
        sa.UniqueConstraint("active_key", name="uq_repair_applications_active_key"),
        sa.Index("ix_repair_applications_uscc", "uscc", "received_at"),
        sa.Index("ix_repair_applications_state_due", "state", "due_on"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    target_kind: Mapped[str] = mapped_column(sa.String(16))  # record | blacklist
    target_id: Mapped[str] = mapped_column(sa.String(36))
    # "<kind>:<id>" while pending: one pending application per target.
    active_key: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    applicant: Mapped[str] = mapped_column(sa.String(128))
    contact_name: Mapped[str] = mapped_column(sa.String(64))
    contact_phone: Mapped[str] = mapped_column(sa.String(32))
    statement: Mapped[str] = mapped_column(sa.String(4000))  # how the dishonesty was corrected
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    commitment_signed: Mapped[bool] = mapped_column(sa.Boolean)  # 信用承诺书
    received_on: Mapped[date] = mapped_column(sa.Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # received_on + 3 working days; null while that year's official schedule is not loaded.
    due_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    state: Mapped[str] = mapped_column(sa.String(16))  # pending | approved | rejected | revoked
    decided_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    revoked_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(4000), nullable=True)
    rule_pack_id: Mapped[str] = mapped_column(sa.String(64))
    rule_pack_version: Mapped[str] = mapped_column(sa.String(16))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


class WebsiteDelivery(Base):
    """A result to push to the external credit website (信用网站), with its retry state."""

    __tablename__ = "website_deliveries"
    __table_args__ = (sa.Index("ix_website_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18))
    kind: Mapped[str] = mapped_column(sa.String(32))  # repair_approved | repair_revoked
    subject_id: Mapped[str] = mapped_column(sa.String(36))  # the repair application
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    state: Mapped[str] = mapped_column(sa.String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebsiteDeliveryAttempt(Base):
    """One attempt to deliver to the credit website: the delivery log."""

    __tablename__ = "website_delivery_attempts"
    __table_args__ = (sa.Index("ix_website_delivery_attempts_delivery", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(sa.String(36))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    duration_ms: Mapped[int] = mapped_column(sa.Integer)


class DailyExport(Base):
    """The daily full export of the public lists for other departments, frozen once made."""

    __tablename__ = "daily_exports"

    on: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rows: Mapped[int] = mapped_column(sa.Integer)
    json_body: Mapped[str] = mapped_column(sa.Text)
    csv_body: Mapped[str] = mapped_column(sa.Text)
    json_sha256: Mapped[str] = mapped_column(sa.String(64))
    csv_sha256: Mapped[str] = mapped_column(sa.String(64))

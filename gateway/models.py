"""Gateway tables: machine clients (OAuth2 client credentials), insurer API keys, data-sharing
grants and the log of every read made under a grant.

Secrets (client secrets, API keys) are generated here with 256 bits of entropy and stored only
as their SHA-256: a slow password hash buys nothing for secrets nobody can guess, and a lookup
on every request must stay cheap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kernel.audit import audit_table
from kernel.db import JSONDoc, UTCDateTime

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


# Who registered, changed or revoked a client, a key or a grant: kernel.audit's hash chain.
AUDIT = audit_table(Base.metadata)


class Client(Base):
    """A machine client (an insurer's or a department's system) using client credentials."""

    __tablename__ = "clients"
    __table_args__ = (sa.Index("ix_clients_role_subject", "role", "subject"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # the client_id
    role: Mapped[str] = mapped_column(sa.String(16))  # insurer | department
    subject: Mapped[str] = mapped_column(sa.String(64))  # insurer id | department code
    name: Mapped[str] = mapped_column(sa.String(200))
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class ApiKey(Base):
    """An insurer system's API key. Shown once at creation; only its hash is kept."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.Index("ix_api_keys_subject", "subject"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # public key id
    subject: Mapped[str] = mapped_column(sa.String(64))  # insurer id
    name: Mapped[str] = mapped_column(sa.String(200))
    key_sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(128))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class Grant(Base):
    """A department's right to read one data set for one purpose until it expires."""

    __tablename__ = "grants"
    __table_args__ = (sa.Index("ix_grants_department_dataset", "department", "dataset"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    department: Mapped[str] = mapped_column(sa.String(64))
    dataset: Mapped[str] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.Text)
    legal_basis: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(sa.String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class DataRead(Base):
    """One read of a data set: who, what, when, under which grant and purpose."""

    __tablename__ = "data_reads"
    __table_args__ = (
        sa.Index("ix_data_reads_department_at", "department", "at"),
        sa.Index("ix_data_reads_dataset_at", "dataset", "at"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    department: Mapped[str] = mapped_column(sa.String(64))
    actor: Mapped[str] = mapped_column(sa.String(128))  # principal key of the caller
    grant_id: Mapped[str] = mapped_column(sa.String(36))
    dataset: Mapped[str] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.Text)
    query: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    record_count: Mapped[int] = mapped_column(sa.Integer)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # served | failed
    request_id: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)


class DataReadSubject(Base):
    """An enterprise whose records a read returned, so it can see who read its data."""

    __tablename__ = "data_read_subjects"
    __table_args__ = (sa.Index("ix_data_read_subjects_uscc_read", "uscc", "read_id"),)

    read_id: Mapped[int] = mapped_column(
        _BIGINT_ID,
        sa.ForeignKey("data_reads.id", ondelete="CASCADE"),
        primary_key=True,
    )
    uscc: Mapped[str] = mapped_column(sa.String(18), primary_key=True)

"""applications and licences

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:00:47.046378+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "applications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_version", sa.Integer(), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("applicant", sa.String(length=128), nullable=False),
        sa.Column(
            "form",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.Column("path_reason", sa.String(length=200), nullable=False),
        sa.Column("standing", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("limit_days", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("pledge_text", sa.Text(), nullable=True),
        sa.Column("pledge_sha256", sa.String(length=64), nullable=True),
        sa.Column("pledge_signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("rejection_legal_basis", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_applications_queue", ["status", "priority", "submitted_at"], unique=False
        )
        batch_op.create_index("ix_applications_uscc", ["uscc"], unique=False)

    op.create_table(
        "enterprise_standings",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("standing", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uscc"),
    )
    op.create_table(
        "status_lists",
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purpose"),
    )
    op.create_table(
        "application_steps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("application_steps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_application_steps_application", ["application_id", "at"], unique=False
        )

    op.create_table(
        "licences",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("approval_path", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=200), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("pledge_status", sa.String(length=24), nullable=True),
        sa.Column("pledge_verify_by", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("status_index"),
    )
    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.create_index("ix_licences_uscc", ["uscc"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("licences", schema=None) as batch_op:
        batch_op.drop_index("ix_licences_uscc")

    op.drop_table("licences")
    with op.batch_alter_table("application_steps", schema=None) as batch_op:
        batch_op.drop_index("ix_application_steps_application")

    op.drop_table("application_steps")
    op.drop_table("status_lists")
    op.drop_table("enterprise_standings")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_uscc")
        batch_op.drop_index("ix_applications_queue")

    op.drop_table("applications")

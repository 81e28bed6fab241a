"""status lists derived from licences

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 19:03:33.005470+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The published lists are now built from licences.status; the copy could drift.
    op.drop_table("status_lists")


def downgrade() -> None:
    op.create_table(
        "status_lists",
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("purpose"),
    )

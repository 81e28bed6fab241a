"""licences issued index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 01:42:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # GET /licences pages newest first by (issued_at, id): keyset pagination needs the index.
    op.create_index("ix_licences_issued", "licences", ["issued_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_licences_issued", table_name="licences")

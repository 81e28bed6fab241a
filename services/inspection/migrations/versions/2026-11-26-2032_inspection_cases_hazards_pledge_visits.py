"""inspection cases, findings, hazards, decisions, pledge visits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 20:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("inspection_id", sa.String(length=36), nullable=False),
        sa.Column("deliberation_id", sa.String(length=36), nullable=False),
        sa.Column("finding_n", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("fine_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column(
            "measures",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.String(length=1000), nullable=True),
        sa.Column("violation_summary", sa.String(length=2000), nullable=False),
        sa.Column("blacklist_criterion", sa.String(length=64), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("is_major", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("approval_note", sa.String(length=2000), nullable=True),
        sa.Column("decision_number", sa.String(length=64), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("follow_up_due_on", sa.Date(), nullable=True),
        sa.Column("follow_up_deadline_unknown", sa.Boolean(), nullable=False),
        sa.Column("follow_up_inspection_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("decision_number", name="uq_case_decisions_number"),
        sa.UniqueConstraint("deliberation_id", "finding_n", name="uq_case_decisions_finding"),
    )
    with op.batch_alter_table("case_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_case_decisions_follow_up", ["follow_up_due_on"], unique=False)
    op.create_table(
        "deliberations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("inspection_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.String(length=8000), nullable=False),
        sa.Column(
            "participants",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inspection_id", "round", name="uq_deliberations_round"),
    )
    op.create_table(
        "hazards",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("inspection_id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_self_found", sa.Boolean(), nullable=False),
        sa.Column("under_rectification", sa.Boolean(), nullable=False),
        sa.Column("found_on", sa.Date(), nullable=False),
        sa.Column("rectify_by", sa.Date(), nullable=True),
        sa.Column("deadline_unknown", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("report_description", sa.String(length=4000), nullable=True),
        sa.Column(
            "report_evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reported_on", sa.Date(), nullable=True),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("verified_by", sa.String(length=128), nullable=True),
        sa.Column(
            "verifications",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.create_index("ix_hazards_state_rectify_by", ["state", "rectify_by"], unique=False)
        batch_op.create_index("ix_hazards_uscc_state", ["uscc", "state"], unique=False)
    op.create_table(
        "inspection_findings",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("inspection_id", sa.String(length=36), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("violation_code", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_minor", sa.Boolean(), nullable=False),
        sa.Column("corrected_on_spot", sa.Boolean(), nullable=False),
        sa.Column("harm", sa.String(length=16), nullable=False),
        sa.Column("hazard_id", sa.String(length=36), nullable=True),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inspection_id", "n", name="uq_inspection_findings_n"),
    )
    with op.batch_alter_table("inspection_findings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inspection_findings_uscc_code", ["uscc", "violation_code"], unique=False
        )
    op.create_table(
        "inspections",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "team",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("notice_served_on", sa.Date(), nullable=False),
        sa.Column("notice_text", sa.String(length=4000), nullable=False),
        sa.Column(
            "education_topics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "education_audience",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("no_findings", sa.Boolean(), nullable=False),
        sa.Column("deliberated_on", sa.Date(), nullable=True),
        sa.Column("delivered_on", sa.Date(), nullable=True),
        sa.Column("lesson", sa.String(length=4000), nullable=True),
        sa.Column("questions_answered", sa.Integer(), nullable=True),
        sa.Column(
            "questions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("rule_pack_id", sa.String(length=64), nullable=False),
        sa.Column("rule_pack_version", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.create_index("ix_inspections_state", ["state", "started_on"], unique=False)
        batch_op.create_index("ix_inspections_uscc_started", ["uscc", "started_on"], unique=False)
    op.create_table(
        "pledge_visits",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("licence_number", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("enterprise_name", sa.String(length=200), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("verify_by", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.String(length=4000), nullable=True),
        sa.Column(
            "inspectors",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=128), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("licence_number", name="uq_pledge_visits_licence"),
    )
    with op.batch_alter_table("pledge_visits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pledge_visits_state_verify_by", ["state", "verify_by"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pledge_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_pledge_visits_state_verify_by")
    op.drop_table("pledge_visits")
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_index("ix_inspections_uscc_started")
        batch_op.drop_index("ix_inspections_state")
    op.drop_table("inspections")
    with op.batch_alter_table("inspection_findings", schema=None) as batch_op:
        batch_op.drop_index("ix_inspection_findings_uscc_code")
    op.drop_table("inspection_findings")
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        batch_op.drop_index("ix_hazards_uscc_state")
        batch_op.drop_index("ix_hazards_state_rectify_by")
    op.drop_table("hazards")
    op.drop_table("deliberations")
    with op.batch_alter_table("case_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_case_decisions_follow_up")
    op.drop_table("case_decisions")

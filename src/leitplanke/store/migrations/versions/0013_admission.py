"""admission decisions: the request uids of the decisions the webhooks shipped

One row per AdmissionReview decision recorded (its findings and audit record written in the same
transaction), keyed by the request uid so that a batch shipped twice is recorded once.

Revision ID: 0013_admission
Revises: 0007_finding_writes
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_admission"
down_revision = "0012_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admission_decisions",
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("env", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_admission_decisions")),
    )
    op.create_index("ix_admission_decisions_decided", "admission_decisions", ["decided_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_admission_decisions_decided", table_name="admission_decisions")
    op.drop_table("admission_decisions")

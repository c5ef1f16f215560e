"""ingestion: indexes for keyset pagination and figures in SQL

Revision ID: 0006_ingestion
Revises: 0005_subjects
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0006_ingestion"
down_revision = "0005_subjects"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index("ix_findings_scope_id", ["app_id", "env_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_scope_id")

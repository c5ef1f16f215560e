"""audit: keyed chain and the transitions of a record (filled in by the audit hardening)

``alg`` says how a record's hash was made: rows written before the key are "sha256" (the server
default), new ones "hmac-sha256". ``audit_leaves`` holds the transitions under a record's Merkle root.

Revision ID: 0004_audit
Revises: 0003_alerts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_audit"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alg", sa.String(length=20), server_default="sha256", nullable=False))
    op.create_table(
        "audit_leaves",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", "idx", name=op.f("pk_audit_leaves")),
    )


def downgrade() -> None:
    op.drop_table("audit_leaves")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_column("alg")

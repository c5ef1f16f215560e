"""waivers: requested, approved, rejected and expired exceptions; the SLA pause of findings

Revision ID: 0002_waivers
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_waivers"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requester", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("expires", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("expired_at", sa.DateTime(), nullable=True),
        sa.Column("renews_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_waivers_app_id_apps")),
        sa.ForeignKeyConstraint(["env_id"], ["environments.id"], name=op.f("fk_waivers_env_id_environments")),
        sa.ForeignKeyConstraint(["renews_id"], ["waivers.id"], name=op.f("fk_waivers_renews_id_waivers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waivers")),
    )
    with op.batch_alter_table("waivers", schema=None) as batch_op:
        batch_op.create_index("ix_waivers_status", ["status", "expires"], unique=False)
        batch_op.create_index("ix_waivers_scope", ["app_id", "env_id"], unique=False)
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waived_since", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("paused_seconds", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("paused_seconds")
        batch_op.drop_column("waived_since")
    with op.batch_alter_table("waivers", schema=None) as batch_op:
        batch_op.drop_index("ix_waivers_scope")
        batch_op.drop_index("ix_waivers_status")
    op.drop_table("waivers")

"""delivery: deployments keyed by (app, env, revision), their commits, and incidents

Revision ID: 0009_delivery
Revises: 0007_finding_writes
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_delivery"
down_revision = "0008_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("rollback", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("deployed_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("rolled_back_at", sa.DateTime(), nullable=True),
        sa.Column("commits", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_deployments_app_id_apps")),
        sa.ForeignKeyConstraint(
            ["env_id"], ["environments.id"], name=op.f("fk_deployments_env_id_environments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("app_id", "env_id", "revision", name="uq_deployments_app_env_revision"),
    )
    op.create_index("ix_deployments_scope_time", "deployments", ["app_id", "env_id", "deployed_at"])
    op.create_table(
        "deployment_commits",
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("sha", sa.String(length=64), nullable=False),
        sa.Column("committed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_deployment_commits_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "sha", name=op.f("pk_deployment_commits")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_incidents_app_id_apps")),
        sa.ForeignKeyConstraint(
            ["env_id"], ["environments.id"], name=op.f("fk_incidents_env_id_environments")
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_incidents_deployment_id_deployments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("key", name=op.f("uq_incidents_key")),
    )
    op.create_index("ix_incidents_scope_time", "incidents", ["app_id", "env_id", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_incidents_scope_time", table_name="incidents")
    op.drop_table("incidents")
    op.drop_table("deployment_commits")
    op.drop_index("ix_deployments_scope_time", table_name="deployments")
    op.drop_table("deployments")

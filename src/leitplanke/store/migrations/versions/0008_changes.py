"""changes: change requests and their approvals, and each environment's change control

The rules of change control are the database's as well as the code's: an approval never by the
change's author (a check, over the author copied under a key onto the change), once per approver and
diff (unique); an approved or applied change carries the diff it was approved for, and an applied one
its commit (checks).

Revision ID: 0008_changes
Revises: 0007_finding_writes
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_changes"
down_revision = "0007_finding_writes"
branch_labels = None
depends_on = None

_UNAPPLIED = "'draft', 'submitted', 'approved', 'rejected', 'expired', 'cancelled'"
_APPLIED = "'applied', 'deployed', 'failed'"


def upgrade() -> None:
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_control", sa.JSON(), server_default="{}", nullable=False))
    op.create_table(
        "change_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.Integer(), nullable=False),
        sa.Column("env_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("author_subject", sa.String(length=100), nullable=False),
        sa.Column("manifests", sa.Text(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("diff_hash", sa.String(length=64), nullable=False),
        sa.Column("approved_hash", sa.String(length=64), nullable=True),
        sa.Column("preflight", sa.JSON(), nullable=False),
        sa.Column("preflight_blocking", sa.Boolean(), nullable=False),
        sa.Column("waiver_id", sa.Integer(), nullable=True),
        sa.Column("reverts_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("applied_by", sa.String(length=200), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.Column("commit_sha", sa.String(length=40), nullable=True),
        sa.Column("window_override", sa.String(length=200), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(f"status IN ({_UNAPPLIED}, {_APPLIED})", name="ck_change_requests_status"),
        sa.CheckConstraint(
            # NULL = x is not false: an approved change without an approved diff must fail the check
            f"status NOT IN ('approved', {_APPLIED})"
            " OR (approved_hash IS NOT NULL AND approved_hash = diff_hash)",
            name="ck_change_requests_approved_diff",
        ),
        sa.CheckConstraint(
            f"(status IN ({_APPLIED})) = (commit_sha IS NOT NULL)", name="ck_change_requests_commit"
        ),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name="fk_change_requests_app_id_apps"),
        sa.ForeignKeyConstraint(
            ["env_id"], ["environments.id"], name="fk_change_requests_env_id_environments"
        ),
        sa.ForeignKeyConstraint(["waiver_id"], ["waivers.id"], name="fk_change_requests_waiver_id_waivers"),
        sa.ForeignKeyConstraint(
            ["reverts_id"], ["change_requests.id"], name="fk_change_requests_reverts_id_change_requests"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_change_requests"),
        sa.UniqueConstraint("commit_sha", name="uq_change_requests_commit_sha"),
        sa.UniqueConstraint("id", "author_subject", name="uq_change_requests_id_author"),
    )
    op.create_index("ix_change_requests_scope", "change_requests", ["app_id", "env_id", "status"])
    op.create_table(
        "change_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("author_subject", sa.String(length=100), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("approver_subject", sa.String(length=100), nullable=False),
        sa.Column("team", sa.String(length=100), nullable=False),
        sa.Column("diff_hash", sa.String(length=64), nullable=False),
        sa.Column("approved_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("approver_subject <> author_subject", name="ck_change_approvals_four_eyes"),
        sa.ForeignKeyConstraint(
            ["change_id", "author_subject"],
            ["change_requests.id", "change_requests.author_subject"],
            name="fk_change_approvals_change_author",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_change_approvals"),
        sa.UniqueConstraint("change_id", "diff_hash", "approver_subject", name="uq_change_approvals_once"),
    )


def downgrade() -> None:
    op.drop_table("change_approvals")
    op.drop_index("ix_change_requests_scope", table_name="change_requests")
    op.drop_table("change_requests")
    with op.batch_alter_table("environments", schema=None) as batch_op:
        batch_op.drop_column("change_control")

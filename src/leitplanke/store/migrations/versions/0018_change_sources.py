"""change_requests.source: the library template and parameters a change's manifests were rendered from

The portal's edit of such a change goes back to the template's form with them filled in. NULL for a
change made from manifests (the API, a rollback) and for one whose manifests were edited by hand since.

Revision ID: 0018_change_sources
Revises: 0017_report_runs
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_change_sources"
down_revision = "0017_report_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("change_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_requests", schema=None) as batch_op:
        batch_op.drop_column("source")

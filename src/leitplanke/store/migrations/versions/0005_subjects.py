"""tokens: the subject (person or workload) every token belongs to

Revision ID: 0005_subjects
Revises: 0004_audit
Create Date: 2026-12-07
"""

from __future__ import annotations

revision = "0005_subjects"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

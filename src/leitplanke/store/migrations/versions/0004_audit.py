"""audit: keyed chain and the transitions of a record (filled in by the audit hardening)

Revision ID: 0004_audit
Revises: 0003_alerts
Create Date: 2026-12-07
"""

from __future__ import annotations

revision = "0004_audit"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

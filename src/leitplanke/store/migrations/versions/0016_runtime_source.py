"""runtime scans get the source ``runtime``: the leak detector's ingestions no longer use ``ci``

Before, runtime findings went into an environment of their own with the ``ci`` source; their scan rows
say ``{"source": "prometheus"}`` in their summary. Those scans and the findings they reported last are
marked ``runtime``, so that the next runtime ingestion still fixes a leak that is gone (a ``runtime``
scan fixes only ``runtime`` findings). No schema change.

Revision ID: 0016_runtime_source
Revises: 0015_portal_files
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0016_runtime_source"
down_revision = "0015_portal_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE scans SET source = 'runtime' "
        "WHERE source = 'ci' AND CAST(summary AS TEXT) LIKE '%\"source\":%\"prometheus\"%'"
    )
    op.execute(
        "UPDATE findings SET source = 'runtime' "
        "WHERE source = 'ci' AND last_scan_id IN (SELECT id FROM scans WHERE source = 'runtime')"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE findings SET source = 'ci' "
        "WHERE last_scan_id IN (SELECT id FROM scans WHERE source = 'runtime')"
    )
    op.execute("UPDATE scans SET source = 'ci' WHERE source = 'runtime'")

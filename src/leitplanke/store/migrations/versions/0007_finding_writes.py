"""finding writes: one scope-checking foreign key instead of three, room for updates in place

A finding's scope (app, env) is that of the scan that last saw it: one composite key onto
``scans (id, app_id, env_id)`` says so, and PostgreSQL checks one key per written row where it
checked three (apps, environments and scans each cost as much as the row's own insert). The
status-and-due index becomes a due-date index: an ingestion moves 100,000 findings from new to
open, and a status in an index makes every such update rewrite every index; with it gone, and
with free room in each page (fillfactor), PostgreSQL updates those rows in place (HOT).

Revision ID: 0007_finding_writes
Revises: 0006_ingestion
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007_finding_writes"
down_revision = "0006_ingestion"
branch_labels = None
depends_on = None

FILLFACTOR = 60


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_scans_id_scope", ["id", "app_id", "env_id"])
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_constraint("fk_findings_last_scan_id_scans", type_="foreignkey")
        batch_op.drop_constraint("fk_findings_app_id_apps", type_="foreignkey")
        batch_op.drop_constraint("fk_findings_env_id_environments", type_="foreignkey")
        batch_op.create_foreign_key(
            "fk_findings_last_scan_scope",
            "scans",
            ["last_scan_id", "app_id", "env_id"],
            ["id", "app_id", "env_id"],
        )
        batch_op.drop_index("ix_findings_status")
        batch_op.create_index("ix_findings_sla_due", ["sla_due"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE findings SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE findings RESET (fillfactor)")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_sla_due")
        batch_op.create_index("ix_findings_status", ["status", "sla_due"], unique=False)
        batch_op.drop_constraint("fk_findings_last_scan_scope", type_="foreignkey")
        batch_op.create_foreign_key("fk_findings_app_id_apps", "apps", ["app_id"], ["id"])
        batch_op.create_foreign_key("fk_findings_env_id_environments", "environments", ["env_id"], ["id"])
        batch_op.create_foreign_key("fk_findings_last_scan_id_scans", "scans", ["last_scan_id"], ["id"])
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_constraint("uq_scans_id_scope", type_="unique")
